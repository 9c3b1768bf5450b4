"""A *teaching model* of Apache Pulsar's distinguishing ideas. Small, simplified, not Pulsar's code or protocol.

Two ideas set Pulsar apart from the other three models, and this file models
exactly those:

1. **Serving is separate from storage.** A topic's data is a *managed ledger*:
   a list of BookKeeper *ledgers*. Each entry of a ledger is written to a
   *write quorum* of the ledger's *ensemble* of *bookies* (striped round-robin),
   and is stored once ``ack_quorum`` of them have it. A *broker* owns the
   topic (takes publishes, runs subscriptions) but stores nothing. When a broker
   fails, another one takes the topic over: it *fences* the last ledger so the
   old owner cannot write to it any more, closes it, and opens a new one. No
   data is copied. When a *bookie* fails, the entries it held are copied again
   from the other replicas: storage failures do move data.

2. **Subscriptions give log and queue semantics on the same data.** A topic
   has any number of named subscriptions; each is a *cursor*: the *mark-delete
   position* (everything up to it is acknowledged) plus the entries acknowledged
   individually after it. The subscription *type* decides how its consumers
   share the stream:

   ============== ==========================================================
   ``exclusive``  one consumer; everything in order (a log reader)
   ``failover``   one active consumer, the others on standby; in order
   ``shared``     round-robin over all consumers, per-message acks (a queue)
   ``key_shared`` a key belongs to one consumer (by hash) and stays there while its
                  messages are unacked: order per key, with as many consumers as you like
   ============== ==========================================================

   **Retention**: by default an entry is kept while some subscription has not
   acknowledged it; a retention policy keeps acknowledged entries for
   ``retention_ms`` longer, so a new subscription can start at the earliest.
   Entries go one *ledger* at a time, never one by one.

Left out on purpose: partitioned topics, batching, ZooKeeper (the metadata
lives in :class:`PulsarCluster`), geo-replication, tiered storage, the wire
protocol. Entries are also numbered 0, 1, 2... along the topic (Pulsar names
them ``(ledger id, entry id)``; :meth:`ManagedLedger.position` gives that name)
so a cursor can do arithmetic. Times are simulated ms.
"""
from __future__ import annotations

import itertools
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

from msglib.compare.harness import BrokerModel, Run, Worker, register
from msglib.compare.workload import Subscriber
from msglib.sim import Simulation

SUBSCRIPTION_TYPES = ("exclusive", "failover", "shared", "key_shared")


class PulsarError(Exception):
    """Base class of the teaching model's errors."""


class NotEnoughBookies(PulsarError):
    """Fewer live bookies than the write needs."""


class ConsumerBusy(PulsarError):
    """A second consumer on an exclusive subscription."""


class DispatchError(PulsarError):
    """A key dispatcher chose a consumer that does not exist or has no room."""


# ====================================================================== storage: bookies and ledgers
@dataclass(frozen=True)
class Entry:
    payload: Any
    key: str | None
    size: int
    publish_time: float


class Bookie:
    """A storage node: it holds copies of ledger entries (here: their sizes) and nothing else."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True
        self.entries: dict[int, dict[int, int]] = {}     # ledger id -> entry id -> size

    def add(self, ledger_id: int, entry_id: int, size: int) -> None:
        self.entries.setdefault(ledger_id, {})[entry_id] = size

    def has(self, ledger_id: int, entry_id: int) -> bool:
        return entry_id in self.entries.get(ledger_id, {})

    def drop(self, ledger_id: int) -> None:
        self.entries.pop(ledger_id, None)

    @property
    def bytes_stored(self) -> int:
        return sum(sum(e.values()) for e in self.entries.values())

    def __repr__(self) -> str:
        return f"Bookie({self.name}, {'up' if self.alive else 'down'}, {self.bytes_stored} bytes)"


class Ledger:
    """An append-only sequence of entries, written to ``write_quorum`` bookies of its ensemble each.

    Invariant: once closed (by its writer, or fenced by a new owner) a ledger
    never changes; only the broker that created it may append.
    """

    def __init__(self, ledger_id: int, ensemble: list[Bookie], write_quorum: int, ack_quorum: int,
                 created_at: float) -> None:
        self.id = ledger_id
        self.ensemble = ensemble
        self.write_quorum = write_quorum
        self.ack_quorum = ack_quorum
        self.created_at = created_at
        self.entries: list[Entry] = []
        self.closed = False

    def write_set(self, entry_id: int) -> list[Bookie]:
        """The bookies that store entry ``entry_id``: striped round-robin over the ensemble."""
        n = len(self.ensemble)
        return [self.ensemble[(entry_id + i) % n] for i in range(self.write_quorum)]

    def add_entry(self, entry: Entry) -> int:
        if self.closed:
            raise PulsarError(f"ledger {self.id} is closed (fenced): its owner changed; write to a new ledger")
        entry_id = len(self.entries)
        live = [b for b in self.write_set(entry_id) if b.alive]
        if len(live) < self.ack_quorum:
            raise NotEnoughBookies(f"ledger {self.id}: only {len(live)} live bookies of the write set "
                                   f"{[b.name for b in self.write_set(entry_id)]}, ack quorum is {self.ack_quorum}")
        for b in live:
            b.add(self.id, entry_id, entry.size)
        self.entries.append(entry)
        return entry_id

    def read_entry(self, entry_id: int) -> Entry:
        if not any(b.alive and b.has(self.id, entry_id) for b in self.write_set(entry_id)):
            raise PulsarError(f"entry {self.id}:{entry_id} has no live copy")
        return self.entries[entry_id]

    @property
    def last_publish_time(self) -> float:
        return self.entries[-1].publish_time if self.entries else self.created_at


class BookKeeper:
    """The storage layer: bookies, and the ledgers' metadata (ensembles, closed or not)."""

    def __init__(self, bookies: int = 4, ensemble_size: int = 3, write_quorum: int = 2, ack_quorum: int = 2) -> None:
        if not bookies >= ensemble_size >= write_quorum >= ack_quorum >= 1:
            raise ValueError(f"need bookies >= ensemble >= write quorum >= ack quorum >= 1, got {bookies}, "
                             f"{ensemble_size}, {write_quorum}, {ack_quorum}")
        self.bookies = [Bookie(f"bookie-{i}") for i in range(bookies)]
        self.ensemble_size = ensemble_size
        self.write_quorum = write_quorum
        self.ack_quorum = ack_quorum
        self.ledgers: dict[int, Ledger] = {}
        self._ids = itertools.count(1)
        self.bytes_rereplicated = 0

    def create_ledger(self, now: float) -> Ledger:
        """A new ledger on the ``ensemble_size`` live bookies holding the least data (spreads the load)."""
        live = sorted((b for b in self.bookies if b.alive), key=lambda b: (b.bytes_stored, b.name))
        if len(live) < self.ensemble_size:
            raise NotEnoughBookies(f"{len(live)} live bookies, an ensemble needs {self.ensemble_size}")
        ledger = Ledger(next(self._ids), live[:self.ensemble_size], self.write_quorum, self.ack_quorum, now)
        self.ledgers[ledger.id] = ledger
        return ledger

    def delete_ledger(self, ledger: Ledger) -> None:
        for b in self.bookies:
            b.drop(ledger.id)
        self.ledgers.pop(ledger.id, None)

    def fail_bookie(self, name: str) -> int:
        """Bookie ``name`` dies; auto-recovery copies each entry it held to another live bookie.

        Returns the bytes copied. The ledger's ensemble gets the replacement in
        the dead bookie's place, so later reads find the new copy.
        """
        dead = next(b for b in self.bookies if b.name == name)
        dead.alive = False
        copied = 0
        for ledger_id, entries in dead.entries.items():
            ledger = self.ledgers.get(ledger_id)
            if ledger is None:
                continue
            spare = [b for b in self.bookies if b.alive and b not in ledger.ensemble]
            if not spare:
                raise NotEnoughBookies(f"no spare live bookie to re-replicate ledger {ledger_id}")
            target = min(spare, key=lambda b: (b.bytes_stored, b.name))
            for entry_id, size in entries.items():
                target.add(ledger_id, entry_id, size)
                copied += size
            ledger.ensemble = [target if b is dead else b for b in ledger.ensemble]
        dead.entries = {}
        self.bytes_rereplicated += copied
        return copied


class ManagedLedger:
    """A topic's storage: ledgers in order, the last one open for appends; entries numbered along the topic."""

    def __init__(self, bookkeeper: BookKeeper, max_entries_per_ledger: int = 50_000) -> None:
        self.bk = bookkeeper
        self.max_entries_per_ledger = max_entries_per_ledger
        self.ledgers: list[Ledger] = []
        self.first_index: list[int] = []        # topic index of each ledger's entry 0
        self.end_index = 0                      # the index the next entry gets

    def add_entry(self, entry: Entry, now: float) -> int:
        current = self.ledgers[-1] if self.ledgers else None
        if current is None or current.closed or len(current.entries) >= self.max_entries_per_ledger:
            if current is not None:
                current.closed = True           # roll over: close the full ledger, open a fresh one
            current = self.bk.create_ledger(now)
            self.ledgers.append(current)
            self.first_index.append(self.end_index)
        current.add_entry(entry)
        self.end_index += 1
        return self.end_index - 1

    def _locate(self, index: int) -> tuple[Ledger, int]:
        i = bisect_right(self.first_index, index) - 1
        if i < 0 or index >= self.end_index:
            raise PulsarError(f"entry index {index} is not stored (stored: {self.start_index}..{self.end_index - 1})")
        return self.ledgers[i], index - self.first_index[i]

    def read(self, index: int) -> Entry:
        ledger, entry_id = self._locate(index)
        return ledger.read_entry(entry_id)

    def position(self, index: int) -> tuple[int, int]:
        """Pulsar's name of an entry: (ledger id, entry id)."""
        ledger, entry_id = self._locate(index)
        return ledger.id, entry_id

    @property
    def start_index(self) -> int:
        """The first index still stored."""
        return self.first_index[0] if self.ledgers else self.end_index

    @property
    def entries(self) -> int:
        return self.end_index - self.start_index

    def fence(self) -> None:
        """A new owner takes over: close the last ledger; the next append opens a new one."""
        if self.ledgers:
            self.ledgers[-1].closed = True

    def trim(self, keep_from: int, now: float, retention_ms: float) -> int:
        """Delete the oldest ledgers that hold only entries below ``keep_from`` (acknowledged by every
        subscription) and are older than the retention policy (``retention_ms`` < 0: forever). The open
        ledger stays. Returns how many entries went."""
        deleted = 0
        while len(self.ledgers) > 1:            # never the last ledger: a writer may still use it
            ledger, first = self.ledgers[0], self.first_index[0]
            last = first + len(ledger.entries) - 1
            if last >= keep_from or retention_ms < 0 or now - ledger.last_publish_time < retention_ms:
                break
            self.bk.delete_ledger(ledger)
            self.ledgers.pop(0)
            self.first_index.pop(0)
            deleted += len(ledger.entries)
        return deleted


# ====================================================================== subscriptions
class ConsumerView(NamedTuple):
    """What a key dispatcher may look at: a consumer's name, whether it can take one more message,
    and the keys of the messages it holds unacknowledged."""

    name: str
    has_room: bool
    keys: frozenset


KeyDispatcher = Callable[[str, Sequence[ConsumerView]], "str | None"]


def _preference(key: str, name: str) -> int:
    return zlib.crc32(f"{key}/{name}".encode())


def sticky_key_dispatch(key: str, consumers: Sequence[ConsumerView]) -> str | None:
    """Module 10's teaching rule: a key stays with the consumer holding its unacknowledged messages.

    Looser than Pulsar's (:func:`hash_range_dispatch`): a key nobody holds may go to
    any consumer with room, so a free key never waits for a busy owner.

    * some consumer holds messages of ``key``: that one, or None (wait) if it is full.
      Sending it elsewhere would let a later message overtake an earlier one;
    * nobody does: the consumer with room that this key prefers (rendezvous
      hashing: the highest ``crc32(key/name)``), so a key tends to land on the
      same consumer and the choice spreads keys evenly; None if nobody has room.
    """
    for c in consumers:
        if key in c.keys:
            return c.name if c.has_room else None
    free = [c for c in consumers if c.has_room]
    if not free:
        return None
    return max(free, key=lambda c: (_preference(key, c.name), c.name)).name


def hash_range_dispatch(key: str, consumers: Sequence[ConsumerView]) -> str | None:
    """Pulsar's own key_shared rule (the model's default): a key belongs to one consumer by its hash.

    Pulsar hashes each key into a range owned by one connected consumer (the default
    auto-split ``KeySharedPolicy``, consistent hashing since Pulsar 2.6, apache/pulsar
    PR 6791); here rendezvous hashing over *all* connected consumers gives the same
    property: a key stays on its consumer, and a joining or leaving consumer moves few
    keys. A key whose earlier messages are still unacknowledged on another consumer
    stays there until they are acknowledged, so a key never overtakes itself. When the
    owner is full, the message waits, even if other consumers are idle: that is why a
    slow consumer holds up its keys.
    """
    for c in consumers:
        if key in c.keys:
            return c.name if c.has_room else None
    if not consumers:
        return None
    owner = max(consumers, key=lambda c: (_preference(key, c.name), c.name))
    return owner.name if owner.has_room else None


@dataclass
class PulsarConsumer:
    """One connection of a consumer to a subscription. A reconnection is a new PulsarConsumer."""

    name: str
    callback: Callable[["PulsarMessage"], Any]
    permits: int                                  # how many more it may be sent (receiver queue room)
    subscription: "Subscription | None" = None
    unacked: dict[int, str | None] = field(default_factory=dict)   # index -> key
    connected: bool = True

    def acknowledge(self, message: "PulsarMessage") -> bool:
        return self.subscription.ack(message) if self.subscription else False


@dataclass
class PulsarMessage:
    """A delivery: the entry, its topic index and Pulsar position, who got it, how often it was redelivered."""

    index: int
    position: tuple[int, int]
    key: str | None
    payload: Any
    consumer: PulsarConsumer
    redelivery_count: int = 0


class Subscription:
    """A named cursor on a topic, and the consumers attached to it.

    Invariants: every index <= ``mark_delete`` is acknowledged; ``acked`` holds
    the acknowledged indexes above it; an index is in at most one of
    ``pending`` (sent, unacked), ``replay`` (to send again) or neither.
    """

    def __init__(self, topic: "PulsarTopic", name: str, type: str, start: int,
                 key_dispatcher: KeyDispatcher | None = None) -> None:
        if type not in SUBSCRIPTION_TYPES:
            raise ValueError(f"subscription type must be one of {SUBSCRIPTION_TYPES}, got {type!r}")
        self.topic = topic
        self.name = name
        self.type = type
        self.mark_delete = start - 1
        self.acked: set[int] = set()
        self.read_position = start
        self.replay: set[int] = set()               # indexes to send again (redeliveries, waiting keys)
        self.pending: dict[int, PulsarConsumer] = {}  # index -> the connection it was sent to
        self.consumers: list[PulsarConsumer] = []   # in the order they connected
        self.key_dispatcher = key_dispatcher or hash_range_dispatch
        self.redeliveries: dict[int, int] = {}
        self.delivered = 0
        self._rr = 0
        self._dispatch_pending = False

    def __repr__(self) -> str:
        return (f"Subscription({self.name!r}, {self.type}, mark_delete={self.mark_delete}, "
                f"backlog={self.backlog}, consumers={[c.name for c in self.consumers]})")

    @property
    def backlog(self) -> int:
        """Entries not acknowledged yet."""
        return self.topic.ledger.end_index - (self.mark_delete + 1) - len(self.acked)

    # -- consumers -----------------------------------------------------------------------------
    def connect(self, name: str, callback: Callable[[PulsarMessage], Any], receiver_queue: int = 10) -> PulsarConsumer:
        if self.type == "exclusive" and self.consumers:
            raise ConsumerBusy(f"subscription {self.name!r} is exclusive and {self.consumers[0].name!r} is attached; "
                               "use a failover, shared or key_shared subscription for several consumers")
        if any(c.name == name for c in self.consumers):
            raise PulsarError(f"consumer {name!r} is already connected to {self.name!r}")
        c = PulsarConsumer(name, callback, receiver_queue, self)
        self.consumers.append(c)
        self.schedule_dispatch()
        return c

    def disconnect(self, name: str) -> int:
        """The consumer goes away (or crashes): its unacknowledged messages will be sent again."""
        c = next((c for c in self.consumers if c.name == name), None)
        if c is None:
            return 0
        c.connected = False
        self.consumers.remove(c)
        returned = sorted(c.unacked)
        for index in returned:
            del self.pending[index]
            self._to_replay(index)
            self.redeliveries[index] = self.redeliveries.get(index, 0) + 1
        c.unacked.clear()
        self.schedule_dispatch()
        return len(returned)

    def ack(self, message: PulsarMessage) -> bool:
        """Individual acknowledgement of a delivered message. An ack over a connection that no longer
        holds the message (it disconnected; the message went out again) is ignored: returns False."""
        index, c = message.index, message.consumer
        if self.pending.get(index) is not c or not c.connected:
            return False
        del self.pending[index]
        c.unacked.pop(index, None)
        c.permits += 1
        self.acked.add(index)
        while self.mark_delete + 1 in self.acked:   # move the mark-delete position over acked entries
            self.acked.remove(self.mark_delete + 1)
            self.mark_delete += 1
        self.schedule_dispatch()
        return True

    # -- dispatching ---------------------------------------------------------------------------
    def _to_replay(self, index: int) -> None:
        self.replay.add(index)

    def schedule_dispatch(self) -> None:
        if not self._dispatch_pending and self.consumers:
            self._dispatch_pending = True
            self.topic.sim.schedule(0.0, self._dispatch)

    LOOKAHEAD = 1_000      # most unread entries one dispatch round looks at (Pulsar has similar limits)

    def _dispatch(self) -> None:
        """Send what can go now, oldest first: first the replay set, then unread entries.

        An entry that cannot go now (its key's consumer is full, nobody has
        room) joins the replay set and later entries may still go; the replay
        set is always tried first, so a waiting entry is never overtaken by a
        later entry of the same key.
        """
        self._dispatch_pending = False
        if not self.consumers or not self.topic.available:
            return
        if self.type in ("exclusive", "failover"):
            active = self.consumers[0]      # non-partitioned topic: the first to connect is active
            room = lambda: active.permits > 0                                     # noqa: E731
            choose = lambda index, key: active                                    # noqa: E731
        else:
            consumers = self.consumers
            room = lambda: any(c.permits > 0 for c in consumers)                 # noqa: E731
            choose = self._round_robin if self.type == "shared" else self._by_key(set())
        replay = sorted(self.replay)
        self.replay = set()
        ledger = self.topic.ledger
        i = scanned = 0
        while room():
            if i < len(replay):
                index = replay[i]
                i += 1
            elif self.read_position < ledger.end_index and scanned < self.LOOKAHEAD:
                index = self.read_position
                self.read_position += 1
                scanned += 1
            else:
                break
            if index <= self.mark_delete or index in self.acked or index in self.pending:
                continue
            entry = ledger.read(index)
            c = choose(index, entry.key)
            if c is None:
                self._to_replay(index)      # waits; later entries may still go
                continue
            self._send(c, index, entry)
        for index in replay[i:]:            # not reached this round: still waiting
            self._to_replay(index)

    def _round_robin(self, index: int, key: str | None) -> PulsarConsumer | None:
        n = len(self.consumers)
        for step in range(n):
            c = self.consumers[(self._rr + step) % n]
            if c.permits > 0:
                self._rr = (self._rr + step + 1) % n
                return c
        return None

    def _by_key(self, held: set):
        def choose(index: int, key: str | None) -> PulsarConsumer | None:
            if key in held:                 # an earlier entry of this key is waiting: this one waits too
                return None
            views = [ConsumerView(c.name, c.permits > 0, frozenset(c.unacked.values())) for c in self.consumers]
            name = self.key_dispatcher(key, views)
            if name is None:
                held.add(key)
                return None
            c = next((c for c in self.consumers if c.name == name), None)
            if c is None:
                raise DispatchError(f"the key dispatcher returned {name!r} for key {key!r}; the consumers are "
                                    f"{[v.name for v in views]} (return one of their names, or None to wait)")
            if c.permits <= 0:
                raise DispatchError(f"the key dispatcher chose {name!r} for key {key!r}, but it has no room "
                                    "(has_room is False); return None to make the message wait")
            return c
        return choose

    def _send(self, c: PulsarConsumer, index: int, entry: Entry) -> None:
        c.permits -= 1
        c.unacked[index] = entry.key
        self.pending[index] = c
        self.delivered += 1
        msg = PulsarMessage(index, self.topic.ledger.position(index), entry.key, entry.payload, c,
                            self.redeliveries.get(index, 0))
        self.topic.sim.schedule(self.topic.cluster.deliver_ms, self._deliver, c, msg)

    def _deliver(self, c: PulsarConsumer, msg: PulsarMessage) -> None:
        if c.connected and self.pending.get(msg.index) is c:
            c.callback(msg)


# ====================================================================== brokers, topics, the cluster
class PulsarBroker:
    """A serving node: owns topics, stores nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True
        self.topics: set[str] = set()

    def __repr__(self) -> str:
        return f"PulsarBroker({self.name}, {'up' if self.alive else 'down'}, topics={sorted(self.topics)})"


class PulsarTopic:
    """A non-partitioned persistent topic: a managed ledger, its subscriptions, its owning broker."""

    def __init__(self, cluster: "PulsarCluster", name: str, owner: PulsarBroker) -> None:
        self.cluster = cluster
        self.sim = cluster.sim
        self.name = name
        self.owner = owner
        self.ledger = ManagedLedger(cluster.bookkeeper, cluster.max_entries_per_ledger)
        self.subscriptions: dict[str, Subscription] = {}
        self.unavailable_until = 0.0
        self.deleted_entries = 0

    @property
    def available(self) -> bool:
        return self.sim.now >= self.unavailable_until

    def publish(self, payload: Any, key: str | None = None, size: int = 0) -> tuple[int, int]:
        """Append an entry (the owner writes it to the bookies); returns its (ledger id, entry id)."""
        if not self.available:
            raise PulsarError(f"topic {self.name!r} is moving to a new owner until t={self.unavailable_until} ms; "
                              "retry then")
        index = self.ledger.add_entry(Entry(payload, key, size, self.sim.now), self.sim.now)
        for sub in self.subscriptions.values():
            sub.schedule_dispatch()
        return self.ledger.position(index)

    def subscribe(self, name: str, type: str = "exclusive", initial_position: str = "latest",
                  key_dispatcher: KeyDispatcher | None = None) -> Subscription:
        """Create (or return) subscription ``name``. A new one starts at the latest entry, or at the
        earliest still stored (``initial_position="earliest"``)."""
        if initial_position not in ("latest", "earliest"):
            raise ValueError(f"initial_position must be 'latest' or 'earliest', got {initial_position!r}")
        sub = self.subscriptions.get(name)
        if sub is not None:
            if sub.type != type:
                raise PulsarError(f"subscription {name!r} exists with type {sub.type!r}, not {type!r}; "
                                  "disconnect its consumers and unsubscribe first")
            return sub
        start = self.ledger.start_index if initial_position == "earliest" else self.ledger.end_index
        sub = Subscription(self, name, type, start, key_dispatcher)
        self.subscriptions[name] = sub
        return sub

    def trim(self) -> int:
        """Delete ledgers every subscription has acknowledged, past the retention policy."""
        keep_from = min((s.mark_delete + 1 for s in self.subscriptions.values()), default=self.ledger.end_index)
        n = self.ledger.trim(keep_from, self.sim.now, self.cluster.retention_ms)
        self.deleted_entries += n
        return n

    @property
    def stored_entries(self) -> int:
        return self.ledger.entries


class PulsarCluster:
    """Brokers that serve, bookies that store, and the topic -> owner map (ZooKeeper's job, here a dict)."""

    def __init__(self, sim: Simulation | None = None, *, brokers: int = 3, bookies: int = 4, ensemble_size: int = 3,
                 write_quorum: int = 2, ack_quorum: int = 2, max_entries_per_ledger: int = 50_000,
                 retention_ms: float = 0.0, deliver_ms: float = 1.0, ownership_transfer_ms: float = 50.0) -> None:
        self.sim = sim if sim is not None else Simulation(0)
        self.brokers = [PulsarBroker(f"broker-{i}") for i in range(brokers)]
        self.bookkeeper = BookKeeper(bookies, ensemble_size, write_quorum, ack_quorum)
        self.max_entries_per_ledger = max_entries_per_ledger
        self.retention_ms = retention_ms
        self.deliver_ms = deliver_ms
        self.ownership_transfer_ms = ownership_transfer_ms
        self.topics: dict[str, PulsarTopic] = {}
        self.bytes_copied_on_broker_failure = 0      # stays 0: that is the point

    def _least_loaded_broker(self) -> PulsarBroker:
        live = [b for b in self.brokers if b.alive]
        if not live:
            raise PulsarError("no live broker to own the topic")
        return min(live, key=lambda b: (len(b.topics), b.name))

    def create_topic(self, name: str) -> PulsarTopic:
        if name in self.topics:
            return self.topics[name]
        owner = self._least_loaded_broker()
        topic = PulsarTopic(self, name, owner)
        owner.topics.add(name)
        self.topics[name] = topic
        return topic

    def fail_broker(self, name: str) -> dict[str, Any]:
        """Broker ``name`` dies. Each topic it owned moves to a live broker, which fences the last
        ledger; consumers reconnect and get their unacknowledged messages again. Nothing is copied."""
        dead = next(b for b in self.brokers if b.name == name)
        dead.alive = False
        moved = []
        for topic_name in sorted(dead.topics):
            topic = self.topics[topic_name]
            new_owner = self._least_loaded_broker()
            new_owner.topics.add(topic_name)
            topic.owner = new_owner
            topic.ledger.fence()
            topic.unavailable_until = self.sim.now + self.ownership_transfer_ms
            for sub in topic.subscriptions.values():
                for c in list(sub.consumers):
                    callback, permits = c.callback, c.permits + len(c.unacked)
                    sub.disconnect(c.name)
                    self.sim.schedule(self.ownership_transfer_ms, sub.connect, c.name, callback, permits)
            moved.append(topic_name)
        dead.topics.clear()
        return {"topics moved": moved, "bytes copied": 0,
                "unavailable ms": self.ownership_transfer_ms if moved else 0.0}

    def fail_bookie(self, name: str) -> int:
        """Bookie ``name`` dies; returns the bytes auto-recovery copies to restore the write quorum."""
        return self.bookkeeper.fail_bookie(name)

    def stored_bytes(self) -> int:
        """Bytes on all bookies (each entry counted once per copy)."""
        return sum(b.bytes_stored for b in self.bookkeeper.bookies)


# ====================================================================== the adapter for msglib.compare
@register
class PulsarModel(BrokerModel):
    """The teaching model driven by the common workload: one topic, one subscription per subscriber.

    The comparison gives it a retention policy of the workload's ``retention_ms``
    (Pulsar's own default is none: acknowledged ledgers go at once), so that a
    new subscription can start at the earliest entry. Consumers' receiver queues
    hold ``prefetch`` messages and refill as messages are acknowledged.
    """

    name = "pulsar"
    kind = "log"
    isolation = "quota"          # namespace publish-rate limits per tenant
    transactional = True         # Pulsar transactions: acks and produced messages commit together
    publish_ms = 2.0             # an assumption: client batching delay (1 ms) + broker + bookie quorum write
    deliver_ms = 1.0

    def __init__(self, run: Run, *, subscription_type: str = "key_shared", key_dispatcher: KeyDispatcher | None = None,
                 max_entries_per_ledger: int = 50, retention_ms: float | None = None, bookies: int = 4,
                 write_quorum: int = 2) -> None:
        super().__init__(run)
        if subscription_type not in SUBSCRIPTION_TYPES:
            raise ValueError(f"subscription_type must be one of {SUBSCRIPTION_TYPES}, got {subscription_type!r}")
        self.subscription_type = subscription_type
        self.key_dispatcher = key_dispatcher
        self.cluster = PulsarCluster(self.sim, bookies=bookies, ensemble_size=min(3, bookies), write_quorum=write_quorum,
                                     ack_quorum=write_quorum, max_entries_per_ledger=max_entries_per_ledger,
                                     retention_ms=run.workload.retention_ms if retention_ms is None else retention_ms,
                                     deliver_ms=self.deliver_ms)
        self.topic = self.cluster.create_topic("events")
        self.subs: dict[str, Subscription] = {}
        self.consumers: dict[str, PulsarConsumer] = {}

    def subscribe(self, sub: Subscriber) -> None:
        self.subs[sub.name] = self.topic.subscribe(sub.name, self.subscription_type,
                                                   "earliest" if sub.from_beginning else "latest", self.key_dispatcher)

    def start(self, sub: Subscriber, workers: list[Worker]) -> None:
        for w in workers:
            self._connect(w)

    def add_worker(self, sub: Subscriber, worker: Worker) -> None:
        self._connect(worker)

    def _connect(self, w: Worker) -> None:
        s = self.subs[w.sub.name]
        if self.subscription_type == "exclusive" and s.consumers:
            return                   # an exclusive subscription takes one consumer; the others stay idle
        def deliver(m: PulsarMessage) -> None:
            w.give(m.payload, lambda m=m: s.ack(m))
        self.consumers[w.name] = s.connect(w.name, deliver, self.run.workload.prefetch)

    def publish(self, msg: Any) -> None:
        self.topic.publish(msg, key=msg.key, size=msg.size)

    def stored_copies(self) -> int:
        return self.topic.stored_entries

    def tick(self) -> None:
        self.topic.trim()

    def on_crash(self, w: Worker) -> None:
        self.subs[w.sub.name].disconnect(w.name)

    def on_restart(self, w: Worker) -> None:
        self._connect(w)

    def facts(self) -> dict[str, Any]:
        return {"subscription": self.subscription_type, "ledgers": len(self.topic.ledger.ledgers),
                "bookie bytes": self.cluster.stored_bytes(),
                "redelivered": sum(sum(s.redeliveries.values()) for s in self.subs.values())}


__all__ = ["SUBSCRIPTION_TYPES", "PulsarError", "NotEnoughBookies", "ConsumerBusy", "DispatchError", "Entry", "Bookie",
           "Ledger", "BookKeeper", "ManagedLedger", "ConsumerView", "KeyDispatcher", "sticky_key_dispatch", "hash_range_dispatch",
           "PulsarMessage", "PulsarConsumer", "Subscription", "PulsarBroker", "PulsarTopic", "PulsarCluster",
           "PulsarModel"]
