"""Coordinator settings, named after Kafka's broker configs (``group.initial.rebalance.delay.ms``...).

The defaults are Kafka's. :meth:`GroupConfig.fast` scales the timers down a
hundredfold, like ``ClusterConfig.fast()``, for simulations of a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from msglib.groups.server_assignors import SERVER_ASSIGNORS

MINUTE_MS = 60_000


@dataclass(frozen=True)
class GroupConfig:
    group_initial_rebalance_delay_ms: float = 3_000      # wait for more members before the first assignment
    group_min_session_timeout_ms: float = 6_000
    group_max_session_timeout_ms: float = 1_800_000
    offsets_retention_minutes: float = 10_080            # 7 days: offsets of an empty group live this long
    offsets_retention_check_interval_ms: float = 600_000
    offsets_segment_bytes: int = 100 * 1024 * 1024       # __consumer_offsets segments (compacted)
    # KIP-848 consumer groups (group_protocol="consumer"): the coordinator sets the timers (Kafka 4.0 defaults)
    group_consumer_session_timeout_ms: float = 45_000    # no heartbeat for this long: the member is fenced
    group_consumer_heartbeat_interval_ms: float = 5_000  # told to every member in each heartbeat answer
    group_consumer_assignors: tuple[str, ...] = ("uniform", "range")   # the first is the default

    def __post_init__(self) -> None:
        if not self.group_consumer_assignors or any(a not in SERVER_ASSIGNORS for a in self.group_consumer_assignors):
            raise ValueError(f"GroupConfig.group_consumer_assignors must name server-side assignors among "
                             f"{sorted(SERVER_ASSIGNORS)}, got {self.group_consumer_assignors!r}")
        if self.group_consumer_heartbeat_interval_ms >= self.group_consumer_session_timeout_ms:
            raise ValueError("GroupConfig.group_consumer_heartbeat_interval_ms must be lower than "
                             "group_consumer_session_timeout_ms, or members are fenced between two heartbeats")
        for f in fields(self):
            if f.name == "group_consumer_assignors":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"GroupConfig.{f.name} must be a number >= 0, got {value!r}")
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms:
            raise ValueError("group_min_session_timeout_ms must not exceed group_max_session_timeout_ms")

    @property
    def offsets_retention_ms(self) -> float:
        return self.offsets_retention_minutes * MINUTE_MS

    @classmethod
    def fast(cls, **overrides) -> "GroupConfig":
        """Kafka's protocol with timers about 100x shorter (pairs with the consumer's fast defaults)."""
        base = dict(group_initial_rebalance_delay_ms=30, group_min_session_timeout_ms=60,
                    group_max_session_timeout_ms=18_000, offsets_retention_check_interval_ms=6_000,
                    group_consumer_session_timeout_ms=450, group_consumer_heartbeat_interval_ms=50)
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes) -> "GroupConfig":
        return replace(self, **changes)
