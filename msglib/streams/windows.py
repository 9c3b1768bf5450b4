"""Windows over event time: which windows a record belongs to, and when a window closes.

Kafka Streams' rules (Kafka 3.7/4.0 javadoc of ``Windows``, ``TimeWindows``, ``SlidingWindows``,
``SessionWindows``, ``JoinWindows``; see docs/streams.md):

* time windows (tumbling: advance == size; hopping: advance < size) are ``[start, start + size)``: the start is
  inclusive, the end exclusive, and the starts are multiples of ``advance`` (aligned to the epoch);
* sliding and session windows are ``[start, end]``, both ends inclusive;
* a window accepts records *until stream time >= end + grace* (for inclusive ends: until stream time > end +
  grace). A record whose window has closed is *late*: it is dropped and counted, never processed.

Stream time is the largest record timestamp a task has processed so far; it never goes back.
"""
from __future__ import annotations

from dataclasses import dataclass


def _ms(name: str, value: int, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int number of milliseconds >= {minimum}, not {value!r}")
    return value


@dataclass(frozen=True)
class TimeWindows:
    """Tumbling (``advance_ms`` None or == size) or hopping (``advance_ms`` < size) windows ``[start, start+size)``."""

    size_ms: int
    grace_ms: int = 0
    advance_ms: int | None = None

    def __post_init__(self) -> None:
        _ms("size_ms", self.size_ms, 1)
        _ms("grace_ms", self.grace_ms)
        if self.advance_ms is not None:
            _ms("advance_ms", self.advance_ms, 1)
            if self.advance_ms > self.size_ms:
                raise ValueError(f"advance_ms ({self.advance_ms}) must be <= size_ms ({self.size_ms}): "
                                 "a hop longer than the window would leave gaps no window covers")

    @property
    def advance(self) -> int:
        return self.size_ms if self.advance_ms is None else self.advance_ms

    def starts_for(self, timestamp: int) -> list[int]:
        """The starts of every window holding ``timestamp`` (those with start <= ts < start + size)."""
        return window_starts(timestamp, self.size_ms, self.advance)


def window_starts(timestamp: int, size_ms: int, advance_ms: int) -> list[int]:
    """Starts of the windows ``[s, s+size)`` that hold ``timestamp``: multiples of ``advance_ms``, never negative.

    Kafka's ``TimeWindows.windowsFor``: the first start is ``max(0, ts - size + advance)`` rounded down to a
    multiple of the advance; then every ``advance`` up to ``ts`` itself."""
    start = (max(0, timestamp - size_ms + advance_ms) // advance_ms) * advance_ms
    out = []
    while start <= timestamp:
        out.append(start)
        start += advance_ms
    return out


def window_open(window_end: int, stream_time: int, grace_ms: int) -> bool:
    """A window ``[start, end)`` still accepts records: stream time has not reached ``end + grace``."""
    return stream_time < window_end + grace_ms


def windows_to_update(timestamp: int, stream_time: int, size_ms: int, advance_ms: int,
                      grace_ms: int) -> tuple[list[int], int]:
    """For one record: the starts of the windows it updates, and how many of its windows had already closed.

    ``stream_time`` already counts this record. A window ``[s, s+size)`` holds the record when
    ``s <= timestamp < s + size``; it takes the record while ``stream_time < s + size + grace``. The closed ones
    are counted (Kafka's *dropped-records* metric) and not updated."""
    update, dropped = [], 0
    start = (max(0, timestamp - size_ms + advance_ms) // advance_ms) * advance_ms      # as window_starts
    while start <= timestamp:
        if stream_time < start + size_ms + grace_ms:                                 # as window_open
            update.append(start)
        else:
            dropped += 1
        start += advance_ms
    return update, dropped


@dataclass(frozen=True)
class SlidingWindows:
    """Windows of at most ``time_difference_ms`` between records, ``[start, end]`` inclusive (KIP-450).

    Each record at ``ts`` defines its *left* window ``[ts - d, ts]``; a record with a later record within ``d``
    also defines a *right* window ``[ts + 1, ts + 1 + d]``. Only windows holding records exist."""

    time_difference_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("time_difference_ms", self.time_difference_ms, 1)
        _ms("grace_ms", self.grace_ms)

    def windows(self, timestamps: list[int]) -> list[tuple[int, int]]:
        """Every window ``(start, end)`` the records at ``timestamps`` define, sorted."""
        d = self.time_difference_ms
        out = set()
        for ts in timestamps:
            out.add((max(0, ts - d), ts))
            if any(ts < other <= ts + d for other in timestamps):
                out.add((ts + 1, ts + 1 + d))
        return sorted(out)

    def is_open(self, end: int, stream_time: int) -> bool:
        return stream_time <= end + self.grace_ms          # inclusive end: closed once stream time > end + grace


@dataclass(frozen=True)
class SessionWindows:
    """Sessions: records of a key less than ``gap_ms`` apart (inclusive) share a session ``[first, last]``."""

    gap_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("gap_ms", self.gap_ms, 1)
        _ms("grace_ms", self.grace_ms)

    def touches(self, start: int, end: int, timestamp: int) -> bool:
        """A record at ``timestamp`` joins (or bridges into) the session ``[start, end]``."""
        return start - self.gap_ms <= timestamp <= end + self.gap_ms

    def is_open(self, end: int, stream_time: int) -> bool:
        return stream_time <= end + self.grace_ms


@dataclass(frozen=True)
class JoinWindows:
    """A stream-stream join matches records of the two sides whose timestamps differ by at most ``before_ms``
    (other side earlier) / ``after_ms`` (other side later); both bounds inclusive."""

    before_ms: int
    after_ms: int | None = None
    grace_ms: int = 0

    def __post_init__(self) -> None:
        _ms("before_ms", self.before_ms)
        if self.after_ms is not None:
            _ms("after_ms", self.after_ms)
        _ms("grace_ms", self.grace_ms)

    @property
    def after(self) -> int:
        return self.before_ms if self.after_ms is None else self.after_ms

    def matches(self, this_ts: int, other_ts: int, this_is_left: bool = True) -> bool:
        before, after = (self.before_ms, self.after) if this_is_left else (self.after, self.before_ms)
        return this_ts - before <= other_ts <= this_ts + after
