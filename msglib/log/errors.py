"""The log's errors. Each message names the problem *and* the way out.

Every error here is raised before anything changes: an append that fails
leaves the log exactly as it was, so nothing already acknowledged is lost.
"""
from __future__ import annotations


class LogError(Exception):
    """Base class for msglib.log errors."""


class OffsetOutOfRangeError(LogError):
    """A fetch or seek outside ``[log_start_offset, log_end_offset]``."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int, what: str = "fetch") -> None:
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset
        if offset < log_start_offset:
            why = (f"it is below the log start offset {log_start_offset} "
                   f"(older records were removed by retention, compaction or delete_records)")
        else:
            why = f"it is past the log end offset {log_end_offset} (no record has that offset yet)"
        super().__init__(
            f"{what} offset {offset} is out of range: {why}. Valid offsets to {what} from are "
            f"{log_start_offset}..{log_end_offset} (the end offset means 'wait for new records'); "
            f"a consumer resets to the start (auto_offset_reset='earliest') or the end ('latest')."
        )


class RecordTooLargeError(LogError):
    """A batch bigger than ``max.message.bytes`` (or a segment)."""

    def __init__(self, size: int, limit: int, setting: str = "max_message_bytes") -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"record batch of {size} bytes is larger than the limit of {limit} bytes ({setting}); "
            f"send smaller batches or fewer/smaller records, or raise LogConfig.{setting}."
        )


class CorruptRecordError(LogError):
    """Bytes that are not a valid RecordBatch (bad CRC, size, magic, offsets...)."""

    def __init__(self, reason: str, file: str | None = None, position: int | None = None) -> None:
        self.reason = reason
        self.file = file
        self.position = position
        where = ""
        if file is not None:
            where = f" in segment file {file}"
        if position is not None:
            where += f" at byte position {position}"
        super().__init__(f"corrupt record batch{where}: {reason}")


class InvalidRecordError(LogError):
    """A record the log refuses by policy (e.g. no key on a compacted topic)."""


class InvalidArgumentError(LogError, ValueError, TypeError):
    """An argument of the wrong type or out of range: an offset, a timestamp, an epoch, a directory...

    It is both a ValueError and a TypeError, so code that caught either before still does.
    """

    def __init__(self, name: str, value: object = None, expected: str | None = None, *,
                 message: str | None = None) -> None:
        self.name = name
        self.value = value
        super().__init__(message or f"{name} must be {expected}; got {type(value).__name__} {value!r:.60}")


def check_int(name: str, value: object, low: int, high: int, expected: str | None = None) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``; raises :class:`InvalidArgumentError` otherwise.

    The ranges are those of the Kafka fields the value ends up in (int16/int32/int64), so a
    bad value is refused here, by name, rather than by ``struct`` deep inside an encoder.
    """
    if type(value) is not int or not low <= value <= high:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return int(value)          # an int subclass (e.g. an IntEnum) is fine
        raise InvalidArgumentError(name, value, expected or f"an int from {low} to {high}")
    return value


class RecordTypeError(LogError, TypeError):
    """A key, value or header value that is not bytes."""

    def __init__(self, field: str, value: object) -> None:
        self.field = field
        super().__init__(
            f"record {field} must be bytes or None, got {type(value).__name__} {value!r:.60}; "
            f"encode it first (e.g. {field}=text.encode() or json.dumps(obj).encode()), or give the "
            f"Topic/producer a {field}_serializer that turns your objects into bytes."
        )


class LogDirectoryError(LogError):
    """A log directory that cannot be created, listed or written (the message names the path)."""


class UnexpectedAppendOffsetError(LogError):
    """A follower append whose offsets do not continue the log."""


class UnsupportedCompressionError(LogError):
    """A compression codec whose package is not installed (or that msglib does not implement)."""
