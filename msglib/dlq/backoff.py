"""How long to wait before retry number n: fixed, exponential with a cap, and jitter.

Retrying at once hammers a service that is already struggling; retrying at
fixed intervals makes every client that failed together retry together. The
usual answer is *exponential backoff with a cap*: the n-th retry waits up to

    ceiling(n) = min(cap, base · multiplier^(n-1))            (n = 1, 2, 3, ...)

plus *jitter*, so that clients that failed at the same moment spread out:

=============  ==================================================  ===========================
``none``       ``ceiling(n)``                                     synchronized retries
``full``       uniform in ``[0, ceiling(n)]``                     least total work (AWS advice)
``equal``      ``ceiling(n)/2`` + uniform in ``[0, ceiling(n)/2]`` never retries too soon
``decorrelated`` ``min(cap, uniform(base, 3 · previous))``        grows from the last delay
=============  ==================================================  ===========================

Every random choice comes from the ``rng`` passed in (a seeded
``random.Random``), so a run is reproducible. A backoff is any callable
``(retry, rng) -> delay_ms``; the classes below build them.

Defaults from the field: Spring Kafka's retry topics use a fixed 1000 ms with
3 attempts, and cap exponential backoff at 30 s; Celery caps ``retry_backoff``
at 600 s and applies full jitter by default.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

Backoff = Callable[[int, random.Random], float]
JITTERS = ("none", "full", "equal", "decorrelated")


def _check_retry(retry: int) -> None:
    if not isinstance(retry, int) or retry < 1:
        raise ValueError(f"retry numbers start at 1 (the first retry), got {retry!r}")


def exponential_ceiling(retry: int, base_ms: float, cap_ms: float, multiplier: float = 2.0) -> float:
    """The longest the n-th retry may wait: ``min(cap, base · multiplier^(n-1))``."""
    _check_retry(retry)
    # compare exponents rather than computing a huge power for large retry numbers
    ceiling = base_ms
    for _ in range(retry - 1):
        ceiling *= multiplier
        if ceiling >= cap_ms:
            return cap_ms
    return min(cap_ms, ceiling)


def full_jitter(retry: int, base_ms: float, cap_ms: float, rng: random.Random) -> float:
    """Uniform in ``[0, ceiling(retry)]``."""
    return rng.uniform(0.0, exponential_ceiling(retry, base_ms, cap_ms))


def equal_jitter(retry: int, base_ms: float, cap_ms: float, rng: random.Random) -> float:
    """Half the ceiling, plus uniform in ``[0, ceiling/2]``."""
    half = exponential_ceiling(retry, base_ms, cap_ms) / 2
    return half + rng.uniform(0.0, half)


def decorrelated_jitter(previous_ms: float, base_ms: float, cap_ms: float, rng: random.Random) -> float:
    """``min(cap, uniform(base, 3 · previous))``; start with ``previous = base``."""
    return min(cap_ms, rng.uniform(base_ms, max(base_ms, 3 * previous_ms)))


@dataclass(frozen=True)
class FixedBackoff:
    """The same delay before every retry (Spring's default: 1000 ms)."""

    delay_ms: float = 1000.0

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {self.delay_ms}")

    def __call__(self, retry: int, rng: random.Random | None = None) -> float:
        _check_retry(retry)
        return self.delay_ms

    def ceilings(self, retries: int) -> list[float]:
        return [self.delay_ms] * retries


@dataclass
class ExponentialBackoff:
    """``min(max_ms, initial_ms · multiplier^(n-1))``, with optional jitter (see the module doc).

    ``decorrelated`` jitter depends on the previous delay, so this object
    remembers it per instance; call :meth:`reset` before a new message, or
    use one instance per message.
    """

    initial_ms: float = 1000.0
    multiplier: float = 2.0
    max_ms: float = 30_000.0
    jitter: str = "none"

    def __post_init__(self) -> None:
        if self.initial_ms <= 0:
            raise ValueError(f"initial_ms must be > 0, got {self.initial_ms}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1 (delays should not shrink), got {self.multiplier}")
        if self.max_ms < self.initial_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must be >= initial_ms ({self.initial_ms})")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {', '.join(JITTERS)}, got {self.jitter!r}")
        self._previous = self.initial_ms

    def reset(self) -> None:
        self._previous = self.initial_ms

    def ceiling(self, retry: int) -> float:
        return exponential_ceiling(retry, self.initial_ms, self.max_ms, self.multiplier)

    def ceilings(self, retries: int) -> list[float]:
        """The delays without jitter: what Spring names its retry topics after."""
        return [self.ceiling(n) for n in range(1, retries + 1)]

    def __call__(self, retry: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(retry)
        if self.jitter == "none":
            return ceiling
        if rng is None:
            raise ValueError("a jittered backoff needs a seeded random.Random: pass rng=sim.random('backoff')")
        if self.jitter == "full":
            return rng.uniform(0.0, ceiling)
        if self.jitter == "equal":
            return ceiling / 2 + rng.uniform(0.0, ceiling / 2)
        if retry == 1:
            self._previous = self.initial_ms
        self._previous = decorrelated_jitter(self._previous, self.initial_ms, self.max_ms, rng)
        return self._previous


def celery_countdown(retries: int, *, retry_backoff: float = 1.0, retry_backoff_max: float = 600.0,
                     retry_jitter: bool = True, rng: random.Random | None = None) -> int:
    """Celery's ``autoretry_for`` countdown in seconds: ``min(max, backoff · 2^retries)``, then
    full jitter as ``randrange(countdown + 1)``. ``retries`` counts from 0."""
    if retries < 0:
        raise ValueError(f"retries counts the retries already made (0 for the first), got {retries}")
    countdown = int(min(retry_backoff_max, retry_backoff * 2 ** retries))
    if retry_jitter:
        if rng is None:
            raise ValueError("retry_jitter needs a seeded random.Random (rng=...)")
        countdown = rng.randrange(countdown + 1)
    return countdown


__all__ = ["Backoff", "JITTERS", "exponential_ceiling", "full_jitter", "equal_jitter", "decorrelated_jitter",
           "FixedBackoff", "ExponentialBackoff", "celery_countdown"]
