"""LogConfig: a topic's log settings, named after Kafka's (``segment.bytes`` -> ``segment_bytes``).

Defaults are Kafka's (section 3 of the semantics reference), so a learner can
look any of them up in Kafka's documentation. Notebooks shrink them
(``LogConfig(segment_bytes=1024)``) to make segments roll after a few records.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import InvalidArgumentError

DAY_MS = 24 * 60 * 60 * 1000


@dataclass
class LogConfig:
    segment_bytes: int = 1024 * 1024 * 1024        # roll when the active segment would pass this
    segment_ms: int = 7 * DAY_MS                   # ... or when its first batch is this old
    segment_jitter_ms: int = 0
    segment_index_bytes: int = 10 * 1024 * 1024    # ... or when its index is full (8 bytes/entry)
    index_interval_bytes: int = 4096               # one index entry per this many bytes of log
    retention_ms: int = 7 * DAY_MS                 # -1: keep forever
    retention_bytes: int = -1                      # -1: no size limit
    cleanup_policy: str = "delete"                 # "delete", "compact" or "compact,delete"
    delete_retention_ms: int = DAY_MS              # how long compaction keeps tombstones
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = 2**63 - 1
    min_cleanable_dirty_ratio: float = 0.5
    max_message_bytes: int = 1024 * 1024 + 12      # largest batch accepted
    message_timestamp_type: str = "CreateTime"     # or "LogAppendTime"
    flush_messages: int | None = None              # fsync after this many records (1 = every append);
    flush_ms: int | None = None                    # ... or when this long since the last fsync.
    #                                                None, None = Kafka's default: leave it to the OS.
    verify_crc_on_read: bool = True                # check each batch's CRC when reading it

    def __post_init__(self) -> None:
        """Check every setting; raises :class:`InvalidArgumentError` (a ValueError) naming the bad one."""
        def positive(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidArgumentError(f"LogConfig.{name}", value, f"an int >= {minimum}")
        positive("segment_bytes", 14)
        positive("segment_ms")
        positive("segment_index_bytes", 8)
        positive("index_interval_bytes", 0)
        positive("max_message_bytes", 0)
        positive("segment_jitter_ms", 0)
        for name in ("retention_ms", "retention_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise InvalidArgumentError(f"LogConfig.{name}", value, "an int >= 0, or -1 for no limit")
        policies = {p.strip() for p in self.cleanup_policy.split(",")} if isinstance(self.cleanup_policy, str) \
            else set()
        if not policies or not policies <= {"delete", "compact"}:
            raise InvalidArgumentError("LogConfig.cleanup_policy", self.cleanup_policy,
                                       "'delete', 'compact' or 'compact,delete'")
        if self.message_timestamp_type not in ("CreateTime", "LogAppendTime"):
            raise InvalidArgumentError("LogConfig.message_timestamp_type", self.message_timestamp_type,
                                       "'CreateTime' or 'LogAppendTime'")
        for name in ("flush_messages", "flush_ms"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidArgumentError(f"LogConfig.{name}", value, "None (leave it to the OS) or an int >= 1")
        if not isinstance(self.verify_crc_on_read, bool):
            raise InvalidArgumentError("LogConfig.verify_crc_on_read", self.verify_crc_on_read, "True or False")

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def max_index_entries(self) -> int:
        return self.segment_index_bytes // 8

    @classmethod
    def from_kafka(cls, settings: dict[str, object]) -> "LogConfig":
        """Build from Kafka's dotted names: ``{"segment.bytes": 1024, "cleanup.policy": "compact"}``.

        Raises :class:`InvalidArgumentError` (a ValueError) for an unknown setting or a bad value.
        """
        known = {f.name for f in fields(cls)}
        kwargs = {}
        for key, value in settings.items():
            name = key.replace(".", "_") if isinstance(key, str) else key
            if name not in known:
                raise InvalidArgumentError(str(key), message=f"unknown log setting {key!r}; known: "
                                                             f"{sorted(k.replace('_', '.') for k in known)}")
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
