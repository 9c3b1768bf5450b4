"""msglib.dlq.celery: Celery's retry semantics on msglib's broker (checklist items 32-35)."""
from __future__ import annotations

from msglib.dlq.celery import CeleryWorker, Ignore, Reject, Task
from msglib.queue import Broker
from msglib.sim import Simulation


def worker(fn, queue_args=None, **task_options):
    b = Broker(Simulation(0))
    if queue_args:
        b.declare_queue("celery", queue_args)
    return b, CeleryWorker(b, "celery", Task(fn, **task_options))


def test_retry_defaults_three_retries_180_s_apart_then_max_retries_exceeded():  # [32] [33]
    def charge(task, order):
        task.retry()

    b, w = worker(charge)
    w.delay("t1", 42)
    b.sim.run()
    assert [r for _, _, r, _ in w.runs] == [0, 1, 2, 3]
    assert [t for t, *_ in w.runs] == [0, 180_000, 360_000, 540_000]
    out = w.outcomes["t1"]
    assert out.state == "FAILURE" and out.runs == 4 and out.error.startswith("MaxRetriesExceededError")


def test_retry_with_exc_reraises_it_at_the_limit_and_none_retries_for_ever():  # [33]
    def flaky(task):
        task.retry(exc=TimeoutError("slow"), countdown=1)

    b, w = worker(flaky, max_retries=2)
    w.delay("t")
    b.sim.run()
    assert w.outcomes["t"].error == "TimeoutError: slow" and w.outcomes["t"].runs == 3

    def ninth_time_lucky(task):
        if task.request.retries < 9:
            task.retry(countdown=1)
        return "ok"

    b, w = worker(ninth_time_lucky, max_retries=None)
    w.delay("t")
    b.sim.run()
    assert w.outcomes["t"].state == "SUCCESS" and w.outcomes["t"].runs == 10


def test_autoretry_with_backoff_and_jitter():  # [34]
    def always(task):
        raise ConnectionError("refused")

    b, w = worker(always, autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=False, max_retries=5)
    w.delay("t")
    b.sim.run()
    assert w.countdowns == [1, 2, 4, 8, 16] and w.outcomes["t"].state == "FAILURE"
    b, w = worker(always, autoretry_for=(ConnectionError,), retry_backoff=2, max_retries=6)
    w.delay("t")
    b.sim.run()
    ceilings = [2, 4, 8, 16, 32, 64]
    assert all(0 <= c <= ceil for c, ceil in zip(w.countdowns, ceilings)) and w.countdowns != ceilings


def test_ignore_is_never_retried_and_other_errors_are_not_autoretried():  # [34]
    def skip(task):
        raise Ignore()

    b, w = worker(skip, autoretry_for=(Exception,))
    w.delay("t")
    b.sim.run()
    assert w.outcomes["t"].state == "IGNORED" and w.outcomes["t"].runs == 1

    def bad(task):
        raise ValueError("bad data")

    b, w = worker(bad, autoretry_for=(ConnectionError,))
    w.delay("t")
    b.sim.run()
    assert w.outcomes["t"].state == "FAILURE" and w.outcomes["t"].runs == 1


def test_acks_late_and_reject_to_the_dlx():  # [35]
    def refuse(task):
        raise Reject("poison", requeue=False)

    args = {"x-dead-letter-exchange": "dlx"}
    b, w = worker(refuse, queue_args=args, acks_late=True)
    b.declare_exchange("dlx", "fanout")
    b.declare_queue("dead")
    b.bind("dead", "dlx")
    w.delay("t")
    b.sim.run()
    [msg] = b.queues["dead"].ready_messages()
    assert msg.message_id == "t" and msg.headers["x-death"][0]["reason"] == "rejected"

    seen = []

    def slow(task):
        seen.append(b2.queues["celery"].messages_unacknowledged)

    b2, w2 = worker(slow, acks_late=True)
    w2.delay("t")
    b2.sim.run()
    b3, w3 = worker(lambda task: seen.append(b3.queues["celery"].messages_unacknowledged))
    w3.delay("t")
    b3.sim.run()
    assert seen == [1, 0]      # acks_late holds the message while the task runs; the default acked it already
