"""Undo a submission's changes to msglib before each test, in the independent re-run.

The instructor's grading re-runs every submission a second time (see
``pipeline.verify``) with three cells injected: ``arm()`` before the learner's
code, ``pin()`` after each solution cell, and ``enter_test()`` /
``leave_test()`` around each test cell. ``arm`` records every msglib module,
class and function as shipped; ``enter_test`` puts them all back (so a cell that
replaced ``msglib.grading.ex00.check_call_chain`` or ``Log.append`` changes
nothing) and binds the names the exercise's solution cell defined (so a
function redefined in a later cell is not the one tested).

A submission that reaches into this module is doing something no exercise
asks for; the integrity scan flags it for the instructor.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from typing import Any

# the instructor's side (nbgrader, JupyterLab, the sandbox): never imported by a check, and importing them
# costs more than the rest of msglib together (feedback imports the pipeline, which imports nbgrader and
# jupyter_server, verdicts imports nbformat and jupyter_client: 1.4 CPU-s of the 1.8 the snapshot took)
_SKIP = ("msglib.grading.nbgrader_ext", "msglib.grading.pipeline", "msglib.grading.notebooks",
         "msglib.grading.selfcheck", "msglib.grading.sandbox", "msglib.grading.supervisor",
         "msglib.grading.similarity", "msglib.grading.rerun", "msglib.grading.verdicts", "msglib.grading.feedback",
         "msglib.grading.lab_validate", "msglib.authoring", "msglib.doctor", "msglib.__main__")

_pins: dict[str, dict[str, Any]] = {}
_saved: dict[str, Any] = {}
_MISSING = object()


def _walk() -> list[types.ModuleType]:
    import msglib

    found = [msglib]
    for info in pkgutil.walk_packages(msglib.__path__, "msglib."):
        if info.name.startswith(_SKIP) or ".viz" in info.name:
            continue
        try:
            found.append(importlib.import_module(info.name))
        except Exception:  # a module with an optional dependency missing is simply not guarded
            continue
    return found


class Snapshot:
    """msglib as shipped: every module's attributes, every class's attributes, every function's code.

    The independent re-run (``rerun``) keeps one in a local variable, where student code cannot reach
    it; ``arm``/``restore`` below keep one at module level for the in-kernel guard.
    """

    def __init__(self) -> None:
        self.modules: dict[str, tuple[types.ModuleType, dict[str, Any]]] = {}
        self.classes: dict[type, dict[str, Any]] = {}
        self.functions: dict[types.FunctionType, tuple] = {}

    @classmethod
    def take(cls) -> "Snapshot":
        snap = cls()
        for module in _walk():
            snap.modules[module.__name__] = (module, dict(module.__dict__))
            for value in module.__dict__.values():
                if isinstance(value, type) and getattr(value, "__module__", "").startswith("msglib"):
                    snap.classes.setdefault(value, dict(value.__dict__))
                    for attr in value.__dict__.values():
                        if isinstance(attr, types.FunctionType):
                            snap.functions.setdefault(attr, (attr.__code__, attr.__defaults__, attr.__kwdefaults__))
                if isinstance(value, types.FunctionType) and value.__module__.startswith("msglib"):
                    snap.functions.setdefault(value, (value.__code__, value.__defaults__, value.__kwdefaults__))
        return snap

    def restore(self) -> None:
        """Put every recorded module (in sys.modules too), class attribute and function body back."""
        for name, (module, original) in self.modules.items():
            current = module.__dict__
            for key in [k for k in current if k not in original]:
                # submodules imported later bind themselves here legitimately; keep them
                if not isinstance(current[key], types.ModuleType) and not key.startswith("__"):
                    del current[key]
            for key, value in original.items():
                if current.get(key, _MISSING) is not value:
                    current[key] = value
            sys.modules[name] = module
        for cls, original in self.classes.items():
            for key in [k for k in list(cls.__dict__) if k not in original]:
                try:
                    delattr(cls, key)
                except (AttributeError, TypeError):
                    pass
            for key, value in original.items():
                if cls.__dict__.get(key, _MISSING) is not value:
                    try:
                        setattr(cls, key, value)
                    except (AttributeError, TypeError):
                        pass
        for fn, (code, defaults, kwdefaults) in self.functions.items():
            if fn.__code__ is not code:
                fn.__code__ = code
            fn.__defaults__, fn.__kwdefaults__ = defaults, kwdefaults


_snapshot = Snapshot()


def arm() -> None:
    """Record msglib as shipped. Call before any submission code runs."""
    global _snapshot
    _snapshot = Snapshot.take()


def restore() -> None:
    """Put every recorded module attribute, class attribute and function body back."""
    _snapshot.restore()


def pin(exercise: str, namespace: dict[str, Any], names: list[str]) -> None:
    """Remember what the exercise's solution cell defined."""
    _pins[exercise] = {n: namespace[n] for n in names if n in namespace}


def enter_test(exercise: str, namespace: dict[str, Any]) -> None:
    """Before a test cell: msglib as shipped, the solution cell's definitions in place."""
    restore()
    _saved.clear()
    for name, value in _pins.get(exercise, {}).items():
        _saved[name] = namespace.get(name, _MISSING)
        namespace[name] = value


def leave_test(namespace: dict[str, Any]) -> None:
    """After a test cell: give the learner's later cells back the names they had."""
    for name, value in _saved.items():
        if value is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = value
    _saved.clear()
