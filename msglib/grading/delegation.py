"""Delegation: an answer that calls msglib's own implementation of the exercise scores nothing.

msglib ships a working implementation of almost every mechanism a learner is
asked to write (the simulations need one). :data:`REGISTRY` maps each exercise
id to those implementations, its *twins*. In the graded interpreter,
:func:`install_stubs` makes every twin of the exercises being graded refuse to
work for the learner while still working for msglib itself:

* a twin called from learner code (an answer cell, a helper the learner wrote,
  a lambda) raises :class:`DelegationError` and the call is recorded;
* a twin reached through msglib while the exercise's answer function is on the
  stack (``UserStats().handle(conn, event)`` inside the learner's ``handle``)
  does the same;
* an answer that *is* msglib code (``call_chain = msglib.chain.call_chain``, a
  subclass of msglib's ``TokenBucket``, ``functools.partial`` of a twin, a
  closure msglib built) is refused by every check's first step
  (``require_callable``), so aliasing gains nothing either;
* msglib's own calls (the simulation using its default policy, a checker
  computing the expected answer) run the real code, unchanged.

A twin is not replaced by another object: its ``__code__`` becomes a small
trampoline and the original body lives on in a private clone, so every
reference to it (module attributes, re-exports, default arguments, dataclass
fields, the graders' own imports) sees the same guarded function. The stub is
a deterrent and an evidence trail, not a security boundary: code that digs
through closures or this module's internals can still reach the clone, and
the integrity scan and the sandbox's audit hook are what flag that.
"""
from __future__ import annotations

import functools
import importlib
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from msglib.grading.core import CheckFailed

_PACKAGE = str(Path(__file__).resolve().parents[1]) + "/"          # .../msglib/
_GRADING = str(Path(__file__).resolve().parent) + "/"               # .../msglib/grading/
_STDLIB = tuple(sorted({str(Path(p).resolve()) + "/" for key in ("stdlib", "platstdlib", "purelib", "platlib")
                        if (p := sysconfig.get_paths().get(key))}))


@dataclass(frozen=True)
class Twin:
    """An exercise and msglib's implementations of the same mechanism.

    ``answers``: the names the exercise's answer cell defines. ``targets``:
    ``"module:qualname"`` of each twin (functions, methods, classes: a class
    stands for all the methods it defines itself). ``reason``: why there is no
    twin (a written answer, or a mechanism msglib does not ship).
    """

    exercise: str
    answers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    reason: str = ""


def _t(exercise: str, answers: str, *targets: str) -> Twin:
    return Twin(exercise, tuple(answers.split()), targets)


def _written(exercise: str) -> Twin:
    return Twin(exercise, reason="a written answer, graded by hand: there is no code to delegate")


REGISTRY: dict[str, Twin] = {t.exercise: t for t in [
    _t("00-call_chain", "call_chain", "msglib.chain:call_chain"),
    _t("00-queue_handler", "handle", "msglib.chain:handle"),
    _written("00-reflect_latency"), _written("00-reflect_duplicates"),
    _t("01-topic_match", "matches", "msglib.queue.routing:topic_matches"),
    _t("01-dispatch", "choose_consumer", "msglib.queue.dispatch:round_robin"),
    _t("01-idempotent_worker", "handle", "msglib.queue.work:handle"),
    _t("01-group_queue", "group_queue", "msglib.queue.work:group_queue"),
    _written("01-reflect_dedupe"), _written("01-reflect_prefetch"),
    _t("02-sparse_index_lookup", "lookup", "msglib.log.segment:floor_lookup", "msglib.log.log:Log._lookup"),
    _t("02-choose_segment", "choose_segment", "msglib.log.log:choose_segment"),
    _t("02-retention", "deletable_segments", "msglib.log.retention:deletable_segments"),
    _t("02-compaction_rule", "should_retain", "msglib.log.cleaner:should_retain"),
    _t("02-sticky_partitioner", "update_sticky", "msglib.log.partitioner:update_sticky",
       "msglib.log.partitioner:weighted_partition"),
    _written("02-reflect_sparse_index"), _written("02-reflect_retention"),
    _t("03-sequence_check", "check_sequence", "msglib.cluster.policies:check_sequence"),
    _written("03-reflect_acks"), _written("03-reflect_duplicates"),
    _t("04-vote", "grant_vote", "msglib.kraft.policies:grant_vote"),
    _t("04-isr", "update_isr", "msglib.cluster.policies:update_isr"),
    _t("04-elect_leader", "elect_leader", "msglib.cluster.policies:elect_leader"),
    _t("04-truncation", "truncation_offset", "msglib.cluster.policies:truncation_offset"),
    _written("04-reflect_min_isr"), _written("04-reflect_unclean"),
    _t("05-range_assign", "range_assign", "msglib.groups.assignors:range_assign"),
    _t("05-starting_offset", "starting_offset", "msglib.client.consumer:starting_offset"),
    _t("05-at_least_once", "at_least_once", "msglib.groups.workload:at_least_once_step"),
    _t("05-reconcile", "reconcile", "msglib.groups.reconciliation:reconcile"),
    _t("05-cooperative_sticky", "cooperative_sticky", "msglib.groups.assignors:cooperative_sticky_assign",
       "msglib.groups.assignors:sticky_assign", "msglib.groups.assignors:cooperative_adjust"),
    _written("05-reflect_autocommit"), _written("05-reflect_timeouts"), _written("05-reflect_lag"),
    _t("06-last_stable_offset", "last_stable_offset", "msglib.cluster.policies:last_stable_offset"),
    _t("06-filter_aborted", "filter_aborted", "msglib.client.consumer:filter_aborted"),
    _t("06-eos_step", "eos_step", "msglib.txn.eos:eos_step"),
    _t("06-idempotent_handle", "handle", "msglib.patterns.idempotent:idempotent"),
    _t("06-outbox_relay", "relay_once", "msglib.patterns.outbox:relay_once"),
    _written("06-reflect_side_effects"), _written("06-reflect_timeout"), _written("06-reflect_effectively_once"),
    _t("07-apply", "apply", "msglib.es.aggregate:Aggregate.apply", "msglib.es.bank:BankAccount"),
    _t("07-append_retry", "append_with_retry", "msglib.cqrs.commands:append_with_retry"),
    _t("07-upcaster", "upcast_deposit_v1", "msglib.grading.ex07:_reference_upcast"),
    _t("07-saga", "next_step", "msglib.patterns.saga:next_step"),
    _written("07-reflect_snapshots"), _written("07-reflect_retry"),
    _t("08-handlers", "handle", "msglib.cqrs.read_models:UserStats"),
    _t("08-process_batch", "process_batch", "msglib.cqrs.projection:process_batch"),
    _t("08-wait_for", "wait_for", "msglib.cqrs.projection:wait_for_position",
       "msglib.cqrs.projection:ProjectionRunner.wait_for"),
    _written("08-reflect_checkpoint"), _written("08-reflect_consistency"),
    _t("09-classify", "is_transient", "msglib.dlq.classify:is_transient"),
    _t("09-backoff", "backoff", "msglib.dlq.backoff:full_jitter", "msglib.dlq.backoff:equal_jitter"),
    _t("09-retry_router", "route_failure", "msglib.dlq.retry_topics:route_failure"),
    _t("09-redrive", "redrive", "msglib.queue.sqs:move_messages", "msglib.queue.sqs:SqsQueue.start_message_move_task"),
    _t("09-share_transition", "share_transition", "msglib.share.policies:transition"),
    _written("09-reflect_classify"), _written("09-reflect_redrive"), _written("09-reflect_ordering"),
    _t("10-key_dispatch", "choose_consumer", "msglib.compare.pulsar:sticky_key_dispatch"),
    _t("10-stored_bytes", "stored_bytes", "msglib.compare.scenarios:storage_snapshot"),
    _t("10-choose_broker", "choose_broker", "msglib.compare.scenarios:fitting_models", "msglib.compare.scenarios:fit"),
    _written("10-reflect_log_or_queue"), _written("10-reflect_key_shared"), _written("10-reflect_exactly_once"),
    _t("11-route", "route", "msglib.capstone.router:route"),
    _t("11-token_bucket", "TokenBucket", "msglib.capstone.ratelimit:TokenBucket"),
    _t("11-handle", "handle", "msglib.capstone.worker:handle"),
    _t("11-runbook", "runbook", "msglib.capstone.system:redrive_when_healthy"),
    _t("11-design", "design", "msglib.capstone.design:design"),
    _written("11-design_rubric"),
    _written("11-reflect_idempotency"), _written("11-reflect_rate_limit"), _written("11-reflect_redrive"),
    _t("12-windows", "windows_to_update", "msglib.streams.windows:windows_to_update"),
    _t("12-restore", "restore", "msglib.streams.stores:restore_from_changelog"),
    _t("12-table_version", "value_as_of", "msglib.streams.stores:value_as_of"),
    _t("12-eos_commit", "commit", "msglib.streams.app:exactly_once_commit"),
    _written("12-reflect_emit_final"), _written("12-reflect_state"),
]}


class DelegationError(CheckFailed):
    """The learner's answer used msglib's own implementation of the exercise."""


@dataclass(frozen=True)
class DelegationCall:
    """Evidence: which exercise, which twin, and where the learner's code reached it."""

    exercise: str
    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.exercise}: {self.where} used msglib's own {self.target}"


_calls: list[DelegationCall] = []
_installed: dict[types.FunctionType, types.CodeType] = {}      # guarded function -> its original code
_answers: dict[str, frozenset[str]] = {}                       # target -> answer names of its exercise
_require_original: list[types.CodeType] = []


# -- resolving targets ------------------------------------------------------------------

def resolve(target: str) -> Any:
    """The object ``"module:qualname"`` names (importing the module). Raises with the fix if it is gone."""
    module_name, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"delegation registry: {target} does not exist ({exc}); update "
                          "msglib/grading/delegation.py's REGISTRY to where the implementation lives now") from None
    return obj


def _functions(obj: Any) -> list[types.FunctionType]:
    """The Python functions a target stands for: itself, or the methods a class defines itself."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(getattr(obj, "__wrapped__", None), types.FunctionType):   # functools.lru_cache and friends
        return [_proxy(obj)]
    if isinstance(obj, types.FunctionType):
        return [obj]
    if isinstance(obj, type):
        found = []
        for value in vars(obj).values():
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if isinstance(value, types.FunctionType) and value.__module__.startswith("msglib"):
                found.append(value)
        return found
    raise TypeError(f"delegation registry: {obj!r} is not a function, method or class")


_proxies: dict[int, tuple[Any, types.FunctionType]] = {}       # id(C-level wrapper) -> (wrapper, proxy)
_rebound: list[tuple[Any, str, Any]] = []                       # (module, name, old value) to undo


def _proxy(wrapper: Any) -> types.FunctionType:
    """A Python function standing for a C-level wrapper (``functools.lru_cache``), which has no ``__code__``.

    Guarding the wrapped function alone would miss calls answered from the cache,
    so the proxy is what gets guarded, and is bound in msglib's modules in the
    wrapper's place when the stubs are installed.
    """
    if id(wrapper) not in _proxies:
        inner = wrapper.__wrapped__
        namespace: dict[str, Any] = {"_cached": wrapper}
        src = f"def {inner.__name__}(*args, **kwargs):\n    return _cached(*args, **kwargs)\n"
        exec(compile(src, inner.__code__.co_filename, "exec"), namespace)
        proxy = namespace[inner.__name__]
        proxy.__module__, proxy.__qualname__, proxy.__doc__ = inner.__module__, inner.__qualname__, inner.__doc__
        _proxies[id(wrapper)] = (wrapper, proxy)
    return _proxies[id(wrapper)][1]


def _bind_proxies() -> None:
    for wrapper, proxy in _proxies.values():
        for name, module in list(sys.modules.items()):
            if not name.startswith("msglib") or module is None:
                continue
            for key, value in list(vars(module).items()):
                if value is wrapper:
                    _rebound.append((module, key, value))
                    setattr(module, key, proxy)


def targets_of(exercise: str) -> list[tuple[str, types.FunctionType]]:
    """(target name, function) for every twin of ``exercise``."""
    twin = REGISTRY.get(exercise)
    if twin is None:
        raise KeyError(f"{exercise} is not in the delegation registry (msglib/grading/delegation.py)")
    out = []
    for target in twin.targets:
        for fn in _functions(resolve(target)):
            out.append((f"{target}.{fn.__name__}" if isinstance(resolve(target), type) else target, fn))
    return out


# -- where a call comes from --------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _kind(filename: str) -> str:
    """'msglib', 'grading', 'stdlib' or 'learner' for a code object's file."""
    if filename.startswith("<frozen"):
        return "stdlib"
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return "learner"
    if path.startswith(_GRADING):
        return "grading"
    if path.startswith(_PACKAGE):
        return "msglib"
    if path.startswith(_STDLIB):
        return "stdlib"
    return "learner"


def _where(frame: types.FrameType) -> str:
    code = frame.f_code
    name = "the cell's top level" if code.co_name == "<module>" else f"`{code.co_name}`"
    return f"{name} (line {frame.f_lineno} of {code.co_filename})"


def _offence(target: str, frame: types.FrameType | None) -> str | None:
    """Evidence if this call of a twin comes from the learner; None if msglib itself made it."""
    while frame is not None and _kind(frame.f_code.co_filename) == "stdlib":
        frame = frame.f_back
    if frame is None:
        return "code with no msglib caller (a thread or a callback the learner started)"
    if _kind(frame.f_code.co_filename) == "learner":
        # a call from the learner's own function; module-level calls in notebook cells are demos and setup
        return None if frame.f_code.co_name == "<module>" else _where(frame)
    names = _answers.get(target, frozenset())
    f = frame.f_back
    while f is not None:
        if f.f_code.co_name in names and _kind(f.f_code.co_filename) == "learner":
            return f"your {_where(f)}, through msglib,"
        f = f.f_back
    return None


def _fail(target: str, exercise: str, where: str) -> DelegationError:
    _calls.append(DelegationCall(exercise, target, where))
    return DelegationError(f"your answer called msglib's own {target.replace(':', '.')}; write the mechanism "
                           "yourself", exercise=exercise,
                           hint="the exercise asks you to implement this mechanism, not to reuse msglib's")


def _make_dispatch(real: Callable[..., Any], target: str, exercise: str) -> Callable[..., Any]:
    def dispatch(args: tuple, kwargs: dict) -> Any:
        where = _offence(target, sys._getframe(2))
        if where is not None:
            raise _fail(target, exercise, where)
        return real(*args, **kwargs)
    return dispatch


def _trampoline(fn: types.FunctionType, key: str) -> types.CodeType:
    """Code with ``fn``'s name and free-variable count that hands every call to ``__msglib_delegation__[key]``."""
    n = len(fn.__code__.co_freevars)
    cells = "".join(f"    _c{i} = None\n" for i in range(n))
    uses = "".join(f"        _c{i}\n" for i in range(n))
    src = (f"def _outer():\n{cells}    def _inner(*args, **kwargs):\n{uses}"
           f"        return __msglib_delegation__[{key!r}](args, kwargs)\n    return _inner\n")
    namespace: dict[str, Any] = {}
    exec(compile(src, __file__, "exec"), namespace)
    code = namespace["_outer"]().__code__
    code = code.replace(co_name=fn.__code__.co_name, co_qualname=fn.__code__.co_qualname,
                        co_freevars=fn.__code__.co_freevars)
    return code


def _guard_function(fn: types.FunctionType, target: str, exercise: str) -> None:
    if fn in _installed:
        return
    real = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    real.__kwdefaults__ = fn.__kwdefaults__
    real.__qualname__ = fn.__qualname__
    key = f"{target}#{id(fn)}"
    table = fn.__globals__.setdefault("__msglib_delegation__", {})
    table[key] = _make_dispatch(real, target, exercise)
    _installed[fn] = fn.__code__
    fn.__code__ = _trampoline(fn, key)


# -- the answer itself is msglib code -------------------------------------------------------

def msglib_origin(obj: Any, _depth: int = 0) -> str | None:
    """The msglib function or class an answer object is (or wraps), or None if it is the learner's own.

    Catches ``f = msglib.x.f``, bound methods of msglib objects, ``functools.partial``
    of msglib functions, closures msglib built (``idempotent(top_up, ...)``) and
    classes that are, or inherit methods from, msglib's twins.
    """
    if _depth > 5:
        return None
    if isinstance(obj, functools.partial):
        return msglib_origin(obj.func, _depth + 1)
    if isinstance(obj, types.MethodType):
        return msglib_origin(obj.__func__, _depth + 1)
    if isinstance(obj, types.FunctionType):
        code = _installed.get(obj, obj.__code__)
        if _kind(code.co_filename) in ("msglib", "grading"):
            return f"{obj.__module__}.{obj.__qualname__}"
        return None
    if isinstance(obj, type):
        guarded = {fn for fn in _installed}
        for klass in obj.__mro__:
            if klass.__module__.startswith("msglib.") and (klass is obj or any(
                    isinstance(v, types.FunctionType) and v in guarded for v in vars(klass).values())):
                return f"{klass.__module__}.{klass.__qualname__}"
        return None
    call = getattr(type(obj), "__call__", None)
    if isinstance(call, types.FunctionType) and obj is not None and not isinstance(obj, type):
        return msglib_origin(call, _depth + 1)
    return None


def _code_key(code: types.CodeType) -> tuple[str, int, str]:
    return (code.co_filename, code.co_firstlineno, code.co_name)


def uses_twin_code(obj: Any, _depth: int = 0, _seen: set[int] | None = None) -> str | None:
    """A twin's original body reached by learner code without the twin itself (a function rebuilt from the
    original code object): the learner function's globals, closure cells and defaults are searched, and
    the learner functions they lead to, a few levels deep. Returns the twin's name or None."""
    seen = _seen if _seen is not None else set()
    if _depth > 4 or id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, functools.partial):
        return uses_twin_code(obj.func, _depth + 1, seen)
    if isinstance(obj, types.MethodType):
        return uses_twin_code(obj.__func__, _depth + 1, seen)
    if isinstance(obj, type):
        for value in [v for klass in obj.__mro__ if klass.__module__ not in ("builtins",) for v in vars(klass).values()]:
            found = uses_twin_code(value, _depth + 1, seen) if isinstance(value, types.FunctionType) else None
            if found:
                return found
        return None
    if not isinstance(obj, types.FunctionType):
        return None
    originals = {_code_key(code): fn for fn, code in _installed.items()}
    if obj not in _installed and _code_key(obj.__code__) in originals:
        twin = originals[_code_key(obj.__code__)]
        return f"{twin.__module__}.{twin.__qualname__}"
    if _kind(obj.__code__.co_filename) != "learner":
        return None
    linked: list[Any] = [obj.__globals__.get(n) for n in _names(obj.__code__)]
    linked += [c.cell_contents for c in (obj.__closure__ or ()) if _filled(c)]
    linked += list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())
    for value in linked:
        found = uses_twin_code(value, _depth + 1, seen)
        if found:
            return found
    return None


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _require_hook(real: Callable[..., Any]) -> Callable[..., Any]:
    def dispatch(args: tuple, kwargs: dict) -> Any:
        real(*args, **kwargs)
        fn, name, exercise = (list(args) + [kwargs.get("fn"), kwargs.get("name"), kwargs.get("exercise")])[:3]
        if exercise not in _exercises_installed:
            return
        origin = msglib_origin(fn)
        if origin is not None:
            raise _fail(origin, exercise, f"your answer `{name}`")
        rebuilt = uses_twin_code(fn)
        if rebuilt is not None:
            raise _fail(rebuilt, exercise, f"your answer `{name}` (through a copy of its code)")
    return dispatch


_exercises_installed: set[str] = set()


# -- the API the grader calls -----------------------------------------------------------------

def install_stubs(exercise_ids: Iterable[str]) -> list[str]:
    """Guard every twin of ``exercise_ids`` (see the module docstring). Returns the twins guarded.

    Call it in the graded interpreter before any learner code runs, and before
    anything snapshots msglib (the snapshot then records the guarded state).
    The graders of those exercises are imported first, so their own references
    keep working. Unknown exercise ids raise KeyError: the registry is out of date.
    """
    from msglib.grading import core

    exercise_ids = list(exercise_ids)
    for ex in exercise_ids:
        if ex not in REGISTRY:
            raise KeyError(f"{ex} is not in the delegation registry (msglib/grading/delegation.py); add it, "
                           "with its msglib twins or the reason it has none")
    for prefix in sorted({ex[:2] for ex in exercise_ids}):
        try:
            importlib.import_module(f"msglib.grading.ex{prefix}")
        except ModuleNotFoundError:
            pass
    guarded = []
    for ex in exercise_ids:
        _exercises_installed.add(ex)
        for target, fn in targets_of(ex):
            _answers[target] = frozenset(REGISTRY[ex].answers)
            _guard_function(fn, target, ex)
            guarded.append(target)
    _bind_proxies()
    if not _require_original:
        fn = core.require_callable
        _require_original.append(fn.__code__)
        real = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        fn.__globals__.setdefault("__msglib_delegation__", {})["require_callable"] = _require_hook(real)
        _installed[fn] = fn.__code__
        fn.__code__ = _trampoline(fn, "require_callable")
    return guarded


def uninstall_stubs() -> None:
    """Give every guarded function its own code back (tests; the graded interpreter never needs it)."""
    for fn, code in _installed.items():
        fn.__code__ = code
    _installed.clear()
    for module, key, value in reversed(_rebound):
        setattr(module, key, value)
    _rebound.clear()
    _require_original.clear()
    _answers.clear()
    _exercises_installed.clear()


def recorded() -> list[DelegationCall]:
    """Every delegation seen since install (also those the learner's code caught and hid)."""
    return list(_calls)


def recorded_for(exercise: str) -> list[DelegationCall]:
    return [c for c in _calls if c.exercise == exercise]


def clear_record() -> None:
    _calls.clear()


__all__ = ["REGISTRY", "Twin", "DelegationError", "DelegationCall", "install_stubs", "uninstall_stubs",
           "recorded", "recorded_for", "clear_record", "msglib_origin", "resolve", "targets_of"]
