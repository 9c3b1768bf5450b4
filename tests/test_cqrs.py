"""CQRS: command handling with retry, projections == fold(events), kills, rebuild, lag, read-your-writes."""
import random
import sqlite3

import pytest
from hypothesis import given, settings, strategies as st

from msglib.cqrs import (AccountBalances, CancelOrder, CloseAccount, CommandHandler, CommandRejected, Deposit,
                         Killed, OpenAccount, OrderQueries, OrderSummaries, PayOrder, PlaceOrder,
                         ProjectionRunner, ReadYourWritesTimeout, ShipOrder, UserStats, Withdraw,
                         append_with_retry, save_checkpoint)
from msglib.cqrs.workload import random_order_commands, run_commands
from msglib.es import ConcurrencyError, EventStore, NewEvent

PEN = ({"sku": "pen", "qty": 2, "price": 150},)


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_command_handler_validates_loads_decides_appends():
    store = EventStore(":memory:")
    h = CommandHandler(store)
    opened = h.handle(OpenAccount("a1", "ada", command_id="cmd-1"))
    assert opened.last_position == 1
    (e,) = store.read_stream("account-a1")
    assert (e.correlation_id, e.causation_id) == ("cmd-1", "cmd-1")
    h.handle(Deposit("a1", 100))
    h.handle(Withdraw("a1", 100))
    h.handle(CloseAccount("a1"))
    with pytest.raises(CommandRejected, match=r"Deposit\(account_id='a1', amount=5\) refused: .*is closed"):
        h.handle(Deposit("a1", 5))
    with pytest.raises(CommandRejected, match="already exists"):
        h.handle(OpenAccount("a1", "bob"))
    with pytest.raises(CommandRejected, match="does not exist; create it first"):
        h.handle(Deposit("zz", 5))
    with pytest.raises(CommandRejected, match="amount must be a positive integer"):
        h.handle(Deposit("a1", -3))
    with pytest.raises(CommandRejected, match="account_id must be a non-empty string"):
        h.handle(Deposit("", 3))
    with pytest.raises(TypeError, match="no handler for command str"):
        h.handle("deposit 5")
    assert store.stream_version("account-a1") == 4


class RacingStore:
    """Lets another writer append to the stream right after each of the first ``races`` reads."""

    def __init__(self, store, races):
        self.store, self.races = store, races

    def read_stream(self, stream, **kw):
        events = self.store.read_stream(stream, **kw)
        if self.races:
            self.races -= 1
            self.store.append(stream, NewEvent("MoneyDeposited", {"amount": 1}))
        return events

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_append_with_retry_decides_again_on_fresh_state():
    store = EventStore(":memory:")
    CommandHandler(store).handle(OpenAccount("a1", "ada"))
    decisions = []

    def decide(history):
        balance = sum(e.data.get("amount", 0) for e in history)
        decisions.append(balance)
        return [NewEvent("MoneyDeposited", {"amount": 10})]

    result = append_with_retry(RacingStore(store, 2), "account-a1", decide, max_attempts=3)
    assert decisions == [0, 1, 2] and result.last_version == 4
    with pytest.raises(ConcurrencyError):
        append_with_retry(RacingStore(store, 5), "account-a1", decide, max_attempts=2)
    assert append_with_retry(store, "account-a1", lambda h: []) is None
    with pytest.raises(ValueError):
        append_with_retry(store, "x", decide, max_attempts=0)


def test_projections_equal_the_fold_and_queries_read_them():
    store = EventStore(":memory:")
    h = CommandHandler(store)
    h.handle(PlaceOrder("o1", "ada", PEN))
    h.handle(PayOrder("o1", 300))
    h.handle(PlaceOrder("o2", "ada", ({"sku": "ink", "qty": 1, "price": 50},)))
    h.handle(PayOrder("o2", 50))
    h.handle(CancelOrder("o2"))
    h.handle(PlaceOrder("o3", "bob", PEN))
    h.handle(ShipOrder("o1"))
    runners = [ProjectionRunner(store, p(), ":memory:", batch_size=3) for p in (OrderSummaries, UserStats)]
    for r in runners:
        r.catch_up()
        assert r.projection.read(r.conn) == r.projection.fold(store.read_all())
    summaries, stats = runners
    q = OrderQueries(summaries.conn)
    assert q.order("o1") == {"order_id": "o1", "user_id": "ada", "total": 300, "item_count": 2, "status": "shipped"}
    assert q.orders_of("ada") == ["o1", "o2"] and q.orders_of("ada", status="cancelled") == ["o2"]
    q2 = OrderQueries(stats.conn)
    assert q2.user_stats("ada") == {"orders_placed": 2, "orders_paid": 2, "orders_shipped": 1,
                                    "orders_cancelled": 1, "total_spent": 300}
    assert q2.top_spenders(2) == [("ada", 300), ("bob", 0)]
    assert q.order("nope") is None and q2.user_stats("nobody") is None


@settings(database=None, deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), batch=st.integers(1, 7))
def test_read_model_equals_fold_of_events_for_random_command_sequences(seed, n, batch):
    store = EventStore(":memory:")
    run_commands(store, random_order_commands(random.Random(seed), n))
    for projection in (OrderSummaries(), UserStats()):
        runner = ProjectionRunner(store, projection, batch_size=batch)
        runner.catch_up()
        assert projection.read(runner.conn) == projection.fold(store.read_all())
        assert runner.lag().events == 0


def run_with_kills(store, projection, path, kill_at, batch):
    """Run the projection to the end, killing it at the given call numbers; returns how many kills happened."""
    calls, kills = [0], [0]
    targets = sorted(kill_at)

    def fault(point):
        calls[0] += 1
        if targets and calls[0] == targets[0]:
            targets.pop(0)
            kills[0] += 1
            raise Killed(point)

    for _ in range(len(kill_at) + 1):
        runner = ProjectionRunner(store, projection, path, batch_size=batch, fault=fault, synchronous="OFF")
        try:
            runner.catch_up()
            runner.close()
            break
        except Killed:
            runner.kill()
    return kills[0]


@settings(database=None, deadline=None, max_examples=20)
@given(seed=st.integers(0, 10_000), kills=st.lists(st.integers(1, 150), max_size=5, unique=True),
       batch=st.integers(1, 5))
def test_projection_killed_anywhere_resumes_without_double_apply(tmp_path_factory, seed, kills, batch):
    store = EventStore(":memory:")
    run_commands(store, random_order_commands(random.Random(seed), 30))
    path = tmp_path_factory.mktemp("rm") / "read.db"
    projection = UserStats()
    run_with_kills(store, projection, path, kills, batch)
    check = ProjectionRunner(store, projection, path)
    assert check.checkpoint() == store.last_position()
    assert projection.read(check.conn) == projection.fold(store.read_all())


def separate_transactions(conn, projection, events):
    """A WRONG batch processor: read-model update and checkpoint in two transactions."""
    for event in events:
        conn.execute("BEGIN")
        projection.handle(conn, event)
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        save_checkpoint(conn, projection.name, event.position)
        conn.execute("COMMIT")


def test_the_kill_check_catches_a_checkpoint_in_a_separate_transaction(tmp_path):
    store = EventStore(":memory:")
    run_commands(store, random_order_commands(random.Random(3), 30))
    projection = UserStats()
    path = tmp_path / "read.db"
    commits = [0]

    def kill_before_the_checkpoint_commit(point):
        if point == "commit":
            commits[0] += 1
            if commits[0] == 2:   # event 1 is in the read model; its checkpoint is not yet committed
                raise Killed(point)

    replay_crashed = False
    for _ in range(2):
        runner = ProjectionRunner(store, projection, path, process_batch=separate_transactions,
                                  fault=kill_before_the_checkpoint_commit)
        try:
            runner.catch_up()
        except Killed:
            runner.kill()
        except sqlite3.IntegrityError:   # event 1 applied a second time hits a primary key
            replay_crashed = True
    check = ProjectionRunner(store, projection, path)
    assert replay_crashed or projection.read(check.conn) != projection.fold(store.read_all())


def test_rebuild_from_scratch_gives_the_same_read_model(tmp_path):
    store = EventStore(":memory:")
    run_commands(store, random_order_commands(random.Random(7), 40))
    runner = ProjectionRunner(store, OrderSummaries(), tmp_path / "r.db")
    runner.catch_up()
    before = OrderSummaries.read(runner.conn)
    runner.conn.execute("UPDATE order_summaries SET status = 'garbled'")   # a bug corrupted the read model
    assert runner.rebuild() == store.last_position()
    assert OrderSummaries.read(runner.conn) == before == OrderSummaries.fold(store.read_all())


def test_lag_in_events_and_seconds():
    t = FakeTime()
    store = EventStore(":memory:", clock=t)
    h = CommandHandler(store)
    runner = ProjectionRunner(store, AccountBalances(), clock=t)
    h.handle(OpenAccount("a1", "ada"))
    t.now += 2
    h.handle(Deposit("a1", 5))
    t.now += 3
    lag = runner.lag()
    assert (lag.events, lag.seconds, lag.checkpoint, lag.head) == (2, 5.0, 0, 2)
    runner.run_once(max_events=1)
    assert (runner.lag().events, runner.lag().seconds) == (1, 3.0)
    runner.catch_up()
    assert (runner.lag().events, runner.lag().seconds) == (0, 0.0)
    assert AccountBalances.read(runner.conn) == {"a1": ("ada", 5, "open")}


def test_read_your_writes_waits_for_the_projection_with_an_injected_clock():
    t = FakeTime()
    store = EventStore(":memory:")
    h = CommandHandler(store)
    runner = ProjectionRunner(store, OrderSummaries(), batch_size=1)
    for i in range(5):
        result = h.handle(PlaceOrder(f"o{i}", "ada", PEN))

    def sleep(dt):          # while the query waits, the projection makes progress
        t.now += dt
        runner.run_once()

    q = OrderQueries(runner.conn, timeout=1.0, clock=t, sleep=sleep)
    assert q.order("o4", min_position=result.last_position)["status"] == "placed"
    assert t.now == pytest.approx(1000.0 + 0.05)   # five polls of 10 ms: one event per poll
    later = h.handle(PayOrder("o4", 300))

    def idle(dt):           # the projection is stuck: the wait gives up at the timeout
        t.now += dt

    stuck = OrderQueries(runner.conn, timeout=0.5, clock=t, sleep=idle)
    with pytest.raises(ReadYourWritesTimeout, match=r"did not reach position 6 within 0.5 s \(it is at 5, 1 event behind\)"):
        stuck.order("o4", min_position=later.last_position)
    assert stuck.order("o4")["status"] == "placed"   # without min_position: the (stale) read model answers


def test_runner_rejects_bad_configuration():
    store = EventStore(":memory:")
    with pytest.raises(ValueError, match="batch_size"):
        ProjectionRunner(store, UserStats(), batch_size=0)
    with pytest.raises(ValueError, match="isolation_level=None"):
        ProjectionRunner(store, UserStats(), sqlite3.connect(":memory:"))


def test_runner_synchronous_setting_is_validated(tmp_path):
    with pytest.raises(ValueError, match="synchronous"):
        ProjectionRunner(EventStore(":memory:"), UserStats(), tmp_path / "r.db", synchronous="sometimes")


def test_read_your_writes_with_a_zero_timeout_looks_once_and_never_sleeps():
    store = EventStore(":memory:")
    result = CommandHandler(store).handle(PlaceOrder("o1", "ada", PEN))
    runner = ProjectionRunner(store, OrderSummaries(), batch_size=1)
    t, sleeps = FakeTime(), []

    def sleep(dt):
        sleeps.append(dt)
        t.now += dt

    q = OrderQueries(runner.conn, timeout=0.0, clock=t, sleep=sleep)
    with pytest.raises(ReadYourWritesTimeout):
        q.order("o1", min_position=result.last_position)
    assert sleeps == []
    runner.catch_up()
    assert q.order("o1", min_position=result.last_position)["status"] == "placed"
