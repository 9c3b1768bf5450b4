"""A checker for histories of a KRaft metadata quorum (``msglib.kraft.quorum``), in Jepsen's style.

The history's operations (all ``info``, one per event) are a voter's ``leader`` (with its epoch),
``commit`` (offset, epoch, record: the voter's high-water mark passed it), ``final`` (the voter's role,
epoch and log at the end), a broker's ``apply`` (it replayed that entry into its metadata image), and
the faults. The checker looks for:

=======================  ===========================================================================
``two-leaders``          election safety: two voters led the same epoch
``committed-changed``    one offset committed with two different entries (by two voters, or by one
                         voter before and after a truncation): a committed record changed
``committed-lost``       an entry committed during the run is missing from (or different in) the log
                         of the leader at the end
``log-mismatch``         log matching: two final logs hold an entry of the same epoch at the same
                         offset, but differ somewhere before it
``image-not-prefix``     a broker's metadata image is not a prefix of the committed log: it replayed
                         an entry nobody committed, a different entry, or skipped an offset
``partition-state``      a broker's final image holds a partition whose leader is outside its ISR, whose
                         ISR and ELR overlap, or whose ELR is not empty although the ISR has
                         ``min.insync.replicas`` members (KIP-966's invariants)
``no-leader-at-end``     liveness, not safety: no voter leads once the faults are healed (reported,
                         and allowed by default)
=======================  ===========================================================================

Each finding is an :class:`~msglib.check.kafka.Anomaly` naming the operations that prove it;
``Anomaly.sub_history`` cuts them and the faults between them out of the history: the smallest story
to print. ``CheckResult.report`` prints it with the seed (``history.meta["seed"]``).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from msglib.check.kafka import Anomaly, CheckResult
from msglib.cluster.kraft_controller import BrokerFencingRecord, PartitionChangeRecord, RegisterBrokerRecord
from msglib.sim.history import History, Op

SAFETY_KINDS = ("two-leaders", "committed-changed", "committed-lost", "log-mismatch", "image-not-prefix",
                "partition-state")
LIVENESS_KINDS = ("no-leader-at-end",)


def check(history: History, allowed: Iterable[str] = LIVENESS_KINDS) -> CheckResult:
    """Judge a quorum history. ``allowed``: kinds reported without making the result invalid."""
    anomalies: list[Anomaly] = []
    leaders: dict[int, Op] = {}
    committed: dict[int, Op] = {}  # offset -> first commit op
    applied: dict[tuple[str, int], int] = {}  # (broker, incarnation) -> next offset expected
    finals: list[Op] = []
    pending_apply: list[Op] = []
    seed = history.meta.get("seed")
    tag = f" (seed {seed})" if seed is not None else ""

    for op in history:
        v = op.value if isinstance(op.value, dict) else {}
        if op.f == "leader":
            first = leaders.get(v["epoch"])
            if first is None:
                leaders[v["epoch"]] = op
            elif first.process != op.process:
                anomalies.append(Anomaly("two-leaders", f"epoch {v['epoch']}",
                                         f"{first.process} and {op.process} both led epoch {v['epoch']}{tag}",
                                         [first.index, op.index]))
        elif op.f == "commit":
            first = committed.get(v["offset"])
            if first is None:
                committed[v["offset"]] = op
            elif (first.value["epoch"], first.value["record"]) != (v["epoch"], v["record"]):
                anomalies.append(Anomaly(
                    "committed-changed", f"offset {v['offset']}",
                    f"offset {v['offset']} was committed as {first.value['record']} (epoch "
                    f"{first.value['epoch']}) by {first.process}, then as {v['record']} (epoch {v['epoch']}) "
                    f"by {op.process}{tag}", [first.index, op.index], [v["offset"]]))
        elif op.f == "apply":
            pending_apply.append(op)
        elif op.f == "final":
            finals.append(op)
        elif op.f == "image":
            for name, p in v.get("partitions", {}).items():
                problem = partition_state_problem(p["leader"], p["isr"], p["elr"], v["min_insync_replicas"])
                if problem:
                    anomalies.append(Anomaly("partition-state", f"{op.process} {name}",
                                             f"{op.process}'s image: {name} {problem}{tag}", [op.index]))

    # Brokers: consecutive offsets from 0 per life, each equal to the committed entry.
    life: dict[str, int] = defaultdict(int)
    for op in pending_apply:
        v = op.value
        broker = op.process
        expected = applied.get((broker, life[broker]), 0)
        if v["offset"] == 0 and expected > 0:  # the broker restarted and replays from the start
            life[broker] += 1
            expected = 0
        c = committed.get(v["offset"])
        problem = None
        if v["offset"] != expected:
            problem = f"{broker} replayed offset {v['offset']} after {expected - 1}: it skipped entries"
        elif c is None:
            problem = f"{broker} replayed offset {v['offset']} ({v['record']}), which no voter ever committed"
        elif (c.value["epoch"], c.value["record"]) != (v["epoch"], v["record"]):
            problem = (f"{broker} replayed {v['record']} at offset {v['offset']}, but {c.value['record']} "
                       f"was committed there")
        if problem:
            ops = [op.index] + ([c.index] if c is not None else [])
            anomalies.append(Anomaly("image-not-prefix", broker, problem + tag, ops, [v["offset"]]))
        applied[(broker, life[broker])] = v["offset"] + 1

    # The end: the final leader holds every committed entry; final logs match where epochs match.
    final_leaders = [op for op in finals if op.value["role"] == "leader"]
    if finals and not final_leaders:
        anomalies.append(Anomaly("no-leader-at-end", "quorum", f"no controller leads at the end{tag}",
                                 [op.index for op in finals]))
    if final_leaders:
        top = max(final_leaders, key=lambda op: op.value["epoch"])
        log = top.value["log"]
        for offset, c in sorted(committed.items()):
            want = [c.value["epoch"], c.value["record"]]
            if offset >= len(log) or log[offset] != want:
                have = log[offset][1] if offset < len(log) else "nothing"
                anomalies.append(Anomaly(
                    "committed-lost", f"offset {offset}",
                    f"{c.value['record']} was committed at offset {offset} by {c.process}, but the final "
                    f"leader {top.process} (epoch {top.value['epoch']}) has {have} there{tag}",
                    [c.index, top.index], [offset]))
                break  # the first loss explains the rest
    for i, a in enumerate(finals):
        for b in finals[i + 1:]:
            la, lb = a.value["log"], b.value["log"]
            same = [o for o in range(min(len(la), len(lb))) if la[o][0] == lb[o][0]]
            if same and la[:same[-1] + 1] != lb[:same[-1] + 1]:
                o = same[-1]
                first_diff = next(k for k in range(o + 1) if la[k] != lb[k])
                anomalies.append(Anomaly(
                    "log-mismatch", f"{a.process}/{b.process}",
                    f"{a.process} and {b.process} both hold an epoch-{la[o][0]} entry at offset {o}, yet differ "
                    f"at offset {first_diff}: {la[first_diff][1]} vs {lb[first_diff][1]}{tag}",
                    [a.index, b.index], [first_diff]))
    return CheckResult(anomalies, history, frozenset(allowed))


def partition_state_problem(leader: int, isr, elr, min_insync_replicas: int) -> str | None:
    """What breaks KIP-966's invariants in one partition's state, or None."""
    if leader != -1 and leader not in isr:
        return f"has leader {leader} outside its ISR {list(isr)}"
    if set(isr) & set(elr):
        return f"has {sorted(set(isr) & set(elr))} in both ISR and ELR"
    if elr and len(isr) >= min_insync_replicas:
        return f"keeps ELR {list(elr)} although its ISR {list(isr)} has min.insync.replicas members"
    return None


# -- the partition leader election rule (KIP-966) ---------------------------------------------------------------
def election_problem(replicas, isr, elr, unfenced, last_known_leader, unclean_leader_election_enable,
                     leader, source) -> str | None:
    """What is wrong with electing ``leader`` (from ``source``) in this state, or None if nothing is.

    The rule: an unfenced ISR member if there is one; else an unfenced ELR member; else, when ISR and ELR
    are both empty, the last known leader if unfenced; else, only with unclean election enabled, any
    unfenced replica; else no leader."""
    want_isr = [r for r in replicas if r in isr and r in unfenced]
    want_elr = [r for r in replicas if r in elr and r in unfenced]
    last_ok = not isr and not elr and last_known_leader is not None and last_known_leader in unfenced
    anyone = [r for r in replicas if r in unfenced]
    if leader is not None and leader not in unfenced:
        return f"elected {leader}, which is fenced"
    if want_isr:
        return None if leader in want_isr else f"elected {leader} although ISR member(s) {want_isr} are unfenced"
    if want_elr:
        return None if leader in want_elr else f"elected {leader} although ELR member(s) {want_elr} are unfenced"
    if last_ok:
        return None if leader == last_known_leader else (
            f"elected {leader} although ISR and ELR are empty and the last known leader {last_known_leader} is "
            f"unfenced (it leads again, as the last ISR member did before Kafka 4.0)")
    if leader is None:
        return (f"left the partition leaderless although unclean election is enabled and {anyone} are unfenced"
                if unclean_leader_election_enable and anyone else None)
    if not unclean_leader_election_enable:
        return f"elected {leader}, outside ISR and ELR, without unclean election (committed records may be lost)"
    return None


def check_election_rule(elect, replicas=(0, 1, 2)) -> str | None:
    """Try ``elect`` on every state of one partition (every disjoint ISR/ELR pair, every fenced set, every
    last known leader, unclean on or off); the first counterexample, described, or None."""
    from itertools import product

    n = len(replicas)
    for roles in product(range(3), repeat=n):  # 0: neither, 1: ISR, 2: ELR
        isr = {r for r, k in zip(replicas, roles) if k == 1}
        elr = {r for r, k in zip(replicas, roles) if k == 2}
        for mask in range(2 ** n):
            unfenced = {r for i, r in enumerate(replicas) if mask >> i & 1}
            for last in (None, *replicas):
                for unclean in (False, True):
                    leader, source = elect(replicas, isr, elr, unfenced, last, unclean)
                    problem = election_problem(replicas, isr, elr, unfenced, last, unclean, leader, source)
                    if problem:
                        return (f"isr={sorted(isr)} elr={sorted(elr)} unfenced={sorted(unfenced)} "
                                f"last_known_leader={last} unclean={unclean}: {problem}")
    return None


# -- a whole cluster's committed metadata (msglib.cluster in KRaft mode) -------------------------------------------
def cluster_metadata_problems(entries, *, min_insync_replicas: int, eligible_leader_replicas: bool,
                              unclean_leader_election_enable: bool) -> list[str]:
    """Replay a cluster's committed metadata log (``ControllerQuorum.committed_log``) and name every record
    that breaks the partition rules: a leader outside its ISR, ISR and ELR overlapping, an ELR kept while
    the ISR has ``min.insync.replicas`` members (KIP-966), and a new leader that was fenced or came from
    outside the previous ISR, ELR and last known leader without unclean election."""
    fenced: dict[int, bool] = {}
    states: dict = {}
    last_leader: dict = {}
    out: list[str] = []
    for offset, entry in enumerate(entries):
        r = entry.record
        if isinstance(r, RegisterBrokerRecord):
            fenced[r.broker_id] = True
        elif isinstance(r, BrokerFencingRecord):
            fenced[r.broker_id] = r.fenced
        if not isinstance(r, PartitionChangeRecord):
            continue
        st, prev = r.state, states.get(r.state.tp)
        where = f"offset {offset} ({r.why or 'no reason given'}): {st.describe()}"
        min_isr = min(min_insync_replicas, len(st.replicas))
        problem = partition_state_problem(st.leader, st.isr, st.elr if eligible_leader_replicas else (), min_isr)
        if problem:
            out.append(f"{where} {problem}")
        elif not eligible_leader_replicas and st.elr:
            out.append(f"{where} has an ELR although eligible leader replicas are off")
        if prev is not None and st.leader != prev.leader and st.leader != -1:
            eligible = set(prev.isr) | (set(prev.elr) if eligible_leader_replicas else set())
            if eligible_leader_replicas and not prev.elr and last_leader.get(st.tp) is not None:
                eligible.add(last_leader[st.tp])
            if fenced.get(st.leader, True):
                out.append(f"{where} elects broker {st.leader}, which is fenced")
            elif st.leader not in eligible and not unclean_leader_election_enable:
                out.append(f"{where} elects broker {st.leader} from outside the ISR {list(prev.isr)}"
                           + (f" and the ELR {list(prev.elr)}" if eligible_leader_replicas else "")
                           + " without unclean election: it may lack committed records")
        states[st.tp] = st
        if st.leader != -1:
            last_leader[st.tp] = st.leader
    return out

