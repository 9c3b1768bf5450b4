"""Module 07/08 exercise checks: the reference passes visible and hidden checks, every known-wrong one fails.

(tests/test_exercises.py does the same through the notebooks once they exist; this file keeps the checks
themselves honest without a notebook.)
"""
import pytest

from msglib.grading import CheckFailed, ex07, ex08
from tests.wrong.ex07 import WRONG as WRONG07
from tests.wrong.ex08 import WRONG as WRONG08

# What the module 07 notebook's locked cell imports: the namespace solution cells run in.
PRELUDE07 = """
from msglib.es import (ANY, NO_STREAM, AccountClosedError, BankAccount, ConcurrencyError, DomainError, EventStore,
                       NewEvent, Repository, UnknownEventTypeError)
"""

REFERENCE07 = {
    "07-apply": ("apply", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner = data["owner"]
        account.opened = True
    elif event.type == "MoneyDeposited":
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        account.closed = True
    else:
        raise UnknownEventTypeError("BankAccount", event.type, event.stream, event.version)
    if "transfer_id" in data:
        account.transfers.add(data["transfer_id"])
'''),
    "07-append_retry": ("append_with_retry", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    for attempt in range(1, max_attempts + 1):
        history = store.read_stream(stream)
        events = decide(history)
        if not events:
            return None
        version = history[-1].version if history else 0
        try:
            return store.append(stream, events, expected_version=version)
        except ConcurrencyError:
            if attempt == max_attempts:
                raise
'''),
    "07-upcaster": ("upcast_deposit_v1", '''
def upcast_deposit_v1(data):
    return {"amount": round(data["amount_eur"] * 100), "currency": "EUR"}
'''),
    "07-saga": ("next_step", '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "fail", "credit_failed": "refund", "refunded": "fail"}.get(transfer.status)
'''),
}

CHECKS07 = {
    "07-apply": (ex07.check_apply, ex07.hidden_apply),
    "07-append_retry": (ex07.check_append_retry, ex07.hidden_append_retry),
    "07-upcaster": (ex07.check_upcaster, ex07.hidden_upcaster),
    "07-saga": (ex07.check_saga, ex07.hidden_saga),
}


PRELUDE08 = """
from msglib.cqrs import read_checkpoint, save_checkpoint
"""

REFERENCE08 = {
    "08-handlers": ("handle", '''
def handle(conn, event):
    order_id = event.stream[len("order-"):]
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id) VALUES (?, ?)", (order_id, user))
        conn.execute("INSERT INTO user_stats (user_id, orders_placed) VALUES (?, 1) "
                     "ON CONFLICT(user_id) DO UPDATE SET orders_placed = orders_placed + 1", (user,))
        return
    row = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        return
    user, paid = row
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats_orders SET paid = ? WHERE order_id = ?", (event.data["amount"], order_id))
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderShipped":
        conn.execute("UPDATE user_stats SET orders_shipped = orders_shipped + 1 WHERE user_id = ?", (user,))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1, "
                     "total_spent = total_spent - ? WHERE user_id = ?", (paid, user))
'''),
    "08-process_batch": ("process_batch", '''
def process_batch(conn, projection, events):
    conn.execute("BEGIN")
    try:
        for event in events:
            projection.handle(conn, event)
        save_checkpoint(conn, projection.name, events[-1].position)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
'''),
    "08-wait_for": ("wait_for", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while True:
        checkpoint = read_checkpoint()
        if checkpoint >= position:
            return checkpoint
        if clock() >= deadline:
            raise TimeoutError(f"read model at {checkpoint}, not yet at {position} after {timeout} s")
        sleep(poll)
'''),
}

CHECKS08 = {
    "08-handlers": (ex08.check_handlers, ex08.hidden_handlers),
    "08-process_batch": (ex08.check_process_batch, ex08.hidden_process_batch),
    "08-wait_for": (ex08.check_wait_for, ex08.hidden_wait_for),
}

REFERENCE = {**REFERENCE07, **REFERENCE08}
CHECKS = {**CHECKS07, **CHECKS08}
PRELUDE = {ex: PRELUDE07 if ex.startswith("07") else PRELUDE08 for ex in REFERENCE}
WRONG = {**WRONG07, **WRONG08}


def define(prelude, source, name):
    ns = {}
    exec(prelude, ns)
    exec(source, ns)
    return ns[name]


@pytest.mark.parametrize("ex", sorted(REFERENCE))
def test_reference_passes_visible_and_hidden_checks(ex):
    name, src = REFERENCE[ex]
    fn = define(PRELUDE[ex], src, name)
    visible, hidden = CHECKS[ex]
    visible(fn)
    hidden(fn)


CASES = [(ex, i, mistake, src) for ex, items in WRONG.items() for i, (mistake, src) in enumerate(items)]


@pytest.mark.parametrize("ex,i,mistake,src", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_known_wrong_implementation_is_rejected(ex, i, mistake, src):
    name = REFERENCE[ex][0]
    fn = define(PRELUDE[ex], src, name)
    visible, hidden = CHECKS[ex]
    with pytest.raises(CheckFailed) as info:
        visible(fn)
        hidden(fn)
    assert info.value.what


def test_every_exercise_has_three_wrong_implementations():
    assert all(len(WRONG[ex]) >= 3 for ex in REFERENCE)


def test_not_implemented_reads_as_a_finding():
    def apply(account, event):
        raise NotImplementedError()
    with pytest.raises(CheckFailed, match="not implemented yet"):
        ex07.check_apply(apply)
