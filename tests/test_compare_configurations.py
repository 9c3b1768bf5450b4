"""Each broker's second configuration (Kafka share groups, RabbitMQ streams, SQS FIFO, Pulsar shared)
and the requirements module 10 judges broker choices with."""
import pytest

from msglib.compare import Subscriber, Workload, run
from msglib.compare.pulsar import ConsumerView, hash_range_dispatch
from msglib.compare.scenarios import (CONFIGURATIONS, MODEL_NAMES, SLOW_P99_MS, SLOW_RUN_MESSAGES, Requirements,
                                      configurations, fan_out, fit, fit_configuration, fitting_configuration,
                                      offline, ordering, replay, routing, scorecard, slow_consumer)
from msglib.compare.sqs import FifoQueue
from msglib.queue.sqs import ReceiptHandleIsInvalid
from msglib.sim import Simulation

SECOND_CONFIGS = ["kafka-share", "rabbitmq-stream", "sqs-fifo"]


def test_every_broker_has_its_default_first_and_a_second_configuration():
    assert list(CONFIGURATIONS) == list(MODEL_NAMES)
    for broker, label, model, options in configurations():
        assert model.split("-")[0] == broker and label
    assert [c[2] for c in configurations(["kafka"])] == ["kafka", "kafka-share"]
    with pytest.raises(ValueError, match="unknown broker"):
        configurations(["nats"])


@pytest.mark.parametrize("model", SECOND_CONFIGS)
def test_second_configurations_lose_nothing_at_least_once(model):
    w = Workload(n_messages=200, subscribers=(Subscriber("a", 3),), crash_prob=0.03)
    r = run(model, w, 1)
    assert r.missing == 0 and r.delivered == 200
    assert r.duplicates > 0                       # crashes between the effect and the ack repeat work


def test_rabbitmq_stream_replays_keeps_order_and_routes_in_the_broker():
    assert replay("rabbitmq-stream").replay_fraction == 1.0
    assert ordering("rabbitmq-stream").order_violations == 0          # single active consumer
    assert ordering("rabbitmq-stream").facts["active consumer switches"] > 0
    assert fan_out("rabbitmq-stream", 5).peak_copies == 50            # one stored copy for every subscriber
    r = routing("rabbitmq-stream")
    assert r.unwanted == 0 and r.missing == 0 and r.facts["streams"] == 3   # a stream per binding pattern
    assert offline("rabbitmq-stream", 20).missing == 0
    assert slow_consumer("rabbitmq-stream", n_messages=SLOW_RUN_MESSAGES).latency(99) > SLOW_P99_MS


def test_kafka_share_group_reads_the_log_like_a_queue():
    assert replay("kafka-share").replay_fraction == 1.0               # share.auto.offset.reset=earliest
    assert ordering("kafka-share").order_violations > 0               # no order promise
    assert fan_out("kafka-share", 5).peak_copies == 50
    assert routing("kafka-share").unwanted > 0                         # filtered in the client
    assert slow_consumer("kafka-share", n_messages=SLOW_RUN_MESSAGES).latency(99) < SLOW_P99_MS
    assert slow_consumer("kafka", n_messages=SLOW_RUN_MESSAGES).latency(99) > SLOW_P99_MS


def test_share_group_records_of_a_dead_consumer_come_back_after_the_lock():
    from msglib.compare.kafka import KafkaShareModel
    w = Workload(n_messages=60, subscribers=(Subscriber("a", 2),), crash_prob=0.05)
    r = run("kafka-share", w, 3)
    assert r.facts["redelivered"] > 0 and r.missing == 0
    assert r.latency(100) >= KafkaShareModel.lock_ms                 # came back only when the lock expired


def test_sqs_fifo_orders_each_group_and_blocks_it_while_in_flight():
    q = FifoQueue(Simulation(0), "q", visibility_timeout_ms=1_000)
    for i, g in enumerate("aabab"):
        q.send_message(i, message_group_id=g)
    got = q.receive_message(2)
    assert [m.body for m in got] == [0, 1]                             # as many of one group as possible
    assert [m.body for m in q.receive_message(10)] == [2, 4]           # group a is in flight: only b
    assert q.receive_message(10) == []
    q.delete_message(got[0].receipt_handle)
    assert q.receive_message(10) == []                                 # a still has 1 in flight
    q.delete_message(got[1].receipt_handle)
    assert [m.body for m in q.receive_message(10)] == [3]
    with pytest.raises(ReceiptHandleIsInvalid):
        q.delete_message(got[1].receipt_handle)
    with pytest.raises(ValueError, match="MessageGroupId"):
        q.send_message(9, message_group_id="")


def test_sqs_fifo_deduplicates_within_five_minutes_and_comes_back_after_the_visibility_timeout():
    sim = Simulation(0)
    q = FifoQueue(sim, "q", visibility_timeout_ms=1_000)
    assert q.send_message("x", message_group_id="g", message_deduplication_id="d1")
    assert not q.send_message("x", message_group_id="g", message_deduplication_id="d1")
    sim.run(until=5 * 60 * 1000.0 + 1)
    assert q.send_message("x", message_group_id="g", message_deduplication_id="d1")
    first = q.receive_message(1)[0]
    sim.run(until=sim.now + 1_001)
    again = q.receive_message(1)[0]
    assert again.body == first.body and again.receive_count == 2 and len(q) == 2


def test_sqs_fifo_keeps_order_per_key_but_not_history():
    assert ordering("sqs-fifo").order_violations == 0
    assert replay("sqs-fifo").replay_fraction == 0.0
    assert routing("sqs-fifo").unwanted == 0                           # SNS FIFO filter policies
    assert offline("sqs-fifo", 20).missing > 0 and offline("sqs-fifo", 13).missing == 0


def test_pulsar_hash_range_dispatch_waits_for_the_keys_owner():
    views = [ConsumerView("a", True, frozenset()), ConsumerView("b", True, frozenset())]
    owner = hash_range_dispatch("k", views)
    full = [ConsumerView(v.name, v.name != owner, frozenset()) for v in views]
    assert hash_range_dispatch("k", full) is None                      # the owner is full: wait, do not move
    holder = [ConsumerView("a", True, frozenset({"k"})), ConsumerView("b", True, frozenset())]
    assert hash_range_dispatch("k", holder) == "a"                     # unacked messages keep the key
    assert hash_range_dispatch("k", list(reversed(views))) == owner
    assert hash_range_dispatch("k", []) is None


def test_requirements_and_fit_by_configuration():
    slow = Requirements(tolerate_slow_consumer=True)
    assert fit_configuration("kafka", slow) and not fit_configuration("kafka-share", slow)
    assert fitting_configuration("kafka", slow) == "a share group (Kafka 4.2+)"
    assert fitting_configuration("kafka", Requirements(replay=True)) == "a consumer group"
    assert fitting_configuration("rabbitmq", Requirements(replay=True, routing=True)) == "a stream (RabbitMQ 3.9+)"
    assert fitting_configuration("sqs", Requirements(per_key_order=True, tolerate_slow_consumer=True)) == "a FIFO queue"
    assert fitting_configuration("kafka", Requirements(routing=True)) is None
    assert fit("rabbitmq", Requirements(replay=True, routing=True, tolerate_slow_consumer=True))
    with pytest.raises(ValueError, match="unknown broker"):
        fit("nats", slow)


def test_scorecard_with_every_configuration_is_labelled_modelled():
    card = scorecard(seed=0, all_configurations=True)
    assert len(card.rows) == 8 and "modelled" in card.title
    assert card.row("rabbitmq: a stream (RabbitMQ 3.9+)")["replay"] == "100%"
    assert card.row("kafka: a share group (Kafka 4.2+)")["order violations"] > 0
    assert card.row("sqs: a FIFO queue")["order violations"] == 0
