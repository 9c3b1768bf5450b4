"""The dead-letter queue as a place you work in: inspect, redrive, alert.

A DLQ is not a bin. Each dead letter keeps what you need to decide its fate:
the original message id and payload, where it came from, why it died (the
error's class and message), how many attempts it had, and when it first and
last failed. Then an operator (or a script):

* **inspects**: how many, why (grouped by reason and error), the oldest;
* **fixes** the cause (deploys a fix, repairs the data);
* **redrives**: sends the dead letters back to be processed again, oldest
  first, *keeping their original id* so an idempotent consumer can still
  recognise a message it already handled, and removing each one from the DLQ
  only after it was sent (a failed send leaves it where it was: duplicates
  are possible, loss is not);
* is **alerted** when the DLQ grows past a threshold: a DLQ that nobody
  watches is a slow way of losing messages.

With ``path=...`` the queue is a JSON-lines file: every add and remove is
appended and flushed, and opening the file again rebuilds the queue, so dead
letters survive a restart.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Iterator


@dataclass
class DeadLetter:
    """One message that gave up, with the evidence."""

    message_id: str
    payload: Any
    source: str                     # the queue or topic it came from
    reason: str                     # "max-attempts", "permanent", "rejected", "expired", "timeout"...
    attempts: int
    error_type: str = ""
    error_message: str = ""
    first_failed_at: float = 0.0
    last_failed_at: float = 0.0
    dead_lettered_at: float | None = None  # set by the DLQ's clock when added
    headers: dict = field(default_factory=dict)

    def describe(self) -> str:
        return (f"{self.message_id} from {self.source}: {self.reason} after {self.attempts} attempt(s), "
                f"last error {self.error_type}: {self.error_message}")


@dataclass
class Alert:
    """A change of the alarm's state."""

    time: float
    state: str          # "ALARM" or "OK"
    depth: int
    threshold: int


class DepthAlarm:
    """Raise an alarm when the DLQ holds ``threshold`` or more messages; clear it below ``clear_below``.

    Like a CloudWatch alarm on ``ApproximateNumberOfMessagesVisible``: it
    notifies on a *change* of state, not on every message, and the gap between
    the two thresholds (hysteresis) stops it from flapping around one value.
    """

    def __init__(self, threshold: int, *, clear_below: int | None = None,
                 notify: Callable[[Alert], Any] | None = None) -> None:
        if threshold < 1:
            raise ValueError(f"an alarm threshold must be >= 1 message, got {threshold}")
        clear = threshold if clear_below is None else clear_below
        if not 0 < clear <= threshold:
            raise ValueError(f"clear_below must be in 1..threshold ({threshold}), got {clear_below}")
        self.threshold = threshold
        self.clear_below = clear
        self.notify = notify
        self.state = "OK"
        self.alerts: list[Alert] = []

    def observe(self, depth: int, now: float) -> Alert | None:
        new = self.state
        if self.state == "OK" and depth >= self.threshold:
            new = "ALARM"
        elif self.state == "ALARM" and depth < self.clear_below:
            new = "OK"
        if new == self.state:
            return None
        self.state = new
        alert = Alert(now, new, depth, self.threshold)
        self.alerts.append(alert)
        if self.notify is not None:
            self.notify(alert)
        return alert


class DeadLetterQueue:
    """Dead letters keyed by message id (one entry per message: a DLQ holds no duplicates)."""

    def __init__(self, name: str = "dlq", *, path: str | os.PathLike | None = None,
                 clock: Callable[[], float] = lambda: 0.0, alarm: DepthAlarm | None = None) -> None:
        self.name = name
        self.path = os.fspath(path) if path is not None else None
        self.clock = clock
        self.alarm = alarm
        self._letters: dict[str, DeadLetter] = {}
        self.duplicates_ignored = 0
        self.depth_history: list[tuple[float, int]] = []
        if self.path is not None and os.path.exists(self.path):
            self._load()

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    # a torn last line (a crash mid-write): everything before it is intact
                    break
                if entry["op"] == "add":
                    letter = DeadLetter(**entry["letter"])
                    self._letters[letter.message_id] = letter
                elif entry["op"] == "remove":
                    self._letters.pop(entry["message_id"], None)
                else:
                    raise ValueError(f"{self.path}:{n}: unknown operation {entry['op']!r}")

    def _write(self, entry: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=repr) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _changed(self) -> None:
        now = self.clock()
        self.depth_history.append((now, len(self._letters)))
        if self.alarm is not None:
            self.alarm.observe(len(self._letters), now)

    # ------------------------------------------------------------------ adding and removing
    def add(self, letter: DeadLetter) -> bool:
        """Store a dead letter. A message id already present is not stored twice (returns False)."""
        if letter.message_id in self._letters:
            self.duplicates_ignored += 1
            return False
        if letter.dead_lettered_at is None:
            letter.dead_lettered_at = self.clock()
        self._write({"op": "add", "letter": asdict(letter)})
        self._letters[letter.message_id] = letter
        self._changed()
        return True

    def remove(self, message_id: str) -> DeadLetter:
        letter = self._letters.get(message_id)
        if letter is None:
            raise KeyError(f"no dead letter with id {message_id!r} in {self.name!r}")
        self._write({"op": "remove", "message_id": message_id})
        del self._letters[message_id]
        self._changed()
        return letter

    # ------------------------------------------------------------------ inspection
    def __len__(self) -> int:
        return len(self._letters)

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._letters

    def __iter__(self) -> Iterator[DeadLetter]:
        """Oldest first (by the time they were dead-lettered, then by id)."""
        return iter(sorted(self._letters.values(), key=lambda d: (d.dead_lettered_at, d.first_failed_at)))

    def get(self, message_id: str) -> DeadLetter | None:
        return self._letters.get(message_id)

    def oldest(self, n: int = 10) -> list[DeadLetter]:
        return list(self)[:n]

    def by_reason(self) -> Counter:
        return Counter(d.reason for d in self._letters.values())

    def by_error(self) -> Counter:
        return Counter(d.error_type for d in self._letters.values())

    def where(self, predicate: Callable[[DeadLetter], bool]) -> list[DeadLetter]:
        return [d for d in self if predicate(d)]

    def summary(self) -> str:
        """A few lines an operator reads first."""
        if not self._letters:
            return f"{self.name}: empty"
        lines = [f"{self.name}: {len(self)} dead letters"]
        lines += [f"  {n:>5}  {reason}" for reason, n in self.by_reason().most_common()]
        lines += [f"  {n:>5}  {error or '(no error)'}" for error, n in self.by_error().most_common(5)]
        oldest = self.oldest(1)[0]
        lines.append(f"  oldest: {oldest.describe()}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ redrive
    def redrive(self, send: Callable[[DeadLetter], Any], *, where: Callable[[DeadLetter], bool] | None = None,
                limit: int | None = None) -> list[str]:
        """Send dead letters back, oldest first, and remove each one once its send returned.

        ``send(letter)`` republishes it (keeping ``letter.message_id``). If it
        raises, that letter and the rest stay in the DLQ and the exception
        propagates: run the redrive again later. Returns the ids redriven.
        """
        moved: list[str] = []
        for letter in self:
            if limit is not None and len(moved) >= limit:
                break
            if where is not None and not where(letter):
                continue
            send(letter)                     # first send...
            self.remove(letter.message_id)   # ...then forget: a crash in between duplicates, never loses
            moved.append(letter.message_id)
        return moved

    def extend(self, letters: Iterable[DeadLetter]) -> int:
        return sum(self.add(d) for d in letters)


__all__ = ["DeadLetter", "DeadLetterQueue", "DepthAlarm", "Alert"]
