"""The channel worker's side: one notification job, the tools a handler gets, and msglib's handler.

A channel worker (a member of the channel's consumer group) hands every
record of ``notify.<channel>`` (and of its retry topic, once due) to
``handle(job, ctx)``, the seam of the capstone's third exercise. The handler
decides; the context ``ctx`` does:

=======================================  ==============================================================
``ctx.delivered``                        a durable set shared by every worker of every channel (a table
                                         in a database): ``key in ctx.delivered``, ``ctx.delivered.add(key)``
``ctx.limiter.allow(user, channel,       takes a token from that user's bucket on that channel; with the
key=key)``                               notification's key, the answer is recorded for that key
``ctx.render(job)``                      the message text (raises ``TemplateError``, permanent)
``ctx.provider.send(user, text,          calls the provider; raises ``HttpError``/``TimeoutError``...
idempotency_key=key)``
``ctx.is_transient(exc)``                msglib.dlq's classifier: True if a retry may work
``ctx.max_attempts``                     attempts per job, the first one included
``ctx.retry(job, exc)``                  sends the job to the retry topic, due after a backoff
``ctx.dead_letter(job, exc)``            puts the job in the channel's DLQ
``ctx.ack(job)``                         commits the job's offset: the group will not deliver it again
=======================================  ==============================================================

Why each piece matters (:func:`handle` is msglib's answer):

* delivery is **at least once**: a worker that crashes before ``ack``, a
  zombie fenced out by a rebalance, a router or producer that appended twice,
  all deliver a job again. The idempotency key ``(event_id, channel, user)``
  names *the notification* (not the record, not the attempt), so a repeat is
  recognised whichever way it came;
* the key goes to the provider too: a crash (or a lost response) between the
  provider's "sent" and ``ctx.delivered.add`` is a gap only the provider's
  own dedupe can close;
* **admission is durable per notification**: the limiter is asked with the
  notification's key, and it records its answer for that key together with
  the token. Every later copy of the job (a retry, a redrive from the DLQ, a
  redelivery after a crash before the ack) gets the same answer and costs
  no second token. Asking only "on the first attempt" is not enough: a
  redrive and a redelivery are attempt 1 again, and a limiter asked afresh
  may refuse a notification it had admitted, which then silently vanishes;
* **critical notifications take the priority lane**: a password reset code
  was asked for a moment ago by the user; dropping it locks them out, and
  delaying it behind their marketing is no better. They skip the limiter
  (``job.critical``); abuse of the reset form is throttled where the request
  comes in, not here;
* ``ack`` comes **after** the outcome is settled (delivered, retried,
  dead-lettered or dropped): acking first and crashing loses the job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from msglib.capstone.events import EVENT_TYPES
from msglib.capstone.templates import render as render_template


class WorkerCrashed(BaseException):
    """The worker process died (kill -9). A BaseException: ``except Exception`` does not catch it, and
    nothing the handler does afterwards reaches the broker or the provider."""


class HandlerError(Exception):
    """The handler itself raised (a bug, not a provider failure): the run stops and says where."""

    def __init__(self, job: "Notification", exc: BaseException) -> None:
        super().__init__(f"handle() raised {type(exc).__name__}: {exc} on job {job.job_id} "
                         f"(attempt {job.attempt}, {job.topic}-{job.partition}@{job.offset})")
        self.job = job
        self.exc = exc


@dataclass(frozen=True)
class Notification:
    """One notification job: notify ``user`` of event ``event_id`` on ``channel``.

    ``attempt`` is 1 for the first try and n after n-1 failures. ``topic``,
    ``partition`` and ``offset`` say where this copy of the job was read.
    """

    event_id: str
    event_type: str
    user: str
    channel: str
    data: dict = field(hash=False, compare=False)
    locale: str = "en"
    attempt: int = 1
    created_ms: float = 0.0        # when the event entered the system (simulated ms), for latency
    topic: str = ""
    partition: int = 0
    offset: int = -1
    redrives: int = 0              # how many times an operator sent it back from the DLQ

    @property
    def critical(self) -> bool:
        """A security message (a password reset): quiet hours and the rate limit do not apply."""
        kind = EVENT_TYPES.get(self.event_type)
        return kind is not None and kind.critical

    @property
    def job_id(self) -> str:
        """``event/channel/user``: how msglib names a notification in histories and DLQs."""
        return f"{self.event_id}/{self.channel}/{self.user}"

    def to_json(self) -> dict:
        return {"event_id": self.event_id, "event_type": self.event_type, "user": self.user,
                "channel": self.channel, "data": self.data, "locale": self.locale, "attempt": self.attempt,
                "created_ms": self.created_ms, "redrives": self.redrives}

    @classmethod
    def from_json(cls, d: dict, *, topic: str = "", partition: int = 0, offset: int = -1) -> "Notification":
        return cls(d["event_id"], d["event_type"], d["user"], d["channel"], dict(d.get("data", {})),
                   d.get("locale", "en"), int(d.get("attempt", 1)), float(d.get("created_ms", 0.0)), topic,
                   partition, offset, int(d.get("redrives", 0)))


class DeliveryStore:
    """A durable set of idempotency keys, shared by all the workers (one table). It survives their crashes."""

    def __init__(self) -> None:
        self._keys: set = set()

    def add(self, key: Any) -> None:
        try:
            hash(key)
        except TypeError:
            raise TypeError(f"an idempotency key must be hashable, e.g. a tuple; got {type(key).__name__} "
                            f"{key!r}") from None
        self._keys.add(key)

    def __contains__(self, key: Any) -> bool:
        try:
            return key in self._keys
        except TypeError:
            raise TypeError(f"an idempotency key must be hashable, e.g. a tuple; got {type(key).__name__} "
                            f"{key!r}") from None

    def __len__(self) -> int:
        return len(self._keys)

    def discard(self, key: Any) -> None:
        self._keys.discard(key)


def render(job: Notification) -> str:
    """The text of ``job`` in the user's language (see ``templates.py``)."""
    return render_template(job.event_type, job.channel, job.locale, job.data)


def handle(job: Notification, ctx: Any) -> None:
    """msglib's channel worker handler: once per notification, within limits, ack last."""
    key = (job.event_id, job.channel, job.user)          # the notification, not the record or the attempt
    if key in ctx.delivered:                             # a repeat (redelivery, duplicate event, redrive)
        ctx.ack(job)
        return
    if not job.critical and not ctx.limiter.allow(job.user, job.channel, key=key):
        ctx.ack(job)                                     # over this user's limit on this channel: dropped
        return                                           # (every copy of this notification gets the same answer)
    try:
        text = ctx.render(job)
        ctx.provider.send(job.user, text, idempotency_key=key)
    except Exception as exc:                             # WorkerCrashed is a BaseException: not caught
        if ctx.is_transient(exc) and job.attempt < ctx.max_attempts:
            ctx.retry(job, exc)
        else:
            ctx.dead_letter(job, exc)
        ctx.ack(job)                                     # settled: a retry copy or a dead letter exists
        return
    ctx.delivered.add(key)                               # only after the provider said yes
    ctx.ack(job)


Handle = Callable[[Notification, Any], Any]

__all__ = ["WorkerCrashed", "HandlerError", "Notification", "DeliveryStore", "render", "handle", "Handle"]
