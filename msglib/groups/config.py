"""Coordinator settings, named after Kafka's broker configs (``group.initial.rebalance.delay.ms``...).

The defaults are Kafka's. :meth:`GroupConfig.fast` scales the timers down a
hundredfold, like ``ClusterConfig.fast()``, for simulations of a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

MINUTE_MS = 60_000


@dataclass(frozen=True)
class GroupConfig:
    group_initial_rebalance_delay_ms: float = 3_000      # wait for more members before the first assignment
    group_min_session_timeout_ms: float = 6_000
    group_max_session_timeout_ms: float = 1_800_000
    offsets_retention_minutes: float = 10_080            # 7 days: offsets of an empty group live this long
    offsets_retention_check_interval_ms: float = 600_000
    offsets_segment_bytes: int = 100 * 1024 * 1024       # __consumer_offsets segments (compacted)

    def __post_init__(self) -> None:
        for f in fields(self):
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
                    group_max_session_timeout_ms=18_000, offsets_retention_check_interval_ms=6_000)
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes) -> "GroupConfig":
        return replace(self, **changes)
