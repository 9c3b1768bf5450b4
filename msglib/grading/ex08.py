"""Checks for module 08 (CQRS).

* ``08-handlers``      - ``handle(conn, event)`` becomes the UserStats projection's
                         handler; after seeded order traffic the read model must
                         equal ``UserStats.fold(events)``;
* ``08-process_batch`` - ``process_batch(conn, projection, events)`` drives a
                         ProjectionRunner that is killed at seeded random points
                         (between any two SQL statements or before a commit) and
                         restarted; the read model must still equal the fold and
                         the checkpoint the store's last position;
* ``08-wait_for``      - ``wait_for(read_checkpoint, position, timeout, clock, sleep)``
                         is driven by a fake clock while a projection advances.
"""
from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Callable

from msglib.cqrs.commands import CommandHandler, CommandRejected, Deposit, OpenAccount
from msglib.cqrs.projection import Killed, ProjectionRunner, process_batch as reference_process_batch
from msglib.cqrs.read_models import UserStats
from msglib.cqrs.workload import random_order_commands, run_commands
from msglib.es import EventStore
from msglib.grading.core import CheckFailed, guarded, require_callable, seeds

EX_HANDLERS = "08-handlers"
EX_BATCH = "08-process_batch"
EX_WAIT = "08-wait_for"


def _guard(fn: Callable, exercise: str, seed: int | None, case: Callable[[], str],
           passthrough: tuple[type[BaseException], ...] = ()) -> Callable:
    """Call the learner's function; its own crashes become a CheckFailed that names the case."""
    return guarded(fn, exercise, seed=seed, case=lambda *a, **k: case(), passthrough=(Killed,) + passthrough)


def _describe(e: Any) -> str:
    return f"{e.type} {e.data} (stream {e.stream}, position {e.position})"


def _first_difference(got: dict, want: dict) -> str:
    for key in sorted(set(got) | set(want)):
        if got.get(key) != want.get(key):
            return f"user {key!r}: read model has {got.get(key)}, the fold of the events gives {want.get(key)}"
    return "no difference"


COLUMNS = "(orders_placed, orders_paid, orders_shipped, orders_cancelled, total_spent)"


# -- exercise 1: projection handlers ---------------------------------------------------

def _run_handlers_case(fn: Callable, seed: int | None, n: int,
                       history: Callable[[EventStore], None] | None = None, story: str = "seeded order traffic") -> None:
    store = EventStore(":memory:")
    if history is not None:
        history(store)
    else:
        run_commands(store, random_order_commands(random.Random(seed), n))
    current: list[Any] = []
    guarded = _guard(fn, EX_HANDLERS, seed, lambda: _describe(current[-1]) if current else "")

    class LearnerStats(UserStats):
        def handle(self, conn: Any, event: Any) -> None:
            current.append(event)
            guarded(conn, event)

    runner = ProjectionRunner(store, LearnerStats(), batch_size=10)
    runner.catch_up()
    events = store.read_all()
    # Find the shortest prefix of the history at which the read model goes wrong.
    probe = ProjectionRunner(store, LearnerStats(), batch_size=1)
    for e in events:
        probe.run_once()
        got, want = UserStats.read(probe.conn), UserStats.fold([x for x in events if x.position <= e.position])
        if got != want:
            raise CheckFailed(f"after {_describe(e)}: {_first_difference(got, want)} {COLUMNS}",
                              case=f"the first {e.position} events of {story}", seed=seed,
                              exercise=EX_HANDLERS)
    got, want = UserStats.read(runner.conn), UserStats.fold(events)
    if got != want:
        raise CheckFailed(f"{_first_difference(got, want)} {COLUMNS}", seed=seed, exercise=EX_HANDLERS)


def _crafted_history(store: EventStore) -> None:
    """Two users; an order paid then cancelled (refund), one cancelled unpaid, one shipped."""
    from msglib.cqrs.commands import CancelOrder, CommandHandler, PayOrder, PlaceOrder, ShipOrder
    h = CommandHandler(store)
    pen = ({"sku": "pen", "qty": 2, "price": 150},)
    for cmd in (PlaceOrder("o1", "ada", pen), PayOrder("o1", 300), PlaceOrder("o2", "ada", pen),
                PlaceOrder("o3", "bob", pen), PayOrder("o3", 300), ShipOrder("o3"), CancelOrder("o2"),
                CancelOrder("o1")):
        h.handle(cmd)


CRAFTED_STORY = ("o1: ada places and pays; o2: ada places; o3: bob places, pays, ships; o2 cancelled; "
                 "o1 cancelled")


def _shared_store_history(seed: int, n: int) -> Callable[[EventStore], None]:
    """Order traffic in a store that bank accounts share: $all also carries account events."""
    def build(store: EventStore) -> None:
        handler = CommandHandler(store)
        for i, command in enumerate(random_order_commands(random.Random(seed), n)):
            if i % 4 == 0:
                handler.handle(OpenAccount(f"a{i}", "ada"))
                handler.handle(Deposit(f"a{i}", 100 + i))
            try:
                handler.handle(command)
            except CommandRejected:
                pass
    return build


def check_handlers(handle: Callable, seed: int | None = None) -> None:
    require_callable(handle, "handle", EX_HANDLERS)
    _run_handlers_case(handle, None, 0, history=_crafted_history, story=CRAFTED_STORY)
    for s in ([seed] if seed is not None else seeds(EX_HANDLERS, 2)):
        _run_handlers_case(handle, s, 30)


def hidden_handlers(handle: Callable, seed: int | None = None) -> None:
    require_callable(handle, "handle", EX_HANDLERS)
    for i, s in enumerate([seed] if seed is not None else seeds(EX_HANDLERS, 5, hidden=True)):
        if i % 2:
            _run_handlers_case(handle, s, 40, history=_shared_store_history(s, 40),
                               story="order traffic in a store shared with bank accounts (AccountOpened, "
                                     "MoneyDeposited events in between)")
        else:
            _run_handlers_case(handle, s, 60)


# -- exercise 2: batches with the checkpoint in the same transaction ----------------------

def _run_batch_case(fn: Callable, seed: int, n: int, kills: int, batch: int,
                    kill_points: list[int] | None = None) -> int:
    """Project seeded order traffic with kills at seeded points (or at ``kill_points``: the k-th
    statement/commit); restart until caught up; compare with the fold. Returns how many points were passed."""
    rng = random.Random(seed)
    store = EventStore(":memory:")
    run_commands(store, random_order_commands(rng, n))
    head = store.last_position()
    calls = [0]
    if kill_points is not None:
        targets = sorted(kill_points)
    else:
        targets = sorted(rng.sample(range(1, 6 * head), min(kills, 6 * head - 1)))
    killed_at: list[str] = []

    def fault(point: str) -> None:
        calls[0] += 1
        if targets and calls[0] == targets[0]:
            targets.pop(0)
            killed_at.append(point)
            raise Killed(point)

    def case() -> str:
        where = ", ".join(killed_at[-3:]) or "no kill yet"
        return f"{head} events, batches of {batch}, killed {len(killed_at)}x (last at: {where})"

    guarded = _guard(fn, EX_BATCH, seed, case, passthrough=(sqlite3.IntegrityError,))

    class WatchedStats(UserStats):
        def handle(self, conn: Any, event: Any) -> None:
            try:
                super().handle(conn, event)
            except (Killed, sqlite3.IntegrityError):
                raise
            except Exception as exc:
                raise CheckFailed(f"the projection could not apply {_describe(event)} ({type(exc).__name__}: "
                                  f"{exc}): the read model lacks an earlier event of this order, so an event "
                                  f"was skipped - the checkpoint moved past events that were never applied",
                                  case=case(), seed=seed, exercise=EX_BATCH,
                                  hint="the read-model changes and the checkpoint must commit together") from None

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "read.db"
        for _ in range(kills + 2):
            runner = ProjectionRunner(store, WatchedStats(), path, batch_size=batch, process_batch=guarded,
                                      fault=fault, synchronous="OFF")
            try:
                runner.catch_up(max_events=head + 1)
                runner.close()
                break
            except Killed:
                runner.kill()
            except sqlite3.IntegrityError as exc:
                runner.kill()
                raise CheckFailed(f"after a restart an event was applied a second time ({exc}): its effect was "
                                  f"committed but the checkpoint did not move with it", case=case(), seed=seed,
                                  exercise=EX_BATCH, hint="one transaction: BEGIN, handlers, checkpoint, COMMIT"
                                  ) from None
        check = sqlite3.connect(path)   # a fresh connection sees only what was committed
        try:
            checkpoint = check.execute("SELECT position FROM projection_checkpoints WHERE name = ?",
                                       (UserStats.name,)).fetchone()
            got = UserStats.read(check)
        finally:
            check.close()
    if checkpoint is None or checkpoint[0] != head:
        raise CheckFailed(f"the committed checkpoint is {checkpoint[0] if checkpoint else None}, but all {head} "
                          f"events were processed", case=case(), seed=seed, exercise=EX_BATCH,
                          hint="save the position of the batch's LAST event, and COMMIT")
    want = UserStats.fold(store.read_all())
    if got != want:
        raise CheckFailed(f"the read model differs from the fold of the events: {_first_difference(got, want)}; "
                          f"an event was applied twice or skipped", case=case(), seed=seed, exercise=EX_BATCH,
                          hint="the read-model changes and the checkpoint must commit together")
    return calls[0]


def _kill_at_every_point(fn: Callable, seed: int, n: int, batch: int) -> None:
    """A small history, killed once at each statement or commit in turn: every place a kill can land."""
    points = _run_batch_case(fn, seed, n, kills=0, batch=batch, kill_points=[])
    for k in range(1, points + 1):
        _run_batch_case(fn, seed, n, kills=1, batch=batch, kill_points=[k])


def check_process_batch(process_batch: Callable, seed: int | None = None) -> None:
    require_callable(process_batch, "process_batch", EX_BATCH)
    _run_batch_case(process_batch, 0, 20, kills=0, batch=5)
    _kill_at_every_point(process_batch, 0, 8, batch=3)
    for s in ([seed] if seed is not None else seeds(EX_BATCH, 3)):
        _run_batch_case(process_batch, s, 25, kills=4, batch=1 + s % 4)


def hidden_process_batch(process_batch: Callable, seed: int | None = None) -> None:
    require_callable(process_batch, "process_batch", EX_BATCH)
    hidden_seeds = [seed] if seed is not None else seeds(EX_BATCH, 8, hidden=True)
    _kill_at_every_point(process_batch, hidden_seeds[0], 12, batch=4)
    for i, s in enumerate(hidden_seeds):
        _run_batch_case(process_batch, s, 30, kills=3 + i % 5, batch=1 + i % 5)


# -- exercise 3: read-your-writes ----------------------------------------------------

class _FakeTime:
    """A clock and a sleep: sleeping advances the clock and lets the projection work."""

    def __init__(self, rng: random.Random, progress: Callable[[], None]) -> None:
        self.now = 100.0
        self.rng = rng
        self.progress = progress
        self.sleeps = 0
        self.longest = 0.0   # the longest sleep asked for
        self.reads_since_sleep = 0

    def clock(self) -> float:
        # A loop that reads the clock without calling the sleep it was given never sees time pass
        # (e.g. it calls time.sleep): stop it with an explanation instead of hanging the notebook.
        self.reads_since_sleep += 1
        if self.reads_since_sleep > 100:
            raise CheckFailed("read clock() 100 times without calling the sleep function it was given: in this "
                              "test only that sleep lets time pass and the projection work", exercise=EX_WAIT,
                              hint="call sleep(poll), the argument, not time.sleep")
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.reads_since_sleep = 0
        if self.sleeps > 10_000:
            raise CheckFailed("still waiting after 10,000 sleeps: the wait never gives up", exercise=EX_WAIT,
                              hint="compare clock() with the deadline computed from timeout")
        self.longest = max(self.longest, seconds)
        self.now += max(seconds, 0.001) * self.rng.uniform(1.0, 3.0)   # sleeps can overshoot, as real ones do
        self.progress()


def _run_wait_case(fn: Callable, seed: int, start: int, target: int, speed: int, timeout: float,
                   stalls_at: int | None) -> None:
    rng = random.Random(seed)
    checkpoint = [start]

    def progress() -> None:
        if stalls_at is None or checkpoint[0] < stalls_at:
            checkpoint[0] += speed

    time_ = _FakeTime(rng, progress)
    desc = (f"checkpoint starts at {start}, waiting for position {target}, timeout {timeout} s, the projection "
            f"advances {speed} per sleep" + (f" and stalls at {stalls_at}" if stalls_at is not None else ""))
    guarded = _guard(fn, EX_WAIT, seed, lambda: desc, passthrough=(TimeoutError,))
    begin = time_.now
    try:
        result = guarded(lambda: checkpoint[0], target, timeout, time_.clock, time_.sleep)
    except TimeoutError:
        waited = time_.now - begin
        # The checkpoint only moves during a sleep: if it is at the target now, it was when the function gave
        # up, whatever the clock said. A timeout then reports a stale read model that is in fact fresh.
        if checkpoint[0] >= target:
            raise CheckFailed(f"raised TimeoutError although the checkpoint ({checkpoint[0]}) had already reached "
                              f"{target}" + (f" ({waited:.3f} s into a {timeout} s timeout)" if waited < timeout
                                             else " (the deadline had passed, but the read model was there)"),
                              case=desc, seed=seed, exercise=EX_WAIT,
                              hint="caught up means checkpoint >= position; read the checkpoint (and return it) "
                                   "before you look at the clock, also after the last sleep") from None
        if waited < timeout:
            raise CheckFailed(f"gave up after {waited:.3f} s of clock time, before the {timeout} s timeout",
                              case=desc, seed=seed, exercise=EX_WAIT,
                              hint="measure the timeout with clock(), not by counting sleeps") from None
        if waited > timeout + 3 * max(time_.longest, 0.001) + 1e-9:
            raise CheckFailed(f"gave up only after {waited:.3f} s of clock time for a {timeout} s timeout",
                              case=desc, seed=seed, exercise=EX_WAIT,
                              hint="sleeps can last longer than asked: compare clock() with a deadline "
                                   "instead of counting sleeps") from None
        return
    reached = checkpoint[0] >= target
    if not reached:
        raise CheckFailed(f"returned {result!r} while the checkpoint was {checkpoint[0]} < {target}: the caller "
                          f"would read a model that does not yet contain its write", case=desc, seed=seed,
                          exercise=EX_WAIT, hint="on timeout raise TimeoutError; never return as if caught up")
    if result != checkpoint[0]:
        raise CheckFailed(f"returned {result!r}; it should return the checkpoint it found ({checkpoint[0]}), so the "
                          f"caller knows how fresh the read model is", case=desc, seed=seed, exercise=EX_WAIT)
    if start >= target and time_.sleeps:
        raise CheckFailed(f"slept {time_.sleeps}x although the read model was already at {start} >= {target}",
                          case=desc, seed=seed, exercise=EX_WAIT, hint="check before sleeping")


def check_wait_for(wait_for: Callable, seed: int | None = None) -> None:
    require_callable(wait_for, "wait_for", EX_WAIT)
    _run_wait_case(wait_for, 0, 5, 5, 1, 1.0, None)          # already there
    _run_wait_case(wait_for, 0, 0, 5, 1, 1.0, None)          # catches up
    _run_wait_case(wait_for, 0, 0, 5, 1, 0.2, 3)            # stalls: times out
    _run_wait_case(wait_for, 0, 5, 5, 1, 0.0, None)          # already there, no time to wait: still return it


def hidden_wait_for(wait_for: Callable, seed: int | None = None) -> None:
    require_callable(wait_for, "wait_for", EX_WAIT)
    _run_wait_case(wait_for, 1, 0, 1, 1, 0.0, None)           # timeout 0, not there: raise, do not hang
    _run_wait_case(wait_for, 1, 7, 3, 1, 0.0, None)           # timeout 0, already there: return
    for s in ([seed] if seed is not None else seeds(EX_WAIT, 12, hidden=True)):
        rng = random.Random(s)
        start, target = rng.randint(0, 20), rng.randint(0, 30)
        _run_wait_case(wait_for, s, start, target, rng.randint(1, 3), rng.choice([0.05, 0.5, 2.0]),
                       rng.choice([None, None, start + rng.randint(0, 10)]))


__all__ = ["check_handlers", "hidden_handlers", "check_process_batch", "hidden_process_batch",
           "check_wait_for", "hidden_wait_for", "reference_process_batch"]
