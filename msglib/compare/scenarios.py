"""One experiment per row of the classic comparison table, and the table they build.

The slide says "Ordering: per-partition / per-queue / best-effort", "Replay:
yes / no", and so on. Each function here turns one such row into a seeded
run of the four models, so the table is *modelled*: measured on msglib's
models in simulated time, not recited (and not a benchmark of the real
brokers; docs/brokers-compared.md cites published ones):

==================== ===========================================================
:func:`ordering`      three consumers share a subscriber and crash now and then:
                      how many messages are processed out of order per key?
:func:`replay`        a team subscribes a day later and asks for the history
:func:`fan_out`       N subscribers are offline while messages arrive: copies stored
:func:`routing`       subscribers want subsets ("order.eu.*"): unwanted deliveries
:func:`slow_consumer` one of four consumers is 20x slower: the latency tail
:func:`many_consumers` a heavy load shared by more and more consumers (Kafka: 4 partitions; a
                      share group's consumers are not limited by them)
:func:`exactly_once`  crashes between effect and ack, with the strongest guarantee asked for
:func:`noisy_neighbour` a second tenant floods a node: the quiet tenant's latency
:func:`offline`       a subscriber is away for N days: is anything gone?
:func:`storage_snapshot` subscribers at different positions: bytes stored now
==================== ===========================================================

:func:`scorecard` runs them all; :func:`compare` runs one workload on every
model. :class:`Requirements` and :func:`fit` say, from these measurements,
which brokers meet a workload's needs (module 10's decision exercise). A
broker meets them when one of its :data:`CONFIGURATIONS` does: Kafka with a
consumer group or a share group, RabbitMQ with a queue or a stream, SQS with a
standard or a FIFO queue, Pulsar with a key_shared or a shared subscription.
Results are cached: the runs are deterministic, so the same call gives the
same report.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable

from msglib.compare.harness import run
from msglib.compare.metrics import Report
from msglib.compare.workload import DAY, SECOND, Subscriber, Workload

MODEL_NAMES = ("kafka", "rabbitmq", "sqs", "pulsar")


class Table:
    """Rows of measurements (one dict per row) that print as text and show as HTML in a notebook."""

    def __init__(self, rows: list[dict[str, Any]], title: str = "") -> None:
        self.rows = rows
        self.title = title
        self.columns: list[str] = []
        for row in rows:
            for c in row:
                if c not in self.columns:
                    self.columns.append(c)

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def row(self, model: str) -> dict[str, Any]:
        for r in self.rows:
            if r.get("model") == model:
                return r
        raise KeyError(f"no row for {model!r}; rows: {[r.get('model') for r in self.rows]}")

    @staticmethod
    def _fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.1f}"
        return str(v)

    def __str__(self) -> str:
        cells = [[self._fmt(r.get(c, "")) for c in self.columns] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
                  for row in cells]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{self._fmt(r.get(c, ''))}</td>" for c in self.columns) + "</tr>"
                       for r in self.rows)
        caption = f"<caption>{self.title}</caption>" if self.title else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def compare(workload: Workload | None = None, seed: int = 0, models: Iterable[str] = MODEL_NAMES,
            options: dict[str, dict] | None = None) -> Table:
    """The same workload on every model: one row of :meth:`Report.row` each."""
    options = options or {}
    rows = [run(m, workload or Workload(), seed, **options.get(m, {})).row() for m in models]
    return Table(rows, "one workload, four models")


# ---------------------------------------------------------------------------- the experiments
@functools.lru_cache(maxsize=1024)
def ordering(model: str, consumers: int = 3, seed: int = 0, crash_prob: float = 0.03, n_messages: int = 300,
             **options: Any) -> Report:
    """``consumers`` consumers share one subscriber, busy (a message every 0.5 ms, 1 ms to process
    on average, so each consumer usually holds a few); processing times vary and consumers crash."""
    w = Workload(n_messages=n_messages, interval_ms=0.5, subscribers=(Subscriber("app", consumers),),
                 crash_prob=crash_prob)
    return run(model, w, seed, **options)


@functools.lru_cache(maxsize=256)
def replay(model: str, seed: int = 0, n_messages: int = 60, **options: Any) -> Report:
    """Yesterday an existing subscriber consumed everything; today a new one asks for the history."""
    w = Workload(n_messages=n_messages, subscribers=(
        Subscriber("yesterday", 1), Subscriber("new-team", 1, joins_at=DAY, from_beginning=True)))
    return run(model, w, seed, **options)


@functools.lru_cache(maxsize=1024)
def fan_out(model: str, subscribers: int, seed: int = 0, n_messages: int = 50, **options: Any) -> Report:
    """``subscribers`` independent subscribers, all offline while the messages arrive, then reading."""
    start = 4 * n_messages + 1_000.0
    subs = tuple(Subscriber(f"s{i}", 1, starts_at=start) for i in range(subscribers))
    return run(model, Workload(n_messages=n_messages, interval_ms=1.0, subscribers=subs), seed, **options)


@functools.lru_cache(maxsize=256)
def routing(model: str, seed: int = 0, n_messages: int = 120, **options: Any) -> Report:
    """Three subscribers, each wanting a subset of the routing keys."""
    subs = (Subscriber("eu-orders", 1, pattern="order.eu.*"), Subscriber("payments", 1, pattern="*.*.paid"),
            Subscriber("refunds", 1, pattern="refund.#"))
    return run(model, Workload(n_messages=n_messages, subscribers=subs), seed, **options)


@functools.lru_cache(maxsize=256)
def slow_consumer(model: str, seed: int = 0, slow: int = 1, consumers: int = 4, n_messages: int = 300,
                  **options: Any) -> Report:
    """``slow`` of ``consumers`` consumers are 20x slower than the others (``slow=0``: the baseline)."""
    w = Workload(n_messages=n_messages, subscribers=(Subscriber("app", consumers),), slow_consumers=slow)
    return run(model, w, seed, **options)


@functools.lru_cache(maxsize=256)
def many_consumers(model: str, consumers: int, seed: int = 0, partitions: int = 4, n_messages: int = 300,
                   **options: Any) -> Report:
    """A load that keeps about 3.3 consumers busy (a message every 0.3 ms, 1 ms each), shared by
    ``consumers`` consumers. Kafka's topic has ``partitions`` partitions: a consumer group's parallelism stops
    there; a share group's does not (its consumers share partitions)."""
    w = Workload(n_messages=n_messages, interval_ms=0.3, subscribers=(Subscriber("app", consumers),))
    return run(model, w, seed, **({"partitions": partitions} if model == "kafka" else {}), **options)


@functools.lru_cache(maxsize=256)
def exactly_once(model: str, seed: int = 0, crash_prob: float = 0.05, n_messages: int = 300,
                 **options: Any) -> Report:
    """Consumers crash between effect and ack; each model uses its strongest guarantee."""
    w = Workload(n_messages=n_messages, subscribers=(Subscriber("app", 2),), crash_prob=crash_prob, exactly_once=True)
    return run(model, w, seed, **options)


@functools.lru_cache(maxsize=256)
def noisy_neighbour(model: str, seed: int = 0, noisy: bool = True, n_messages: int = 200, **options: Any) -> Report:
    """A node that spends 0.1 ms per message; a second tenant sends 3,000 messages at 20 per ms."""
    w = Workload(n_messages=n_messages, subscribers=(Subscriber("app", 2),), broker_service_ms=0.1,
                 noisy_messages=3_000 if noisy else 0, noisy_interval_ms=0.05, noisy_start_ms=50.0)
    return run(model, w, seed, **options)


@functools.lru_cache(maxsize=1024)
def offline(model: str, days: float, seed: int = 0, n_messages: int = 30, **options: Any) -> Report:
    """A subscriber is away ``days`` days; each model keeps messages as long as it can (retention)."""
    w = Workload(n_messages=n_messages, retention_ms=(days + 1) * DAY, drain_ms=10 * SECOND,
                 subscribers=(Subscriber("app", 1, starts_at=days * DAY + 1.0),))
    return run(model, w, seed, **options)


@dataclass(frozen=True)
class Snapshot:
    """What a model stores while subscribers are at different positions."""

    model: str
    published: int
    consumed: tuple[int, ...]     # per subscriber: messages processed and acknowledged
    message_bytes: int
    stored_bytes: int
    seed: int


@functools.lru_cache(maxsize=1024)
def storage_snapshot(model: str, subscribers: int = 3, seed: int = 0, n_messages: int = 60,
                     message_bytes: int = 100) -> Snapshot:
    """Publish ``n_messages``; subscribers start reading at different times; stop while they are at
    different positions and measure the bytes stored and how far each got."""
    import random

    rng = random.Random(f"snapshot/{seed}/{subscribers}")
    publish_done = 2.5 * n_messages + 100.0
    until = publish_done + 30.0 * n_messages
    subs = []
    for i in range(subscribers):
        mode = rng.random()
        if mode < 0.2:
            start = until + 1.0                      # has not started yet
        elif mode < 0.35:
            start = publish_done                     # has read everything by now
        else:
            start = rng.uniform(publish_done, until)
        subs.append(Subscriber(f"s{i}", 1, starts_at=min(start, until + 1.0)))
    w = Workload(n_messages=n_messages, interval_ms=1.0, message_bytes=message_bytes, process_ms=30.0,
                 subscribers=tuple(subs))
    if max(m.produced_at for m in w.messages(seed)) + 10.0 >= publish_done:
        raise AssertionError("the snapshot's publishing ran past its bound")
    r = run(model, w, seed, until=until)
    consumed = tuple(r.subscribers[s.name].delivered for s in subs)
    return Snapshot(model, n_messages, consumed, message_bytes, r.end_bytes, seed)


def failure_costs(n_messages: int = 1_000, message_bytes: int = 100, partitions: int = 6) -> dict[str, int]:
    """Payload bytes copied to recover from a failed node, for the same data in Kafka and in Pulsar.

    * Kafka (3 brokers, replication factor 3): a replacement broker fetches every partition
      replica the failed one held: the data lives on the serving brokers;
    * Pulsar, a broker fails: another broker takes the topic over and fences the last ledger:
      nothing is copied, because brokers store nothing;
    * Pulsar, a bookie fails: auto-recovery copies what it held from the other replicas.
    """
    from msglib.compare.harness import Run
    from msglib.compare.kafka import KafkaModel, replacement_copy_bytes
    from msglib.compare.pulsar import PulsarCluster

    kafka = Run(KafkaModel, Workload(n_messages=0, subscribers=()), 0, partitions=partitions).model
    pulsar = PulsarCluster(bookies=4, ensemble_size=3, write_quorum=3, ack_quorum=2, max_entries_per_ledger=200)
    topic = pulsar.create_topic("events")
    for i in range(n_messages):
        kafka.topic.send(bytes(message_bytes), key=f"k{i % 16}".encode())
        topic.publish(i, key=f"k{i % 16}", size=message_bytes)
    before = pulsar.stored_bytes()
    moved = pulsar.fail_broker(topic.owner.name)
    assert pulsar.stored_bytes() == before
    return {
        "kafka: replace a broker": replacement_copy_bytes(kafka.topic, brokers=3, replication_factor=3, failed=0,
                                                          payload_bytes=message_bytes),
        "pulsar: a broker fails": moved["bytes copied"],
        "pulsar: a bookie fails": pulsar.fail_bookie("bookie-0"),
        "payload bytes": n_messages * message_bytes,
    }


# ---------------------------------------------------------------------------- configurations
#: Each broker offers more than one way to store and read a subscriber's messages, and a requirement is met
#: when *one* of them meets it. (label, model, options) per broker; the first is the default.
CONFIGURATIONS: dict[str, tuple[tuple[str, str, tuple[tuple[str, Any], ...]], ...]] = {
    "kafka": (("a consumer group", "kafka", ()),
              ("a share group (Kafka 4.2+)", "kafka-share", ())),
    "rabbitmq": (("a classic queue", "rabbitmq", ()),
                 ("a stream (RabbitMQ 3.9+)", "rabbitmq-stream", ())),
    "sqs": (("a standard queue", "sqs", ()),
            ("a FIFO queue", "sqs-fifo", ())),
    "pulsar": (("a key_shared subscription", "pulsar", ()),
               ("a shared subscription", "pulsar", (("subscription_type", "shared"),))),
}


def configurations(models: Iterable[str] = MODEL_NAMES) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(broker, label, model, options)`` for every configuration of ``models``."""
    out = []
    for m in models:
        if m not in CONFIGURATIONS:
            raise ValueError(f"unknown broker {m!r}; choose from {list(CONFIGURATIONS)}")
        out += [(m, label, name, dict(opts)) for label, name, opts in CONFIGURATIONS[m]]
    return out


# ---------------------------------------------------------------------------- the table
def scorecard(seed: int = 0, models: Iterable[str] = MODEL_NAMES, subscribers: int = 10, days: float = 20,
              all_configurations: bool = False) -> Table:
    """Every experiment on every model: the comparison table, *modelled* (msglib's models, simulated time).

    ``all_configurations``: one row per configuration (consumer group / share group, queue / stream,
    standard / FIFO, key_shared / shared) instead of one per broker's default."""
    rows = []
    models = list(models)
    configs = configurations(models) if all_configurations else \
        [(m, "", m, {}) for m in models]
    for broker, label, m, opts in configs:
        order = ordering(m, seed=seed, **opts)
        fan = fan_out(m, subscribers, seed=seed, **opts)
        base, slow = slow_consumer(m, seed=seed, slow=0, **opts), slow_consumer(m, seed=seed, **opts)
        alone, noisy = noisy_neighbour(m, seed=seed, noisy=False, **opts), noisy_neighbour(m, seed=seed, **opts)
        away = offline(m, days, seed=seed, **opts)
        crowd = many_consumers(m, 8, seed=seed, **opts)
        rows.append({
            "model": f"{broker}: {label}" if label else m,
            "order violations": order.order_violations,
            "replay": f"{replay(m, seed=seed, **opts).replay_fraction:.0%}",
            f"copies/msg ({subscribers} subs)": round(fan.peak_copies / fan.workload.n_messages, 1),
            "unwanted": routing(m, seed=seed, **opts).unwanted,
            "p99 ms": round(base.latency(99), 1),
            "p99 ms, slow consumer": round(slow.latency(99), 1),
            "p99 ms, 8 consumers (4 partitions)": round(crowd.latency(99), 1),
            "dup. effects (EOS asked)": exactly_once(m, seed=seed, **opts).duplicates,
            "quiet p99 x (noisy)": round(noisy.latency(99) / alone.latency(99), 1),
            f"lost after {days:g} days": away.missing,
        })
    return Table(rows, f"modelled on msglib's models, simulated time (seed {seed})")


# ---------------------------------------------------------------------------- requirements
# tolerate_slow_consumer: 800 messages, one of 4 consumers 20x slower; the p99 latency allowed. Where keys or
# partitions are pinned to the slow consumer its backlog grows for the whole run (p99 over 1.5 s on every seed
# tried); where the others take the work it holds only what it fetched (p99 under 0.45 s).
SLOW_RUN_MESSAGES = 800
SLOW_P99_MS = 1000.0


@dataclass(frozen=True)
class Requirements:
    """What a workload needs from a broker.

    * ``replay``: a subscriber added later must read what was published before it came;
    * ``per_key_order``: messages of one key processed in order while 3 consumers share
      the work and sometimes crash;
    * ``fan_out`` / ``max_copies``: this many subscribers; the broker may store at most
      ``max_copies`` copies of each message while they are offline (None: no limit);
    * ``routing``: each subscriber receives only the messages matching its pattern;
    * ``offline_days``: a subscriber may be away this long and must still get everything;
    * ``tolerate_slow_consumer``: with one of 4 consumers 20x slower than the others (800
      messages), the p99 latency stays under ``SLOW_P99_MS`` (the work routes around it).
    """

    replay: bool = False
    per_key_order: bool = False
    fan_out: int = 1
    max_copies: int | None = None
    routing: bool = False
    offline_days: float = 0
    tolerate_slow_consumer: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.fan_out, int) or self.fan_out < 1:
            raise ValueError(f"fan_out must be an int >= 1, got {self.fan_out!r}")
        if self.max_copies is not None and (not isinstance(self.max_copies, int) or self.max_copies < 1):
            raise ValueError(f"max_copies must be None or an int >= 1, got {self.max_copies!r}")
        if self.offline_days < 0:
            raise ValueError(f"offline_days must be >= 0, got {self.offline_days!r}")


def fit_configuration(model: str, req: Requirements, seed: int = 0, **options: Any) -> list[str]:
    """Why one configuration (a model of :data:`MODELS` with its options) does not meet ``req``, measured."""
    problems = []
    if req.replay:
        r = replay(model, seed=seed, **options)
        if (r.replay_fraction or 0.0) < 0.999:
            problems.append(f"a subscriber that joined a day later got {r.replay_fraction:.0%} of the history")
    if req.per_key_order:
        r = ordering(model, seed=seed, **options)
        if r.order_violations:
            st = next(iter(r.subscribers.values()))
            key, seq, after = st.first_out_of_order
            problems.append(f"{r.order_violations} messages of {r.keys_out_of_order} keys were processed out of "
                            f"order with 3 consumers (first: {key}#{seq} after {key}#{after})")
    if req.max_copies is not None:
        r = fan_out(model, req.fan_out, seed=seed, **options)
        copies = r.peak_copies / r.workload.n_messages
        if copies > req.max_copies:
            problems.append(f"with {req.fan_out} subscribers offline it stored {copies:g} copies of each message "
                            f"(at most {req.max_copies} allowed)")
    if req.routing:
        r = routing(model, seed=seed, **options)
        if r.unwanted:
            problems.append(f"its consumers received {r.unwanted} messages they did not subscribe to "
                            "(filtered in the client, not the broker)")
    if req.offline_days > 0:
        r = offline(model, req.offline_days, seed=seed, **options)
        if r.missing:
            problems.append(f"a subscriber away {req.offline_days:g} days missed {r.missing} of "
                            f"{r.wanted} messages (expired)")
    if req.tolerate_slow_consumer:
        r = slow_consumer(model, seed=seed, n_messages=SLOW_RUN_MESSAGES, **options)
        if r.latency(99) > SLOW_P99_MS:
            problems.append(f"with one of 4 consumers 20x slower ({SLOW_RUN_MESSAGES} messages) its p99 latency "
                            f"was {r.latency(99):,.0f} ms (at most {SLOW_P99_MS:g} ms allowed): messages waited "
                            "behind the slow consumer")
    return problems


def fit(model: str, req: Requirements, seed: int = 0) -> list[str]:
    """Why broker ``model`` does not meet ``req``, measured (an empty list: one of its configurations meets
    all of them). Each problem names the configuration it was measured on."""
    problems = []
    for _, label, name, opts in configurations([model]):
        found = fit_configuration(name, req, seed, **opts)
        if not found:
            return []
        problems += [f"with {label}: {p}" for p in found]
    return problems


def fitting_configuration(model: str, req: Requirements, seed: int = 0) -> str | None:
    """The first configuration of broker ``model`` that meets ``req`` (its label), or None."""
    for _, label, name, opts in configurations([model]):
        if not fit_configuration(name, req, seed, **opts):
            return label
    return None


def fitting_models(req: Requirements, seed: int = 0, models: Iterable[str] = MODEL_NAMES) -> list[str]:
    """The brokers that meet every requirement (with one of their configurations), measured."""
    return [m for m in models if not fit(m, req, seed)]


__all__ = ["MODEL_NAMES", "Table", "compare", "ordering", "replay", "fan_out", "routing", "slow_consumer", "many_consumers",
           "exactly_once", "noisy_neighbour", "offline", "Snapshot", "storage_snapshot", "failure_costs", "scorecard",
           "CONFIGURATIONS", "configurations", "SLOW_P99_MS", "SLOW_RUN_MESSAGES", "Requirements", "fit_configuration", "fit",
           "fitting_configuration", "fitting_models"]
