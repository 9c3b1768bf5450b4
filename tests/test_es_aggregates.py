"""Aggregates: the bank account and the order, replay, snapshots, temporal loads, unknown events."""
import pytest

from msglib.es import (AccountClosedError, BankAccount, DomainError, EventStore, InsufficientFundsError, NewEvent,
                       Order, Repository, StreamNotFoundError, UnknownEventTypeError)


@pytest.fixture
def store():
    t = [0.0]
    s = EventStore(":memory:", clock=lambda: t[0])
    s.tick = t
    return s


def test_commands_record_pending_events_and_replay_gives_the_same_state(store):
    acc = BankAccount.open("a1", "ada")
    acc.deposit(100)
    acc.withdraw(30)
    assert [e.type for e in acc.pending] == ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"]
    assert (acc.version, acc.balance) == (3, 70)
    repo = Repository(store, BankAccount)
    repo.save(acc)
    assert acc.pending == []
    loaded = repo.load("a1")
    assert (loaded.version, loaded.balance, loaded.owner) == (3, 70, "ada")
    assert store.read_stream("account-a1")[0].data == {"owner": "ada"}


def test_bank_invariants_refuse_with_reasons(store):
    acc = BankAccount.open("a1", "ada")
    acc.deposit(10)
    with pytest.raises(InsufficientFundsError, match="cannot withdraw 11, the balance is 10"):
        acc.withdraw(11)
    for bad in (0, -5, 1.5, "10", True):
        with pytest.raises(DomainError, match="positive integer"):
            acc.deposit(bad)
    with pytest.raises(DomainError, match="withdraw or transfer the remaining 10"):
        acc.close()
    acc.withdraw(10)
    acc.close()
    for action in (lambda: acc.deposit(1), lambda: acc.withdraw(1), acc.close):
        with pytest.raises(AccountClosedError, match="'a1' is closed"):
            action()
    assert acc.version == 4  # opened, deposited, withdrawn, closed: refused commands recorded nothing
    with pytest.raises(DomainError, match="never opened"):
        BankAccount("zz").deposit(5)
    with pytest.raises(DomainError, match="owner"):
        BankAccount.open("a2", "")


def test_transfer_ids_make_steps_idempotent():
    acc = BankAccount.open("a1", "ada")
    acc.deposit(50, transfer_id="t1:credit")
    acc.deposit(50, transfer_id="t1:credit")
    acc.withdraw(20, transfer_id="t2:debit")
    acc.withdraw(20, transfer_id="t2:debit")
    assert acc.balance == 30 and acc.version == 3


def test_order_lifecycle_and_refusals():
    o = Order.place("o1", "ada", [{"sku": "pen", "qty": 2, "price": 150}, {"sku": "ink", "qty": 1, "price": 5}])
    assert o.total == 305 and o.status == "placed"
    with pytest.raises(DomainError, match="only a paid order can"):
        o.ship()
    with pytest.raises(DomainError, match="does not match the total 305"):
        o.pay(300)
    o.pay(305)
    o.ship()
    with pytest.raises(DomainError, match="is shipped, so it cannot cancel"):
        o.cancel()
    for items, msg in [([], "at least one item"), ([{"sku": "", "qty": 1, "price": 1}], "sku"),
                       ([{"sku": "a", "qty": 0, "price": 1}], "quantity"),
                       ([{"sku": "a", "qty": 1, "price": -1}], "price")]:
        with pytest.raises(DomainError, match=msg):
            Order.place("o2", "ada", items)
    with pytest.raises(DomainError, match="never placed"):
        Order("o3").pay(1)


def test_unknown_event_type_names_the_type_and_the_upcaster_hook(store):
    store.append("account-a1", [NewEvent("AccountOpened", {"owner": "ada"}), NewEvent("Deposited", {"cents": 5})])
    with pytest.raises(UnknownEventTypeError) as info:
        Repository(store, BankAccount).load("a1")
    msg = str(info.value)
    assert "'Deposited'" in msg and "register_upcaster" in msg and "version 2" in msg
    store.register_upcaster("Deposited", 1, lambda d: ("MoneyDeposited", {"amount": d["cents"]}))
    assert Repository(store, BankAccount).load("a1").balance == 5


def test_loading_a_missing_stream_is_a_clear_error(store):
    with pytest.raises(StreamNotFoundError, match="'account-nope' has no events"):
        Repository(store, BankAccount).load("nope")


def test_snapshots_shorten_replay_and_give_the_same_state(store):
    repo = Repository(store, BankAccount, snapshot_every=10)
    acc = BankAccount.open("a1", "ada")
    repo.save(acc)
    for i in range(1, 26):
        acc = repo.load("a1")
        acc.deposit(i, transfer_id=f"t{i}" if i % 5 == 0 else None)
        repo.save(acc)
    snaps = [r[0] for r in store.connection.execute("SELECT version FROM snapshots ORDER BY version")]
    assert snaps == [10, 20]
    repo.events_replayed = 0
    with_snap = repo.load("a1")
    assert repo.events_replayed == 6   # versions 21..26
    without = repo.load("a1", use_snapshots=False)
    assert with_snap.snapshot_state() == without.snapshot_state() and with_snap.version == without.version == 26
    assert with_snap.balance == sum(range(1, 26))


def test_temporal_load_as_of_version_and_time(store):
    repo = Repository(store, BankAccount, snapshot_every=2)
    acc = BankAccount.open("a1", "ada")
    repo.save(acc)
    for t, amount in [(10, 5), (20, 7), (30, 11)]:
        store.tick[0] = t
        acc = repo.load("a1")
        acc.deposit(amount)
        repo.save(acc)
    assert repo.load("a1", as_of_version=2).balance == 5
    assert repo.load("a1", as_of_version=3).balance == 12
    assert repo.load("a1", as_of_time=25).balance == 12
    assert repo.load("a1", as_of_time=0).balance == 0


def test_save_with_stale_version_raises_concurrency_error(store):
    from msglib.es import ConcurrencyError
    repo = Repository(store, BankAccount)
    acc = BankAccount.open("a1", "ada")
    acc.deposit(10)
    repo.save(acc)
    first, second = repo.load("a1"), repo.load("a1")
    first.withdraw(10)
    second.withdraw(10)
    repo.save(first)
    with pytest.raises(ConcurrencyError, match="expected version 2 but the stream is at version 3"):
        repo.save(second)
    assert repo.load("a1").balance == 0


def test_an_old_event_shape_is_reported_with_the_upcaster_hook(store):
    from msglib.es import EventSchemaError
    store.append("account-old", [NewEvent("AccountOpened", {"owner": "bob"}),
                                 NewEvent("MoneyDeposited", {"amount_eur": 12.5})])
    with pytest.raises(EventSchemaError) as info:
        Repository(store, BankAccount).load("old")
    msg = str(info.value)
    assert "no field 'amount'" in msg and "version 2" in msg and "register_upcaster('MoneyDeposited', from_schema=1" in msg


def test_a_save_that_crosses_a_multiple_of_snapshot_every_takes_a_snapshot(store):
    # Three events per save: versions 1-3, 4-6, 7-9, 10-12. Version 10 is crossed inside the last save,
    # so the snapshot is taken there (at 12), not skipped because 12 is not a multiple of 10.
    repo = Repository(store, BankAccount, snapshot_every=10)
    acc = BankAccount.open("a1", "ada")
    acc.deposit(1)
    acc.deposit(2)
    repo.save(acc)
    for _ in range(3):
        acc = repo.load("a1")
        for amount in (1, 2, 3):
            acc.deposit(amount)
        repo.save(acc)
    snaps = [r[0] for r in store.connection.execute("SELECT version FROM snapshots ORDER BY version")]
    assert snaps == [12]


def test_time_travel_is_a_prefix_of_the_history_even_when_the_clock_steps_back(store):
    repo = Repository(store, BankAccount)
    store.tick[0] = 100.0
    repo.save(BankAccount.open("a1", "ada"))                   # position 1, stamped 100
    for t, amount in [(200.0, 5), (150.0, 7), (300.0, 11)]:    # the clock steps back 50 s (NTP) before the 7
        store.tick[0] = t
        acc = repo.load("a1")
        acc.deposit(amount)
        repo.save(acc)
    # "stamped <= 160" would be {open, 7}: a state that never existed (7 was deposited after the 5)
    stamped = [e.data.get("amount") for e in store.read_stream("account-a1", until=160.0)]
    assert stamped == [None, 7]
    assert store.position_at(160.0) == 1 and store.position_at(250.0) == 3 and store.position_at(99.0) == 0
    assert repo.load("a1", as_of_time=160.0).balance == 0      # the prefix the store had recorded: just the open
    assert repo.load("a1", as_of_time=250.0).balance == 12
    assert repo.load("a1", as_of_position=2).balance == 5
    assert repo.load("a1", as_of_position=3, as_of_version=2).balance == 5
    with pytest.raises(StreamNotFoundError):
        repo.load("a1", as_of_time=99.0)                      # the account did not exist yet


def test_time_travel_by_position_agrees_with_a_replay_of_all_prefix(store):
    repo = Repository(store, BankAccount, snapshot_every=3)
    for name in ("a", "b"):
        repo.save(BankAccount.open(name, name))
    for i in range(1, 13):
        acc = repo.load("ab"[i % 2])
        acc.deposit(i)
        repo.save(acc)
    for p in range(2, store.last_position() + 1):
        prefix = [e for e in store.read_all() if e.position <= p and e.stream == "account-a"]
        assert repo.load("a", as_of_position=p).balance == BankAccount.replay("a", prefix).balance


class CentsAccountV2(BankAccount):
    """The same events under a new fold (balance now kept in tenths of a cent): snapshots of v1 are stale."""

    snapshot_version = 2

    def when_MoneyDeposited(self, data):
        self.balance += data["amount"] * 10


def test_a_snapshot_taken_under_another_snapshot_version_is_ignored(store):
    v1 = Repository(store, BankAccount, snapshot_every=2)
    acc = BankAccount.open("a1", "ada")
    acc.deposit(5)
    acc.deposit(7)
    v1.save(acc)                                               # a v1 snapshot at version 3: balance 12
    assert store.latest_snapshot("account-a1").schema_version == 1
    v2 = Repository(store, CentsAccountV2, snapshot_every=2)
    loaded = v2.load("a1")
    assert loaded.balance == 120 and v2.stale_snapshots == 1 and v2.events_replayed == 3
    loaded.deposit(1)
    v2.save(loaded)                                            # crosses version 4: a fresh v2 snapshot
    assert store.latest_snapshot("account-a1").schema_version == 2
    v2.events_replayed = 0
    assert v2.load("a1").balance == 130 and v2.events_replayed == 0 and v2.stale_snapshots == 1
    assert v1.load("a1").balance == 13 and v1.stale_snapshots == 1   # and the old code ignores the new one


def test_position_at_needs_a_number(store):
    with pytest.raises(TypeError, match="number of seconds"):
        store.position_at("noon")
