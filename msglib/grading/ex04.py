"""Checks for module 04 (replication): the ISR, leader election, the KRaft vote rule, truncation.

Each learner function replaces one of the cluster's policies (``msglib.cluster.policies``, or for the
vote rule the KRaft quorum's ``msglib.kraft.policies``) and the check runs the real simulated cluster
(and quorum) with it:

* ``04-vote``           -- ``grant_vote(*, epoch, voted_for, candidate, candidate_epoch,
  candidate_last_epoch, candidate_end_offset, last_epoch, end_offset) -> bool``, called by every
  KRaft controller on a Vote request (KIP-595); judged by ``msglib.check.kraft`` on seeded quorum runs
  and by ``msglib.check`` on a whole cluster with controller failovers;
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
shows the smallest sub-history, and gives the seed: ``check_vote(fn, seed=...)``
replays that run.

The hidden checks add edge cases of their own (boundaries of each comparison, inputs the
visible cases never show), a few hundred random inputs per seed judged against the rule for
the three decisions whose answer is exact (vote, ISR, election), and more seeded clusters.
"""
from __future__ import annotations

import json
import random
from typing import Any, Callable

from msglib.check.kraft import SAFETY_KINDS
from msglib.cluster import policies as ref
from msglib.cluster.policies import FollowerState, Policies
from msglib.cluster.scenario import ScenarioResult, double_failover, run_scenario
from msglib.grading.core import CheckFailed, call_learner, guarded, require_callable, seeds
from msglib.kraft import policies as kraft_policies
from msglib.kraft.policies import Policies as KRaftPolicies
from msglib.kraft.scenario import run_quorum
from msglib.sim.faults import Crash, Cut, FaultSchedule, Heal, Pause, Restart

EX_VOTE = "04-vote"
EX_ISR = "04-isr"
EX_ELECT = "04-elect_leader"
EX_TRUNC = "04-truncation"


# -- shared machinery ---------------------------------------------------------------------------
def _seeds(exercise: str, seed: int | None, visible: int, hidden: int, is_hidden: bool) -> list[int]:
    if seed is not None:
        return [seed]
    return seeds(exercise, hidden if is_hidden else visible, hidden=is_hidden)


def _call_text(name: str, args: tuple, kwargs: dict) -> str:
    """``name(arg, ..., key=value)``: how a failing call is shown to the learner."""
    return f"{name}(" + ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]) + ")"


def _guarded(fn: Callable, exercise: str, name: str) -> Callable:
    """The learner's function as the cluster calls it: quiet, exceptions turned into words.
    (The call is described only if it fails: the cluster calls it thousands of times.)"""
    return guarded(fn, exercise, case=lambda *args, **kwargs: _call_text(name, args, kwargs))


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


_REFERENCE_ACKED: dict[str, int] = {}


def _reference_acked(seed: int, scenario: dict) -> int:
    """How many writes the same run acknowledges with msglib's own policies (runs are deterministic,
    so each is computed once)."""
    key = json.dumps([seed, scenario], sort_keys=True)
    if key not in _REFERENCE_ACKED:
        _REFERENCE_ACKED[key] = run_scenario(seed, **scenario).acked
    return _REFERENCE_ACKED[key]


def _all_acknowledged(exercise: str, result: ScenarioResult, seed: int, setting: str, hint: str) -> None:
    """The learner's policy gets as many writes acknowledged as msglib's own in the same run (in these
    runs that is every write; comparing with the reference keeps the check fair for any seed)."""
    sent, acked = result.stats["sent"], result.acked
    scenario = {k: v for k, v in result.params.items() if k != "seed"}
    expected = _reference_acked(seed, scenario)
    if acked < expected:
        first = next(op for op in result.history if op.process == "p1" and op.type in ("fail", "info"))
        raise CheckFailed(f"{setting}: only {acked} of {sent} writes were acknowledged; with msglib's own "
                          f"policy {expected} are", case=first.describe(), seed=seed, exercise=exercise, hint=hint)


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


def _same(got: Any, want: Any) -> bool:
    return got == want


def _same_set(got: Any, want: set) -> bool:
    return isinstance(got, (set, frozenset, list, tuple)) and set(got) == want


def _same_pair(got: Any, want: tuple) -> bool:
    return isinstance(got, tuple) and tuple(got) == want


def _follower_falls_behind(exercise: str, seed: int, policies: Policies, fault: Any, duration_ms: float,
                           after_ms: float, setting: str, hint: str) -> None:
    """Follower 2 stops keeping up 40 ms in (``fault``): every write is still acknowledged (as many as
    with msglib's policy), writes flow again once the ISR has shrunk, nothing is lost, nothing diverges."""
    run = _run(exercise, seed, policies, faults=FaultSchedule([(40.0, fault)]).to_json(), duration_ms=duration_ms)
    _all_acknowledged(exercise, run, seed, setting, hint)
    _writes_keep_flowing(exercise, run, seed, setting, hint, after_ms=after_ms)
    _judge(exercise, run, seed, setting, hint)


def _random_faults(exercise: str, seed: int, policies: Policies, hidden: bool, hint: str) -> None:
    """RF=3, min.insync=2, acks=all under a random fault schedule: nothing acknowledged may be lost."""
    run = _run(exercise, seed, policies, duration_ms=600 if hidden else 400)
    _judge(exercise, run, seed, "RF=3, min.insync=2, acks=all, random faults", hint)


def _cases(exercise: str, fn: Callable, name: str, cases: list[tuple[tuple, dict, Any, str]],
           compare: Callable[[Any, Any], bool] = _same, seed: int | None = None) -> None:
    for args, kwargs, want, why in cases:
        shown = _call_text(name, args, kwargs)
        got = call_learner(fn, *args, exercise=exercise, what=shown, seed=seed, **kwargs)
        if not compare(got, want):
            raise CheckFailed(f"{name} returned {got!r}; expected {want!r}: {why}", case=shown, seed=seed,
                              exercise=exercise)


def _random_cases(exercise: str, fn: Callable, name: str, reference: Callable, draw: Callable, why: str,
                  seed_list: list[int], compare: Callable[[Any, Any], bool] = _same, per_seed: int = 120) -> None:
    """``per_seed`` random inputs per seed (``draw(rng) -> (size, args, kwargs)``), each judged against
    msglib's rule; the smallest input the learner's function gets wrong is reported, with its seed."""
    drawn = []
    for seed in seed_list:
        rng = random.Random(seed)
        drawn += [(size, seed, args, kwargs) for size, args, kwargs in (draw(rng) for _ in range(per_seed))]
    for _, seed, args, kwargs in sorted(drawn, key=lambda d: d[0]):
        want = reference(*args, **kwargs)
        _cases(exercise, fn, name, [(args, kwargs, set(want) if isinstance(want, (set, frozenset)) else want, why)],
               compare=compare, seed=seed)


# -- exercise 3: the KRaft vote rule (KIP-595) ---------------------------------------------------------
def _v(epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset, last_epoch,
       end_offset) -> dict:
    return dict(epoch=epoch, voted_for=voted_for, candidate=candidate, candidate_epoch=candidate_epoch,
                candidate_last_epoch=candidate_last_epoch, candidate_end_offset=candidate_end_offset,
                last_epoch=last_epoch, end_offset=end_offset)


VOTE_CASES = [
    ((), _v(3, None, "c1", 3, 2, 10, 2, 10), True, "same epoch, no vote yet, identical logs: grant"),
    ((), _v(3, None, "c1", 2, 2, 10, 2, 10), False, "the candidate's epoch 2 is older than the voter's 3"),
    ((), _v(3, "c2", "c1", 3, 2, 10, 2, 10), False, "the voter already voted for c2 in epoch 3: one vote per epoch"),
    ((), _v(3, "c1", "c1", 3, 2, 10, 2, 10), True,
     "the voter already voted for c1 in this epoch: c1 asking again (a retry) gets the same answer"),
    ((), _v(3, None, "c1", 3, 2, 9, 2, 10), False,
     "same last epoch, but the candidate's log ends at 9 and the voter's at 10: the voter's entry 9 may be committed"),
    ((), _v(3, None, "c1", 3, 2, 12, 2, 10), True, "same last epoch, the candidate's log is longer"),
    ((), _v(3, None, "c1", 3, 3, 5, 2, 10), True,
     "the candidate's last entry is from epoch 3, newer than the voter's 2: more up to date, although shorter"),
    ((), _v(3, None, "c1", 3, 1, 20, 2, 10), False,
     "the candidate's last entry is from epoch 1, older than the voter's 2: a long log of stale entries loses"),
]
VOTE_HIDDEN_CASES = [
    ((), _v(0, None, "c0", 1, 0, 0, 0, 0), True, "empty logs, first election (the candidate's epoch is newer)"),
    ((), _v(5, None, "c2", 5, 4, 7, 4, 7), True, "equal logs are up to date enough: >=, not >"),
    ((), _v(5, None, "c2", 4, 4, 9, 4, 7), False,
     "the candidate's log is better, but its epoch 4 is older than the voter's 5: a stale candidate"),
    ((), _v(5, "c0", "c2", 5, 5, 9, 4, 7), False, "a better log does not buy a second vote in epoch 5"),
    ((), _v(7, None, "c1", 7, 6, 0, 5, 30), True,
     "compare last epochs first: 6 beats 5 whatever the end offsets (6 starting at offset 0 is made up, but the rule holds)"),
    ((), _v(7, None, "c1", 7, 5, 29, 5, 30), False, "one entry short in the same last epoch"),
]


def _draw_vote(rng: random.Random) -> tuple[int, tuple, dict]:
    """A voter in some epoch, maybe having voted; a candidate of that epoch or an older one."""
    epoch = rng.randint(1, 6)
    voters = ["c0", "c1", "c2"]
    candidate = rng.choice(voters)
    voted_for = rng.choice([None, None, *voters])
    last_epoch = rng.randint(0, epoch - 1)
    end = rng.randint(0, 12)
    c_last = max(0, min(epoch, last_epoch + rng.randint(-2, 2)))
    c_end = max(0, end + rng.randint(-3, 3))
    kwargs = _v(epoch, voted_for, candidate, epoch - (rng.random() < 0.2), c_last, c_end, last_epoch, end)
    return abs(c_end - end) + abs(c_last - last_epoch), (), kwargs


def _quorum_story(run) -> tuple[str, str] | None:
    """The first problem of a quorum run, as (what, smallest history); None if there is none."""
    bad = [a for a in run.result.anomalies if a.kind in SAFETY_KINDS]
    if bad:
        a = bad[0]
        return f"{a.kind}: {a.message}", a.sub_history(run.history).format()
    if "no-leader-at-end" in run.result.counts:
        a = next(a for a in run.result.anomalies if a.kind == "no-leader-at-end")
        return ("no controller leads 1.5 s after every fault was healed: the voters never agree on a leader "
                f"({a.message})"), "\n".join(op.describe() for op in list(run.history)[-8:])
    return None


def _check_vote(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "grant_vote", exercise)
    if cases:
        _cases(exercise, fn, "grant_vote", VOTE_CASES + (VOTE_HIDDEN_CASES if hidden else []))
        if hidden:
            _random_cases(exercise, fn, "grant_vote", kraft_policies.grant_vote, _draw_vote,
                          "grant only a current candidate, once per epoch, whose log is at least as up to date "
                          "(last epoch first, then end offset)", seed_list)
    vote = _guarded(fn, exercise, "grant_vote")
    hint = ("refuse an older epoch; one vote per epoch (the same candidate may ask again); then compare "
            "(last epoch, end offset) as a pair, and grant when the candidate's is >= the voter's")
    quorum = dict(loss=0.05, mean_fault_interval_ms=120.0, failovers=3) if hidden else {}
    for seed in seed_list:
        try:
            run = run_quorum(seed, policies=KRaftPolicies(grant_vote=vote), **quorum)
        except CheckFailed as exc:
            raise CheckFailed(exc.what, case=exc.case, seed=seed, hint=exc.hint, exercise=exercise) from None
        story = _quorum_story(run)
        if story is not None:
            raise CheckFailed(f"3 controllers, random faults and 2 controller failovers: {story[0]}",
                              case="\n" + story[1], seed=seed, exercise=exercise, hint=hint)
    for seed in seed_list[:3 if hidden else 1]:
        run = _run(exercise, seed, Policies(), quorum_policies=KRaftPolicies(grant_vote=vote), **CLUSTER_RUN)
        _judge(exercise, run, seed, "a whole cluster (RF=3, min.insync=2, acks=all) with controller failovers", hint)


# The cluster run of the vote check: brokers and controllers under faults, 2 controller failovers.
CLUSTER_RUN = dict(duration_ms=400.0, send_interval_ms=8.0, fault_interval_ms=100.0, controller_failovers=2)


def check_vote(fn: Callable, seed: int | None = None) -> None:
    _check_vote(fn, _seeds(EX_VOTE, seed, 2, 8, False), EX_VOTE, hidden=False)


def hidden_vote(fn: Callable, seed: int | None = None) -> None:
    _check_vote(fn, _seeds(EX_VOTE, seed, 2, 8, True), EX_VOTE, hidden=True)


# -- exercise 1: the ISR ---------------------------------------------------------------------------
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
ISR_HIDDEN_CASES = [
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(42, 0, 700)}), _ISR_KW, {0, 1, 2},
     "follower 2 fetched exactly 300 ms ago: it still counts as fetching, and it rejoins"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(40, 0, 990)}), _ISR_KW, {0, 1, 2},
     "follower 2's LEO equals the HW (40): it holds every committed record, it rejoins"),
    (({0, 1}, 0, {1: _f(50, 990, 995), 2: _f(45, 0, 990)}), dict(_ISR_KW, leader_epoch_start_offset=45), {0, 1, 2},
     "follower 2's LEO equals the start of this leader's epoch (45): it rejoins"),
    (({0, 1, 2}, 0, {1: _f(-1, 900, -1e18), 2: _f(50, 990, 995)}), _ISR_KW, {0, 1, 2},
     "a new leader counts its ISR members as caught up when it took over (100 ms ago): follower 1 has not "
     "fetched yet, but it stays"),
    (({1, 2}, 1, {0: _f(50, 999, 999), 2: _f(30, 500, 999)}), dict(_ISR_KW, high_watermark=45), {0, 1},
     "broker 1 leads: follower 2 fell behind 500 ms ago and leaves, follower 0 reached the HW and joins"),
    (({0}, 0, {1: _f(30, 0, 999), 2: _f(39, 0, 999)}), _ISR_KW, {0},
     "neither follower has reached the HW (40) yet: the leader stays alone"),
]


def _draw_isr(rng: random.Random) -> tuple[int, tuple, dict]:
    """A leader's view of 1 to 4 followers, with times and offsets near each rule's boundary."""
    lag, now = 300.0, 1000.0
    replicas = list(range(rng.randint(2, 5)))
    leader = rng.choice(replicas)
    leo = rng.randint(5, 60)
    hw = rng.randint(0, leo)
    kw = dict(now_ms=now, leader_log_end_offset=leo, high_watermark=hw,
              leader_epoch_start_offset=rng.choice([0, hw, rng.randint(0, leo)]), replica_lag_time_max_ms=lag)

    def when() -> float:
        return now - lag + rng.choice([-1.0, 0.0, 1.0, -200.0, 150.0, lag])

    followers = {r: _f(rng.choice([-1, leo, hw, kw["leader_epoch_start_offset"], rng.randint(0, leo)]), when(), when())
                 for r in replicas if r != leader}
    isr = {leader} | {r for r in followers if rng.random() < 0.5}
    return len(followers), (isr, leader, followers), kw


def _check_isr(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "update_isr", exercise)
    hint = ("members stay while caught up within the lag; others join once fetching and past the HW and the "
            "epoch's start")
    if cases:
        _cases(exercise, fn, "update_isr", ISR_CASES + (ISR_HIDDEN_CASES if hidden else []), compare=_same_set)
        if hidden:
            _random_cases(exercise, fn, "update_isr", ref.update_isr, _draw_isr, hint, seed_list, compare=_same_set)
    policies = Policies(update_isr=_guarded(fn, exercise, "update_isr"))
    for seed in seed_list:
        # Follower 2 cannot reach the leader (but still reaches the controller, so only the leader can
        # drop it from the ISR); the cut heals at the end and it must rejoin.
        _follower_falls_behind(exercise, seed, policies, Cut("b0", "b2"), 800, 500,
                               "follower 2 cannot fetch from the leader (min.insync=2, acks=all): the ISR must "
                               "shrink, and grow again when the cut heals", hint)
        _random_faults(exercise, seed, policies, hidden, hint)


def check_isr(fn: Callable, seed: int | None = None) -> None:
    _check_isr(fn, _seeds(EX_ISR, seed, 1, 8, False), EX_ISR, hidden=False)


def hidden_isr(fn: Callable, seed: int | None = None) -> None:
    _check_isr(fn, _seeds(EX_ISR, seed, 1, 8, True), EX_ISR, hidden=True)


# -- exercise 2: electing a leader -------------------------------------------------------------------
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
    (((0, 1, 2), (1, 2), {0, 1, 2}, True), {}, 1,
     "unclean election only matters when no ISR member is alive: 0 is alive but out of the ISR, 1 leads"),
    (((0, 1, 2), (0, 1, 2), set(), True), {}, None, "nobody is alive"),
]
ELECT_HIDDEN_CASES = [
    (((3, 4, 5), (3,), {0, 4}, True), {}, 4,
     "alive lists every live broker of the cluster; only this partition's replicas (3, 4, 5) may lead"),
    (((3, 4, 5), (3,), {0, 1}, True), {}, None, "no replica of this partition is alive, even unclean"),
    (((2, 0, 1), (1, 0), {0, 1}, False), {}, 0,
     "the ISR's own order does not matter: assignment order (2, 0, 1) puts 0 before 1"),
    (((1,), (1,), {1}, False), {}, 1, "a single replica, alive and in the ISR"),
    (((0, 1, 2), (2,), {0, 1, 2}, False), {}, 2,
     "only 2 is in the ISR; 0 and 1 are alive but may lack committed records"),
    (((0, 1, 2), (2,), {0, 1, 2}, True), {}, 2, "an ISR member is alive: no unclean election, even when allowed"),
]


def _draw_elect(rng: random.Random) -> tuple[int, tuple, dict]:
    """Replicas in a random assignment order, an ISR among them, alive brokers (replicas or not)."""
    brokers = list(range(6))
    replicas = tuple(rng.sample(brokers, rng.randint(1, 4)))
    isr = tuple(r for r in rng.sample(replicas, rng.randint(1, len(replicas))))
    alive = {b for b in brokers if rng.random() < 0.5}
    return len(replicas), (replicas, isr, alive, rng.random() < 0.5), {}


def _check_elect(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "elect_leader", exercise)
    hint = "only an alive ISR member may lead, first in assignment order; any alive replica only if unclean"
    if cases:
        _cases(exercise, fn, "elect_leader", ELECT_CASES + (ELECT_HIDDEN_CASES if hidden else []))
        if hidden:
            _random_cases(exercise, fn, "elect_leader", ref.elect_leader, _draw_elect, hint, seed_list)
    policies = Policies(elect_leader=_guarded(fn, exercise, "elect_leader"))
    # Follower 1 falls out of the ISR (cut off from the leader), then the leader dies: only 2 may lead.
    lagging_then_crash = FaultSchedule([(20.0, Cut("b0", "b1")), (450.0, Crash("b0"))]).to_json()
    runs = [(0, dict(faults=lagging_then_crash, duration_ms=700), "follower 1 out of the ISR, then the leader crashes")]
    runs += [(seed, dict(fault_kinds=("crash", "pause", "partition"), fault_interval_ms=150,
                         duration_ms=600 if hidden else 400), "RF=3, min.insync=2, acks=all, crashes and pauses")
             for seed in seed_list]
    if hidden:  # unclean elections allowed: writes may be lost, but the cluster must keep going and agree
        runs += [(seed, dict(unclean=True, acks=1, min_insync_replicas=1, fault_kinds=("crash", "pause"),
                             fault_interval_ms=120, duration_ms=500),
                  "unclean election on, acks=1, min.insync=1, crashes and pauses") for seed in seed_list[:3]]
    for seed, scenario, setting in runs:
        # Without ELR (Kafka 3.x, 4.0's default) the ISR keeps its last member even when it is fenced:
        # the rule this exercise writes must check liveness itself.
        run = _run(exercise, seed, policies, keep_cluster=True, eligible_leader_replicas=False, **scenario)
        if scenario.get("unclean"):
            if run.divergences or not run.settled:
                _judge(exercise, run, seed, setting, hint)
            continue
        bad = [e for e in run.cluster.controller.elections if e["unclean"]]
        if bad:
            e = bad[0]
            raise CheckFailed(f"{setting}: broker {e['leader']} was made leader of {e['tp']} at t={e['time']:.1f} ms "
                              f"although it was not in the ISR, with unclean election off ({e['why']})", seed=seed,
                              exercise=exercise, hint=hint)
        _judge(exercise, run, seed, setting, hint)


def check_elect_leader(fn: Callable, seed: int | None = None) -> None:
    _check_elect(fn, _seeds(EX_ELECT, seed, 2, 8, False), EX_ELECT, hidden=False)


def hidden_elect_leader(fn: Callable, seed: int | None = None) -> None:
    _check_elect(fn, _seeds(EX_ELECT, seed, 2, 8, True), EX_ELECT, hidden=True)


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
TRUNC_HIDDEN_CASES = [
    (([(0, 0), (1, 4), (3, 9)], 12, 1, 7), {}, (7, True),
     "the follower has epoch 1 (ending at 9 on its own log); on the leader it ends at 7: cut at 7"),
    (([(0, 0), (1, 4), (3, 9)], 12, 2, 9), {}, (9, False),
     "the follower never had epoch 2: cut where its own epoch 1 ends (9) and ask again"),
    (([(0, 0), (1, 4)], 6, 0, 6), {}, (4, True),
     "epoch 0 ends at 6 on the leader but at 4 on the follower (its epoch 1 starts there): keep 4"),
    (([(5, 3)], 3, 5, 10), {}, (3, True), "the follower's epoch 5 holds no record yet: nothing to cut"),
    (([(2, 0)], 8, 2, 8), {}, (8, True), "both logs end at 8 in epoch 2: nothing to cut"),
    (([], 0, 3, 10), {}, (0, True),
     "an empty follower (nothing written, no epoch cached yet): nothing to cut, it is done"),
]


def _kip101_divergence(policies: Policies) -> ScenarioResult:
    """both replicas lose power; the one that lost a record leads, and writes another at its offset."""
    sched = FaultSchedule([(60.0, Crash("b0", power_loss=True)), (200.0, Crash("b1", power_loss=True)),
                           (350.0, Restart("b1")), (520.0, Restart("b0"))])
    return run_scenario(3, brokers=2, replication_factor=2, min_insync_replicas=1, faults=sched.to_json(),
                        duration_ms=650, send_interval_ms=15, policies=policies,
                        cluster_overrides=dict(os_writeback_interval_ms=100))


def _kip279_fast_failover(policies: Policies) -> ScenarioResult:
    """A keeps writing alone, B leads (unclean) and writes at the same offsets, A leads again
    before it truncated; B comes back and must cut back to where the logs agree."""
    return double_failover(policies)


def _check_trunc(fn: Callable, seed_list: list[int], exercise: str, hidden: bool, cases: bool = True) -> None:
    require_callable(fn, "truncation_offset", exercise)
    if cases:
        _cases(exercise, fn, "truncation_offset", TRUNC_CASES + (TRUNC_HIDDEN_CASES if hidden else []),
               compare=_same_pair)
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
    _check_trunc(fn, _seeds(EX_TRUNC, seed, 1, 8, False), EX_TRUNC, hidden=False)


def hidden_truncation(fn: Callable, seed: int | None = None) -> None:
    _check_trunc(fn, _seeds(EX_TRUNC, seed, 1, 8, True), EX_TRUNC, hidden=True)


# re-exported so the notebook can compare with msglib's own
REFERENCE = {EX_VOTE: kraft_policies.grant_vote, EX_ISR: ref.update_isr, EX_ELECT: ref.elect_leader,
             EX_TRUNC: ref.truncation_offset}
