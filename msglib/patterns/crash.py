"""Simulated crashes for the exactly-once patterns: a crash schedule and a SQLite
connection that dies on it.

A real process can die between any two statements. We simulate that by
calling ``fault(point)`` at every place where a crash matters (before each SQL
statement, around each commit, around each append to the broker). A
:class:`CrashSchedule` raises :class:`InjectedCrash` at the points it was told
to. After a crash the runner throws the connection away without committing
(SQLite rolls back whatever was not committed, exactly as when a process dies)
and opens the same database file again, as a restarted process would.

Nothing here reads the wall clock or an unseeded random source: a schedule
and a seed replay the same run.
"""
from __future__ import annotations

import random
import sqlite3
from typing import Any, Callable, Iterable

from msglib.patterns.saga import InjectedCrash

Fault = Callable[[str], None]

__all__ = ["InjectedCrash", "Fault", "no_faults", "CrashSchedule", "CrashingConnection", "connect"]


def no_faults(point: str) -> None:
    """The fault hook of a run without crashes."""


def connect(path: str) -> sqlite3.Connection:
    """Open the SQLite database file ``path`` the way every pattern here does.

    ``synchronous=OFF``: a simulated crash is the *process* dying, not the
    machine losing power, so the operating system still holds every committed
    page; skipping fsync keeps thousands of simulated restarts fast.
    ``timeout=0``: a statement that would wait for another connection's lock
    fails at once with "database is locked" instead of hanging a test.
    """
    if path == ":memory:" or not path:
        raise ValueError("these patterns restart by reopening the database file, so they need a file path, "
                         "not ':memory:'; use e.g. tempfile.mkdtemp() + '/app.db'")
    conn = sqlite3.connect(path, timeout=0)
    conn.execute("PRAGMA synchronous=OFF")
    return conn


class CrashSchedule:
    """Decides at which fault points the process dies.

    * ``CrashSchedule.at(3, 7)``: crash at the 3rd and the 7th fault point reached
      (counting from 1 over the whole run, restarts included);
    * ``CrashSchedule.random(seed, rate=0.1, max_crashes=5)``: crash at each point
      with probability ``rate``, at most ``max_crashes`` times;
    * ``CrashSchedule.at()``: never crash, but count the points (a dry run tells
      how many points there are to enumerate).

    ``points`` lists every point reached, ``crashes`` the ``(number, point)`` pairs that crashed.
    """

    def __init__(self, crash_at: Iterable[int] = (), *, rate: float = 0.0, seed: int | None = None,
                 max_crashes: int | None = None, only: Callable[[str], bool] | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be a probability in [0, 1], got {rate!r}")
        self.crash_at = set(crash_at)
        if any(not isinstance(n, int) or n < 1 for n in self.crash_at):
            raise ValueError(f"crash points are counted from 1, got {sorted(self.crash_at)!r}")
        self.rate = rate
        self.rng = random.Random(seed)
        self.max_crashes = max_crashes
        self.only = only
        self.points: list[str] = []
        self.crashes: list[tuple[int, str]] = []

    @classmethod
    def at(cls, *numbers: int) -> "CrashSchedule":
        return cls(numbers)

    @classmethod
    def random(cls, seed: int, rate: float = 0.1, max_crashes: int | None = None,
               only: Callable[[str], bool] | None = None) -> "CrashSchedule":
        return cls(rate=rate, seed=seed, max_crashes=max_crashes, only=only)

    def __call__(self, point: str) -> None:
        self.points.append(point)
        n = len(self.points)
        if self.max_crashes is not None and len(self.crashes) >= self.max_crashes:
            return
        hit = n in self.crash_at
        if not hit and self.rate and (self.only is None or self.only(point)):
            hit = self.rng.random() < self.rate
        if hit:
            self.crashes.append((n, point))
            raise InjectedCrash(f"crash at fault point {n} ({point})")

    def describe(self) -> str:
        """The crashes in words, for a failure message."""
        if not self.crashes:
            return "no crash"
        return ", ".join(f"crash at point {n} ({p})" for n, p in self.crashes)


class CrashingConnection:
    """A ``sqlite3.Connection`` stand-in that calls ``fault`` before every statement and around every commit.

    It behaves like the connection for ``execute``, ``executemany``,
    ``commit``, ``rollback`` and ``with conn:`` (commit on success, roll back on
    an exception). Once a crash was injected the process is dead: every later
    call raises :class:`InjectedCrash` again, so code that catches the crash by
    mistake (``except Exception``) cannot keep working on a dead connection, and
    :attr:`dead` tells the runner to restart.
    """

    def __init__(self, conn: sqlite3.Connection, fault: Fault = no_faults) -> None:
        self.raw = conn
        self.fault = fault
        self.dead = False

    def _point(self, point: str) -> None:
        if self.dead:
            raise InjectedCrash(f"the process already crashed; nothing runs after the crash ({point})")
        try:
            self.fault(point)
        except InjectedCrash:
            self.dead = True
            raise

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        self._point(f"before {verb}")
        cursor = self.raw.execute(sql, parameters)
        if verb in ("COMMIT", "END"):
            self._point("after commit")
        return cursor

    def executemany(self, sql: str, seq_of_parameters: Any) -> sqlite3.Cursor:
        verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        self._point(f"before {verb}")
        return self.raw.executemany(sql, seq_of_parameters)

    def commit(self) -> None:
        self._point("before commit")
        self.raw.commit()
        self._point("after commit")

    def rollback(self) -> None:
        if not self.dead:
            self.raw.rollback()

    def __enter__(self) -> "CrashingConnection":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False

    def close(self) -> None:
        """Closing without a commit discards the open transaction, as a dying process does."""
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)
