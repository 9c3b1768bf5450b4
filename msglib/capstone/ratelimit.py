"""Per-user, per-channel rate limiting with token buckets.

A token bucket holds at most ``capacity`` tokens and gains ``refill_per_s``
tokens per second, continuously, up to that cap. Each notification takes one
token; with none left, the notification is refused. It starts full, so a quiet
user may receive a short burst of ``capacity`` messages, and after that no more
than the refill rate.

The two properties a limiter must have (the capstone's checks test both):

* **never past the limit**: in any window of ``W`` ms a key is allowed at most
  ``capacity + refill_per_s * W / 1000`` times (:func:`max_in_window`);
* **no starvation**: it refuses only when the bucket really is empty. A
  limiter that refuses too much also "never passes the limit", which is why
  the second property is needed. :func:`replay` checks both on a sequence of
  decisions, against a reference bucket.

:class:`RateLimiter` keeps one bucket per ``(user, channel)``, shared by every
worker of the channel (in production that state lives in Redis or the like;
keeping it inside one worker would give each worker its own limit, and a
rebalance a fresh, full bucket). The bucket class is the seam of the capstone's
second exercise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from msglib.sim.history import OK, History

EPS = 1e-6   # floating-point slack: within EPS of a whole token, allowing and refusing are both right


class TokenBucket:
    """msglib's token bucket. ``allow(now_ms)`` takes a token if there is one.

    Invariant: ``0 <= tokens <= capacity``; ``last_ms`` is the time tokens
    were last brought up to date. Time never goes backwards.
    """

    def __init__(self, capacity: int, refill_per_s: float) -> None:
        if capacity < 1:
            raise ValueError(f"a bucket must hold at least 1 token, got capacity={capacity}")
        if refill_per_s <= 0:
            raise ValueError(f"refill_per_s must be > 0 (tokens per second), got {refill_per_s}")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.tokens = float(capacity)         # a new bucket is full
        self.last_ms: float | None = None

    def allow(self, now_ms: float) -> bool:
        if self.last_ms is not None:
            elapsed = now_ms - self.last_ms
            if elapsed < 0:
                raise ValueError(f"time went backwards: {now_ms} ms after {self.last_ms} ms")
            # refill continuously, keeping fractions of a token; never above capacity
            self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_s / 1000.0)
        self.last_ms = now_ms
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


Bucket = Callable[[int, float], Any]    # (capacity, refill_per_s) -> object with .allow(now_ms) -> bool


def max_in_window(capacity: int, refill_per_s: float, window_ms: float) -> float:
    """The most a key may be allowed in any window of ``window_ms`` (both ends included)."""
    return capacity + refill_per_s * window_ms / 1000.0


def window_violation(times: list[float], capacity: int, refill_per_s: float) -> tuple[int, int] | None:
    """The first pair ``(i, j)`` of allowed times (sorted) with more allowed in ``[times[i], times[j]]`` than
    :func:`max_in_window` permits, or None. Checks every window that starts and ends on an allowed time."""
    n = len(times)
    for j in range(n):
        for i in range(j):
            if j - i + 1 > max_in_window(capacity, refill_per_s, times[j] - times[i]) + EPS:
                return i, j
    return None


@dataclass
class Verdict:
    """What :func:`replay` found wrong in one decision."""

    index: int                 # which decision
    kind: str                  # "past-limit" or "starved"
    tokens: float              # the reference bucket's tokens at that moment


def replay(decisions: list[tuple[float, bool]], capacity: int, refill_per_s: float) -> Verdict | None:
    """Run a reference bucket along ``(now_ms, allowed)`` decisions; the first wrong one, or None.

    Allowed with less than one token: past the limit. Refused with a whole
    token left: starvation. Within ``EPS`` of exactly one token, floating-point
    rounding decides (``0.1 * 10`` is ``0.9999999999999999``; times such as
    ``7655.06 + 250`` are not exact either), so both answers are accepted and
    the reference follows the one that was made.
    """
    tokens = float(capacity)
    last: float | None = None
    for i, (now, allowed) in enumerate(decisions):
        if last is not None:
            tokens = min(capacity, tokens + (now - last) * refill_per_s / 1000.0)
        last = now
        if allowed:
            if tokens < 1.0 - EPS:
                return Verdict(i, "past-limit", tokens)
            tokens = max(0.0, tokens - 1.0)
        elif tokens >= 1.0 + EPS:
            return Verdict(i, "starved", tokens)
    return None


class RateLimiter:
    """One bucket per ``(user, channel)``, made by ``bucket(capacity, refill_per_s)`` on first use.

    **Admission is durable per notification.** ``allow(user, channel, key=k)``
    records its answer for the notification key ``k`` in the same step as the
    token it took (in production: one Redis script that checks the key, takes
    the token and stores the answer). A later ask for the same key (a retry, a
    redrive, a redelivery after a crash before the ack, a duplicate event) gets
    the same answer back and touches no bucket: an admitted notification stays
    admitted and costs one token, a refused one stays refused. Without a key,
    every call takes a token (or is refused) afresh.

    Every decision goes into the history as a ``throttle`` operation, with the
    job it was made for and ``repeat`` (answered from the record), so a
    checker can replay the buckets and follow each notification.
    """

    def __init__(self, capacity: int = 3, refill_per_s: float = 1.0, *, bucket: Bucket = TokenBucket,
                 clock: Callable[[], float] = lambda: 0.0, history: History | None = None) -> None:
        if capacity < 1 or refill_per_s <= 0:
            raise ValueError(f"capacity must be >= 1 and refill_per_s > 0, got {capacity}, {refill_per_s}")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.bucket = bucket
        self.clock = clock
        self.history = history
        self.buckets: dict[tuple[str, str], Any] = {}
        self.decisions: dict[tuple[str, str], list[tuple[float, bool]]] = {}
        self.admissions: dict[Any, bool] = {}     # notification key -> the answer it got (durable)
        self.refused = 0

    def allow(self, user: str, channel: str, *, key: Any = None, job: str | None = None,
              process: str = "limiter") -> bool:
        """Take a token from ``(user, channel)``'s bucket, or answer from the record for ``key``."""
        now = self.clock()
        if key is not None:
            try:
                remembered = self.admissions.get(key)
            except TypeError:
                raise TypeError(f"a notification key must be hashable, e.g. a tuple; got {type(key).__name__} "
                                f"{key!r}") from None
            if remembered is not None:
                self._record(now, user, channel, job, remembered, process, repeat=True)
                return remembered
        b = self.buckets.get((user, channel))
        if b is None:
            b = self.buckets[(user, channel)] = self.bucket(self.capacity, self.refill_per_s)
        allowed = b.allow(now)
        if not isinstance(allowed, bool):
            raise TypeError(f"the bucket's allow() returned {allowed!r}; it must return True or False")
        if key is not None:
            self.admissions[key] = allowed
        self.decisions.setdefault((user, channel), []).append((now, allowed))
        if not allowed:
            self.refused += 1
        self._record(now, user, channel, job, allowed, process, repeat=False)
        return allowed

    def _record(self, now: float, user: str, channel: str, job: str | None, allowed: bool, process: str,
                repeat: bool) -> None:
        if self.history is not None:
            op = self.history.invoke(now, process, "throttle", {"user": user, "channel": channel, "job": job,
                                                                "allowed": allowed, "repeat": repeat})
            self.history.complete(op, now, OK)


__all__ = ["TokenBucket", "Bucket", "RateLimiter", "max_in_window", "window_violation", "replay", "Verdict", "EPS"]
