"""msglib.dlq.connect: Kafka Connect's errors.tolerance, retries and DLQ topic (checklist items 29-31)."""
from __future__ import annotations

import json

import pytest

from msglib.dlq.connect import CONTEXT, ConnectSinkTask, RetriableException
from msglib.log import Topic


def source(values):
    t = Topic("orders")
    for i, v in enumerate(values):
        t.send(v, f"k{i}".encode(), headers=[("trace", b"abc")], timestamp=1000 + i)
    return t


GOOD, BAD = json.dumps({"n": 1}).encode(), b"\xff not json"


def test_tolerance_none_fails_on_the_first_bad_record_and_all_skips_it():  # [29]
    out = ConnectSinkTask(source([GOOD, BAD, GOOD]), lambda v: None).run()
    assert out.state == "FAILED" and len(out.written) == 1 and "VALUE_CONVERTER" in out.failure
    out = ConnectSinkTask(source([GOOD, BAD, GOOD]), lambda v: None, errors_tolerance="all").run()
    assert out.state == "RUNNING" and len(out.written) == 2 and out.skipped == [(0, 1)]


def test_dlq_only_with_a_name_and_it_keeps_the_original_record():  # [29]
    task = ConnectSinkTask(source([BAD]), lambda v: None, errors_tolerance="all")
    task.run()
    assert task.dlq is None                                     # empty name: no DLQ
    task = ConnectSinkTask(source([GOOD, BAD]), lambda v: None, errors_tolerance="all", dlq_topic_name="orders-dlq")
    task.run()
    [r] = list(task.dlq[0].records())
    assert (r.key, r.value, r.timestamp, r.headers) == (b"k1", BAD, 1001, (("trace", b"abc"),))


def test_context_headers_only_when_enabled_and_never_overwritten():  # [30]
    t = Topic("orders")
    t.send(BAD, b"k", headers=[(CONTEXT + "stage", b"mine")])
    task = ConnectSinkTask(t, lambda v: None, errors_tolerance="all", dlq_topic_name="dlq",
                           dlq_context_headers_enable=True, connector_name="pg-sink", task_id=3)
    task.run()
    [r] = list(task.dlq[0].records())
    h = {k: v.decode() for k, v in r.headers}
    assert h[CONTEXT + "stage"] == "mine"                       # the record's own header wins
    assert [k for k, _ in r.headers].count(CONTEXT + "stage") == 1
    assert (h[CONTEXT + "topic"], h[CONTEXT + "offset"], h[CONTEXT + "connector.name"], h[CONTEXT + "task.id"]) == \
        ("orders", "0", "pg-sink", "3")
    assert h[CONTEXT + "exception.class.name"] == "builtins.UnicodeDecodeError"   # the bytes are not UTF-8


def test_retry_timeout_zero_never_retries_minus_one_forever_and_delays_double_to_the_cap():  # [31]
    calls = {"n": 0}

    def flaky(v):
        calls["n"] += 1
        if calls["n"] <= 12:
            raise RetriableException("db busy")

    out = ConnectSinkTask(source([GOOD]), flaky, errors_tolerance="all").run()
    assert out.retries == [] and out.skipped == [(0, 0)]
    calls["n"] = 0
    out = ConnectSinkTask(source([GOOD]), flaky, errors_retry_timeout_ms=-1, errors_retry_delay_max_ms=5_000).run()
    assert out.state == "RUNNING" and len(out.retries) == 12
    assert out.retries[:5] == [300, 600, 1200, 2400, 4800]
    assert all(0 <= d <= 5_000 for d in out.retries[5:]) and len(set(out.retries[5:])) > 1   # jitter at the cap
    calls["n"] = 0
    out = ConnectSinkTask(source([GOOD]), flaky, errors_retry_timeout_ms=2_000).run()
    assert out.state == "FAILED" and out.retries == [300, 600, 1100]      # the last wait stops at the deadline


def test_validation():
    with pytest.raises(ValueError, match="tolerance"):
        ConnectSinkTask(Topic("t"), print, errors_tolerance="some")
