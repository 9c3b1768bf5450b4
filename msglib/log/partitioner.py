"""Which partition a record goes to.

* **Keyed records** -- ``(murmur2(key) & 0x7fffffff) % num_partitions``, the
  same partition Kafka's Java client (and kafka-python) picks for the same key
  bytes. Same key, same partition, so per-key order is preserved.
* **Keyless records** -- *sticky*: stay on one partition until about a batch
  worth of bytes went there, then switch (KIP-480/794). Fuller batches than
  round-robin, still spread out over time.
* **Round-robin on request** -- :class:`RoundRobinPartitioner` ignores keys.

A partitioner is any callable ``(key_bytes | None, num_partitions) -> int``;
``Topic(partitioner=...)`` plugs one in.

The producer's own partitioner is :class:`BuiltInPartitioner`, the Java client's since Kafka 3.3
(KIP-794; docs/kafka-defaults.md): after every keyless record it appends, :func:`update_sticky` counts
the bytes and, once a batch worth went to the sticky partition *and* its batch is full (or twice
that, whatever the batch), switches to a partition drawn with weights that favour partitions with
short queues -- the ones on fast brokers. ``BuiltInPartitioner(update=fn)`` is module 02's exercise seam.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` as a signed 32-bit int (Java's ``Utils.murmur2``).

    Java does this with 32-bit ints that wrap around; Python ints do not
    wrap, so every multiplication is masked back to 32 bits.
    """
    mask = 0xFFFFFFFF
    m = 0x5BD1E995
    r = 24
    length = len(data)
    h = (0x9747B28C ^ length) & mask           # seed ^ length
    whole = length - length % 4
    for i in range(0, whole, 4):               # 4 bytes at a time, little-endian
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = length % 4                          # the last 1-3 bytes
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    """Java's ``Utils.toPositive``: clear the sign bit (not ``abs``: abs(-2**31) overflows in Java)."""
    return n & 0x7FFFFFFF


def default_partition(key: bytes, num_partitions: int) -> int:
    """msglib's (and Kafka's) partition for a keyed record."""
    return to_positive(murmur2(key)) % num_partitions


class DefaultPartitioner:
    """murmur2 for keyed records, sticky for keyless ones (seeded, so runs repeat)."""

    def __init__(self, seed: int = 0, sticky_bytes: int = 16384) -> None:
        self.rng = random.Random(seed)
        self.sticky_bytes = sticky_bytes       # Kafka switches after batch.size bytes (16384)
        self._sticky: dict[int, int] = {}      # num_partitions -> current sticky partition
        self._sent = 0

    def __call__(self, key: bytes | None, num_partitions: int, size: int = 0) -> int:
        if key is not None:
            return default_partition(key, num_partitions)
        current = self._sticky.get(num_partitions)
        if current is None or self._sent >= self.sticky_bytes:
            choices = [p for p in range(num_partitions) if p != current] or [0]
            current = self._sticky[num_partitions] = self.rng.choice(choices)
            self._sent = 0
        self._sent += max(size, 1)
        return current


class RoundRobinPartitioner:
    """Every record to the next partition in turn, key or no key."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, key: bytes | None, num_partitions: int, size: int = 0) -> int:
        p = self._next % num_partitions
        self._next += 1
        return p


# ---------------------------------------------------------------------------------- KIP-794
@dataclass
class StickyPartition:
    """One topic's sticky state: where keyless records go now, and how many bytes went there since."""

    batch_size: int = 16384
    partition: int | None = None      # None until the first keyless record
    produced_bytes: int = 0


def weighted_partition(queue_sizes: Sequence[int], r: int) -> int:
    """The next sticky partition: weight ``max(queue_sizes) + 1 - queue size`` each, drawn with ``r``.

    The weights are folded into a running sum (Kafka's cumulative frequency table); ``r % total``
    picks the first partition whose running sum is *greater* than it. Equal queues give ``r % n``.
    Raises ``ValueError`` for an empty ``queue_sizes`` (a topic has at least one partition).
    """
    top = max(queue_sizes) + 1
    x = r % sum(top - q for q in queue_sizes)
    running = 0
    for p, q in enumerate(queue_sizes):
        running += top - q
        if x < running:
            return p
    raise AssertionError("unreachable: x < total")


def update_sticky(sticky: StickyPartition, appended_bytes: int, batch_full: bool, queue_sizes: Sequence[int],
                  r: int) -> None:
    """KIP-794's rule, run after each keyless record was appended to ``sticky.partition`` (and once
    before the first, with ``sticky.partition`` None): count the bytes; switch once
    ``batch_size`` bytes went there and its newest batch is full, or ``2 * batch_size`` bytes
    whatever the batch; a switch draws :func:`weighted_partition` and counts from 0 again."""
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        enough = sticky.produced_bytes >= sticky.batch_size
        if not (enough and batch_full) and sticky.produced_bytes < 2 * sticky.batch_size:
            return
    sticky.partition = weighted_partition(queue_sizes, r)
    sticky.produced_bytes = 0


Update = Callable[[StickyPartition, int, bool, Sequence[int], int], None]


class BuiltInPartitioner:
    """The producer's partitioner: murmur2 for keys, KIP-794's adaptive sticky partition per topic for
    keyless records. ``update``: the rule run after each keyless append (default :func:`update_sticky`).

    The producer asks :meth:`sticky_partition` where a keyless record goes, appends it, then reports
    with :meth:`appended`. ``r`` is a fresh seeded 31-bit random number for every call of the rule,
    so a seed replays every choice. Raises ``ValueError`` for a ``batch_size`` below 1 and when the rule
    chooses a partition that does not exist (the message names the choice and the valid range).
    """

    def __init__(self, seed: int = 0, batch_size: int = 16384, update: Update | None = None) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.rng = random.Random(seed)
        self.batch_size = batch_size
        self.update: Update = update or update_sticky
        self.sticky: dict[str, StickyPartition] = {}

    def __call__(self, key: bytes | None, num_partitions: int, size: int = 0) -> int:
        if key is not None:
            return default_partition(key, num_partitions)
        return self.sticky_partition("", num_partitions, [0] * num_partitions)

    def _run(self, state: StickyPartition, appended: int, batch_full: bool, queue_sizes: Sequence[int],
             num_partitions: int) -> None:
        self.update(state, appended, batch_full, list(queue_sizes), self.rng.getrandbits(31))
        p = state.partition
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < num_partitions:
            raise ValueError(f"the sticky rule chose partition {p!r}; it must be an int in 0..{num_partitions - 1}")

    def sticky_partition(self, topic: str, num_partitions: int, queue_sizes: Sequence[int]) -> int:
        """Where the next keyless record of ``topic`` goes (the first call chooses)."""
        state = self.sticky.setdefault(topic, StickyPartition(self.batch_size))
        if state.partition is None or state.partition >= num_partitions:
            state.partition = None
            self._run(state, 0, True, queue_sizes, num_partitions)
        return state.partition

    def appended(self, topic: str, nbytes: int, batch_full: bool, queue_sizes: Sequence[int]) -> None:
        """A keyless record of ``nbytes`` went to the sticky partition: maybe switch."""
        state = self.sticky[topic]
        self._run(state, nbytes, batch_full, queue_sizes, len(queue_sizes))
