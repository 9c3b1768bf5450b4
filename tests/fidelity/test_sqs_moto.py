"""msglib's SQS model against moto, an independent implementation of the SQS API (run in-process).

Each scenario runs the same calls on :class:`msglib.queue.sqs.SqsQueue` (simulated clock) and
on moto through boto3 (wall clock, so the few waits here are short real sleeps), and the
results are compared. moto implements the rules of the SQS Developer Guide; where it and the
guide leave a choice open, the test says which choice each makes.
"""
from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("moto", reason="moto (a test dependency) is not installed: pip install -e '.[course]'")
boto3 = pytest.importorskip("boto3", reason="boto3 (installed with moto) is missing: pip install -e '.[course]'")
from moto import mock_aws  # noqa: E402

from msglib.queue.sqs import RedrivePolicy, SqsQueue  # noqa: E402
from msglib.sim import Simulation  # noqa: E402


class Model:
    """The calls on msglib's model; times in seconds like the API, ms inside."""

    def __init__(self) -> None:
        self.sim = Simulation(0)
        self.queues: dict[str, SqsQueue] = {}

    def create(self, name, *, visibility_s=30, content_dedup=False, dlq=None, max_receive_count=None):
        redrive = RedrivePolicy(self.queues[dlq], max_receive_count) if dlq else None
        self.queues[name] = SqsQueue(self.sim, name, visibility_timeout_ms=visibility_s * 1000,
                                     content_based_deduplication=content_dedup, redrive_policy=redrive)
        return name

    def send(self, q, body, group=None, dedup=None):
        kw = {} if group is None else {"message_group_id": group}
        if dedup is not None:
            kw["message_deduplication_id"] = dedup
        return self.queues[q].send_message(body, **kw)

    def receive(self, q, n=10, wait_s=0):
        return [(m.body, m.receive_count, m.receipt_handle)
                for m in self.queues[q].receive_message(n, wait_time_ms=wait_s * 1000)]

    def delete(self, q, handle):
        self.queues[q].delete_message(handle)

    def change_visibility(self, q, handle, seconds):
        self.queues[q].change_message_visibility(handle, seconds * 1000)

    def count(self, q):
        queue = self.queues[q]
        return queue.approximate_number_of_messages, queue.approximate_number_of_messages_not_visible

    def wait(self, seconds):
        self.sim.run(until=self.sim.now + seconds * 1000)

    def now(self):
        return self.sim.now / 1000


class Moto:
    """The same calls through boto3 on moto's SQS."""

    def __init__(self, client) -> None:
        self.sqs = client
        self.urls: dict[str, str] = {}

    def create(self, name, *, visibility_s=30, content_dedup=False, dlq=None, max_receive_count=None):
        attrs = {"VisibilityTimeout": str(visibility_s)}
        if name.endswith(".fifo"):
            attrs["FifoQueue"] = "true"
            if content_dedup:
                attrs["ContentBasedDeduplication"] = "true"
        if dlq:
            arn = self.sqs.get_queue_attributes(QueueUrl=self.urls[dlq], AttributeNames=["QueueArn"])
            attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn["Attributes"]["QueueArn"],
                                                 "maxReceiveCount": str(max_receive_count)})
        self.urls[name] = self.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        return name

    def send(self, q, body, group=None, dedup=None):
        kw = {} if group is None else {"MessageGroupId": group}
        if dedup is not None:
            kw["MessageDeduplicationId"] = dedup
        return self.sqs.send_message(QueueUrl=self.urls[q], MessageBody=body, **kw)["MessageId"]

    def receive(self, q, n=10, wait_s=0):
        got = self.sqs.receive_message(QueueUrl=self.urls[q], MaxNumberOfMessages=n, WaitTimeSeconds=wait_s,
                                       AttributeNames=["All"]).get("Messages", [])
        return [(m["Body"], int(m["Attributes"]["ApproximateReceiveCount"]), m["ReceiptHandle"]) for m in got]

    def delete(self, q, handle):
        self.sqs.delete_message(QueueUrl=self.urls[q], ReceiptHandle=handle)

    def change_visibility(self, q, handle, seconds):
        self.sqs.change_message_visibility(QueueUrl=self.urls[q], ReceiptHandle=handle, VisibilityTimeout=seconds)

    def count(self, q):
        a = self.sqs.get_queue_attributes(QueueUrl=self.urls[q], AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])

    def wait(self, seconds):
        time.sleep(seconds)

    def now(self):
        return time.monotonic()


@pytest.fixture
def both(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)

    def run(scenario):
        model = scenario(Model())
        with mock_aws():
            real = scenario(Moto(boto3.client("sqs", region_name="us-east-1")))
        return model, real
    return run


def bodies(got):
    return [(body, count) for body, count, _ in got]


# ---------------------------------------------------------------- standard queues
def visibility(api):
    q = api.create("orders", visibility_s=1)
    api.send(q, "a")
    first = bodies(api.receive(q))
    hidden = bodies(api.receive(q))
    api.wait(1.2)
    again = api.receive(q)
    api.delete(q, again[0][2])
    return first, hidden, bodies(again), api.count(q)


def test_visibility_timeout_hides_then_the_message_reappears_with_a_higher_count(both):
    model, real = both(visibility)
    assert model == real == ([("a", 1)], [], [("a", 2)], (0, 0))


def visible_now(api):
    q = api.create("orders")
    api.send(q, "a")
    [(_, _, handle)] = api.receive(q)
    in_flight = api.count(q)
    api.change_visibility(q, handle, 0)                 # "nack": visible again at once
    return in_flight, bodies(api.receive(q))


def test_change_message_visibility_zero_makes_it_visible_at_once(both):
    model, real = both(visible_now)
    assert model == real == ((0, 1), [("a", 2)])


def redrive(api):
    dlq = api.create("orders-dlq")
    q = api.create("orders", visibility_s=0, dlq=dlq, max_receive_count=2)
    api.send(q, "poison")
    receives = [bodies(api.receive(q)) for _ in range(4)]
    return receives, bodies(api.receive(dlq))


def test_redrive_to_the_dlq_after_max_receive_count_keeps_the_receive_count(both):
    """The move happens on the receive that would exceed maxReceiveCount; the DLQ's first receive
    then reports maxReceiveCount + 1 (the count travels with the message)."""
    model, real = both(redrive)
    assert model == real == ([[("poison", 1)], [("poison", 2)], [], []], [("poison", 3)])


def old_handle(api):
    q = api.create("orders", visibility_s=0)
    api.send(q, "a")
    [(_, _, old)] = api.receive(q)
    [(_, _, new)] = api.receive(q)
    api.delete(q, old)                                  # must not raise
    return "succeeded", new


def test_delete_with_an_old_receipt_handle_succeeds(both):
    """AWS: the call succeeds, and the message *might* not be deleted. moto 5 deletes it;
    msglib keeps it (so a late delete from a consumer whose visibility timeout ran out
    cannot remove a message another consumer is now processing), and counts it."""
    model, real = both(old_handle)
    assert model[0] == real[0] == "succeeded"
    m = Model()
    old_handle(m)
    assert len(m.queues["orders"]) == 1 and m.queues["orders"].stats["stale_deletes"] == 1


def long_poll(api):
    q = api.create("orders")
    start = api.now()
    empty = api.receive(q, wait_s=1)
    waited_empty = api.now() - start
    api.send(q, "a")
    start = api.now()
    got = bodies(api.receive(q, wait_s=1))
    waited_full = api.now() - start
    return empty, waited_empty >= 0.9, got, waited_full < 0.5


def test_long_polling_waits_only_while_there_is_nothing(both):
    model, real = both(long_poll)
    assert model == real == ([], True, [("a", 1)], True)


# ---------------------------------------------------------------- FIFO queues
def fifo_groups(api):
    q = api.create("orders.fifo")
    for i, group in enumerate("AABAB"):
        api.send(q, f"{group}{i}", group=group, dedup=f"d{i}")
    one_at_a_time = [api.receive(q, n=1) for _ in range(3)]
    api.delete(q, one_at_a_time[0][0][2])               # A0 done: group A moves on
    after = bodies(api.receive(q, n=1))
    return [bodies(r) for r in one_at_a_time], after


def test_fifo_groups_deliver_in_order_and_a_group_waits_while_a_message_is_in_flight(both):
    model, real = both(fifo_groups)
    assert model == real == ([[("A0", 1)], [("B2", 1)], []], [("A1", 1)])


def fifo_batch(api):
    q = api.create("orders.fifo")
    for i, group in enumerate("AABAB"):
        api.send(q, f"{group}{i}", group=group, dedup=f"d{i}")
    return bodies(api.receive(q, n=10)), bodies(api.receive(q, n=10))


def test_fifo_one_receive_may_return_several_messages_of_a_group_in_order(both):
    model, real = both(fifo_batch)
    assert model == real == ([("A0", 1), ("A1", 1), ("B2", 1), ("A3", 1), ("B4", 1)], [])


def dedup(api):
    q = api.create("orders.fifo")
    api.send(q, "x", group="g", dedup="order-1")
    api.send(q, "x again", group="g", dedup="order-1")    # within 5 minutes: accepted, not stored
    api.send(q, "y", group="g", dedup="order-2")
    c = api.create("content.fifo", content_dedup=True)
    api.send(c, "same", group="g")
    api.send(c, "same", group="h")                         # same body: a duplicate, whatever the group
    api.send(c, "other", group="g")
    return api.count(q), bodies(api.receive(q)), api.count(c), bodies(api.receive(c))


def test_fifo_deduplication_by_id_and_by_content(both):
    """The 5-minute window itself is checked on the model only (moto would need a 5-minute sleep)."""
    model, real = both(dedup)
    assert model == real == ((2, 0), [("x", 1), ("y", 1)], (2, 0), [("same", 1), ("other", 1)])
