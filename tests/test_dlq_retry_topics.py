"""msglib.dlq.retry_topics: Spring Kafka-style non-blocking retries on msglib.log topics.

Each test's name states the behaviour. The real systems' rules and their sources (Spring Kafka, Celery,
RabbitMQ, SQS) are in docs/kafka-behaviours.md, "Retries and dead letters", and docs/fidelity.md, "SQS rules".
"""
from __future__ import annotations

import pytest

from msglib.check.dlq import check_dlq
from msglib.dlq import (DeserializationError, ExponentialBackoff, FixedBackoff, HttpError, RetryTopicPipeline,
                        RetryTopology, route_failure)
from msglib.dlq import retry_topics as rt
from msglib.sim import Simulation


def test_topic_names_and_attempts():
    topo = RetryTopology.create("orders", attempts=4, backoff=ExponentialBackoff(1000, 2))
    assert topo.retry_topics == ("orders-retry-1000", "orders-retry-2000", "orders-retry-4000")
    assert topo.delays == (1000, 2000, 4000) and topo.dlt == "orders-dlt" and topo.attempts == 4
    fixed = RetryTopology.create("orders")                     # Spring's default: fixed 1000 ms, 3 attempts
    assert fixed.retry_topics == ("orders-retry-0", "orders-retry-1") and fixed.delays == (1000, 1000)
    capped = RetryTopology.create("o", 5, ExponentialBackoff(1000, 2, 2000))
    assert capped.retry_topics == ("o-retry-1000", "o-retry-2000-0", "o-retry-2000-1", "o-retry-2000-2")
    assert RetryTopology.create("o", attempts=1).retry_topics == ()
    with pytest.raises(ValueError, match="first delivery"):
        RetryTopology.create("o", attempts=0)


def test_route_failure():
    topo = RetryTopology.create("o", 3, ExponentialBackoff(1000, 2))
    assert route_failure(topo, "o", 50, False) == ("o-retry-1000", 1050)
    assert route_failure(topo, "o-retry-1000", 1100, False) == ("o-retry-2000", 3100)
    assert route_failure(topo, "o-retry-2000", 3200, False) == ("o-dlt", None)
    assert route_failure(topo, "o", 0, True) == ("o-dlt", None)


def pipeline(handler, attempts=4, **kw):
    sim = Simulation(0)
    topo = RetryTopology.create("orders", attempts, ExponentialBackoff(1000, 2))
    return sim, RetryTopicPipeline(sim, topo, handler, **kw)


def test_failed_record_climbs_the_ladder_at_its_due_times_and_lands_in_the_dlt():
    calls = []

    def handler(r):
        calls.append((r.topic, r.attempt, r.headers.get(rt.BACKOFF_TIMESTAMP)))
        if r.payload["n"] == 0:
            raise HttpError(503, "down")

    sim, p = pipeline(handler, poll_interval_ms=10)
    p.send({"n": 0}, message_id="poison")
    p.run()
    assert [(t, a) for t, a, _ in calls] == [("orders", 1), ("orders-retry-1000", 2), ("orders-retry-2000", 3),
                                             ("orders-retry-4000", 4)]
    times = [a.time for a in p.attempts]
    assert times[1] - times[0] >= 1000 and times[2] - times[1] >= 2000 and times[3] - times[2] >= 4000
    [h] = p.dlt_headers()
    assert (h[rt.DLT_ORIGINAL_TOPIC], h[rt.DLT_ORIGINAL_PARTITION], h[rt.DLT_ORIGINAL_OFFSET]) == ("orders", "0", "0")
    assert h[rt.DLT_EXCEPTION_FQCN] == "msglib.dlq.classify.HttpError" and "503" in h[rt.DLT_EXCEPTION_MESSAGE]
    assert h[rt.DLT_ORIGINAL_CONSUMER_GROUP] == "app" and h[rt.MESSAGE_ID] == "poison"
    assert h[rt.ATTEMPTS] == "4"
    assert check_dlq(p.history).valid


def test_retry_topics_keep_the_first_original_and_the_last_exception():
    errors = iter([TimeoutError("first"), ConnectionError("second"), HttpError(502, "third"), HttpError(503, "last")])

    def handler(r):
        raise next(errors)

    sim, p = pipeline(handler)
    p.send({"x": 1}, message_id="m")
    p.run()
    [retry1] = p.records("orders-retry-1000")
    h1 = {k: v.decode() for k, v in retry1.headers}
    assert h1[rt.DLT_EXCEPTION_MESSAGE] == "first" and h1[rt.DLT_ORIGINAL_TOPIC] == "orders"
    [h] = p.dlt_headers()
    assert h[rt.DLT_ORIGINAL_TOPIC] == "orders" and h[rt.DLT_EXCEPTION_MESSAGE] == "HTTP 503: last"
    assert sum(1 for k in h if k == rt.DLT_ORIGINAL_TOPIC) == 1


def test_no_head_of_line_blocking_the_main_topic_keeps_flowing():
    done = {}

    def handler(r):
        if r.payload["n"] == 0 and r.attempt < 3:
            raise TimeoutError()
        done.setdefault(r.message_id, p.sim.now)

    sim, p = pipeline(handler)
    for i in range(5):
        p.submit({"n": i}, message_id=f"m{i}", at=i * 5.0)
    p.run()
    assert all(done[f"m{i}"] < 100 for i in range(1, 5))     # not held up by m0's retries
    assert done["m0"] >= 3000                                 # m0 came through on attempt 3: order is lost
    assert check_dlq(p.history).valid


def test_a_retry_topic_pauses_until_its_head_is_due():
    seen = []

    def handler(r):
        seen.append((r.topic, r.message_id, p.sim.now))
        if r.topic == "orders":
            raise TimeoutError()

    sim, p = pipeline(handler, attempts=2)
    p.submit({"n": 1}, message_id="a", at=0)
    p.submit({"n": 2}, message_id="b", at=400)
    p.run()
    retry = [(mid, t) for topic, mid, t in seen if topic != "orders"]
    assert [mid for mid, _ in retry] == ["a", "b"]
    assert 1000 <= retry[0][1] < 1100 and 1400 <= retry[1][1] < 1500


def test_fatal_errors_skip_the_retries():
    def handler(r):
        raise DeserializationError("not JSON")

    sim, p = pipeline(handler)
    p.send({}, message_id="m")
    p.run()
    assert [a.topic for a in p.attempts] == ["orders"]
    assert p.records("orders-retry-1000") == [] and len(p.records("orders-dlt")) == 1


def test_global_timeout_goes_straight_to_the_dlt():
    def handler(r):
        raise TimeoutError()

    sim, p = pipeline(handler, attempts=6, timeout_ms=2_500)
    p.send({}, message_id="m")
    p.run()
    assert [a.topic for a in p.attempts] == ["orders", "orders-retry-1000", "orders-retry-2000"]
    assert len(p.records("orders-dlt")) == 1
    assert check_dlq(p.history).valid                    # a timeout is not giving up early


def test_dlt_strategies():
    def failing(r):
        raise HttpError(500)

    dlt_calls = []

    def dlt_handler(r):
        dlt_calls.append(r.message_id)
        if len(dlt_calls) < 3:
            raise TimeoutError("alerting service down")

    sim, p = pipeline(failing, attempts=1, dlt_handler=dlt_handler)
    p.send({}, message_id="m")
    p.run()
    assert dlt_calls == ["m", "m", "m"] and len(p.records("orders-dlt")) == 3    # re-forwarded on error
    assert check_dlq(p.history).valid                                            # still one dead letter

    dlt_calls.clear()
    sim, p = pipeline(failing, attempts=1, dlt_handler=dlt_handler, dlt_strategy="FAIL_ON_ERROR")
    p.send({}, message_id="m")
    p.run()
    assert dlt_calls == ["m"] and p.dlt_failures == ["m"]

    sim, p = pipeline(failing, attempts=2, dlt_strategy="NO_DLT")
    p.send({}, message_id="m")
    p.run()
    assert "orders-dlt" not in p.topics and p.dropped == ["m"]
    assert check_dlq(p.history).counts == {"lost": 1}                           # what NO_DLT means
    with pytest.raises(ValueError, match="dlt_strategy"):
        pipeline(failing, dlt_strategy="MAYBE")


def test_exception_routed_dlt_wins_over_the_generic_one():
    def handler(r):
        raise DeserializationError("bad bytes") if r.payload["bad"] else HttpError(400)

    sim, p = pipeline(handler, exception_dlts={DeserializationError: "-deserialization-dlt"})
    p.send({"bad": True}, message_id="a")
    p.send({"bad": False}, message_id="b")
    p.run()
    assert [r.headers[0][1] for r in p.records("orders-deserialization-dlt")] == [b"a"]
    assert [r.headers[0][1] for r in p.records("orders-dlt")] == [b"b"]


def test_router_seam_and_its_guard_rails():
    def failing(r):
        raise TimeoutError()

    def back_to_main(topo, topic, now, fatal):
        return topo.main, now + 1

    sim, p = pipeline(failing, router=back_to_main)
    p.send({}, message_id="m")
    with pytest.raises(ValueError, match="back to the main topic"):
        p.run()

    def forever(topo, topic, now, fatal):
        return topo.retry_topics[0], now + 1

    sim, p = pipeline(failing, router=forever)
    p.send({}, message_id="m")
    with pytest.raises(RuntimeError, match="never sends it to the DLT"):
        p.run()

    def nowhere(topo, topic, now, fatal):
        return "elsewhere", now

    sim, p = pipeline(failing, router=nowhere)
    p.send({}, message_id="m")
    with pytest.raises(ValueError, match="not a topic of this pipeline"):
        p.run()


def test_fixed_backoff_pipeline_and_partitions_keep_their_partition():
    def handler(r):
        if r.attempt == 1:
            raise TimeoutError()

    sim = Simulation(0)
    topo = RetryTopology.create("o", 3, FixedBackoff(500))
    p = RetryTopicPipeline(sim, topo, handler, partitions=3)
    for i in range(9):
        p.send({"i": i}, message_id=f"m{i}", key=f"k{i}")
    p.run()
    main = {r.headers[0][1].decode(): part for part, log in enumerate(p.topics["o"].partitions) for r in log.records()}
    retry = {r.headers[0][1].decode(): part for part, log in enumerate(p.topics["o-retry-0"].partitions)
             for r in log.records()}
    assert retry == main and len(p.processed) == 9
