"""Which partition a record goes to.

* **Keyed records** -- ``(murmur2(key) & 0x7fffffff) % num_partitions``, the
  same partition Kafka's Java client (and kafka-python) picks for the same key
  bytes. Same key, same partition, so per-key order is preserved.
* **Keyless records** -- *sticky*: stay on one partition until about a batch
  worth of bytes went there, then switch (KIP-480/794). Fuller batches than
  round-robin, still spread out over time.
* **Round-robin on request** -- :class:`RoundRobinPartitioner` ignores keys.

A partitioner is any callable ``(key_bytes | None, num_partitions) -> int``;
``Topic(partitioner=...)`` plugs one in (the graded exercise's seam).
"""
from __future__ import annotations

import random


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
