"""The transfer saga: completion, compensation, crashes at every point, idempotent steps."""
import pytest
from hypothesis import given, settings, strategies as st

from msglib.es import BankAccount, DomainError, EventStore, Repository
from msglib.patterns.saga import InjectedCrash, TransferSagas, transfer_without_saga

POINTS = [f"{when}_{step}" for step in ("debit", "credit", "refund", "complete", "fail")
          for when in ("before", "during", "after")]


def bank(balances):
    store = EventStore(":memory:")
    accounts = Repository(store, BankAccount)
    for name, amount in balances.items():
        acc = BankAccount.open(name, name)
        if amount:
            acc.deposit(amount)
        accounts.save(acc)
    return store, accounts


def balances(accounts, *names):
    return tuple(accounts.load(n).balance for n in names)


def test_happy_path_moves_the_money_once():
    store, accounts = bank({"a": 100, "b": 0})
    sagas = TransferSagas(store)
    t = sagas.transfer("t1", "a", "b", 60)
    assert t.status == "completed" and balances(accounts, "a", "b") == (40, 60)
    assert sagas.transfer("t1", "a", "b", 60).status == "completed"   # same id again: nothing moves
    assert balances(accounts, "a", "b") == (40, 60)
    assert [e.type for e in store.read_stream("transfer-t1")] == [
        "TransferStarted", "SourceDebited", "TargetCredited", "TransferCompleted"]


def test_refused_debit_fails_without_compensation():
    store, accounts = bank({"a": 10, "b": 0})
    t = TransferSagas(store).transfer("t1", "a", "b", 60)
    assert t.status == "failed" and "cannot withdraw 60" in t.reason
    assert [e.type for e in store.read_stream("transfer-t1")][-2:] == ["SourceDebitFailed", "TransferFailed"]
    assert balances(accounts, "a", "b") == (10, 0)


def test_refused_credit_is_compensated_by_a_refund():
    store, accounts = bank({"a": 100, "b": 0})
    b = accounts.load("b")
    b.close()
    accounts.save(b)
    t = TransferSagas(store).transfer("t1", "a", "b", 60)
    assert t.status == "failed" and "closed" in t.reason
    assert [e.type for e in store.read_stream("transfer-t1")] == [
        "TransferStarted", "SourceDebited", "TargetCreditFailed", "SourceRefunded", "TransferFailed"]
    assert balances(accounts, "a") == (100,)
    credit_to_missing = TransferSagas(store).transfer("t2", "a", "nobody", 5)
    assert credit_to_missing.status == "failed" and accounts.load("a").balance == 100


def test_refund_refused_leaves_the_saga_stuck_and_says_why():
    store, accounts = bank({"a": 100, "b": 0})

    def fault(point):
        if point == "during_credit":
            raise DomainError("the target bank is offline")
        if point == "before_refund":   # meanwhile the source account is emptied and closed
            a = accounts.load("a")
            a.withdraw(a.balance)
            a.close()
            accounts.save(a)

    t = TransferSagas(store, fault=fault).transfer("t1", "a", "b", 60)
    assert t.status == "stuck" and "closed" in t.reason


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("credit_refused", [False, True])
def test_a_crash_at_any_point_then_resume_ends_correctly(point, credit_refused):
    store, accounts = bank({"a": 100, "b": 5})
    crashed = []

    def fault(p):
        if p == point and not crashed:
            crashed.append(p)
            raise InjectedCrash(p)
        if credit_refused and p == "during_credit":
            raise DomainError("target refuses")

    sagas = TransferSagas(store, fault=fault)
    try:
        sagas.transfer("t1", "a", "b", 30)
    except InjectedCrash:
        assert sagas.unfinished() == ["t1"]
        sagas.run("t1")           # the restarted process resumes it
    assert sagas.unfinished() == []
    final = sagas.transfers.load("t1")
    if credit_refused:
        assert final.status == "failed" and balances(accounts, "a", "b") == (100, 5)
    else:
        assert final.status == "completed" and balances(accounts, "a", "b") == (70, 35)
    for name in "ab":   # each step changed each account at most once
        ids = [e.data.get("transfer_id") for e in store.read_stream(f"account-{name}")]
        ids = [i for i in ids if i]
        assert len(ids) == len(set(ids))


def test_without_a_saga_a_crash_between_two_appends_loses_money():
    store, accounts = bank({"a": 100, "b": 0})
    with pytest.raises(InjectedCrash):
        transfer_without_saga(store, "a", "b", 60, crash_between=True)
    assert sum(balances(accounts, "a", "b")) == 40
    transfer_without_saga(store, "a", "b", 10)
    assert balances(accounts, "a", "b") == (30, 10)


def test_bad_input_and_bad_orchestration():
    store, _ = bank({"a": 1, "b": 1})
    sagas = TransferSagas(store)
    with pytest.raises(DomainError, match="positive integer"):
        sagas.start("t", "a", "b", 0)
    with pytest.raises(DomainError, match="same account"):
        sagas.start("t", "a", "a", 1)
    with pytest.raises(ValueError, match="next_step returned 'teleport'"):
        TransferSagas(store, next_step=lambda t: "teleport").transfer("t2", "a", "b", 1)
    with pytest.raises(RuntimeError, match="looping"):
        TransferSagas(store, next_step=lambda t: "complete", max_steps=3).transfer("t3", "a", "b", 1)


@settings(database=None, deadline=None, max_examples=40)
@given(crashes=st.lists(st.sampled_from(POINTS), max_size=4),
       refuse=st.sampled_from([None, "debit", "credit"]), amount=st.integers(1, 150))
def test_money_is_conserved_under_any_crash_schedule(crashes, refuse, amount):
    store, accounts = bank({"a": 100, "b": 50})
    schedule = list(crashes)

    def fault(p):
        if schedule and schedule[0] == p:
            schedule.pop(0)
            raise InjectedCrash(p)
        if refuse and p == f"during_{refuse}":
            raise DomainError(f"{refuse} refused")

    sagas = TransferSagas(store, fault=fault)
    for _ in range(len(crashes) + 1):
        try:
            sagas.transfer("t", "a", "b", amount)
            break
        except InjectedCrash:
            continue
    final = sagas.transfers.load("t")
    a, b = balances(accounts, "a", "b")
    assert a + b == 150
    moved = final.status == "completed"
    assert (a, b) == ((100 - amount, 50 + amount) if moved else (100, 50))
    assert moved == (refuse is None and amount <= 100)
