"""The share-group settings msglib models, with Kafka's names and defaults (docs/share-groups.md)."""
from __future__ import annotations

from dataclasses import dataclass

# Broker settings of KIP-932 (Kafka 4.0+; apache/kafka ShareGroupConfig). A group may override the first
# two in later releases (share.delivery.count.limit, share.record.lock.duration.ms as group configs).
DELIVERY_COUNT_LIMIT = 5                  # group.share.delivery.count.limit
RECORD_LOCK_DURATION_MS = 30_000          # group.share.record.lock.duration.ms
PARTITION_MAX_RECORD_LOCKS = 200          # group.share.partition.max.record.locks (see docs/share-groups.md)
HEARTBEAT_INTERVAL_MS = 5_000             # group.share.heartbeat.interval.ms
SESSION_TIMEOUT_MS = 45_000               # group.share.session.timeout.ms
SHARE_GROUP_STATE_TOPIC = "__share_group_state"


@dataclass(frozen=True)
class ShareGroupConfig:
    """A share group's delivery settings; bad values raise ``ValueError`` naming the fix."""

    delivery_count_limit: int = DELIVERY_COUNT_LIMIT
    record_lock_duration_ms: float = RECORD_LOCK_DURATION_MS
    partition_max_record_locks: int = PARTITION_MAX_RECORD_LOCKS
    heartbeat_interval_ms: float = HEARTBEAT_INTERVAL_MS
    session_timeout_ms: float = SESSION_TIMEOUT_MS

    def __post_init__(self) -> None:
        if not isinstance(self.delivery_count_limit, int) or self.delivery_count_limit < 1:
            raise ValueError(f"group.share.delivery.count.limit must be an int >= 1, got "
                             f"{self.delivery_count_limit!r}: use the default 5, or 1 to archive after one try")
        if not self.record_lock_duration_ms > 0:
            raise ValueError(f"group.share.record.lock.duration.ms must be > 0, got "
                             f"{self.record_lock_duration_ms!r}: Kafka's default is 30000 (30 s)")
        if not isinstance(self.partition_max_record_locks, int) or self.partition_max_record_locks < 1:
            raise ValueError(f"group.share.partition.max.record.locks must be an int >= 1, got "
                             f"{self.partition_max_record_locks!r}: the window of in-flight records needs room")
        if not 0 < self.heartbeat_interval_ms < self.session_timeout_ms:
            raise ValueError(f"heartbeat interval ({self.heartbeat_interval_ms!r} ms) must be > 0 and below the "
                             f"session timeout ({self.session_timeout_ms!r} ms): Kafka's defaults are 5 s and 45 s")
