"""Checks for module 04 (replication): the high-water mark, the ISR, leader election, truncation.

Each learner function replaces one of the cluster's policies (``msglib.cluster.policies``)
through ``Policies(...)``, and the check runs the real simulated cluster with it:

* ``04-high_watermark`` -- ``advance_high_watermark(high_watermark, isr_log_end_offsets,
  min_insync_replicas) -> int``, called by every leader after appends and follower fetches;
* ``04-isr``            -- ``update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset,
  high_watermark, leader_epoch_start_offset, replica_lag_time_max_ms) -> set``, called by
  every leader on follower fetches and on a timer;
* ``04-elect_leader``   -- ``elect_leader(replicas, isr, alive, unclean_leader_election_enable)``,
  called by the controller whenever a partition needs a leader;
* ``04-truncation``     -- ``truncation_offset(epochs, log_end_offset, leader_epoch,
  leader_end_offset) -> (offset, done)``, called by every follower after a leader change.

A check first compares the function with msglib's own on hand-made cases (the smallest
case where they differ is the report), then runs seeded clusters under faults and judges
the histories with ``msglib.check``: lost acknowledged writes, divergent replicas, writes
that never get acknowledged, a cluster that never recovers. A failure names the anomaly,
shows the smallest sub-history, and gives the seed: ``check_high_watermark(fn, seed=...)``
replays that run.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.cluster import policies as ref
from msglib.cluster.policies import FollowerState, Policies
from msglib.cluster.scenario import ScenarioResult, run_scenario
from msglib.grading.core import CheckFailed, call_learner, require_callable, seeds
from msglib.sim.faults import Crash, Cut, FaultSchedule, Heal, Pause, Restart

EX_HW = "04-high_watermark"
EX_ISR = "04-isr"
EX_ELECT = "04-elect_leader"
EX_TRUNC = "04-truncation"


# -- shared machinery ---------------------------------------------------------------------------
def _seeds(exercise: str, seed: int | None, visible: int, hidden: int, is_hidden: bool) -> list[int]:
    if seed is not None:
        return [seed]
    return seeds(exercise, hidden if is_hidden else visible, hidden=is_hidden)


def _guarded(fn: Callable, exercise: str, name: str) -> Callable:
    """The learner's function as the cluster calls it: quiet, exceptions turned into words."""
    def call(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        return call_learner(fn, *args, exercise=exercise, what=f"{name}({shown})", **kwargs)
    return call


def _run(exercise: str, seed: int, policies: Policies, **scenario: Any) -> ScenarioResult:
    try:
        return run_scenario(seed, policies=policies, **scenario)
    except CheckFailed as exc:
        raise CheckFailed(exc.what, case=exc.case, seed=seed, hint=exc.hint, exercise=exercise) from None
    except Exception as exc:  # the cluster refused a decision (e.g. a leader that is not an alive replica)
        raise CheckFailed(f"the cluster stopped: {exc}", seed=seed, exercise=exercise) from None


def _judge(exercise: str, result: ScenarioResult, seed: int, setting: str, hint: str | None = None) -> None:
    problem = result.first_problem()
    if problem is not None:
        what, story = problem
        raise CheckFailed(f"{setting}: {what}", case="\n" + story, seed=seed, exercise=exercise, hint=hint)


def _all_acknowledged(exercise: str, result: ScenarioResult, seed: int, setting: str, hint: str) -> None:
    sent, acked = result.stats["sent"], result.acked
    if acked < sent:
        first = next(op for op in result.history if op.process == "p1" and op.type in ("fail", "info"))
        raise CheckFailed(f"{setting}: only {acked} of {sent} writes were acknowledged; with msglib's own "
                          f"policy every one is", case=first.describe(), seed=seed, exercise=exercise, hint=hint)


def _writes_keep_flowing(exercise: str, result: ScenarioResult, seed: int, setting: str, hint: str,
                         after_ms: float, within_ms: float = 150.0) -> None:
    """Writes sent late in the run (``after_ms`` after the first send) must be acknowledged within
    ``within_ms``: the cluster has to adapt to the fault, not wait for it to heal."""
    pairs = [(inv, done) for inv, done in result.history.completions() if inv.f == "send"]
    if not pairs:
        return
    start = pairs[0][0].time
    late = [(inv, done) for inv, done in pairs if inv.time - start >= after_ms]
    slow = [(inv, done) for inv, done in late
            if done is None or done.type != "ok" or done.time - inv.time > within_ms]
    if late and len(slow) > len(late) // 2:
        inv, done = slow[0]
        story = inv.describe() + ("\n" + done.describe() if done is not None else "")
        raise CheckFailed(f"{setting}: {len(slow)} of the {len(late)} writes sent once the fault had lasted "
                          f"{after_ms:.0f} ms waited more than {within_ms:.0f} ms for their acknowledgement "
                          f"(they only got through once the fault was healed)", case="\n" + story, seed=seed,
                          exercise=exercise, hint=hint)


def _cases(exercise: str, fn: Callable, name: str, cases: list[tuple[tuple, dict, Any, str]],
           compare: Callable[[Any, Any], bool] = lambda got, want: got == want) -> None:
    for args, kwargs, want, why in cases:
        shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        got = call_learner(fn, *args, exercise=exercise, what=f"{name}({shown})", **kwargs)
        if not compare(got, want):
            raise CheckFailed(f"{name} returned {got!r}; expected {want!r}: {why}", case=f"{name}({shown})",
                              exercise=exercise)


# -- exercise 1: the high-water mark ----------------------------------------------------------------
HW_CASES = [
    ((0, {0: 10, 1: 8, 2: 6}, 1), {}, 6, "every ISR member has offsets below 6, not more"),
    ((7, {0: 10, 1: 8, 2: 6}, 1), {}, 7, "the high-water mark never goes down"),
    ((3, {0: 5, 1: 5}, 2), {}, 5, "both ISR members have everything below 5"),
    ((3, {0: 9}, 2), {}, 3, "with fewer ISR members than min.insync.replicas the HW does not move"),
    ((4, {0: 9, 1: -1}, 1), {}, 4, "a follower that has not fetched yet (-1) holds the HW back, it never lowers it"),
    ((0, {0: 3, 1: 3, 2: 3}, 3), {}, 3, "all caught up"),
    ((2, {1: 2, 0: 4}, 1), {}, 2, "the leader is just one of the members; order does not matter"),
]


def _check_hw(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "advance_high_watermark", exercise)
    if cases:
        _cases(exercise, fn, "advance_high_watermark", HW_CASES)
    policies = Policies(advance_high_watermark=_guarded(fn, exercise, "advance_high_watermark"))
    hint = "the HW is the smallest LEO in the ISR, never less than before, frozen under min.insync.replicas"
    for seed in seed_list:
        quiet_run = _run(exercise, seed, policies, faults=None, duration_ms=300)
        _all_acknowledged(exercise, quiet_run, seed, "a run without faults", hint)
        lagging = FaultSchedule([(40.0, Pause("b2"))]).to_json()  # a follower that stops: the ISR shrinks
        slow_run = _run(exercise, seed, policies, faults=lagging, duration_ms=700)
        setting = "a run where one follower stops fetching (the ISR shrinks to 2)"
        _all_acknowledged(exercise, slow_run, seed, setting, hint)
        _writes_keep_flowing(exercise, slow_run, seed, setting, hint, after_ms=450)
        _judge(exercise, slow_run, seed, "a run where one follower stops fetching", hint)
        faulty = _run(exercise, seed, policies, duration_ms=600 if hidden else 400)
        _judge(exercise, faulty, seed, "RF=3, min.insync=2, acks=all, random faults", hint)


def check_high_watermark(fn: Callable, seed: int | None = None) -> None:
    _check_hw(fn, _seeds(EX_HW, seed, 1, 4, False), EX_HW, hidden=False)


def hidden_high_watermark(fn: Callable, seed: int | None = None) -> None:
    _check_hw(fn, _seeds(EX_HW, seed, 1, 4, True), EX_HW, hidden=True)


# -- exercise 2: the ISR ------------------------------------------------------------------------------
def _f(leo: int, caught_up: float, fetched: float) -> FollowerState:
    return FollowerState(leo, caught_up, fetched)


_ISR_KW = dict(now_ms=1000.0, leader_log_end_offset=50, high_watermark=40, leader_epoch_start_offset=30,
               replica_lag_time_max_ms=300.0)
ISR_CASES = [
    (({0, 1, 2}, 0, {1: _f(50, 990, 995), 2: _f(45, 900, 998)}), _ISR_KW, {0, 1, 2},
     "both followers were caught up within the last 300 ms"),
    (({0, 1, 2}, 0, {1: _f(50, 990, 995), 2: _f(45, 600, 998)}), _ISR_KW, {0, 1},
     "follower 2 fetches, but has not been caught up for 400 ms > replica.lag.time.max.ms: out"),
    (({0, 1, 2}, 0, {1: _f(50, 100, 100), 2: _f(45, 800, 998)}), _ISR_KW, {0, 1, 2},
     "follower 1 has everything the leader has (LEO 50 = leader's LEO): it is in sync, however long ago it fetched"),
    (({0, 1, 2}, 0, {1: _f(50, 990, 995), 2: _f(45, 700, 998)}), _ISR_KW, {0, 1, 2},
     "exactly 300 ms since follower 2 was caught up: still in (out only when longer than the lag)"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(42, 0, 990)}), _ISR_KW, {0, 1, 2},
     "follower 2 is fetching and its LEO reached both the HW (40) and the epoch's start (30): it rejoins"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(39, 0, 990)}), _ISR_KW, {0, 1},
     "follower 2 has not reached the high-water mark yet (39 < 40)"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(42, 0, 990)}), dict(_ISR_KW, leader_epoch_start_offset=45), {0, 1},
     "follower 2 is past the HW but not past the start of this leader's epoch (42 < 45)"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(42, 0, 500)}), _ISR_KW, {0, 1},
     "follower 2 has not fetched for 500 ms: it is not fetching, it cannot rejoin"),
    (({2, 0}, 2, {0: _f(10, 100, 100), 1: _f(50, 999, 999)}), dict(_ISR_KW, high_watermark=50), {2, 1},
     "broker 2 leads here; follower 0 lags, follower 1 caught up to the HW and rejoins"),
]


def _check_isr(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "update_isr", exercise)
    if cases:
        _cases(exercise, fn, "update_isr", ISR_CASES, compare=lambda got, want: set(got or ()) == want)
    policies = Policies(update_isr=_guarded(fn, exercise, "update_isr"))
    hint = ("members stay while caught up within the lag; others join once fetching and past the HW and the "
            "epoch's start")
    for seed in seed_list:
        # Follower 2 cannot reach the leader (but still reaches the controller, so only the leader can
        # drop it from the ISR); the cut heals at the end and it must rejoin.
        cut = FaultSchedule([(40.0, Cut("b0", "b2"))]).to_json()
        run = _run(exercise, seed, policies, faults=cut, duration_ms=800)
        setting = "follower 2 cannot fetch from the leader (min.insync=2, acks=all): the ISR must shrink"
        _all_acknowledged(exercise, run, seed, setting, hint)
        _writes_keep_flowing(exercise, run, seed, setting, hint, after_ms=500)
        _judge(exercise, run, seed, "follower 2 cannot fetch, then it can again (it must rejoin the ISR)", hint)
        faulty = _run(exercise, seed, policies, duration_ms=600 if hidden else 400)
        _judge(exercise, faulty, seed, "RF=3, min.insync=2, acks=all, random faults", hint)


def check_isr(fn: Callable, seed: int | None = None) -> None:
    _check_isr(fn, _seeds(EX_ISR, seed, 1, 4, False), EX_ISR, hidden=False)


def hidden_isr(fn: Callable, seed: int | None = None) -> None:
    _check_isr(fn, _seeds(EX_ISR, seed, 1, 4, True), EX_ISR, hidden=True)


# -- exercise 3: electing a leader -------------------------------------------------------------------
ELECT_CASES = [
    (((0, 1, 2), (0, 1, 2), {0, 1, 2}, False), {}, 0, "the first replica in assignment order that is in the ISR and alive"),
    (((2, 0, 1), (0, 1, 2), {0, 1, 2}, False), {}, 2, "assignment order is (2, 0, 1): broker 2 comes first"),
    (((0, 1, 2), (1, 2), {1, 2}, False), {}, 1, "broker 0 is dead and out of the ISR"),
    (((2, 0, 1), (0, 1), {0, 1, 2}, False), {}, 0,
     "assignment order is (2, 0, 1): broker 2 is alive but not in the ISR, so 0 is the first valid one"),
    (((0, 1, 2), (0, 2), {1, 2}, False), {}, 2, "broker 0 is in the ISR but dead"),
    (((0, 1, 2), (0,), {1, 2}, False), {}, None,
     "no ISR member is alive and unclean election is off: no leader (the partition waits)"),
    (((0, 1, 2), (0,), {1, 2}, True), {}, 1,
     "no ISR member is alive but unclean election is on: the first alive replica leads"),
    (((0, 1, 2), (0, 1), {0, 1, 2}, True), {}, 0, "unclean election only matters when no ISR member is alive"),
    (((0, 1, 2), (0, 1, 2), set(), True), {}, None, "nobody is alive"),
]


def _check_elect(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "elect_leader", exercise)
    if cases:
        _cases(exercise, fn, "elect_leader", ELECT_CASES)
    policies = Policies(elect_leader=_guarded(fn, exercise, "elect_leader"))
    hint = "only an alive ISR member may lead, first in assignment order; any alive replica only if unclean"
    # Follower 1 falls out of the ISR (cut off from the leader), then the leader dies: only 2 may lead.
    lagging_then_crash = FaultSchedule([(20.0, Cut("b0", "b1")), (450.0, Crash("b0"))]).to_json()
    runs = [(0, dict(faults=lagging_then_crash, duration_ms=700), "follower 1 out of the ISR, then the leader crashes")]
    runs += [(seed, dict(fault_kinds=("crash", "pause", "partition"), fault_interval_ms=150,
                         duration_ms=600 if hidden else 400), "RF=3, min.insync=2, acks=all, crashes and pauses")
             for seed in seed_list]
    for seed, scenario, setting in runs:
        run = _run(exercise, seed, policies, keep_cluster=True, **scenario)
        bad = [e for e in run.cluster.controller.elections if e["unclean"]]
        if bad:
            e = bad[0]
            raise CheckFailed(f"{setting}: broker {e['leader']} was made leader of {e['tp']} at t={e['time']:.1f} ms "
                              f"although it was not in the ISR, with unclean election off ({e['why']})", seed=seed,
                              exercise=exercise, hint=hint)
        _judge(exercise, run, seed, setting, hint)


def check_elect_leader(fn: Callable, seed: int | None = None) -> None:
    _check_elect(fn, _seeds(EX_ELECT, seed, 2, 5, False), EX_ELECT, hidden=False)


def hidden_elect_leader(fn: Callable, seed: int | None = None) -> None:
    _check_elect(fn, _seeds(EX_ELECT, seed, 2, 5, True), EX_ELECT, hidden=True)


# -- exercise 4: truncation after a leader change ----------------------------------------------------
TRUNC_CASES = [
    (([(1, 0), (2, 10)], 15, 1, 20), {}, (10, True),
     "KIP-279: the follower has epoch 1 too, where it ends at 10 on its own log: keep the smaller end"),
    (([(0, 0)], 2, 0, 1), {}, (1, True), "KIP-101 case 2: the leader's epoch 0 ends at 1"),
    (([(0, 0), (2, 5)], 9, 2, 12), {}, (9, True), "same epoch, the leader has more: nothing to cut"),
    (([(1, 0), (3, 5)], 10, 2, 12), {}, (5, False),
     "the follower never saw epoch 2: cut after its own epoch 1 (at 5) and ask again"),
    (([(1, 0)], 5, 1, 5), {}, (5, True), "the logs agree up to the follower's end"),
    (([(4, 0)], 6, 2, 3), {}, (0, True),
     "everything the follower has is from epoch 4, newer than the leader's answer (epoch 2): keep nothing"),
]


def _kip101_divergence(policies: Policies) -> ScenarioResult:
    """Item 67: both replicas lose power; the one that lost a record leads, and writes another at its offset."""
    sched = FaultSchedule([(60.0, Crash("b0", power_loss=True)), (200.0, Crash("b1", power_loss=True)),
                           (350.0, Restart("b1")), (520.0, Restart("b0"))])
    return run_scenario(3, brokers=2, replication_factor=2, min_insync_replicas=1, faults=sched.to_json(),
                        duration_ms=650, send_interval_ms=15, policies=policies,
                        cluster_overrides=dict(os_writeback_interval_ms=100))


def _kip279_fast_failover(policies: Policies) -> ScenarioResult:
    """Item 68: A keeps writing alone, B leads (unclean) and writes at the same offsets, A leads again
    before it truncated; B comes back and must cut back to where the logs agree."""
    sched = FaultSchedule([(20.0, Cut("b0", "b1")), (150.0, Crash("b0")), (700.0, Crash("b1")),
                           (740.0, Heal("b0", "b1")), (740.0, Restart("b0")), (950.0, Restart("b1"))])
    return run_scenario(5, brokers=2, replication_factor=2, acks=1, min_insync_replicas=1, unclean=True,
                        faults=sched.to_json(), duration_ms=1050, send_interval_ms=10, policies=policies)


def _check_trunc(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "truncation_offset", exercise)
    if cases:
        _cases(exercise, fn, "truncation_offset", TRUNC_CASES,
               compare=lambda got, want: isinstance(got, tuple) and tuple(got) == want)
    policies = Policies(truncation_offset=_guarded(fn, exercise, "truncation_offset"))
    hint = ("find the leader's epoch in your own cache: both logs agree up to the smaller end; if you never had "
            "that epoch, cut after your own last epoch below it and ask again")
    for script, setting in ((_kip101_divergence, "two replicas lose power one after the other (KIP-101's case 2)"),
                            (_kip279_fast_failover, "two fast leader changes with unclean election (KIP-279)")):
        try:
            scripted = script(policies)
        except CheckFailed:
            raise
        except Exception as exc:
            raise CheckFailed(f"the cluster stopped: {exc}", exercise=exercise) from None
        if scripted.divergences or not scripted.settled:  # losing writes is allowed here; diverging is not
            _judge(exercise, scripted, scripted.params["seed"], setting, hint)
    for seed in seed_list:
        run = _run(exercise, seed, policies, power_loss=True, min_insync_replicas=1, fault_kinds=("crash",),
                   fault_interval_ms=120, duration_ms=600 if hidden else 400,
                   cluster_overrides=dict(os_writeback_interval_ms=100))
        # Losing writes is allowed here (several replicas lose power at once); diverging or never
        # recovering is not.
        if run.divergences or not run.settled:
            _judge(exercise, run, seed, "power losses (min.insync=1)", hint)


def check_truncation(fn: Callable, seed: int | None = None) -> None:
    _check_trunc(fn, _seeds(EX_TRUNC, seed, 1, 4, False), EX_TRUNC, hidden=False)


def hidden_truncation(fn: Callable, seed: int | None = None) -> None:
    _check_trunc(fn, _seeds(EX_TRUNC, seed, 1, 4, True), EX_TRUNC, hidden=True)


# re-exported so the notebook can compare with msglib's own
REFERENCE = {EX_HW: ref.advance_high_watermark, EX_ISR: ref.update_isr, EX_ELECT: ref.elect_leader,
             EX_TRUNC: ref.truncation_offset}
