"""Known-wrong KIP-848 reconciliation steps (module 05, ``05-reconcile``): mistakes learners make.

Each replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "05-reconcile": [
        ("jumps straight to the target: partitions still owned elsewhere are taken at once", '''
def reconcile(assigned, target, owned_by_others):
    return Reconciliation(assigned=frozenset(target), revoking=frozenset(), unreleased=frozenset())
'''),
        ("treats a revocation as done the moment it is asked for (nothing pending)", '''
def reconcile(assigned, target, owned_by_others):
    keep = assigned & target
    wanted = target - keep
    return Reconciliation(assigned=keep | (wanted - owned_by_others), revoking=frozenset(),
                          unreleased=wanted & owned_by_others)
'''),
        ("revokes first, but then takes partitions other members still hold", '''
def reconcile(assigned, target, owned_by_others):
    revoking = assigned - target
    if revoking:
        return Reconciliation(assigned=assigned & target, revoking=revoking, unreleased=frozenset())
    return Reconciliation(assigned=frozenset(target), revoking=frozenset(), unreleased=frozenset())
'''),
        ("withholds busy partitions but never says it waits for them (the member looks settled)", '''
def reconcile(assigned, target, owned_by_others):
    revoking = assigned - target
    if revoking:
        return Reconciliation(assigned=assigned & target, revoking=revoking, unreleased=frozenset())
    return Reconciliation(assigned=(assigned & target) | (target - owned_by_others), revoking=frozenset(),
                          unreleased=frozenset())
'''),
        ("eager at heart: revokes everything it has whenever anything moves", '''
def reconcile(assigned, target, owned_by_others):
    if assigned - target:
        return Reconciliation(assigned=frozenset(), revoking=frozenset(assigned), unreleased=frozenset())
    wanted = target - assigned
    return Reconciliation(assigned=assigned | (wanted - owned_by_others), revoking=frozenset(),
                          unreleased=wanted & owned_by_others)
'''),
        ("takes the free partitions while still revoking (safe here, but not the protocol's step)", '''
def reconcile(assigned, target, owned_by_others):
    keep = assigned & target
    wanted = target - keep
    return Reconciliation(assigned=keep | (wanted - owned_by_others), revoking=assigned - target,
                          unreleased=wanted & owned_by_others)
'''),
    ],
}
