"""Simulated channel providers: a push service (FCM/APNs), an email service (SES), an SMS gateway (Twilio).

Each call ``send(user, text, idempotency_key)`` either notifies the user (the
message reaches their phone or inbox) or raises, the way HTTP APIs fail:

* **transient**, at a seeded rate: ``503`` service unavailable, ``429`` too
  many requests, a ``TimeoutError``; and every call during an **outage**
  (``503``). Retrying later works;
* **permanent**, for a contact the provider rejects: ``404`` device token
  unregistered (push), ``400`` invalid phone number (SMS), ``422`` mailbox does
  not exist (email). Retrying never works;
* **lost response**, at a seeded rate: the provider *did* notify the user, but
  the answer never came back, so the caller sees a ``TimeoutError``. Only an
  idempotency key can make the retry harmless.

Idempotency keys: like Stripe's ``Idempotency-Key`` header, a call that
repeats the key of a call that already notified the user returns the same
receipt without notifying again. A call without a key is always new. (Not
every real provider offers this; without it the gap between "the provider
sent it" and "we recorded that" cannot be closed, and rare duplicates remain.)

Every call is a ``send`` operation in the history; every message the user
actually receives is a ``notify`` operation: the ground truth the end-to-end
checker counts.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from msglib.dlq.classify import HttpError
from msglib.sim.history import FAIL, INFO, OK, History

PERMANENT_ERRORS: dict[str, tuple[int, str]] = {
    "push": (404, "device token unregistered"),
    "sms": (400, "invalid phone number"),
    "email": (422, "mailbox does not exist"),
}
NAMES = {"push": "push service", "email": "email service", "sms": "SMS gateway"}


def _transient(rng: random.Random, channel: str) -> Exception:
    r = rng.random()
    if r < 0.5:
        return HttpError(503, f"{NAMES[channel]} unavailable")
    if r < 0.75:
        return HttpError(429, "too many requests")
    return TimeoutError(f"{NAMES[channel]} did not answer within 2 s")


class Provider:
    """One channel's provider. ``outages``: ``[(start_ms, end_ms), ...]`` during which every call fails."""

    def __init__(self, channel: str, *, rng: random.Random, clock: Callable[[], float],
                 history: History | None = None, transient_rate: float = 0.05, lost_response_rate: float = 0.03,
                 invalid_users: set[str] | frozenset[str] = frozenset()) -> None:
        for name, p in (("transient_rate", transient_rate), ("lost_response_rate", lost_response_rate)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name}={p} must be a probability below 1")
        self.channel = channel
        self.rng = rng
        self.clock = clock
        self.history = history
        self.transient_rate = transient_rate
        self.lost_response_rate = lost_response_rate
        self.invalid_users = set(invalid_users)
        self.outages: list[tuple[float, float]] = []
        self.receipts: dict[Any, str] = {}           # idempotency key -> receipt of the call that notified
        self.inbox: list[tuple[float, str, str, dict]] = []   # (time, user, text, job info): what users received
        self.calls = 0
        self.failures = 0
        self.process = f"provider-{channel}"

    def down(self, now: float | None = None) -> bool:
        """True while an outage is in force (the answer a health check gets)."""
        now = self.clock() if now is None else now
        return any(start <= now < end for start, end in self.outages)

    def add_outage(self, start_ms: float, end_ms: float) -> None:
        if end_ms <= start_ms:
            raise ValueError(f"an outage must end after it starts, got [{start_ms}, {end_ms})")
        self.outages.append((start_ms, end_ms))

    def send(self, user: str, text: str, idempotency_key: Any = None, *, job: dict | None = None) -> str:
        """Notify ``user``; returns a receipt id or raises. ``job`` (who calls, for which notification) goes
        into the history."""
        now = self.clock()
        self.calls += 1
        info = dict(job or {})
        op = None
        if self.history is not None:
            op = self.history.invoke(now, self.process, "send",
                                     {**info, "user": user, "idempotency_key": _plain(idempotency_key)})
        if not isinstance(text, str):
            self._fail(op, now)
            raise TypeError(f"the {NAMES[self.channel]} takes the message text as a str, got {type(text).__name__}")
        error: Exception | None = None
        lost = False
        if self.down(now):
            error = HttpError(503, f"{NAMES[self.channel]} unavailable (outage)")
        elif user in self.invalid_users:
            status, why = PERMANENT_ERRORS[self.channel]
            error = HttpError(status, why)
        elif self.rng.random() < self.transient_rate:
            error = _transient(self.rng, self.channel)
        elif self.rng.random() < self.lost_response_rate:
            lost = True
        if error is not None:
            self.failures += 1
            self._fail(op, now, error)
            raise error
        key = _plain(idempotency_key)
        hashable = _hashable(key)
        if hashable is not None and hashable in self.receipts:
            receipt = self.receipts[hashable]                 # a repeat: same answer, no second message
            self._done(op, now, {"receipt": receipt, "notified": False}, lost)
        else:
            receipt = f"{self.channel}-{len(self.inbox) + 1}"
            if hashable is not None:
                self.receipts[hashable] = receipt
            self.inbox.append((now, user, text, info))
            if self.history is not None:
                n = self.history.invoke(now, self.process, "notify", {**info, "user": user, "text": text})
                self.history.complete(n, now, OK)
            self._done(op, now, {"receipt": receipt, "notified": True}, lost)
        if lost:
            self.failures += 1
            raise TimeoutError(f"{NAMES[self.channel]} did not answer within 2 s")
        return receipt

    def _fail(self, op: Any, now: float, error: Exception | None = None) -> None:
        if op is not None:
            self.history.complete(op, now, FAIL, error=f"{type(error).__name__}: {error}" if error else "TypeError")

    def _done(self, op: Any, now: float, value: dict, lost: bool) -> None:
        if op is not None:
            # a lost response: it happened, but the caller cannot know (Jepsen's "info")
            self.history.complete(op, now, INFO if lost else OK, {**op.value, **value},
                                  error="response lost: the caller saw a timeout" if lost else None)


def _plain(key: Any) -> Any:
    """Tuples become lists (JSON), everything else stays."""
    if isinstance(key, tuple):
        return [_plain(k) for k in key]
    return key


def _hashable(key: Any) -> Any:
    if key is None:
        return None
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    try:
        hash(key)
    except TypeError:
        return repr(key)
    return key


__all__ = ["Provider", "PERMANENT_ERRORS", "NAMES"]
