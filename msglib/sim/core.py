"""The deterministic simulation core: one clock, one event queue, seeded randomness.

Everything that "happens" in a simulated run (a message arriving, a timer
firing, a broker crashing) is an event on this queue. Events run one at a
time in (time, sequence) order, so two runs with the same seed and the same
inputs execute exactly the same events in exactly the same order.

Time is a float in **milliseconds**, the unit Kafka's configs use
(``linger.ms``, ``replica.lag.time.max.ms``...). Nothing reads the wall clock.
"""
from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(order=True)
class Timer:
    """A scheduled callback. ``cancel()`` it to stop it from firing."""

    time: float
    seq: int
    callback: Callable[..., Any] = field(compare=False)
    args: tuple = field(compare=False, default=())
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class Simulation:
    """A seeded discrete-event scheduler.

    >>> sim = Simulation(seed=1)
    >>> seen = []
    >>> _ = sim.schedule(5.0, seen.append, "b")
    >>> _ = sim.schedule(1.0, seen.append, "a")
    >>> sim.run()
    2
    >>> seen, sim.now
    (['a', 'b'], 5.0)
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.now: float = 0.0
        self.rng = self.random("default")
        self._queue: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self.events_run = 0
        # True while an event's callback runs. Code that would "block" by
        # running the simulation (Future.get, flush) checks it: re-entering
        # the scheduler from inside a callback would run events out of order.
        self.in_callback = False

    # -- randomness ---------------------------------------------------------
    def random(self, name: str) -> random.Random:
        """An independent random stream derived from the seed and a name.

        Separate streams (one for the network, one per fault schedule, ...)
        mean adding a new source of randomness does not shift every other
        draw, so a seed keeps meaning the same run as the code grows.
        """
        digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    # -- scheduling ---------------------------------------------------------
    def schedule(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` ``delay`` ms from now."""
        if delay < 0:
            raise ValueError(f"cannot schedule {delay} ms in the past; delay must be >= 0")
        return self.at(self.now + delay, callback, *args)

    def at(self, time: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Run ``callback(*args)`` at absolute simulated time ``time`` (ms)."""
        if time < self.now:
            raise ValueError(f"cannot schedule at t={time} ms: the clock is already at {self.now} ms")
        timer = Timer(time, next(self._seq), callback, args)
        # The heap holds (time, seq, timer) tuples: comparing tuples of numbers
        # is much faster than comparing Timer objects, and seq breaks ties.
        heapq.heappush(self._queue, (time, timer.seq, timer))
        return timer

    @property
    def pending(self) -> int:
        """Number of timers still queued (cancelled ones included until popped)."""
        return len(self._queue)

    def _next_timer(self) -> Timer | None:
        """The timer that fires next, without running it (None when nothing is left).

        A cancelled timer stays in the heap until it reaches the head (removing
        it from the middle would cost a re-heapify); this is where it is dropped.
        """
        while self._queue:
            timer = self._queue[0][2]
            if not timer.cancelled:
                return timer
            heapq.heappop(self._queue)
        return None

    def step(self) -> bool:
        """Run the next event. Returns False when nothing is left to run."""
        timer = self._next_timer()
        if timer is None:
            return False
        heapq.heappop(self._queue)
        self.now = timer.time
        self.events_run += 1
        self.in_callback = True
        try:
            timer.callback(*timer.args)
        finally:
            self.in_callback = False
        return True

    def run(self, until: float | None = None, max_events: int | None = None) -> int:
        """Run events in order until the queue is empty, the clock would pass
        ``until`` (the clock then stops exactly at ``until``), or ``max_events``
        have run. Returns how many events ran."""
        ran = 0
        while max_events is None or ran < max_events:
            head = self._next_timer()
            if head is None or (until is not None and head.time > until):
                break
            self.step()
            ran += 1
        if until is not None and self.now < until and (max_events is None or ran < max_events):
            self.now = until
        return ran

    def run_until(self, done: Callable[[], bool], until: float | None = None) -> bool:
        """Run events until ``done()`` is true, the queue empties or the clock
        would pass ``until``. Returns ``done()``.

        This is how client code outside the simulation "waits" (a future's
        ``get()``, a producer's ``flush()``): it runs simulated time forward
        until the thing it waits for has happened.
        """
        if self.in_callback:
            raise RuntimeError(
                "cannot wait for the simulation from inside a simulation callback; "
                "use a callback (e.g. future.add_callback) instead of a blocking call")
        while not done():
            head = self._next_timer()
            if head is None:
                break
            if until is not None and head.time > until:
                self.now = max(self.now, until)
                break
            self.step()
        return done()
