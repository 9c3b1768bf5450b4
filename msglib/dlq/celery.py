"""Celery-style task retries on msglib's broker: ``self.retry()``, ``autoretry_for``, ``Ignore``, ``Reject``.

Celery retries differently from a broker's requeue: ``task.retry()`` publishes
a **new message** for the same task id, with ``retries + 1`` and a countdown
(an ETA), acknowledges the current one, and raises :class:`Retry` to end the
current run. Facts modelled here (Celery 5 ``app/task.py``, ``app/autoretry.py``):

* ``max_retries`` defaults to 3 and ``default_retry_delay`` to 180 s;
  ``max_retries=None`` retries for ever;
* past the limit, ``retry(exc=e)`` re-raises ``e``; ``retry()`` without an
  exception raises :class:`MaxRetriesExceededError`;
* ``autoretry_for=(E, ...)`` retries those exceptions automatically; with
  ``retry_backoff=f`` the countdown is ``min(retry_backoff_max, f · 2^retries)``
  seconds, and ``retry_jitter`` (on by default) turns it into
  ``randrange(countdown + 1)``;
* :class:`Ignore` ends the task without retry or failure; :class:`Reject`
  rejects the message (``requeue=False`` hands it to the queue's DLX);
* ``acks_late=False`` (the default) acks *before* running the task, so a
  worker crash loses it; ``acks_late=True`` acks after.

Times are simulated ms; Celery's settings are in seconds, so they are converted.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from msglib.dlq.backoff import celery_countdown
from msglib.queue import Broker, Delivery

SECOND = 1_000.0


class Retry(Exception):
    """Raised by :meth:`Task.retry`: this run ends, a new message will run the task again."""

    def __init__(self, countdown_s: float, exc: BaseException | None = None) -> None:
        super().__init__(f"retry in {countdown_s:g} s" + (f" after {type(exc).__name__}: {exc}" if exc else ""))
        self.countdown_s = countdown_s
        self.exc = exc


class MaxRetriesExceededError(Exception):
    """``retry()`` was called once more than ``max_retries`` allows."""


class Ignore(Exception):
    """End the task quietly: no retry, no failure."""


class Reject(Exception):
    """Reject the message: ``requeue=True`` puts it back, ``False`` dead-letters it (if the queue has a DLX)."""

    def __init__(self, reason: str = "", requeue: bool = False) -> None:
        super().__init__(reason)
        self.requeue = requeue


@dataclass
class Request:
    """The running task's context (Celery's ``self.request``)."""

    id: str
    args: tuple
    retries: int = 0


@dataclass
class Outcome:
    """The final state of one task id."""

    task_id: str
    state: str                      # SUCCESS, FAILURE, IGNORED, REJECTED
    runs: int
    error: str | None = None
    result: Any = None


class Task:
    """A task: ``fn(task, *args)``; inside, ``task.request`` and ``task.retry(...)`` work as in Celery."""

    def __init__(self, fn: Callable[..., Any], *, max_retries: int | None = 3, default_retry_delay: float = 180.0,
                 autoretry_for: tuple[type[BaseException], ...] = (), retry_backoff: float | bool = False,
                 retry_backoff_max: float = 600.0, retry_jitter: bool = True, acks_late: bool = False) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "task")
        self.max_retries = max_retries
        self.default_retry_delay = default_retry_delay
        self.autoretry_for = tuple(autoretry_for)
        self.retry_backoff = float(retry_backoff) if retry_backoff is not True else 1.0
        self.retry_backoff_max = retry_backoff_max
        self.retry_jitter = retry_jitter
        self.acks_late = acks_late
        self.request: Request | None = None

    def retry(self, exc: BaseException | None = None, countdown: float | None = None,
              max_retries: int | None = -1) -> None:
        """Schedule another run and end this one (always raises)."""
        req = self.request
        if req is None:
            raise RuntimeError("retry() can only be called while the task runs")
        limit = self.max_retries if max_retries == -1 else max_retries
        if limit is not None and req.retries >= limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(f"can't retry {self.name}[{req.id}]: max retries ({limit}) exceeded")
        raise Retry(self.default_retry_delay if countdown is None else countdown, exc)


class CeleryWorker:
    """Consumes a broker queue of task messages and runs ``task`` for each, Celery's way."""

    def __init__(self, broker: Broker, queue: str, task: Task, *, prefetch: int = 4, seed: int = 0) -> None:
        self.broker = broker
        self.queue = queue
        self.task = task
        self.rng = random.Random(seed)
        self.outcomes: dict[str, Outcome] = {}
        self.runs: list[tuple[float, str, int, str]] = []      # (time, task id, retries, what happened)
        self.countdowns: list[float] = []
        if queue not in broker.queues:
            broker.declare_queue(queue)
        broker.consume(queue, self._on_message, prefetch=prefetch)

    def delay(self, task_id: str, *args: Any) -> None:
        """Publish a task message (``task.apply_async``)."""
        self._publish(task_id, args, 0)

    def _publish(self, task_id: str, args: tuple, retries: int) -> None:
        self.broker.publish("", self.queue, {"task": self.task.name, "args": list(args), "retries": retries},
                            message_id=task_id)

    def _on_message(self, d: Delivery) -> None:
        body = d.body
        req = Request(d.message_id, tuple(body["args"]), body["retries"])
        if not self.task.acks_late:
            self.broker.ack(d.delivery_tag)          # early ack: at-most-once if the worker dies now
        self.task.request = req
        state, error, result = "SUCCESS", None, None
        try:
            result = self.task.fn(self.task, *req.args)
        except Retry as r:
            state = "RETRY"
            self._schedule_retry(req, r.countdown_s)
        except Ignore:
            state = "IGNORED"
        except Reject as r:
            state = "REJECTED"
            if self.task.acks_late:
                self.broker.reject(d.delivery_tag, requeue=r.requeue)
        except Exception as exc:
            if isinstance(exc, self.task.autoretry_for) and (self.task.max_retries is None
                                                           or req.retries < self.task.max_retries):
                state = "RETRY"
                self._schedule_retry(req, self._autoretry_countdown(req.retries))
            else:
                state, error = "FAILURE", f"{type(exc).__name__}: {exc}"
        finally:
            self.task.request = None
        self.runs.append((self.broker.sim.now, req.id, req.retries, state))
        if self.task.acks_late and state != "REJECTED":
            self.broker.ack(d.delivery_tag)          # done (or failed): acked after the run
        if state != "RETRY":
            runs = sum(1 for _, tid, _, _ in self.runs if tid == req.id)
            self.outcomes[req.id] = Outcome(req.id, state, runs, error, result)

    def _autoretry_countdown(self, retries: int) -> float:
        if not self.task.retry_backoff:
            return self.task.default_retry_delay
        return celery_countdown(retries, retry_backoff=self.task.retry_backoff,
                                retry_backoff_max=self.task.retry_backoff_max, retry_jitter=self.task.retry_jitter,
                                rng=self.rng)

    def _schedule_retry(self, req: Request, countdown_s: float) -> None:
        self.countdowns.append(countdown_s)
        self.broker.sim.schedule(countdown_s * SECOND, self._publish, req.id, req.args, req.retries + 1)


__all__ = ["Task", "CeleryWorker", "Retry", "MaxRetriesExceededError", "Ignore", "Reject", "Request", "Outcome"]
