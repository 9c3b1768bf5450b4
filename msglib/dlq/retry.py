"""Retrying a failing message, then giving up into the DLQ: one consumer, simulated time.

The shape every broker and framework shares (Celery's ``retry``, a RabbitMQ
consumer with a delay queue, SQS's receive count)::

    attempt n ──ok──► done
        │ fails
        ▼
    classifier(error) ── permanent ──────────────────────────► DLQ ("permanent")
        │ transient
        ▼
    n < max_attempts ? ── yes ──► wait backoff(n) ──► attempt n+1
        │ no
        ▼
    DLQ ("max-attempts")

``max_attempts`` counts the first delivery (4 = 1 try + 3 retries), as Spring's
``attempts`` does. The three decisions are seams: ``classifier(exc) -> bool``
(True: transient), ``backoff(retry, rng) -> ms`` and the DLQ itself.

The accounting invariant, which :func:`msglib.check.dlq.check_dlq` verifies on
the recorded history: every submitted message is either processed once or
dead-lettered once, after at most ``max_attempts`` attempts; none is lost,
none is processed twice, none is both processed and dead-lettered.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.dlq.backoff import Backoff, ExponentialBackoff
from msglib.dlq.classify import (Classifier, DeserializationError, HttpError, MessageConversionError, is_transient)
from msglib.dlq.deadletters import DeadLetter, DeadLetterQueue
from msglib.sim import History, Simulation

PROCESS = "consumer"


@dataclass
class RetryMessage:
    """What the handler gets: the payload, and which attempt this is (1 = first delivery)."""

    message_id: str
    payload: Any
    attempt: int = 1
    first_attempt_at: float = 0.0
    first_failed_at: float | None = None
    errors: list[str] = field(default_factory=list)   # "TimeoutError: ..." per failed attempt


@dataclass
class Attempt:
    """One attempt, for plots and checks."""

    message_id: str
    attempt: int
    time: float
    error: str | None                  # the exception's class name, None on success
    next_step: str                     # "done", "retry", "dlq"
    delay_ms: float | None = None      # the backoff chosen, when retrying


class RetryProcessor:
    """Process messages with retries, backoff and a DLQ, on a :class:`Simulation`."""

    def __init__(self, sim: Simulation, handler: Callable[[RetryMessage], Any], *, max_attempts: int = 4,
                 backoff: Backoff | None = None, classifier: Classifier = is_transient,
                 dlq: DeadLetterQueue | None = None, source: str = "main", timeout_ms: float | None = None,
                 history: History | None = None) -> None:
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts counts the first delivery too, so it is >= 1; got {max_attempts!r}")
        self.sim = sim
        self.handler = handler
        self.max_attempts = max_attempts
        self.backoff = backoff if backoff is not None else ExponentialBackoff(100, 2, 10_000, jitter="full")
        self.classifier = classifier
        self.dlq = dlq if dlq is not None else DeadLetterQueue(f"{source}.dlq", clock=lambda: sim.now)
        self.source = source
        self.timeout_ms = timeout_ms
        self.history = history if history is not None else History(meta={"max_attempts": max_attempts})
        self.rng: random.Random = sim.random("backoff")
        self.attempts: list[Attempt] = []
        self.processed: dict[str, int] = {}

    def submit(self, message_id: str, payload: Any = None, at: float | None = None) -> None:
        """Deliver a new message at time ``at`` (default: now)."""
        self.sim.at(self.sim.now if at is None else at, self._publish, message_id, payload)

    def _publish(self, message_id: str, payload: Any) -> None:
        op = self.history.invoke(self.sim.now, "producer", "publish", {"id": message_id})
        self.history.complete(op, self.sim.now, "ok")
        self._attempt(RetryMessage(message_id, payload, 1, self.sim.now))

    def _attempt(self, msg: RetryMessage) -> None:
        now = self.sim.now
        op = self.history.invoke(now, PROCESS, "attempt", {"id": msg.message_id, "attempt": msg.attempt})
        try:
            self.handler(msg)
        except Exception as exc:
            self.history.complete(op, self.sim.now, "fail", error=type(exc).__name__)
            self._failed(msg, exc)
            return
        self.history.complete(op, self.sim.now, "ok")
        self.processed[msg.message_id] = self.processed.get(msg.message_id, 0) + 1
        self.attempts.append(Attempt(msg.message_id, msg.attempt, now, None, "done"))

    def _failed(self, msg: RetryMessage, exc: Exception) -> None:
        now = self.sim.now
        if msg.first_failed_at is None:
            msg.first_failed_at = now
        msg.errors.append(f"{type(exc).__name__}: {exc}")
        transient = self.classifier(exc)
        if not isinstance(transient, bool):
            raise TypeError(f"the classifier returned {transient!r} for {type(exc).__name__}({exc}); it must "
                            "return True (transient: retry) or False (permanent: dead-letter)")
        timed_out = self.timeout_ms is not None and now - msg.first_attempt_at >= self.timeout_ms
        if transient and msg.attempt < self.max_attempts and not timed_out:
            delay = self.backoff(msg.attempt, self.rng)
            if not isinstance(delay, (int, float)) or math.isnan(delay) or delay < 0 or math.isinf(delay):
                raise ValueError(f"the backoff returned {delay!r} ms for retry {msg.attempt}; it must be a "
                                 "finite number >= 0")
            self.attempts.append(Attempt(msg.message_id, msg.attempt, now, type(exc).__name__, "retry", delay))
            nxt = RetryMessage(msg.message_id, msg.payload, msg.attempt + 1, msg.first_attempt_at,
                               msg.first_failed_at, msg.errors)
            self.sim.schedule(delay, self._attempt, nxt)
            return
        reason = "permanent" if not transient else ("timeout" if timed_out else "max-attempts")
        self.attempts.append(Attempt(msg.message_id, msg.attempt, now, type(exc).__name__, "dlq"))
        self._dead_letter(msg, exc, reason)

    def _dead_letter(self, msg: RetryMessage, exc: Exception, reason: str) -> None:
        now = self.sim.now
        letter = DeadLetter(msg.message_id, msg.payload, self.source, reason, msg.attempt, type(exc).__name__,
                            str(exc), msg.first_failed_at if msg.first_failed_at is not None else now, now, now)
        op = self.history.invoke(now, PROCESS, "dead-letter",
                                 {"id": msg.message_id, "attempts": msg.attempt, "reason": reason})
        self.dlq.add(letter)
        self.history.complete(op, now, "ok")

    def redrive(self, **options: Any) -> list[str]:
        """Send the DLQ's letters back through the processor (first attempt again), keeping their ids."""
        def send(letter: DeadLetter) -> None:
            op = self.history.invoke(self.sim.now, "operator", "redrive", {"id": letter.message_id})
            self.history.complete(op, self.sim.now, "ok")
            self.sim.schedule(0.0, self._attempt, RetryMessage(letter.message_id, letter.payload, 1, self.sim.now))

        return self.dlq.redrive(send, **options)

    def run(self, until: float | None = None) -> "RetryProcessor":
        self.sim.run(until=until)
        return self


# ---------------------------------------------------------------------- a workload with known failures
TRANSIENT_ERRORS: list[Callable[[], Exception]] = [
    lambda: TimeoutError("the payment service did not answer within 2 s"),
    lambda: ConnectionError("connection refused by inventory:5432"),
    lambda: HttpError(503, "service unavailable"),
    lambda: HttpError(429, "too many requests"),
    lambda: HttpError(502, "bad gateway"),
]
PERMANENT_ERRORS: list[Callable[[], Exception]] = [
    lambda: DeserializationError("unexpected byte 0xff at position 0"),
    lambda: MessageConversionError("field 'amount' is not a number"),
    lambda: HttpError(400, "invalid currency 'EURO'"),
    lambda: HttpError(404, "customer 4711 not found"),
    lambda: ValueError("quantity must be positive, got -3"),
    lambda: KeyError("shipping_address"),
]


@dataclass
class Plan:
    """How one message behaves: the errors its attempts raise, in order, then success
    (``forever``: the last error repeats for ever)."""

    errors: list[Exception]
    forever: bool = False

    @property
    def kind(self) -> str:
        if not self.errors:
            return "ok"
        if not is_transient(self.errors[0]):
            return "permanent"
        return "poison" if self.forever else "flaky"

    def error_for(self, attempt: int) -> Exception | None:
        if attempt <= len(self.errors):
            return self.errors[attempt - 1]
        return self.errors[-1] if self.forever and self.errors else None


def make_workload(rng: random.Random, n: int, *, flaky: float = 0.3, poison: float = 0.1, permanent: float = 0.1,
                  max_flaky_failures: int = 3) -> dict[str, Plan]:
    """``n`` messages: ok, flaky (fail transiently 1..k times, then succeed), poison (transient for
    ever) or permanent (fail the same way every time)."""
    plans: dict[str, Plan] = {}
    for i in range(n):
        r = rng.random()
        if r < flaky:
            k = rng.randint(1, max_flaky_failures)
            plan = Plan([rng.choice(TRANSIENT_ERRORS)() for _ in range(k)])
        elif r < flaky + poison:
            plan = Plan([rng.choice(TRANSIENT_ERRORS)()], forever=True)
        elif r < flaky + poison + permanent:
            plan = Plan([rng.choice(PERMANENT_ERRORS)()], forever=True)
        else:
            plan = Plan([])
        plans[f"msg-{i}"] = plan
    return plans


class ScriptedHandler:
    """A handler that follows each message's :class:`Plan` and counts what it really did."""

    def __init__(self, plans: dict[str, Plan]) -> None:
        self.plans = plans
        self.calls: dict[str, int] = {}
        self.effects: dict[str, int] = {}

    def __call__(self, msg: RetryMessage) -> None:
        self.calls[msg.message_id] = self.calls.get(msg.message_id, 0) + 1
        error = self.plans[msg.message_id].error_for(self.calls[msg.message_id])
        if error is not None:
            raise error
        self.effects[msg.message_id] = self.effects.get(msg.message_id, 0) + 1


def run_workload(n: int = 50, seed: int = 0, *, every_ms: float = 20.0, plans: dict[str, Plan] | None = None,
                 **options: Any) -> tuple[RetryProcessor, ScriptedHandler]:
    """Submit ``n`` messages of a seeded workload every ``every_ms`` and run to the end."""
    sim = Simulation(seed)
    plans = plans if plans is not None else make_workload(sim.random("workload"), n)
    handler = ScriptedHandler(plans)
    proc = RetryProcessor(sim, handler, **options)
    proc.history.meta.update({"seed": seed, "n": len(plans)})
    for i, mid in enumerate(plans):
        proc.submit(mid, {"n": i}, at=i * every_ms)
    proc.run()
    return proc, handler


__all__ = ["RetryMessage", "Attempt", "RetryProcessor", "Plan", "make_workload", "ScriptedHandler", "run_workload",
           "TRANSIENT_ERRORS", "PERMANENT_ERRORS"]
