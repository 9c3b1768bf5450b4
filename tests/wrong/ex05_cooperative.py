"""Known-wrong cooperative-sticky assignors (module 05, ``05-cooperative_sticky``): mistakes learners make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "05-cooperative_sticky": [
        ("one phase: a partition that moves goes straight to its new owner (eager thinking, cooperative protocol)", '''
def cooperative_sticky(partitions, owned):
    members = list(owned)
    base, extra = divmod(len(partitions), len(members))
    by_load = sorted(members, key=lambda m: -len(owned[m]))
    quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_load)}
    assignment = {m: sorted(owned[m])[:quota[m]] for m in members}
    kept = {tp for tps in assignment.values() for tp in tps}
    for tp in partitions:
        if tp not in kept:
            m = next(m for m in members if len(assignment[m]) < quota[m])
            assignment[m].append(tp)
    return assignment
'''),
        ("not sticky: deals the partitions round robin, only holding back those that changed owner", '''
def cooperative_sticky(partitions, owned):
    members = list(owned)
    owner = {tp: m for m, tps in owned.items() for tp in tps}
    assignment = {m: [] for m in members}
    for i, tp in enumerate(sorted(partitions)):
        m = members[i % len(members)]
        if owner.get(tp, m) == m:
            assignment[m].append(tp)
    return assignment
'''),
        ("never revokes: everyone keeps what it owns, only free partitions go to the least loaded", '''
def cooperative_sticky(partitions, owned):
    assignment = {m: sorted(tps) for m, tps in owned.items()}
    taken = {tp for tps in owned.values() for tp in tps}
    for tp in partitions:
        if tp not in taken:
            m = min(assignment, key=lambda m: len(assignment[m]))
            assignment[m].append(tp)
    return assignment
'''),
        ("the extra places go to the first members in order, not to those that own the most (needless moves)", '''
def cooperative_sticky(partitions, owned):
    members = list(owned)
    base, extra = divmod(len(partitions), len(members))
    quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(members)}
    assignment = {m: sorted(owned[m])[:quota[m]] for m in members}
    taken = {tp for tps in owned.values() for tp in tps}
    for tp in partitions:
        if tp not in taken:
            m = next(m for m in members if len(assignment[m]) < quota[m])
            assignment[m].append(tp)
    return assignment
'''),
        ("holds back the free partitions too: nobody revokes them, so no rebalance ever hands them out", '''
def cooperative_sticky(partitions, owned):
    members = list(owned)
    base, extra = divmod(len(partitions), len(members))
    by_load = sorted(members, key=lambda m: -len(owned[m]))
    quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_load)}
    return {m: sorted(owned[m])[:quota[m]] for m in members}
'''),
    ],
}
