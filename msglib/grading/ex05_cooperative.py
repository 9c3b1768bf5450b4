"""Checks for module 05's cooperative-sticky exercise (``05-cooperative_sticky``).

``cooperative_sticky(partitions, owned) -> {member_id: [TopicPartition, ...]}`` is the rule the group
leader's cooperative-sticky assignor runs at every rebalance of the classic protocol
(``CooperativeStickyAssignor(assign=fn)``, KIP-429). It is judged on four properties, on hand-made
rebalances, on seeded random ones (smallest first, so the first failure is the smallest), and inside
live groups (``msglib.groups.workload.run_group``) whose members join, leave cleanly and crash:

* **never two owners** -- a partition a member owns is never given to another member in the same
  rebalance (it is revoked first, and handed on by the rebalance that follows); in a live group no
  two consumers ever hold one partition at the same time;
* **balance** -- once what was revoked has been handed on, member counts differ by at most one;
* **stickiness** -- no more partitions leave their owner than balance requires (the minimum is
  computed here independently of msglib's assignor);
* **nothing left behind** -- a partition nobody owns is given at once (no member revokes it, so no
  follow-up rebalance would come for it), and a settled group owns every partition.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Mapping

from msglib.grading.core import CheckFailed, call_learner, learner_error, quiet, require_callable, seeds
from msglib.groups.assignors import CooperativeStickyAssignor
from msglib.groups.errors import CommitFailedError
from msglib.groups.workload import GroupEvent, GroupRun, GroupRunResult, ownership_intervals
from msglib.sim.history import History
from msglib.protocol import TopicPartition

EX_COOP = "05-cooperative_sticky"

Owned = dict[str, list[TopicPartition]]

HINT_TWO_PHASE = ("a partition that changes owner must be left out of this rebalance's assignment: its owner "
                  "sees it missing, revokes it and rejoins, and the next rebalance gives it to the new owner")
HINT_BALANCE = ("with n partitions and m members every member ends with n // m or n // m + 1 partitions, and "
                "exactly n % m members have the larger count")
HINT_STICKY = ("keep each member's partitions up to its share; the n % m places for one more partition go to "
               "the members that own the most now, so they give up fewer")
HINT_FREE = "a partition that nobody owns needs no revocation: give it to a member below its share right away"


# ------------------------------------------------------------------ showing cases
def _tp(tp: TopicPartition) -> str:
    return f"{tp.topic}-{tp.partition}"


def _show(assignment: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{m!r}: [{', '.join(_tp(tp) for tp in sorted(tps))}]"
                           for m, tps in assignment.items()) + "}"


def _case(partitions: list[TopicPartition], owned: Owned) -> str:
    topics: dict[str, int] = {}
    for tp in partitions:
        topics[tp.topic] = topics.get(tp.topic, 0) + 1
    parts = ", ".join(f"{t} (partitions 0..{n - 1})" for t, n in topics.items()) or "no partitions"
    return f"cooperative_sticky(partitions = {parts}, owned = {_show(owned)})"


# ------------------------------------------------------------------ the properties
def minimum_revocations(n_partitions: int, owned: Mapping[str, list]) -> int:
    """The fewest partitions that must leave their owner for the group to end balanced.

    Every member ends with ``base`` or ``base + 1`` partitions (``base, extra = divmod(n, m)``); a
    member keeps at most its final count of what it owns, and the ``extra`` larger shares are best
    spent on the members that own the most.
    """
    counts = sorted((len(tps) for tps in owned.values()), reverse=True)
    if not counts:
        return 0
    base, extra = divmod(n_partitions, len(counts))
    kept = sum(min(c, base + (1 if i < extra else 0)) for i, c in enumerate(counts))
    return sum(counts) - kept


def _normalize(result: Any, partitions: list[TopicPartition], owned: Owned, case: str, seed: int | None,
               story: str) -> Owned:
    if not isinstance(result, Mapping):
        raise CheckFailed(f"cooperative_sticky returned {type(result).__name__}; it must return a dict "
                          "{member_id: [TopicPartition, ...]}", case=case + story, seed=seed, exercise=EX_COOP)
    known = set(partitions)
    out: Owned = {}
    seen: dict[TopicPartition, str] = {}
    for m, tps in result.items():
        if m not in owned:
            raise CheckFailed(f"{m!r} is not a member of the group (the members are the keys of owned)",
                              case=case + story, seed=seed, exercise=EX_COOP)
        try:
            got = [TopicPartition(*tp) for tp in tps]
        except TypeError:
            raise CheckFailed(f"the value for member {m!r} is {tps!r}; it must be a list of "
                              "TopicPartition(topic, partition)", case=case + story, seed=seed,
                              exercise=EX_COOP) from None
        for tp in got:
            if tp not in known:
                raise CheckFailed(f"{m!r} got {_tp(tp)}, which is not one of the partitions to assign",
                                  case=case + story, seed=seed, exercise=EX_COOP)
            if tp in seen:
                raise CheckFailed(f"{_tp(tp)} is given twice: to {seen[tp]!r} and to {m!r}", case=case + story,
                                  seed=seed, exercise=EX_COOP)
            seen[tp] = m
        out[m] = sorted(got)
    missing = [m for m in owned if m not in out]
    if missing:
        raise CheckFailed(f"member {missing[0]!r} is missing from your assignment (give it an empty list if it "
                          "gets nothing)", case=case + story, seed=seed, exercise=EX_COOP)
    return {m: out[m] for m in owned}


def judge_rebalance(partitions: list[TopicPartition], owned: Owned, result: Any, *, seed: int | None = None,
                    story: str = "") -> Owned:
    """Raise CheckFailed if one rebalance's answer breaks a rule; return it normalised."""
    case = _case(partitions, owned)
    out = _normalize(result, partitions, owned, case, seed, story)
    shown = case + f" returned {_show(out)}" + story
    owner = {tp: m for m, tps in owned.items() for tp in tps}
    for m, tps in out.items():
        for tp in tps:
            if owner.get(tp, m) != m:
                raise CheckFailed(f"{_tp(tp)} is given to {m!r} while {owner[tp]!r} still owns it: for a moment "
                                  "two members would consume it", case=shown, seed=seed, exercise=EX_COOP,
                                  hint=HINT_TWO_PHASE)
    given = {tp for tps in out.values() for tp in tps}
    for tp in partitions:
        if tp not in owner and tp not in given:
            raise CheckFailed(f"{_tp(tp)} is owned by nobody, and you leave it unassigned: no member revokes "
                              "anything for it, so no rebalance follows and it stays without a consumer",
                              case=shown, seed=seed, exercise=EX_COOP, hint=HINT_FREE)
    m, n = len(owned), len(partitions)
    if m:
        base, extra = divmod(n, m)
        over = [x for x in out if len(out[x]) > base + (1 if extra else 0)]
        full = [x for x in out if extra and len(out[x]) == base + 1]
        if over or len(full) > extra:
            who = over[0] if over else full[extra]
            raise CheckFailed(f"{who!r} ends with {len(out[who])} partitions, and handing on the partitions "
                              f"revoked now cannot fix that: {n} partitions over {m} members means {base} each"
                              + (f", {base + 1} for {extra} of them" if extra else ""), case=shown, seed=seed,
                              exercise=EX_COOP, hint=HINT_BALANCE)
    revoked = sum(len(set(owned[x]) - set(out[x])) for x in owned)
    least = minimum_revocations(n, owned)
    if revoked > least:
        raise CheckFailed(f"{revoked} partition{'s' if revoked != 1 else ''} leave their owner; a balanced "
                          f"assignment needs {'only ' + str(least) if least else 'none'} to move", case=shown, seed=seed, exercise=EX_COOP, hint=HINT_STICKY)
    return out


def judge_until_settled(fn: Callable, partitions: list[TopicPartition], owned: Owned, *,
                        seed: int | None = None) -> None:
    """The rebalance, then the follow-up rebalances its revocations trigger, until nothing is revoked:
    the settled assignment must own every partition, balanced."""
    current = {m: sorted(tps) for m, tps in owned.items()}
    for round_ in range(1, 4):
        story = "" if round_ == 1 else f"  (follow-up rebalance {round_ - 1}, after the owners revoked)"
        result = call_learner(fn, list(partitions), {m: list(tps) for m, tps in current.items()},
                              exercise=EX_COOP, what=_case(partitions, current) + story, seed=seed)
        out = judge_rebalance(partitions, current, result, seed=seed, story=story)
        if all(set(current[m]) <= set(out[m]) for m in current):      # nothing revoked: settled
            return
        current = out
    raise CheckFailed("the group never settles: every rebalance revokes partitions again", seed=seed,
                      case=_case(partitions, owned), exercise=EX_COOP, hint=HINT_STICKY)


# ------------------------------------------------------------------ cases
def _parts(*counts: int) -> list[TopicPartition]:
    topics = ["orders", "payments"]
    return [TopicPartition(topics[i], p) for i, n in enumerate(counts) for p in range(n)]


def _o(**members: list[int]) -> Owned:
    return {m: [TopicPartition("orders", p) for p in ps] for m, ps in members.items()}


VISIBLE = [
    ("the first rebalance: nobody owns anything", _parts(6), _o(a=[], b=[])),
    ("a third member joins", _parts(6), _o(a=[0, 1, 2], b=[3, 4, 5], c=[])),
    ("a member left: its partitions 4 and 5 are owned by nobody", _parts(6), _o(a=[0, 1], b=[2, 3])),
    ("7 partitions, a newcomer", _parts(7), _o(a=[0, 1, 2, 3], b=[4, 5, 6], c=[])),
    ("the extra partition stays where it is", _parts(5), _o(a=[0, 1], b=[2, 3, 4])),
    ("more members than partitions", _parts(2), _o(a=[0, 1], b=[], c=[])),
]
HIDDEN = [
    ("two topics, one member takes everything", _parts(3, 2), {"a": _parts(3, 2), "b": []}),
    ("two newcomers", _parts(8), _o(a=[0, 1, 2, 3, 4, 5, 6, 7], b=[], c=[])),
    ("unbalanced owners and orphans", _parts(9), _o(a=[0, 1, 2, 3, 4], b=[5], c=[], d=[])),
    ("one member", _parts(4), _o(solo=[1, 3])),
    ("members sorted by id as strings", _parts(5), _o(C10=[0, 1, 2], C2=[3], C3=[])),
]


def random_case(rng: random.Random) -> tuple[list[TopicPartition], Owned]:
    """A rebalance: some members own partitions (any spread, even unbalanced), some are new, and
    members that left behind their partitions are gone (those partitions are owned by nobody)."""
    counts = [rng.randint(1, 9)] + ([rng.randint(1, 5)] if rng.random() < 0.3 else [])
    partitions = _parts(*counts)
    members = [f"c{i}" for i in sorted(rng.sample(range(1, 20), rng.randint(1, 6)))]
    owners = members + [f"gone{i}" for i in range(rng.randint(0, 2))]
    owned: Owned = {m: [] for m in members}
    skew = [rng.random() ** 2 for _ in owners]
    for tp in partitions:
        if rng.random() < 0.15:
            continue                                        # never assigned (a new topic, say)
        who = rng.choices(owners, weights=skew)[0]
        if who in owned:
            owned[who].append(tp)
    return partitions, owned


def _size(case: tuple[list[TopicPartition], Owned]) -> tuple[int, int]:
    partitions, owned = case
    return len(partitions) + len(owned), sum(len(t) for t in owned.values())


def _random_cases(seed: int, count: int) -> list[tuple[list[TopicPartition], Owned]]:
    rng = random.Random(f"{EX_COOP}/{seed}")
    return sorted((random_case(rng) for _ in range(count)), key=_size)     # smallest first


# ------------------------------------------------------------------ live groups
LIVE_RECORDS = 160
LIVE_MS = 1_800.0
SETTLE_MS = 2_000.0   # after the run: longer than a session timeout of the fast timers


def _step(consumer: Any, process: Callable[[Any], None]) -> None:
    """At-least-once, committing after every turn that owns something."""
    batch = consumer.poll(timeout_ms=20)
    for records in batch.values():
        for record in records:
            process(record)
    if consumer.assignment():
        try:
            consumer.commit()
        except CommitFailedError:
            pass


def _describe(events: list[GroupEvent]) -> str:
    return "; ".join(e.describe() for e in events) or "no events"


def _overlap(r: GroupRunResult) -> str | None:
    spans = sorted(ownership_intervals(r), key=lambda s: (s[1], s[2]))
    for i, (a, p, s1, e1) in enumerate(spans):
        for b, q, s2, e2 in spans[i + 1:]:
            if q != p:
                break
            if b != a and s2 < e1 and s1 < e2 and min(e1, e2) - max(s1, s2) > 0:
                return (f"partition {p} was owned by {a} and by {b} at the same time, from "
                        f"t={max(s1, s2):.0f} ms to t={min(e1, e2):.0f} ms")
    return None


def _settled(r: GroupRunResult, partitions: int) -> str | None:
    running = [a for a, (_, _, how) in r.app_spans.items() if how == "running"]
    if not running:
        return None                           # everybody left: nothing to settle
    final = {a: r.assignment_logs[a][-1][1] if r.assignment_logs[a] else [] for a in running}
    owned = sorted(tp.partition for tps in final.values() for tp in tps)
    shown = {a: sorted(tp.partition for tp in tps) for a, tps in final.items()}
    if owned != list(range(partitions)):
        lost = sorted(set(range(partitions)) - set(owned))
        return f"after the group settled, partitions {lost} had no owner (final assignment {shown})"
    counts = [len(t) for t in final.values()]
    if counts and max(counts) - min(counts) > 1:
        return f"after the group settled the assignment is unbalanced: {shown}"
    return None


def _live_once(fn: Callable, seed: int, events: list[GroupEvent], partitions: int, consumers: int
               ) -> CheckFailed | None:
    """One live group with ``fn`` as its assignor: the first problem found, or None."""
    errors: list[CheckFailed] = []
    holder: dict[str, GroupRun] = {}

    def story() -> str:
        run = holder["run"]
        lines = [f"{t:8.0f} ms  {what}" for t, what in run.notes]
        return (f"\nat t={run.sim.now - run.start_ms:.0f} ms in a live group of the classic protocol ({partitions} "
                f"partitions, {consumers} consumers at the start; events: {_describe(events)}); so far:\n"
                + "\n".join(lines[-10:]))

    def rule(parts: list[TopicPartition], owned: Owned) -> Any:
        try:
            with quiet():
                result = fn(list(parts), {m: list(tps) for m, tps in owned.items()})
        except Exception as exc:
            errors.append(learner_error(exc, fn, EX_COOP, case=_case(parts, owned) + story(), seed=seed))
            raise
        if not errors:
            try:
                judge_rebalance(parts, owned, result, seed=seed, story=story())
            except CheckFailed as exc:
                errors.append(exc)
        return result

    config = {"partition_assignment_strategy": [CooperativeStickyAssignor(assign=rule)]}
    run = holder["run"] = GroupRun(seed, partitions=partitions, records=LIVE_RECORDS,
                                   produce_every_ms=0.8 * LIVE_MS * 8 / LIVE_RECORDS, burst=8, consumer_config=config,
                                   step=_step, restart_after_ms=200.0, history=History(), broker=None,
                                   group_config=None, validate_offset_commit=None, backend="local",
                                   commit_on_revoke=True)
    try:
        with quiet():
            r = run.run(consumers, list(events), LIVE_MS, 3_000, 5.0)
            run.advance(SETTLE_MS)            # the last rebalances complete: then the group must be settled
            r = run.result(list(events), r.drained)
    except CheckFailed:
        raise
    except Exception as exc:
        if errors:
            return errors[0]
        return learner_error(exc, fn, EX_COOP, case="a live group: " + _describe(events), seed=seed)
    if errors:
        return errors[0]
    r.params = dict(seed=seed, partitions=partitions, consumers=consumers, records=LIVE_RECORDS)
    case = (f"{partitions} partitions, {consumers} consumers at the start; events: {_describe(events)}; "
            f"what happened:\n" + r.story())
    found = _overlap(r) or _settled(r, partitions)
    if found:
        return CheckFailed(found, case=case, seed=seed, exercise=EX_COOP, hint=HINT_TWO_PHASE)
    if r.lost and any(how == "running" for _, _, how in r.app_spans.values()):
        return CheckFailed("records were never processed: " + (r.first_loss() or ""), case=case, seed=seed,
                           exercise=EX_COOP, hint="every partition must end up with an owner")
    return None


def _live(fn: Callable, seed: int, events: list[GroupEvent], partitions: int, consumers: int) -> None:
    """A live group; on failure the schedule is shrunk (events dropped while it still fails)."""
    failure = _live_once(fn, seed, events, partitions, consumers)
    if failure is None:
        return
    smallest = list(events)
    i = 0
    while i < len(smallest):
        shorter = smallest[:i] + smallest[i + 1:]
        again = _live_once(fn, seed, shorter, partitions, consumers)
        if again is not None:
            smallest, failure = shorter, again
        else:
            i += 1
    raise failure


def random_events(seed: int, count: int, consumers: int = 1) -> list[GroupEvent]:
    """Joins, clean leaves and crashes (restarted) at seeded times; the last member never leaves."""
    rng = random.Random(f"{EX_COOP}/events/{seed}")
    times = sorted(round(rng.uniform(150, 1_400)) for _ in range(count))
    out, alive = [], consumers
    for t in times:
        kind = rng.choice(["join", "join", "leave", "crash"])
        if kind == "leave" and alive <= 1:
            kind = "join"
        alive += {"join": 1, "leave": -1}.get(kind, 0)
        out.append(GroupEvent(t, kind, rng.randrange(8)))
    return out


VISIBLE_EVENTS = [GroupEvent(300, "join"), GroupEvent(600, "join"), GroupEvent(900, "crash", 0),
                  GroupEvent(1_200, "leave", 1), GroupEvent(1_400, "join")]


# ------------------------------------------------------------------ the checks
def check_cooperative_sticky(cooperative_sticky: Callable, seed: int | None = None) -> None:
    """Visible check: six rebalances (each followed until settled), 60 random ones, then a live group of
    the classic protocol with joins, a clean leave and a crash."""
    require_callable(cooperative_sticky, "cooperative_sticky", EX_COOP)
    for _, partitions, owned in VISIBLE:
        judge_until_settled(cooperative_sticky, partitions, owned)
    for s in ([seed] if seed is not None else seeds(EX_COOP, 1)):
        for partitions, owned in _random_cases(s, 60):
            judge_until_settled(cooperative_sticky, partitions, owned, seed=s)
        _live(cooperative_sticky, s, VISIBLE_EVENTS, partitions=6, consumers=2)


def hidden_cooperative_sticky(cooperative_sticky: Callable, seed: int | None = None) -> None:
    """Hidden check: more rebalances, 300 random ones per seed, live groups under seeded joins, leaves
    and crashes."""
    require_callable(cooperative_sticky, "cooperative_sticky", EX_COOP)
    for _, partitions, owned in HIDDEN:
        judge_until_settled(cooperative_sticky, partitions, owned)
    for s in ([seed] if seed is not None else seeds(EX_COOP, 2, hidden=True)):
        for partitions, owned in _random_cases(s, 300):
            judge_until_settled(cooperative_sticky, partitions, owned, seed=s)
        _live(cooperative_sticky, s, random_events(s, 6, 1 + s % 3), partitions=3 + s % 6, consumers=1 + s % 3)


__all__ = ["check_cooperative_sticky", "hidden_cooperative_sticky", "judge_rebalance", "judge_until_settled",
           "minimum_revocations", "random_case", "random_events"]
