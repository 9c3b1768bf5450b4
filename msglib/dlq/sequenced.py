"""A sequenced DLQ: dead-lettering that keeps per-key order (Axon's SequencedDeadLetterQueue).

Retry topics and plain DLQs let the messages *behind* a failed one go on. That
is right for independent messages, and wrong for a stream of state changes of
one entity: if ``OrderCreated`` is parked, processing ``OrderCancelled`` for the
same order now is a bug. A sequenced DLQ parks per *key*:

* once a message with key K is dead-lettered, every later message with key K
  is parked *behind* it, without being attempted (it would see a state that
  never happened);
* messages of other keys carry on;
* after a fix, :meth:`SequencedDeadLetterQueue.replay` runs one key's parked
  messages in their original order and stops at the first that fails again,
  so the order still holds.

Invariant: for every key, the messages processed plus the messages parked are
the key's messages in publish order, processed ones first.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from msglib.dlq.classify import Classifier, is_transient


@dataclass
class Parked:
    """One parked message: its place in its key's sequence, and why it is there."""

    message_id: str
    key: str
    payload: Any
    reason: str              # "failed" (its own failure) or "blocked" (behind an earlier failure of its key)
    error: str = ""
    attempts: int = 0


class SequencedDeadLetterQueue:
    """Parked messages, one FIFO sequence per key."""

    def __init__(self) -> None:
        self._sequences: dict[str, deque[Parked]] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._sequences.values())

    def __contains__(self, key: str) -> bool:
        """Is ``key`` blocked (does it have parked messages)?"""
        return key in self._sequences

    def keys(self) -> list[str]:
        return list(self._sequences)

    def sequence(self, key: str) -> list[Parked]:
        return list(self._sequences.get(key, ()))

    def __iter__(self) -> Iterator[Parked]:
        for seq in self._sequences.values():
            yield from seq

    def park(self, item: Parked) -> None:
        self._sequences.setdefault(item.key, deque()).append(item)

    def replay(self, key: str, handler: Callable[[Parked], Any]) -> list[str]:
        """Process ``key``'s parked messages in order; stop at the first failure (it stays at the head,
        the rest stay behind it). Returns the ids processed."""
        seq = self._sequences.get(key)
        done: list[str] = []
        while seq:
            head = seq[0]
            try:
                handler(head)
            except Exception as exc:
                head.reason, head.error = "failed", f"{type(exc).__name__}: {exc}"
                head.attempts += 1
                return done
            seq.popleft()
            done.append(head.message_id)
        self._sequences.pop(key, None)       # the key is unblocked: new messages flow again
        return done


class SequencedProcessor:
    """Process an ordered stream with in-place retries; park failures per key, let other keys go on."""

    def __init__(self, handler: Callable[[str, Any], Any], *, max_attempts: int = 3,
                 classifier: Classifier = is_transient, dlq: SequencedDeadLetterQueue | None = None) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts counts the first delivery too, so it is >= 1; got {max_attempts}")
        self.handler = handler
        self.max_attempts = max_attempts
        self.classifier = classifier
        self.dlq = dlq if dlq is not None else SequencedDeadLetterQueue()
        self.processed: list[tuple[str, str]] = []       # (key, message id), in processing order

    def process(self, message_id: str, key: str, payload: Any) -> str:
        """Returns "processed", "parked" (it failed) or "blocked" (parked behind its key's failure)."""
        if key in self.dlq:
            self.dlq.park(Parked(message_id, key, payload, "blocked"))
            return "blocked"
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.handler(key, payload)
            except Exception as exc:
                if self.classifier(exc) and attempt < self.max_attempts:
                    continue
                self.dlq.park(Parked(message_id, key, payload, "failed", f"{type(exc).__name__}: {exc}", attempt))
                return "parked"
            self.processed.append((key, message_id))
            return "processed"
        raise AssertionError("unreachable: the last attempt either returns or parks")

    def replay(self, key: str) -> list[str]:
        """Replay one key after a fix, in order, through the same handler."""
        def run(item: Parked) -> None:
            self.handler(item.key, item.payload)
            self.processed.append((item.key, item.message_id))
        return self.dlq.replay(key, run)


__all__ = ["Parked", "SequencedDeadLetterQueue", "SequencedProcessor"]
