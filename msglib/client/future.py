"""Futures for sends (kafka-python's ``FutureRecordMetadata``), over simulated time.

``future.get()`` "blocks" by running the simulation until the future is
resolved: from a notebook cell, ``producer.send(...).get()`` does what it
does against a real cluster. From inside the simulation (a callback), use
``add_callback`` / ``add_errback`` instead; ``get`` refuses to re-enter the
scheduler there.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable

from msglib.protocol.errors import KafkaTimeoutError
from msglib.sim.core import Simulation

RecordMetadata = namedtuple("RecordMetadata", [
    "topic", "partition", "topic_partition", "offset", "timestamp", "checksum", "serialized_key_size",
    "serialized_value_size", "serialized_header_size"])


class Future:
    """A result that arrives later: ``value`` on success, ``exception`` on failure."""

    __slots__ = ("sim", "is_done", "value", "exception", "_callbacks", "_errbacks")

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.is_done = False
        self.value: Any = None
        self.exception: BaseException | None = None
        self._callbacks: list[tuple[Callable, tuple]] | None = None  # made on first use: most have none
        self._errbacks: list[tuple[Callable, tuple]] | None = None

    def succeeded(self) -> bool:
        return self.is_done and self.exception is None

    def failed(self) -> bool:
        return self.is_done and self.exception is not None

    def success(self, value: Any) -> None:
        if self.is_done:
            raise RuntimeError("this future is already resolved")
        self.value, self.is_done = value, True
        for fn, args in self._callbacks or ():
            fn(*args, value)

    def failure(self, exc: BaseException) -> None:
        if self.is_done:
            raise RuntimeError("this future is already resolved")
        self.exception, self.is_done = exc, True
        for fn, args in self._errbacks or ():
            fn(*args, exc)

    def add_callback(self, fn: Callable, *args: Any) -> "Future":
        """Call ``fn(*args, value)`` on success (now, if it already succeeded)."""
        if self.is_done:
            if self.exception is None:
                fn(*args, self.value)
        else:
            self._callbacks = (self._callbacks or []) + [(fn, args)]
        return self

    def add_errback(self, fn: Callable, *args: Any) -> "Future":
        """Call ``fn(*args, exception)`` on failure (now, if it already failed)."""
        if self.is_done:
            if self.exception is not None:
                fn(*args, self.exception)
        else:
            self._errbacks = (self._errbacks or []) + [(fn, args)]
        return self

    def add_both(self, fn: Callable, *args: Any) -> "Future":
        self.add_callback(fn, *args)
        return self.add_errback(fn, *args)

    def get(self, timeout: float | None = None) -> Any:
        """Run the simulation until resolved; ``timeout`` in (simulated) seconds, as in kafka-python."""
        if not self.is_done:
            until = None if timeout is None else self.sim.now + timeout * 1000.0
            self.sim.run_until(lambda: self.is_done, until=until)
        if not self.is_done:
            raise KafkaTimeoutError(f"timeout after {timeout} s of simulated time waiting for the future"
                                    if timeout is not None else
                                    "the simulation ran out of events before this future was resolved")
        if self.exception is not None:
            raise self.exception
        return self.value


class FutureRecordMetadata(Future):
    """The future of one sent record; its value is a :class:`RecordMetadata`.

    ``maybe_written`` (an msglib addition, for history checking): on failure,
    True if some attempt may have reached the log anyway (a timeout, a lost
    answer), False if every attempt was certainly refused.
    """

    __slots__ = ("maybe_written",)

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim  # (Future.__init__ written out: one of these is made per record sent)
        self.is_done = False
        self.value = self.exception = self._callbacks = self._errbacks = None
        self.maybe_written = False
