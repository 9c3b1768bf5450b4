"""msglib.queue.broker: RabbitMQ's routing, acknowledgements and dead-lettering rules.

Numbers in brackets refer to the dead-letter rules listed in docs/fidelity.md. The rules that
differ between RabbitMQ versions (requeue position, delivery counting, consumer timeout) are
tested at the end, each with the version it follows; tests/fidelity/ runs the same steps on a
real broker.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from msglib.queue import Broker, DispatchError, NotFound, PreconditionFailed, topic_matches
from msglib.queue.routing import headers_match
from msglib.sim import Simulation


def make(**kw):
    # most tests here are about routing and acks, and leave consumers holding deliveries when the run
    # ends: without this they would also see RabbitMQ's 30-minute consumer timeout fire (tested below)
    kw.setdefault("consumer_timeout_ms", None)
    return Broker(Simulation(0), **kw)


def collect(broker, queue, *, ack=True, prefetch=0, tag=None):
    got = []

    def cb(d):
        got.append(d)
        if ack:
            broker.ack(d.delivery_tag)

    broker.consume(queue, cb, prefetch=prefetch, consumer_tag=tag)
    return got


# ---------------------------------------------------------------- routing
@pytest.mark.parametrize("pattern,key,expected", [
    ("order.created", "order.created", True),
    ("order.*", "order.created", True),
    ("order.*", "order.eu.created", False),
    ("order.*", "order", False),
    ("order.#", "order", True),                 # '#' matches zero words
    ("order.#", "order.eu.created", True),
    ("#.created", "order.eu.created", True),
    ("#.created", "created", True),
    ("*.created", "created", False),
    ("order.#.paid", "order.paid", True),
    ("order.#.paid", "order.eu.de.paid", True),
    ("order.#.paid", "order.eu.de.shipped", False),
    ("#", "anything.at.all", True),
    ("#", "", True),
    ("*", "", False),
    ("*.*", "a.b", True),
    ("*.*", "a.b.c", False),
    ("#.#", "a", True),
    ("a.*.#", "a", False),
    ("a.*.#", "a.b", True),
    ("order", "orders", False),                 # whole words, not prefixes
    ("order.created", "order.created.eu", False),
])
def test_topic_matching_rules(pattern, key, expected):
    assert topic_matches(pattern, key) is expected


def _regex_model(pattern, key):
    """An independent model: words as tokens, '#' as (word.)* — used to cross-check the matcher."""
    import re
    if not pattern:
        return key == ""
    parts = pattern.split(".")
    rx = ""
    for i, w in enumerate(parts):
        if w == "#":
            rx += r"(?:\.?[^.]+)*" if i else r"(?:[^.]+(?:\.|$))*"
        elif w == "*":
            rx += (r"\." if i and parts[i - 1] != "#" else r"\.?" if i else "") + r"[^.]+"
        else:
            rx += (r"\." if i and parts[i - 1] != "#" else r"\.?" if i else "") + re.escape(w)
    return re.fullmatch(rx, key) is not None


WORDS = st.sampled_from(["a", "b", "c"])


@settings(database=None, deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(["a", "b", "*", "#"]), min_size=1, max_size=5),
       st.lists(WORDS, min_size=1, max_size=6))
def test_topic_matcher_agrees_with_a_brute_force_model(pattern_words, key_words):
    # brute force: '#' expands to 0..len(key) words, '*' to one word; try every expansion
    def brute(p, k):
        if not p:
            return not k
        head, rest = p[0], p[1:]
        if head == "#":
            return any(brute(rest, k[i:]) for i in range(len(k) + 1))
        return bool(k) and (head == "*" or head == k[0]) and brute(rest, k[1:])
    assert topic_matches(".".join(pattern_words), ".".join(key_words)) == brute(pattern_words, key_words)


def test_direct_fanout_topic_and_headers_exchanges_route_copies():
    b = make()
    for name, kind in (("d", "direct"), ("f", "fanout"), ("t", "topic"), ("h", "headers")):
        b.declare_exchange(name, kind)
    for q in ("q1", "q2", "q3"):
        b.declare_queue(q)
    b.bind("q1", "d", "red")
    b.bind("q2", "d", "blue")
    b.bind("q1", "f")
    b.bind("q2", "f")
    b.bind("q3", "f")
    b.bind("q1", "t", "eu.#")
    b.bind("q2", "t", "*.orders")
    b.bind("q1", "h", arguments={"x-match": "all", "region": "eu", "kind": "order"})
    b.bind("q2", "h", arguments={"x-match": "any", "region": "eu", "kind": "refund"})
    assert b.publish("d", "red").routed == ["q1"]
    assert b.publish("d", "green").unroutable and b.unroutable == 1
    assert sorted(b.publish("f", "ignored").routed) == ["q1", "q2", "q3"]
    assert sorted(b.publish("t", "eu.orders").routed) == ["q1", "q2"]
    assert b.publish("t", "us.orders").routed == ["q2"]
    assert sorted(b.publish("h", "", headers={"region": "eu", "kind": "order"}).routed) == ["q1", "q2"]
    assert b.publish("h", "", headers={"region": "us", "kind": "refund"}).routed == ["q2"]
    # each queue holds its own copy: changing one does not change the other
    r = b.publish("f", "", {"n": 1}, headers={"h": 1})
    q1, q2 = b.queues["q1"].ready_messages()[-1], b.queues["q2"].ready_messages()[-1]
    assert q1.message_id == q2.message_id == r.message_id and q1 is not q2
    q1.headers["h"] = 2
    assert q2.headers["h"] == 1


def test_default_exchange_routes_by_queue_name_and_cannot_be_bound():
    b = make()
    b.declare_queue("tasks")
    assert b.publish("", "tasks", 1).routed == ["tasks"]
    assert b.publish("", "nope", 1).unroutable
    with pytest.raises(PreconditionFailed):
        b.bind("tasks", "", "x")


def test_headers_match_modes():
    args = {"x-match": "all", "a": 1, "x-ignored": 5}
    assert headers_match(args, {"a": 1})
    assert not headers_match({"x-match": "all-with-x", "a": 1, "x-k": 5}, {"a": 1})
    assert headers_match({"x-match": "any", "a": 1, "b": 2}, {"b": 2})
    with pytest.raises(ValueError):
        headers_match({"x-match": "some"}, {})


def test_topic_matcher_is_a_seam():
    b = make(topic_matcher=lambda pattern, key: pattern == key)  # a "direct" matcher pretending to be topic
    b.declare_exchange("t", "topic")
    b.declare_queue("q")
    b.bind("q", "t", "a.*")
    assert b.publish("t", "a.b").unroutable
    assert b.publish("t", "a.*").routed == ["q"]


def test_clear_errors_for_bad_topology():
    b = make()
    with pytest.raises(NotFound, match="declare it first"):
        b.publish("missing", "k")
    with pytest.raises(PreconditionFailed, match="unknown argument 'x-dead-letter-exchnage'"):
        b.declare_queue("q", {"x-dead-letter-exchnage": "dlx"})
    b.declare_queue("q", {"x-message-ttl": 10})
    with pytest.raises(PreconditionFailed, match="same arguments"):
        b.declare_queue("q", {"x-message-ttl": 20})
    assert b.declare_queue("q", {"x-message-ttl": 10}) is b.queues["q"]       # idempotent
    with pytest.raises(PreconditionFailed, match="quorum"):
        b.declare_queue("c", {"x-delivery-limit": 3})
    b.declare_exchange("e", "fanout")
    with pytest.raises(PreconditionFailed, match="type"):
        b.declare_exchange("e", "topic")
    with pytest.raises(ValueError, match="unknown exchange type"):
        b.declare_exchange("z", "broadcast")


# ---------------------------------------------------------------- consumers, acks, prefetch
def test_competing_consumers_share_round_robin_and_each_message_goes_to_one():
    b = make()
    b.declare_queue("work")
    got = {t: collect(b, "work", tag=t) for t in ("c1", "c2", "c3")}
    for i in range(9):
        b.publish("", "work", i)
    b.sim.run()
    assert [len(v) for v in got.values()] == [3, 3, 3]
    assert sorted(d.body for v in got.values() for d in v) == list(range(9))
    assert [d.body for d in got["c1"]] == [0, 3, 6]


def test_prefetch_bounds_unacked_deliveries_per_consumer():
    b = make()
    b.declare_queue("work")
    held = collect(b, "work", ack=False, prefetch=2, tag="slow")
    for i in range(5):
        b.publish("", "work", i)
    b.sim.run()
    assert [d.body for d in held] == [0, 1]
    assert b.queues["work"].messages_ready == 3 and b.queues["work"].messages_unacknowledged == 2
    b.ack(held[0].delivery_tag)
    b.sim.run()
    assert [d.body for d in held] == [0, 1, 2]
    b.ack(held[2].delivery_tag, multiple=True)         # acks 1 and 2 as well
    b.sim.run()
    assert len(held) == 5 and b.queues["work"].messages_unacknowledged == 2


def test_a_slow_consumer_with_prefetch_1_gets_fewer_messages():
    b = make()
    b.declare_queue("work")
    counts = {"fast": 0, "slow": 0}

    def worker(name, ms):
        def cb(d):
            counts[name] += 1
            b.sim.schedule(ms, b.ack, d.delivery_tag)
        b.consume("work", cb, prefetch=1, consumer_tag=name)

    worker("fast", 1.0)
    worker("slow", 10.0)
    for i in range(110):
        b.publish("", "work", i)
    b.sim.run()
    assert counts["fast"] + counts["slow"] == 110
    assert counts["fast"] >= 8 * counts["slow"]


def test_auto_ack_forgets_messages_on_delivery_so_a_crash_loses_them():
    b = make()
    b.declare_queue("work")
    got = []
    tag = b.consume("work", got.append, auto_ack=True)
    for i in range(3):
        b.publish("", "work", i)
    b.sim.run()
    assert len(got) == 3 and b.queues["work"].messages == 0
    assert b.cancel(tag) == 0                          # nothing to requeue: the messages are gone


def test_cancel_requeues_unacked_at_their_old_place_marked_redelivered():
    b = make()
    b.declare_queue("work")
    first = collect(b, "work", ack=False, prefetch=2, tag="dies")
    for i in range(4):
        b.publish("", "work", i)
    b.sim.run()
    assert [d.body for d in first] == [0, 1]
    assert b.cancel("dies") == 2
    second = collect(b, "work", tag="heir")
    b.sim.run()
    assert [(d.body, d.redelivered) for d in second] == [(0, True), (1, True), (2, False), (3, False)]


def test_nack_requeue_true_redelivers_and_false_without_dlx_drops():  # [1]
    b = make()
    b.declare_queue("work")
    seen = []

    def cb(d):
        seen.append((d.body, d.redelivered))
        if d.body == "again" and not d.redelivered:
            b.nack(d.delivery_tag, requeue=True)
        elif d.body == "drop":
            b.reject(d.delivery_tag, requeue=False)
        else:
            b.ack(d.delivery_tag)

    b.consume("work", cb, prefetch=1)
    b.publish("", "work", "again")
    b.publish("", "work", "drop")
    b.sim.run()
    assert seen == [("again", False), ("again", True), ("drop", False)]
    assert b.queues["work"].dropped == {"rejected": 1} and b.queues["work"].messages == 0


def test_acking_twice_or_an_unknown_tag_is_a_clear_error():
    b = make()
    b.declare_queue("q")
    b.publish("", "q", 1)
    d = b.get("q")
    b.ack(d.delivery_tag)
    with pytest.raises(PreconditionFailed, match="unknown delivery tag"):
        b.ack(d.delivery_tag)


def test_get_pulls_one_message():
    b = make()
    b.declare_queue("q")
    assert b.get("q") is None
    b.publish("", "q", "x")
    d = b.get("q", auto_ack=True)
    assert d.body == "x" and b.queues["q"].messages == 0


def test_dispatcher_seam_and_its_guard_rails():
    b = make(dispatcher=lambda consumers, i: 0)           # always the first consumer
    b.declare_queue("q")
    collect(b, "q", ack=False, prefetch=1, tag="a")
    collect(b, "q", ack=False, prefetch=1, tag="b")
    b.publish("", "q", 1)
    b.publish("", "q", 2)
    with pytest.raises(DispatchError, match="already holds 1 unacked"):
        b.sim.run()
    assert b.queues["q"].messages_unacknowledged == 1 and b.consumers["a"].unacked
    lazy = make(dispatcher=lambda consumers, i: None)
    lazy.declare_queue("q")
    collect(lazy, "q", prefetch=1)
    lazy.publish("", "q", 1)
    with pytest.raises(DispatchError, match="stuck"):
        lazy.sim.run()


# ---------------------------------------------------------------- dead-lettering
def dlx_setup(b, **queue_args):
    b.declare_exchange("dlx", "fanout")
    b.declare_queue("dead")
    b.bind("dead", "dlx")
    args = {"x-dead-letter-exchange": "dlx", **queue_args}
    b.declare_queue("work", args)
    return b.queues["dead"]


def test_reject_without_requeue_dead_letters_with_x_death():  # [1] [9] [10]
    b = make()
    dead = dlx_setup(b)
    b.consume("work", lambda d: b.reject(d.delivery_tag, requeue=False))
    b.declare_exchange("orders", "direct")
    b.bind("work", "orders", "order.created")
    b.publish("orders", "order.created", "bad", message_id="m1")
    b.sim.run()
    [msg] = dead.ready_messages()
    assert msg.message_id == "m1"
    [death] = msg.headers["x-death"]
    assert death == {"queue": "work", "reason": "rejected", "count": 1, "time": 0.0, "exchange": "orders",
                     "routing-keys": ["order.created"]}
    assert (msg.headers["x-first-death-queue"], msg.headers["x-first-death-reason"],
            msg.headers["x-first-death-exchange"]) == ("work", "rejected", "orders")
    assert msg.headers["x-last-death-reason"] == "rejected"


def test_per_message_ttl_expires_into_the_dlx_once():  # [2]
    b = make()
    dead = dlx_setup(b)
    b.publish("", "work", "late", expiration=500)
    b.sim.run(until=499)
    assert b.queues["work"].messages == 1 and dead.messages == 0
    b.sim.run(until=501)
    [msg] = dead.ready_messages()
    assert msg.headers["x-death"][0]["reason"] == "expired"
    assert msg.headers["x-death"][0]["original-expiration"] == 500
    assert msg.expiration is None                       # does not expire again in the DLQ
    b.sim.run(until=10_000)
    assert dead.messages == 1


def test_queue_ttl_and_only_the_head_expires():  # [2]
    b = make()
    dead = dlx_setup(b)
    b.publish("", "work", "long", expiration=1_000)
    b.publish("", "work", "short", expiration=100)
    b.sim.run(until=500)
    # RabbitMQ examines only the head: the short-lived message waits behind the long one
    assert dead.messages == 0
    b.sim.run(until=1_001)
    assert [m.body for m in dead.ready_messages()] == ["long", "short"]
    b2 = make()
    dead2 = dlx_setup(b2, **{"x-message-ttl": 50})
    b2.publish("", "work", 1)
    b2.sim.run()
    assert dead2.messages == 1 and dead2.ready_messages()[0].headers["x-death"][0]["reason"] == "expired"


def test_max_length_drop_head_dead_letters_the_oldest():  # [3]
    b = make()
    dead = dlx_setup(b, **{"x-max-length": 2})
    for i in range(4):
        assert b.publish("", "work", i).confirmed
    assert [m.body for m in b.queues["work"].ready_messages()] == [2, 3]
    assert [m.body for m in dead.ready_messages()] == [0, 1]
    assert all(m.headers["x-death"][0]["reason"] == "maxlen" for m in dead.ready_messages())


def test_max_length_reject_publish_refuses_and_reject_publish_dlx_dead_letters_the_new_one():
    b = make()
    b.declare_queue("full", {"x-max-length": 1, "x-overflow": "reject-publish"})
    assert b.publish("", "full", 1).confirmed
    r = b.publish("", "full", 2)
    assert not r.confirmed and r.rejected == ["full"]
    b2 = make()
    dead = dlx_setup(b2, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    b2.publish("", "work", 1)
    assert not b2.publish("", "work", 2).confirmed
    assert [m.body for m in dead.ready_messages()] == [2]


def test_quorum_delivery_limit_and_x_delivery_count():  # [4] [5]
    b = make()
    dead = dlx_setup(b, **{"x-queue-type": "quorum", "x-delivery-limit": 2})
    counts = []

    def cb(d):
        counts.append(d.headers.get("x-delivery-count", 0))
        b.reject(d.delivery_tag, requeue=True)         # "processing failed": counts in every version

    b.consume("work", cb)
    b.publish("", "work", "poison")
    b.sim.run()
    assert counts == [0, 1, 2]                         # three deliveries, then the limit is passed
    [msg] = dead.ready_messages()
    assert msg.headers["x-death"][0]["reason"] == "delivery_limit"
    assert "x-delivery-count" not in msg.headers


def test_quorum_default_limit_is_20_minus_one_disables_and_without_dlx_it_drops():  # [5]
    b = make()
    b.declare_queue("q", {"x-queue-type": "quorum"})
    n = [0]

    def cb(d):
        n[0] += 1
        b.reject(d.delivery_tag)

    b.consume("q", cb)
    b.publish("", "q", "poison")
    b.sim.run()
    assert n[0] == 21 and b.queues["q"].dropped == {"delivery_limit": 1}
    b2 = make()
    b2.declare_queue("q", {"x-queue-type": "quorum", "x-delivery-limit": -1})
    m = [0]

    def cb2(d):
        m[0] += 1
        if m[0] < 100:
            b2.nack(d.delivery_tag)
        else:
            b2.ack(d.delivery_tag)

    b2.consume("q", cb2)
    b2.publish("", "q", "x")
    b2.sim.run()
    assert m[0] == 100


def test_queue_expiry_deletes_the_queue_without_dead_lettering():  # [6]
    b = make()
    dead = dlx_setup(b, **{"x-expires": 1_000})
    b.publish("", "work", 1)
    b.sim.run(until=2_000)
    assert "work" not in b.queues and dead.messages == 0


def test_dead_letter_routing_key_replaces_keys_and_removes_cc_bcc_never_seen():  # [7]
    b = make()
    b.declare_exchange("dlx", "direct")
    b.declare_queue("dead-a")
    b.declare_queue("dead-b")
    b.bind("dead-a", "dlx", "a")
    b.bind("dead-b", "dlx", "b")
    b.declare_exchange("in", "direct")
    b.declare_queue("w1", {"x-dead-letter-exchange": "dlx"})
    b.declare_queue("w2", {"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "b"})
    for q in ("w1", "w2"):
        for key in ("a", "b", "c"):
            b.bind(q, "in", key)
    r = b.publish("in", "a", "x", headers={"CC": ["c"], "BCC": ["b"]})
    assert sorted(r.routed) == ["w1", "w2"]
    for q in ("w1", "w2"):
        msg = b.queues[q].ready_messages()[0]
        assert "BCC" not in msg.headers                  # stripped before any queue sees it
        b.nack(b.get(q).delivery_tag, requeue=False)
    [from_w1] = b.queues["dead-a"].ready_messages()     # original keys a (+ cc c): dead-a only
    assert from_w1.headers["x-death"][0]["routing-keys"] == ["a", "c"] and from_w1.headers["CC"] == ["c"]
    [from_w2] = b.queues["dead-b"].ready_messages()     # the dead-letter routing key wins
    assert "CC" not in from_w2.headers


def test_queue_argument_wins_over_policy():  # [8]
    b = make()
    b.declare_exchange("dlx-policy", "fanout")
    b.declare_exchange("dlx-arg", "fanout")
    b.declare_queue("from-policy")
    b.declare_queue("from-arg")
    b.bind("from-policy", "dlx-policy")
    b.bind("from-arg", "dlx-arg")
    b.set_policy("dlq", "^work", {"dead-letter-exchange": "dlx-policy"})
    b.declare_queue("work-1")
    b.declare_queue("work-2", {"x-dead-letter-exchange": "dlx-arg"})
    for q in ("work-1", "work-2"):
        b.publish("", q, q)
        b.nack(b.get(q).delivery_tag, requeue=False)
    assert [m.body for m in b.queues["from-policy"].ready_messages()] == ["work-1"]
    assert [m.body for m in b.queues["from-arg"].ready_messages()] == ["work-2"]
    with pytest.raises(PreconditionFailed, match="no 'x-' prefix"):
        b.set_policy("bad", ".*", {"x-message-ttl": 5})


def test_x_death_counts_per_queue_and_reason_newest_first():  # [9] [10]
    # the classic delay-queue retry loop: work rejects -> wait (TTL) expires -> back to work
    b = make()
    b.declare_exchange("retry", "fanout")
    b.declare_exchange("back", "fanout")
    b.declare_queue("work", {"x-dead-letter-exchange": "retry"})
    b.declare_queue("wait", {"x-dead-letter-exchange": "back", "x-message-ttl": 100})
    b.bind("wait", "retry")
    b.bind("work", "back")
    deliveries = []

    def cb(d):
        deliveries.append([(x["queue"], x["reason"], x["count"]) for x in d.headers.get("x-death", [])])
        if len(deliveries) < 3:
            b.reject(d.delivery_tag, requeue=False)
        else:
            b.ack(d.delivery_tag)

    b.consume("work", cb)
    b.publish("", "work", "job")
    b.sim.run()
    assert deliveries == [
        [],
        [("wait", "expired", 1), ("work", "rejected", 1)],
        [("wait", "expired", 2), ("work", "rejected", 2)],
    ]
    # (the rejection in the cycle is what allows it: see the next test)


def test_first_death_headers_never_change():  # [10]
    b = make()
    b.declare_exchange("dlx", "fanout")
    b.declare_queue("a", {"x-dead-letter-exchange": "dlx", "x-message-ttl": 10})
    b.declare_queue("b", {"x-dead-letter-exchange": "dlx2"})
    b.declare_exchange("dlx2", "fanout")
    b.declare_queue("c")
    b.bind("b", "dlx")
    b.bind("c", "dlx2")
    b.publish("", "a", "x")
    b.sim.run()
    b.nack(b.get("b").delivery_tag, requeue=False)
    [msg] = b.queues["c"].ready_messages()
    assert (msg.headers["x-first-death-queue"], msg.headers["x-first-death-reason"]) == ("a", "expired")
    assert (msg.headers["x-last-death-queue"], msg.headers["x-last-death-reason"]) == ("b", "rejected")
    assert [d["queue"] for d in msg.headers["x-death"]] == ["b", "a"]


def test_automatic_dead_letter_cycle_is_dropped():  # [11]
    b = make()
    b.declare_exchange("to-b", "fanout")
    b.declare_exchange("to-a", "fanout")
    b.declare_queue("a", {"x-dead-letter-exchange": "to-b", "x-message-ttl": 10})
    b.declare_queue("b", {"x-dead-letter-exchange": "to-a", "x-message-ttl": 10})
    b.bind("b", "to-b")
    b.bind("a", "to-a")
    b.publish("", "a", "loop")
    b.sim.run(until=1_000)
    assert b.queues["a"].messages == 0 and b.queues["b"].messages == 0
    assert b.queues["a"].dropped == {"cycle": 1}


def test_missing_dlx_drops_and_counts():  # [12] (at-most-once mode)
    b = make()
    b.declare_queue("q", {"x-dead-letter-exchange": "nowhere"})
    b.publish("", "q", 1)
    b.nack(b.get("q").delivery_tag, requeue=False)
    assert b.queues["q"].dropped == {"dlx-missing": 1}


def test_client_supplied_x_death_is_not_interpreted():  # [13]
    b = make()
    dead = dlx_setup(b)
    fake = [{"queue": "work", "reason": "rejected", "count": 41}]
    b.publish("", "work", "x", headers={"x-death": fake})
    b.nack(b.get("work").delivery_tag, requeue=False)
    [msg] = dead.ready_messages()
    assert msg.headers["x-death"][0]["count"] == 1
    assert msg.death_count() == 1


def test_same_seed_same_trace():
    def run():
        b = Broker(Simulation(7), trace=True)
        dlx_setup(b, **{"x-max-length": 3})
        got = collect(b, "work", prefetch=2)
        for i in range(10):
            b.sim.at(i * 3.0, b.publish, "", "work", i)
        b.sim.run()
        return b.events, [d.body for d in got]
    assert run() == run()


def test_at_least_once_dead_lettering_keeps_the_message_until_the_target_takes_it():  # [12]
    b = make()
    args = {"x-queue-type": "quorum", "x-overflow": "reject-publish", "x-dead-letter-exchange": "dlx",
            "x-dead-letter-strategy": "at-least-once"}
    b.declare_queue("work", args)
    b.publish("", "work", "x")
    b.nack(b.get("work").delivery_tag, requeue=False)
    assert b.queues["work"].messages_dlx == 1 and not b.queues["work"].dropped   # the DLX does not exist yet
    b.sim.run(until=5_000)
    b.declare_exchange("dlx", "fanout")
    b.declare_queue("dead", {"x-max-length": 0, "x-overflow": "reject-publish"})
    b.bind("dead", "dlx")
    b.sim.run(until=10_000)
    assert b.queues["work"].messages_dlx == 1            # the target is full: still held, still retried
    b.delete_queue("dead")
    b.declare_queue("dead")
    b.bind("dead", "dlx")
    b.sim.run(until=12_000)
    assert b.queues["work"].messages_dlx == 0
    [msg] = b.queues["dead"].ready_messages()
    assert msg.headers["x-death"][0]["count"] == 1       # one death, however many tries it took


def test_at_least_once_needs_quorum_and_reject_publish():
    b = make()
    with pytest.raises(PreconditionFailed, match="reject-publish"):
        b.declare_queue("q", {"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once"})
    with pytest.raises(PreconditionFailed, match="at-most-once"):
        b.declare_queue("q", {"x-dead-letter-strategy": "maybe"})


# ---------------------------------------------------------------- rules that depend on the RabbitMQ version
def _requeue_order(broker, arguments, how="nack"):
    """Publish a, b, c; requeue the first delivery of a once; return the order of the bodies delivered."""
    broker.declare_queue("q", arguments)
    order = []

    def cb(d):
        order.append(d.body)
        if d.body == "a" and not d.redelivered:
            getattr(broker, how)(d.delivery_tag, requeue=True)
        else:
            broker.ack(d.delivery_tag)

    for body in "abc":
        broker.publish("", "q", body)
    broker.consume("q", cb, prefetch=1)
    broker.sim.run()
    return order


def test_classic_queue_requeues_at_the_old_place():
    assert _requeue_order(make(), {}) == ["a", "a", "b", "c"]


def test_quorum_queue_without_a_delivery_limit_requeues_at_the_back():
    """RabbitMQ 3.10+: no limit (the 3.x default, or -1) -> back; a limit (the 4.0+ default 20) -> old place."""
    assert _requeue_order(make(), {"x-queue-type": "quorum", "x-delivery-limit": -1}) == ["a", "b", "c", "a"]
    assert _requeue_order(make(rabbitmq_version="3.10"), {"x-queue-type": "quorum"}) == ["a", "b", "c", "a"]
    assert _requeue_order(make(), {"x-queue-type": "quorum"}) == ["a", "a", "b", "c"]          # 4.3: limit 20
    assert _requeue_order(make(rabbitmq_version="3.10"),
                          {"x-queue-type": "quorum", "x-delivery-limit": 5}) == ["a", "a", "b", "c"]


def test_default_delivery_limit_is_20_since_4_0_and_none_before():
    assert make().queues == {} and make().default_delivery_limit == 20
    assert make(rabbitmq_version="4.0").declare_queue("q", {"x-queue-type": "quorum"}).delivery_limit == 20
    assert make(rabbitmq_version="3.13").declare_queue("q", {"x-queue-type": "quorum"}).delivery_limit is None
    assert make().declare_queue("c").delivery_limit is None                    # classic queues: never


def _failures_counted(version, how, returns=5):
    """Requeue one message ``returns`` times with ``how``; the x-delivery-count each delivery showed."""
    b = make(rabbitmq_version=version)
    b.declare_queue("q", {"x-queue-type": "quorum", "x-delivery-limit": 100})
    seen = []

    def cb(d):
        seen.append(d.headers.get("x-delivery-count", 0))
        if len(seen) <= returns:
            getattr(b, how)(d.delivery_tag, requeue=True)
        else:
            b.ack(d.delivery_tag)

    b.consume("q", cb)
    b.publish("", "q", "m")
    b.sim.run()
    return seen


def test_4_3_counts_reject_but_not_nack_and_older_versions_count_both():
    assert _failures_counted("4.3", "reject") == [0, 1, 2, 3, 4, 5]
    assert _failures_counted("4.3", "nack") == [0, 0, 0, 0, 0, 0]
    assert _failures_counted("4.2", "nack") == [0, 1, 2, 3, 4, 5]
    assert _failures_counted("3.10", "reject") == [0, 1, 2, 3, 4, 5]


def test_4_3_a_nack_loop_never_reaches_the_delivery_limit_but_a_reject_loop_does():
    for how, version, dead in (("nack", "4.3", 0), ("reject", "4.3", 1), ("nack", "4.2", 1)):
        b = make(rabbitmq_version=version)
        dead_q = dlx_setup(b, **{"x-queue-type": "quorum", "x-delivery-limit": 3})
        n = [0]

        def cb(d, b=b, how=how):
            n[0] += 1
            if n[0] < 50:
                getattr(b, how)(d.delivery_tag, requeue=True)
            else:
                b.ack(d.delivery_tag)

        b.consume("work", cb)
        b.publish("", "work", "poison")
        b.sim.run()
        assert dead_q.messages_ready == dead, (how, version)
        assert n[0] == (4 if dead else 50), (how, version)


def test_a_cancelled_consumer_s_messages_count_before_4_3_only():
    for version, expected in (("4.2", 1), ("4.3", 0)):
        b = make(rabbitmq_version=version)
        b.declare_queue("q", {"x-queue-type": "quorum"})
        first = collect(b, "q", ack=False, tag="dies")
        b.publish("", "q", "m")
        b.sim.run()
        b.cancel("dies")
        second = collect(b, "q", tag="heir")
        b.sim.run()
        assert second[0].redelivered and second[0].headers.get("x-delivery-count", 0) == expected, version


def test_bad_rabbitmq_version_is_a_clear_error():
    with pytest.raises(ValueError, match="3.10 and later"):
        make(rabbitmq_version="3.8")
    with pytest.raises(ValueError, match="look like"):
        make(rabbitmq_version="four")


def test_consumer_timeout_closes_the_consumer_and_requeues_its_deliveries():
    b = Broker(Simulation(0), consumer_timeout_ms=1_000)
    b.declare_queue("q", {"x-queue-type": "quorum"})
    reasons = []
    held = []
    b.consume("q", held.append, consumer_tag="stuck", on_cancel=reasons.append)
    b.publish("", "q", "m")
    b.sim.run(until=999)
    assert b.queues["q"].messages_unacknowledged == 1 and not reasons
    b.sim.run()
    assert reasons == ["consumer-timeout"] and b.sim.now == 1_000
    assert "stuck" not in b.consumers and b.queues["q"].messages_ready == 1
    heir = collect(b, "q")
    b.sim.run()
    assert [(d.body, d.redelivered) for d in heir] == [("m", True)]


def test_consumer_timeout_default_is_30_minutes_and_acking_in_time_keeps_the_consumer():
    b = Broker(Simulation(0))
    assert b.consumer_timeout_ms == 30 * 60 * 1000
    b.declare_queue("q", {"x-queue-type": "quorum", "x-consumer-timeout": 5_000})     # a queue may set its own
    got = []

    def cb(d):
        got.append(d.body)
        b.sim.schedule(4_000, b.ack, d.delivery_tag)        # slow, but in time

    tag = b.consume("q", cb, prefetch=1)
    for i in range(3):
        b.publish("", "q", i)
    b.sim.run()
    assert got == [0, 1, 2] and tag in b.consumers and b.sim.now == 12_000
    with pytest.raises(ValueError, match="consumer_timeout_ms"):
        Broker(Simulation(0), consumer_timeout_ms=0)


def test_mandatory_unroutable_message_is_returned_to_the_publisher():
    returns = []
    b = make(on_return=returns.append)
    b.declare_exchange("ex", "direct")
    b.declare_queue("q")
    b.bind("q", "ex", "k")
    assert not b.publish("ex", "k", "routed", mandatory=True).returned
    result = b.publish("ex", "nobody", "lost?", mandatory=True)
    assert result.returned and result.unroutable and returns == []     # the return arrives asynchronously
    b.sim.run()
    [r] = returns
    assert (r.reply_code, r.reply_text, r.exchange, r.routing_key, r.message.body) == (
        312, "NO_ROUTE", "ex", "nobody", "lost?")
    silent = b.publish("ex", "nobody", "dropped")                       # not mandatory: dropped silently
    b.sim.run()
    assert silent.unroutable and not silent.returned and len(returns) == 1 and len(b.returned) == 1


def test_a_consumer_subscribing_to_a_backlog_gets_it_at_once():
    b = make()
    b.declare_queue("q")
    for i in range(5):
        b.publish("", "q", i)
    b.sim.run(until=10_000)                                             # the backlog waits 10 s
    got = []

    def cb(d):
        got.append((d.body, b.sim.now))
        b.ack(d.delivery_tag)

    b.consume("q", cb, prefetch=2)
    b.sim.run()
    assert got == [(i, 10_000) for i in range(5)]


def test_classic_queues_enforce_the_consumer_timeout_before_4_3_only():
    for version, closed in (("4.2", True), ("4.3", False)):
        b = Broker(Simulation(0), rabbitmq_version=version, consumer_timeout_ms=1_000)
        b.declare_queue("q")
        tag = b.consume("q", lambda d: None)
        b.publish("", "q", "held")
        b.sim.run()
        assert (tag not in b.consumers) == closed, version
        assert b.sim.now == (1_000 if closed else 0)


def test_deleting_a_queue_leaves_no_consumer_timeout_behind():
    b = Broker(Simulation(0))
    b.declare_queue("q", {"x-queue-type": "quorum"})
    b.consume("q", lambda d: None)
    b.publish("", "q", "held")
    b.sim.run(until=10)
    b.delete_queue("q")
    b.sim.run()
    assert b.sim.now == 10                             # no 30-minute timer left to move the clock
    with pytest.raises(PreconditionFailed, match="x-consumer-timeout"):
        b.declare_queue("r", {"x-consumer-timeout": 0})
