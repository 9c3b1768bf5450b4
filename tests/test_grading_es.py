"""Module 07/08 exercise checks: the reference passes visible and hidden checks, every known-wrong one fails.

(tests/test_exercises.py does the same through the notebooks once they exist; this file keeps the checks
themselves honest without a notebook.)
"""
import pytest

from msglib.grading import CheckFailed, ex07
from tests.wrong.ex07 import WRONG as WRONG07

# What the module 07 notebook's locked cell imports: the namespace solution cells run in.
PRELUDE07 = """
from msglib.es import ANY, NO_STREAM, BankAccount, ConcurrencyError, EventStore, NewEvent, Repository
from msglib.es import UnknownEventTypeError
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


def define(prelude, source, name):
    ns = {}
    exec(prelude, ns)
    exec(source, ns)
    return ns[name]


@pytest.mark.parametrize("ex", sorted(REFERENCE07))
def test_reference_passes_visible_and_hidden_checks(ex):
    name, src = REFERENCE07[ex]
    fn = define(PRELUDE07, src, name)
    visible, hidden = CHECKS07[ex]
    visible(fn)
    hidden(fn)


CASES = [(ex, i, mistake, src) for ex, items in WRONG07.items() for i, (mistake, src) in enumerate(items)]


@pytest.mark.parametrize("ex,i,mistake,src", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_known_wrong_implementation_is_rejected(ex, i, mistake, src):
    name = REFERENCE07[ex][0]
    fn = define(PRELUDE07, src, name)
    visible, hidden = CHECKS07[ex]
    with pytest.raises(CheckFailed) as info:
        visible(fn)
        hidden(fn)
    assert info.value.what


def test_every_exercise_has_three_wrong_implementations():
    assert all(len(WRONG07[ex]) >= 3 for ex in REFERENCE07)


def test_not_implemented_reads_as_a_finding():
    def apply(account, event):
        raise NotImplementedError()
    with pytest.raises(CheckFailed, match="not implemented yet"):
        ex07.check_apply(apply)
