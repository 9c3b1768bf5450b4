"""Server-side assignors of KIP-848 consumer groups: ``uniform`` and ``range``.

With the consumer protocol the *coordinator* computes the target assignment (the classic protocol has
the group leader's client do it). Apache Kafka 4.0 ships two server-side assignors, configured by the
broker setting ``group.consumer.assignors`` (default ``uniform,range``; the first is the group's default
unless a member asks for another with ``group.remote.assignor``) -- docs/kip-848.md has the sources.

Both are functions ``assign(members, partitions, previous) -> {member: set of partitions}``:

* ``members``: member id -> the topics it subscribes to;
* ``partitions``: topic -> partition count (topics missing here do not exist: nothing to assign);
* ``previous``: the previous target assignment (member id -> partitions), which ``uniform`` keeps where
  it can (stickiness: a partition moves only to restore balance or because its member left).

``uniform``: every partition of a subscribed topic goes to one member subscribed to it; counts differ by
at most one among members that could take each other's partitions; as few partitions as possible move.
``range``: per topic, the subscribed members sorted by id get contiguous ranges, the first ones one more
(the classic range rule, computed on the server: members of co-partitioned topics get the same numbers).
"""
from __future__ import annotations

from typing import Callable, Mapping

from msglib.protocol import TopicPartition

Members = Mapping[str, "frozenset[str] | set[str] | tuple[str, ...] | list[str]"]
Target = dict[str, set[TopicPartition]]
ServerAssignor = Callable[[Members, Mapping[str, int], Mapping[str, set[TopicPartition]]], Target]


def _check(members: Members, partitions: Mapping[str, int]) -> None:
    for topic, n in partitions.items():
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"partitions[{topic!r}] must be a partition count (int >= 0), got {n!r}")
    for m, topics in members.items():
        if isinstance(topics, str):
            raise TypeError(f"members[{m!r}] must be a collection of topic names, not the string {topics!r}")


def uniform_assign(members: Members, partitions: Mapping[str, int],
                   previous: Mapping[str, set[TopicPartition]] | None = None) -> Target:
    """Balanced and sticky (see the module docstring)."""
    _check(members, partitions)
    previous = previous or {}
    subs = {m: frozenset(t for t in topics if t in partitions) for m, topics in members.items()}
    order = sorted(subs)
    out: Target = {m: set() for m in order}
    owner: dict[TopicPartition, str] = {}
    everything = sorted(TopicPartition(t, p) for t in {t for ts in subs.values() for t in ts}
                        for p in range(partitions[t]))
    # 1. keep what each member had, if it still subscribes to the topic
    for m in order:
        for tp in sorted(previous.get(m, ())):
            if tp.topic in subs[m] and tp.partition < partitions.get(tp.topic, 0) and tp not in owner:
                out[m].add(tp)
                owner[tp] = m
    # 2. give each partition nobody has to the least loaded member subscribed to its topic
    for tp in everything:
        if tp not in owner:
            m = min((m for m in order if tp.topic in subs[m]), key=lambda m: (len(out[m]), m))
            out[m].add(tp)
            owner[tp] = m
    # 3. restore balance: move from the most loaded to a least loaded member that could take it
    while True:
        move = None
        for m in sorted(order, key=lambda m: (-len(out[m]), m)):
            for tp in sorted(out[m], reverse=True):
                light = min((x for x in order if tp.topic in subs[x]), key=lambda x: (len(out[x]), x))
                if len(out[m]) - len(out[light]) > 1:
                    move = (m, light, tp)
                    break
            if move:
                break
        if move is None:
            return out
        src, dst, tp = move
        out[src].discard(tp)
        out[dst].add(tp)


def range_assign(members: Members, partitions: Mapping[str, int],
                 previous: Mapping[str, set[TopicPartition]] | None = None) -> Target:
    """Per topic, contiguous ranges to the subscribed members sorted by id (``previous`` is not used)."""
    _check(members, partitions)
    out: Target = {m: set() for m in sorted(members)}
    for topic in sorted(partitions):
        subscribed = sorted(m for m, topics in members.items() if topic in topics)
        if not subscribed:
            continue
        base, extra = divmod(partitions[topic], len(subscribed))
        start = 0
        for i, m in enumerate(subscribed):
            n = base + (1 if i < extra else 0)
            out[m].update(TopicPartition(topic, p) for p in range(start, start + n))
            start += n
    return out


SERVER_ASSIGNORS: dict[str, ServerAssignor] = {"uniform": uniform_assign, "range": range_assign}


__all__ = ["SERVER_ASSIGNORS", "ServerAssignor", "range_assign", "uniform_assign"]
