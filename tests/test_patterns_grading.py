"""Module 06 part 2's grading: the reference passes every check, each known-wrong implementation fails one.

The section lives in the module 06 notebook (owned by its author); until it is merged there, this test
execs the same sources the way tests/exercise_harness.py does: the locked imports, then a solution cell.
"""
from __future__ import annotations

import pytest

from msglib.grading import ex06_patterns
from msglib.grading.core import CheckFailed
from tests.wrong.ex06_patterns import WRONG

# The section's locked cell, as far as the solutions and the checks need it.
LOCKED = '''
import sqlite3
from msglib.patterns.idempotent import top_up
from msglib.patterns.outbox import BrokerUnavailableError, publish
CONSUMER_ID = "wallet-service"
'''

REFERENCE = {
    "06-idempotent_handle": '''
def handle(conn, message):
    with conn:
        try:
            conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                         (CONSUMER_ID, message.id))
        except sqlite3.IntegrityError:
            return "duplicate"
        top_up(conn, message)
    return "processed"
''',
    "06-outbox_relay": '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
''',
}

# Other correct answers a learner may write: they must pass too.
ALSO_RIGHT = {
    "06-idempotent_handle": [('select first, then the effect and the id in one transaction', '''
def handle(conn, message):
    with conn:
        seen = conn.execute("SELECT 1 FROM processed_messages WHERE consumer_id = ? AND message_id = ?",
                            (CONSUMER_ID, message.id)).fetchone()
        if seen:
            return "duplicate"
        top_up(conn, message)
        conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                     (CONSUMER_ID, message.id))
    return "processed"
''')],
    "06-outbox_relay": [('deletes each row after publishing it', '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        with conn:
            conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
    return len(rows)
'''), ('marks the whole batch after publishing it (more duplicates after a crash, still no loss)', '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
    with conn:
        conn.executemany("UPDATE outbox SET published = 1 WHERE id = ?", [(r[0],) for r in rows])
    return len(rows)
''')],
}

CHECKS = {
    "06-idempotent_handle": ("handle", ex06_patterns.check_idempotent_handle, ex06_patterns.hidden_idempotent_handle),
    "06-outbox_relay": ("relay_once", ex06_patterns.check_outbox_relay, ex06_patterns.hidden_outbox_relay),
}


def _load(ex: str, source: str):
    ns: dict = {"__name__": "__main__"}
    exec(compile(LOCKED, "<locked>", "exec"), ns)
    exec(compile(source, f"<solution {ex}>", "exec"), ns)
    return ns[CHECKS[ex][0]]


def _results(ex: str, source: str) -> list[str]:
    """The failures of the visible and the hidden check ('' for a pass)."""
    out = []
    for check in CHECKS[ex][1:]:
        try:
            check(_load(ex, source))
            out.append("")
        except CheckFailed as exc:
            out.append(str(exc))
    return out


@pytest.mark.parametrize("ex", sorted(REFERENCE))
def test_reference_passes_visible_and_hidden(ex):
    assert _results(ex, REFERENCE[ex]) == ["", ""]


ALSO = [(ex, i, why, src) for ex, items in ALSO_RIGHT.items() for i, (why, src) in enumerate(items)]


@pytest.mark.parametrize("ex,i,why,src", ALSO, ids=[f"{a[0]}-right{a[1]}" for a in ALSO])
def test_other_correct_answers_pass(ex, i, why, src):
    assert _results(ex, src) == ["", ""], why


CASES = [(ex, i, mistake, src) for ex, items in WRONG.items() for i, (mistake, src) in enumerate(items)]


@pytest.mark.parametrize("ex,i,mistake,src", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_known_wrong_implementation_fails_a_check(ex, i, mistake, src):
    failures = [f for f in _results(ex, src) if f]
    assert failures, f"{ex}: '{mistake}' passes every check"
    assert all("seed" in f or "smallest case" in f for f in failures), failures


def test_every_exercise_has_at_least_three_wrong_implementations():
    assert set(WRONG) == set(REFERENCE)
    assert all(len(items) >= 3 for items in WRONG.values())


def test_a_stub_and_a_non_function_get_plain_messages():
    stub = "def handle(conn, message):\n    raise NotImplementedError()\n"
    with pytest.raises(CheckFailed, match="not implemented yet"):
        ex06_patterns.check_idempotent_handle(_load("06-idempotent_handle", stub))
    with pytest.raises(CheckFailed, match="should be a function"):
        ex06_patterns.check_outbox_relay(None)


def test_failures_name_the_case_and_replay_with_the_seed():
    wrong = dict((m, s) for m, s in WRONG["06-idempotent_handle"])
    fn = _load("06-idempotent_handle", wrong["checks for the id but never records it"])
    with pytest.raises(CheckFailed) as info:
        ex06_patterns.check_idempotent_handle(fn)
    assert "expected 'duplicate'" in str(info.value) and "m1" in str(info.value)
    separate = _load("06-idempotent_handle", WRONG["06-idempotent_handle"][0][1])
    with pytest.raises(CheckFailed) as info:
        ex06_patterns.check_idempotent_handle(separate)
    assert "crash at point" in str(info.value)
