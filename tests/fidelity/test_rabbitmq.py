"""msglib's RabbitMQ model against a real RabbitMQ: the same steps on both, the same answers.

The real node is Debian's rabbitmq-server (3.10.8), so the model runs with
``rabbitmq_version="3.10"`` here (with another node, the version it reports). Where 3.10 and the current release (4.3, msglib's default)
differ, the test says so and also checks the model's 4.3 rule; docs/fidelity.md cites each rule.
"""
from __future__ import annotations

import uuid

import pytest

from msglib.queue.broker import parse_version
from tests.fidelity.amqp import ModelDriver, RealDriver, settle
from tests.fidelity.conftest import CONSUMER_TIMEOUT_MS

pytestmark = pytest.mark.slow          # one broker start-up per session (about 10 s) plus the scenarios


@pytest.fixture
def both(rabbitmq):
    """Run ``scenario(driver, ns)`` on the model (the node's version's rules) and on the real node."""
    version = parse_version(rabbitmq.version)
    opened = []

    def run(scenario, **model_kw):
        ns = f"fid-{uuid.uuid4().hex[:8]}"
        model = scenario(ModelDriver(rabbitmq.version, **model_kw), ns)
        real_driver = RealDriver(rabbitmq.port)
        opened.append(real_driver)
        real = scenario(real_driver, ns)
        return model, real

    run.version = version
    yield run
    for d in opened:
        d.close()


def drain(driver, queue, limit=50):
    out = []
    for _ in range(limit):
        g = driver.get(queue)
        if g is None:
            break
        out.append(g)
        driver.ack(g.tag)
    return out


def dlx(driver, ns):
    """A fanout dead-letter exchange ``ns.dlx`` feeding the queue ``ns.dead``."""
    driver.exchange(f"{ns}.dlx", "fanout")
    driver.queue(f"{ns}.dead")
    driver.bind(f"{ns}.dead", f"{ns}.dlx")
    return f"{ns}.dead"


# ---------------------------------------------------------------- routing
KEYS = ["order.created", "order.eu.created", "order", "refund.created", "", "a.b.c", "order.eu.de.paid",
        "x", "order.paid", "created"]
TOPIC_PATTERNS = ["order.*", "order.#", "#.created", "*.created", "#", "*", "order.#.paid", "a.*.#", "x"]


def routing(d, ns):
    for t in ("direct", "topic", "fanout", "headers"):
        d.exchange(f"{ns}.{t}", t)
    for i, pattern in enumerate(TOPIC_PATTERNS):
        d.queue(f"{ns}.t{i}")
        d.bind(f"{ns}.t{i}", f"{ns}.topic", pattern)
        d.bind(f"{ns}.t{i}", f"{ns}.direct", pattern)       # direct: the pattern is a plain key there
    d.queue(f"{ns}.f")
    d.bind(f"{ns}.f", f"{ns}.fanout", "ignored")
    d.queue(f"{ns}.h-all")
    d.bind(f"{ns}.h-all", f"{ns}.headers", "", {"x-match": "all", "kind": "order", "region": "eu"})
    d.queue(f"{ns}.h-any")
    d.bind(f"{ns}.h-any", f"{ns}.headers", "", {"x-match": "any", "kind": "order", "region": "eu"})
    statuses = []
    for key in KEYS:
        for t in ("direct", "topic", "fanout"):
            statuses.append(d.publish(f"{ns}.{t}", key, f"{t}:{key}"))
    for i, h in enumerate([{"kind": "order", "region": "eu"}, {"kind": "order"}, {"region": "us"}, {},
                           {"kind": "order", "region": "eu", "extra": "1"}]):
        statuses.append(d.publish(f"{ns}.headers", "", f"h{i}", headers=h))
    queues = [f"{ns}.t{i}" for i in range(len(TOPIC_PATTERNS))] + [f"{ns}.f", f"{ns}.h-all", f"{ns}.h-any"]
    return statuses, {q: [g.body for g in drain(d, q)] for q in queues}


def test_routing_direct_topic_fanout_and_headers_exchanges(both):
    model, real = both(routing)
    assert model == real


# ---------------------------------------------------------------- requeue position
def requeue_order(arguments, how):
    def scenario(d, ns):
        d.queue(f"{ns}.q", arguments)
        for body in "abc":
            d.publish("", f"{ns}.q", body)
        order, requeued = [], False
        for _ in range(6):
            g = d.get(f"{ns}.q")
            if g is None:
                break
            order.append((g.body, g.redelivered, g.delivery_count))
            if g.body == "a" and not requeued:
                requeued = True
                getattr(d, how)(g.tag, requeue=True)
            else:
                d.ack(g.tag)
        return order
    return scenario


@pytest.mark.parametrize("how", ["nack", "reject"])
@pytest.mark.parametrize("kind,arguments", [
    ("classic", {}),
    ("quorum, no delivery limit", {"x-queue-type": "quorum"}),
    ("quorum, delivery limit 5", {"x-queue-type": "quorum", "x-delivery-limit": 5}),
])
def test_requeue_position(both, kind, arguments, how):
    """Classic: the old place. Quorum: the back without a delivery limit, the old place with one.

    Version rule: 3.10 sets no delivery limit by default, so a plain quorum queue requeues at the
    back; since 4.0 the default limit is 20, so the model's 4.3 default puts it at its old place.
    """
    model, real = both(requeue_order(arguments, how))
    assert model == real
    at_back = [x[0] for x in real] == ["a", "b", "c", "a"]
    if both.version < (4, 0):                       # Debian's 3.10: no default limit
        assert at_back == (kind == "quorum, no delivery limit")
    if kind == "quorum, no delivery limit":
        current = requeue_order(arguments, how)(ModelDriver("4.3"), "q")
        assert [x[0] for x in current] == ["a", "a", "b", "c"]


# ---------------------------------------------------------------- dead letters
def rejected_without_requeue(arguments):
    def scenario(d, ns):
        dead = dlx(d, ns)
        d.queue(f"{ns}.q", {**arguments, "x-dead-letter-exchange": f"{ns}.dlx"})
        d.publish("", f"{ns}.q", "m1")
        d.publish("", f"{ns}.q", "m2")
        g1, g2 = d.get(f"{ns}.q"), d.get(f"{ns}.q")
        d.reject(g1.tag, requeue=False)
        d.nack(g2.tag, requeue=False)
        settle(d)
        return d.count(f"{ns}.q"), sorted((g.body, g.deaths) for g in drain(d, dead))
    return scenario


@pytest.mark.parametrize("arguments", [{}, {"x-queue-type": "quorum"}], ids=["classic", "quorum"])
def test_reject_and_nack_without_requeue_dead_letter_with_x_death(both, arguments):
    model, real = both(rejected_without_requeue(arguments))
    assert model == real
    assert real[1][0][1][0][1] == "rejected"


def ttl_expiry(d, ns):
    dead = dlx(d, ns)
    d.queue(f"{ns}.q", {"x-message-ttl": 150, "x-dead-letter-exchange": f"{ns}.dlx"})
    d.publish("", f"{ns}.q", "m1")
    d.publish("", f"{ns}.q", "m2")
    d.wait(400)
    # per-message TTL: only the head expires, so a short TTL waits behind a long one
    d.queue(f"{ns}.p", {"x-dead-letter-exchange": f"{ns}.dlx"})
    d.publish("", f"{ns}.p", "long", expiration_ms=60_000)
    d.publish("", f"{ns}.p", "short", expiration_ms=100)
    d.wait(300)
    behind = d.count(f"{ns}.p")
    first = d.get(f"{ns}.p")
    d.ack(first.tag)
    after = d.get(f"{ns}.p")
    settle(d)
    return (d.count(f"{ns}.q"), behind, first.body, after, sorted((g.body, g.deaths) for g in drain(d, dead)))


def test_ttl_expiry_dead_letters_and_only_the_head_expires(both):
    model, real = both(ttl_expiry)
    assert model == real
    assert real[:4] == (0, 2, "long", None)


def overflow(arguments):
    def scenario(d, ns):
        dead = dlx(d, ns)
        d.queue(f"{ns}.q", {"x-max-length": 2, "x-dead-letter-exchange": f"{ns}.dlx", **arguments})
        statuses = [d.publish("", f"{ns}.q", f"m{i}") for i in range(4)]
        settle(d)
        kept = [g.body for g in drain(d, f"{ns}.q")]
        # 3.10 quorum queues may dead-letter drop-head overflow out of order (fixed in 4.3): compare as a set
        return statuses, kept, sorted((g.body, g.deaths[0][1]) for g in drain(d, dead))
    return scenario


@pytest.mark.parametrize("arguments", [
    {}, {"x-overflow": "reject-publish"}, {"x-overflow": "reject-publish-dlx"},
    {"x-queue-type": "quorum"}, {"x-queue-type": "quorum", "x-overflow": "reject-publish"},
], ids=["classic drop-head", "classic reject-publish", "classic reject-publish-dlx", "quorum drop-head",
        "quorum reject-publish"])
def test_max_length_overflow_modes(both, arguments):
    model, real = both(overflow(arguments))
    assert model == real


# ---------------------------------------------------------------- mandatory and basic.return
def mandatory(d, ns):
    d.exchange(f"{ns}.ex", "direct")
    d.queue(f"{ns}.q")
    d.bind(f"{ns}.q", f"{ns}.ex", "k")
    statuses = [d.publish(f"{ns}.ex", "k", "routed", mandatory=True),
                d.publish(f"{ns}.ex", "nobody", "returned", mandatory=True),
                d.publish(f"{ns}.ex", "nobody", "dropped")]
    d.wait(100)
    returns = [(code, text, ex.replace(ns, "NS"), key, body) for code, text, ex, key, body in d.returns]
    return statuses, returns, [g.body for g in drain(d, f"{ns}.q")]


def test_mandatory_unroutable_message_comes_back_as_basic_return(both):
    model, real = both(mandatory)
    assert model == real
    assert real[1] == [(312, "NO_ROUTE", "NS.ex", "nobody", "returned")]


# ---------------------------------------------------------------- consumers
def backlog(d, ns):
    d.queue(f"{ns}.q")
    for i in range(5):
        d.publish("", f"{ns}.q", f"m{i}")
    return d.consume(f"{ns}.q", prefetch=3)


def test_a_consumer_subscribing_to_a_backlog_gets_messages_at_once(both):
    model, real = both(backlog)
    assert model == real == ["m0", "m1", "m2"]


def consumer_timeout(d, ns):
    d.queue(f"{ns}.q")
    d.publish("", f"{ns}.q", "slow")
    got = d.consume(f"{ns}.q", prefetch=1)        # never acks
    d.wait(CONSUMER_TIMEOUT_MS + 1_200)           # the real node checks on a 200 ms tick
    return got, d.cancelled, d.count(f"{ns}.q")


def test_consumer_timeout_closes_the_channel_and_requeues(both):
    """A classic queue here: 3.10 (like every release before 4.3) enforces the timeout on every
    queue type; since 4.3 only quorum queues do (checked on the model in test_queue_broker)."""
    model, real = both(consumer_timeout, consumer_timeout_ms=CONSUMER_TIMEOUT_MS)
    assert model == real == (["slow"], ["consumer-timeout"], 1)


# ---------------------------------------------------------------- quorum delivery limit
def delivery_limit(how):
    def scenario(d, ns):
        dead = dlx(d, ns)
        d.queue(f"{ns}.q", {"x-queue-type": "quorum", "x-delivery-limit": 2, "x-dead-letter-exchange": f"{ns}.dlx"})
        d.publish("", f"{ns}.q", "poison")
        counts = []
        for _ in range(8):
            g = d.get(f"{ns}.q")
            if g is None:
                break
            counts.append(g.delivery_count)
            getattr(d, how)(g.tag, requeue=True)
        settle(d)
        return counts, [(g.body, g.deaths[0][1]) for g in drain(d, dead)]
    return scenario


@pytest.mark.parametrize("how", ["nack", "reject"])
def test_quorum_delivery_limit_dead_letters_the_poison_message(both, how):
    """3.10 (like every release before 4.3) counts every requeue, nack or reject.

    Version rule: since 4.3 only basic.reject counts, so under the model's 4.3 default a nack
    loop never reaches the limit; that rule is checked on the model alone (Debian has no 4.3).
    """
    model, real = both(delivery_limit(how))
    assert model == real
    if both.version < (4, 3):
        assert real == ([0, 1, 2], [("poison", "delivery_limit")])
    current, dead = delivery_limit(how)(ModelDriver("4.3"), "q")
    assert (current, dead) == (([0, 1, 2], [("poison", "delivery_limit")]) if how == "reject"
                               else ([0] * 8, []))


def crash(arguments):
    def scenario(d, ns):
        d.queue(f"{ns}.q", arguments)
        for i in range(3):
            d.publish("", f"{ns}.q", f"m{i}")
        held = d.consume(f"{ns}.q", prefetch=2)
        d.close_consumer()                              # its channel closes with two deliveries unacked
        d.wait(100)
        return held, [(g.body, g.redelivered, g.delivery_count) for g in drain(d, f"{ns}.q")]
    return scenario


@pytest.mark.parametrize("arguments", [{}, {"x-queue-type": "quorum", "x-delivery-limit": 5}],
                         ids=["classic", "quorum"])
def test_a_closed_channel_requeues_its_deliveries_at_their_old_place(both, arguments):
    """Before 4.3 the return counts towards a quorum queue's delivery-count; since 4.3 it does not
    (checked on the model: Debian has no 4.3)."""
    model, real = both(crash(arguments))
    assert model == real
    assert [b for b, _, _ in real[1]] == ["m0", "m1", "m2"] and real[0] == ["m0", "m1"]
    if arguments:
        current = crash(arguments)(ModelDriver("4.3"), "q")
        assert [c for _, _, c in current[1]] == [0, 0, 0]


def sender_selected(d, ns):
    """CC and BCC headers route to extra keys; BCC never reaches a queue; dead-lettering reuses
    every key (CC included) unless the queue sets a dead-letter routing key."""
    dead = dlx(d, ns)
    d.exchange(f"{ns}.ex", "direct")
    d.queue(f"{ns}.a", {"x-dead-letter-exchange": f"{ns}.dlx"})
    d.queue(f"{ns}.b", {"x-dead-letter-exchange": f"{ns}.dlx", "x-dead-letter-routing-key": "dl"})
    d.queue(f"{ns}.c")
    for q, key in (("a", "ka"), ("b", "kb"), ("c", "kc")):
        d.bind(f"{ns}.{q}", f"{ns}.ex", key)
    d.publish(f"{ns}.ex", "ka", "m", headers={"CC": ["kb"], "BCC": ["kc"]})
    seen = {}
    for q in "abc":
        g = d.get(f"{ns}.{q}")
        seen[q] = None if g is None else (g.body, [k for k in g.header_names if k in ("CC", "BCC")])
        if g is not None:
            d.reject(g.tag, requeue=False)
    settle(d)
    return seen, sorted((g.body, g.deaths) for g in drain(d, dead))


def test_cc_and_bcc_routing_and_the_keys_of_dead_letters(both):
    model, real = both(sender_selected)
    assert model == real
    seen, dead = real
    assert seen == {"a": ("m", ["CC"]), "b": ("m", ["CC"]), "c": ("m", ["CC"])}     # BCC routed, then removed
    assert [d[0][4] for _, d in dead] == [("ka", "kb"), ("ka", "kb")]                # x-death keys: CC included
