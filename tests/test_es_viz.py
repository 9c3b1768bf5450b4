"""The module 07/08 pictures' data: deterministic, and saying what the plots claim."""
import matplotlib

matplotlib.use("Agg")

from msglib.es import BankAccount, Repository  # noqa: E402
from msglib.viz import es as viz  # noqa: E402


def test_balance_history_matches_temporal_loads():
    store = viz.seeded_bank(seed=1, operations=25)
    repo = Repository(store, BankAccount)
    for t, version, balance, _ in viz.balance_history(store, "acc1"):
        assert repo.load("acc1", as_of_time=t).balance == balance
        assert repo.load("acc1", as_of_version=version).balance == balance
    viz.plot_balance_over_time(store, "acc1", as_of=[1000.0])


def test_snapshots_bound_the_events_replayed():
    rows = viz.replay_cost(lengths=(10, 250, 1000), snapshot_every=100, repeats=1)
    assert [r["full_replayed"] for r in rows] == [10, 250, 1000]
    assert all(r["snapshot_replayed"] < 100 for r in rows)
    viz.plot_replay_cost(rows)


def test_lag_simulation_is_seeded_grows_in_the_outage_and_recovers():
    a = viz.simulate_lag(duration_s=20, outage=(5, 9), seed=3)
    b = viz.simulate_lag(duration_s=20, outage=(5, 9), seed=3)
    assert a.head == b.head and a.checkpoint == b.checkpoint
    lag = [h - c for h, c in zip(a.head, a.checkpoint)]
    during = max(x for t, x in zip(a.times, lag) if 5 <= t < 9)
    before = max(x for t, x in zip(a.times, lag) if t < 5)
    assert during > 3 * max(before, 1)
    assert lag[-1] <= 2 and a.checkpoint[-1] <= a.head[-1]
    slow = viz.simulate_lag(duration_s=10, commands_per_s=30, projection_events_per_s=5, outage=None, seed=3)
    assert slow.head[-1] - slow.checkpoint[-1] > 50   # a projection slower than the writes never catches up


def test_saga_story_lists_the_saga_and_its_account_events():
    from msglib.patterns.saga import TransferSagas
    store = viz.seeded_bank(seed=2, operations=10)
    repo = Repository(store, BankAccount)
    acc = repo.load("acc0")
    acc.deposit(1000)
    repo.save(acc)
    TransferSagas(store).transfer("t9", "acc0", "acc1", 500)
    story = viz.saga_story(store, "t9")
    assert "TransferCompleted" in story and "MoneyWithdrawn" in story and "MoneyDeposited" in story
