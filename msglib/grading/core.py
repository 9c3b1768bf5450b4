"""What every exercise check shares: a readable failure, seeds, and running learner code safely.

A check plugs the learner's function into the real mechanism, runs it, and
either returns quietly or raises :class:`CheckFailed`. The failure says, in
plain words, what went wrong, the smallest case that shows it, and the seed
that replays it — never a wall of traceback through msglib's internals.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import os
import warnings
from typing import Any, Callable, Iterator

# Hidden checks draw their seeds from a salt. Learners who read this file still
# cannot precompute an instructor's hidden cases: the instructor sets their own
# MSGLIB_GRADING_SALT in the grading environment (see README, "Instructors").
DEFAULT_SALT = "msglib-hidden-v1"


class CheckFailed(AssertionError):
    """An exercise check found a behaviour that is wrong.

    ``what``: the problem in plain words. ``case``: the smallest input or
    history that shows it. ``seed``: replays the run. ``hint``: where to look.
    """

    def __init__(self, what: str, *, case: Any = None, seed: int | None = None,
                 hint: str | None = None, exercise: str | None = None) -> None:
        self.what = what
        self.case = case
        self.seed = seed
        self.hint = hint
        self.exercise = exercise
        super().__init__(self._text())

    def _text(self) -> str:
        lines = [self.what]
        if self.case is not None:
            lines.append("smallest case: " + (self.case if isinstance(self.case, str) else repr(self.case)))
        if self.seed is not None:
            lines.append(f"seed: {self.seed}  (pass seed={self.seed} to the check to replay exactly this run)")
        if self.hint:
            lines.append("hint: " + self.hint)
        return "\n".join(lines)

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the learner sees
        # the finding, not the check's code (which also keeps hidden cases out
        # of tracebacks and feedback).
        title = f"CheckFailed [{self.exercise}]" if self.exercise else "CheckFailed"
        return [f"\x1b[31m{title}\x1b[0m: " + self._text().replace("\n", "\n    ")]


def check(condition: bool, what: str, **details: Any) -> None:
    """Raise :class:`CheckFailed` with ``what`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(what, **details)


# The key of the hidden test that is running, handed in by the grader for that test only (see
# ``hidden_key``); None outside grading. It is derived outside the sandbox from the salt, so the salt
# itself never reaches the interpreter that runs student code.
_hidden: dict[str, str | None] = {"key": None}


def hidden_key(salt: str, student: str, exercise: str) -> str:
    """The per-student, per-exercise key a hidden test's seeds derive from (computed by the grader)."""
    return hmac.new(salt.encode(), f"{student}/{exercise}".encode(), hashlib.sha256).hexdigest()


def use_hidden_key(key: str | None) -> None:
    """Set (before a hidden test) or clear (after it) the key its seeds derive from."""
    _hidden["key"] = key


def grading_salt() -> str:
    """The instructor's salt (``MSGLIB_GRADING_SALT``), read only by the grader, never inside the sandbox."""
    return os.environ.get("MSGLIB_GRADING_SALT", DEFAULT_SALT)


def seeds(exercise: str, count: int, *, hidden: bool = False) -> list[int]:
    """Seeds for an exercise's runs. Visible seeds are fixed (0, 1, 2, ...).

    Hidden seeds derive from the key the grader hands in for the running hidden test
    (per student and exercise, from the instructor's salt). Outside grading (a
    learner's own run, the course's tests) they derive from the salt directly. Inside
    the grading sandbox without a key there are no hidden cases: the check fails
    rather than fall back to seeds anyone can compute.
    """
    if not hidden:
        return list(range(count))
    key = _hidden["key"]
    if key is None:
        if os.environ.get("MSGLIB_SANDBOX"):
            raise CheckFailed("hidden tests run only when the grader hands them their cases", exercise=exercise)
        material = f"{grading_salt()}/{exercise}"
    else:
        material = f"key:{key}/{exercise}"
    out = []
    for i in range(count):
        digest = hashlib.sha256(f"{material}/{i}".encode()).digest()
        out.append(int.from_bytes(digest[:4], "big"))
    return out


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings and stderr while learner code runs.

    nbgrader scores any stderr output in a test cell as a failure, so a
    correct function that happens to warn (a DeprecationWarning from a
    library, a debugging print to stderr) would lose its points.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(io.StringIO()):
            yield


def require_callable(fn: Any, name: str, exercise: str) -> None:
    """Fail with a clear message when the learner has not defined ``name`` yet."""
    if not callable(fn):
        raise CheckFailed(f"`{name}` should be a function, got {type(fn).__name__}", exercise=exercise,
                          hint=f"run the cell that defines `{name}` first")


def learner_error(exc: BaseException, fn: Callable[..., Any], exercise: str, *, case: Any = None,
                  seed: int | None = None) -> CheckFailed:
    """The finding for an exception the learner's own code raised."""
    if isinstance(exc, NotImplementedError):
        return CheckFailed(f"`{getattr(fn, '__name__', 'your function')}` is not implemented yet "
                           "(it raised NotImplementedError)", exercise=exercise,
                           hint="replace `raise NotImplementedError()` with your code")
    return CheckFailed(f"your function raised {type(exc).__name__}: {exc}", case=case, seed=seed, exercise=exercise)


def guarded(fn: Callable[..., Any], exercise: str, *, seed: int | None = None,
            case: Any = None, passthrough: tuple[type[BaseException], ...] = ()) -> Callable[..., Any]:
    """Wrap the learner's function for use inside a mechanism (as a seam).

    The wrapper runs it quietly (:func:`quiet`). A :class:`CheckFailed`, and the
    exceptions in ``passthrough`` (the ones the mechanism expects, such as a
    service failure or an injected crash), propagate unchanged; anything else
    the learner's code raises becomes a :class:`CheckFailed` naming ``case``,
    which may be a value or a function of the call's arguments.
    """
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with quiet():
                return fn(*args, **kwargs)
        except (CheckFailed,) + tuple(passthrough):
            raise
        except Exception as exc:
            described = case(*args, **kwargs) if callable(case) else case
            raise learner_error(exc, fn, exercise, case=described, seed=seed) from None
    return run


def call_learner(fn: Callable[..., Any], *args: Any, exercise: str, what: str, seed: int | None = None,
                 **kwargs: Any) -> Any:
    """Call the learner's function once, quietly; its exceptions become a readable CheckFailed."""
    return guarded(fn, exercise, seed=seed, case=what)(*args, **kwargs)
