"""Known-wrong implementations for module 04's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "04-vote": [
        ("ignores whether the candidate's log is up to date: a candidate missing committed entries can win", '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    return candidate_epoch >= epoch and voted_for in (None, candidate)
'''),
        ('compares end offsets before last epochs: a long log of stale entries beats a newer one', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if candidate_epoch < epoch or voted_for not in (None, candidate):
        return False
    return (candidate_end_offset, candidate_last_epoch) >= (end_offset, last_epoch)
'''),
        ('forgets its vote: votes for a second candidate in the same epoch', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if candidate_epoch < epoch:
        return False
    return (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)
'''),
        ('strictly more up to date (> instead of >=): identical logs never elect anyone', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if candidate_epoch < epoch or voted_for not in (None, candidate):
        return False
    return (candidate_last_epoch, candidate_end_offset) > (last_epoch, end_offset)
'''),
        ('accepts a candidate of an older epoch', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if voted_for not in (None, candidate):
        return False
    return (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)
'''),
        ('refuses the candidate it already voted for when it asks again (a lost answer costs the election)', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if candidate_epoch < epoch or voted_for is not None:
        return False
    return (candidate_last_epoch, candidate_end_offset) >= (last_epoch, end_offset)
'''),
        ('compares epochs and end offsets separately: both must be at least as large', '''
def grant_vote(*, epoch, voted_for, candidate, candidate_epoch, candidate_last_epoch, candidate_end_offset,
               last_epoch, end_offset):
    if candidate_epoch < epoch or voted_for not in (None, candidate):
        return False
    return candidate_last_epoch >= last_epoch and candidate_end_offset >= end_offset
'''),
    ],
    "04-isr": [
        ("never shrinks: a stopped follower blocks every acks=all write", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = set(isr) | {leader}
    for replica, f in followers.items():
        if f.log_end_offset >= high_watermark and f.log_end_offset >= leader_epoch_start_offset:
            new.add(replica)
    return new
'''),
        ("never lets a follower back in", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr and (f.log_end_offset == leader_log_end_offset
                               or now_ms - f.last_caught_up_ms <= replica_lag_time_max_ms):
            new.add(replica)
    return new
'''),
        ("lets a fetching follower back in before it reaches the high-water mark", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            if f.log_end_offset == leader_log_end_offset or now_ms - f.last_caught_up_ms <= replica_lag_time_max_ms:
                new.add(replica)
        elif now_ms - f.last_fetch_ms <= replica_lag_time_max_ms:
            new.add(replica)
    return new
'''),
        ("judges lag by the last fetch, not the last time it was caught up (a slow follower never leaves)", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            if now_ms - f.last_fetch_ms <= replica_lag_time_max_ms:
                new.add(replica)
        elif (now_ms - f.last_fetch_ms <= replica_lag_time_max_ms and f.log_end_offset >= high_watermark
              and f.log_end_offset >= leader_epoch_start_offset):
            new.add(replica)
    return new
'''),
        ("< instead of <=: a follower exactly replica.lag.time.max.ms behind is dropped", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            if f.log_end_offset == leader_log_end_offset or now_ms - f.last_caught_up_ms < replica_lag_time_max_ms:
                new.add(replica)
        elif (now_ms - f.last_fetch_ms < replica_lag_time_max_ms and f.log_end_offset >= high_watermark
              and f.log_end_offset >= leader_epoch_start_offset):
            new.add(replica)
    return new
'''),
        ("a follower must pass the HW (>) to rejoin, not reach it", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            if f.log_end_offset == leader_log_end_offset or now_ms - f.last_caught_up_ms <= replica_lag_time_max_ms:
                new.add(replica)
        elif (now_ms - f.last_fetch_ms <= replica_lag_time_max_ms and f.log_end_offset > high_watermark
              and f.log_end_offset >= leader_epoch_start_offset):
            new.add(replica)
    return new
'''),
        ("forgets the leader's epoch start: a follower holding an old leader's records rejoins", '''
def update_isr(isr, leader, followers, *, now_ms, leader_log_end_offset, high_watermark,
               leader_epoch_start_offset, replica_lag_time_max_ms):
    new = {leader}
    for replica, f in followers.items():
        if replica in isr:
            if f.log_end_offset == leader_log_end_offset or now_ms - f.last_caught_up_ms <= replica_lag_time_max_ms:
                new.add(replica)
        elif now_ms - f.last_fetch_ms <= replica_lag_time_max_ms and f.log_end_offset >= high_watermark:
            new.add(replica)
    return new
'''),
    ],
    "04-elect_leader": [
        ("ignores the ISR: the first alive replica leads, even one that missed committed records", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    for r in replicas:
        if r in alive:
            return r
    return None
'''),
        ("ignores liveness: the first ISR member, even a dead one", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    for r in replicas:
        if r in isr:
            return r
    return None
'''),
        ("never falls back to an unclean election, even when it is enabled", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    for r in replicas:
        if r in isr and r in alive:
            return r
    return None
'''),
        ("picks by broker id instead of assignment order", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    candidates = sorted(r for r in replicas if r in isr and r in alive)
    if candidates:
        return candidates[0]
    if unclean_leader_election_enable:
        alive_replicas = sorted(r for r in replicas if r in alive)
        return alive_replicas[0] if alive_replicas else None
    return None
'''),
        ("whenever unclean election is on, the first alive replica leads, even with an ISR member alive", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    for r in replicas:
        if r in alive and (unclean_leader_election_enable or r in isr):
            return r
    return None
'''),
        ("an unclean election picks any alive broker, not only a replica of the partition", '''
def elect_leader(replicas, isr, alive, unclean_leader_election_enable):
    for r in replicas:
        if r in isr and r in alive:
            return r
    if unclean_leader_election_enable and alive:
        return min(alive)
    return None
'''),
    ],
    "04-truncation": [
        ("KIP-101 only: trusts the leader's end offset even for an epoch the follower never had", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    return min(leader_end_offset, log_end_offset), True
'''),
        ("forgets its own end of the epoch (only min of the leader's end and its LEO)", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    mine = [e for e, _ in epochs]
    if leader_epoch in mine:
        return min(leader_end_offset, log_end_offset), True
    below = [(e, start) for e, start in epochs if e < leader_epoch]
    if not below:
        return min(leader_end_offset, log_end_offset), True
    i = epochs.index(below[-1])
    end = epochs[i + 1][1] if i + 1 < len(epochs) else log_end_offset
    return min(end, log_end_offset), False
'''),
        ("truncates to the leader's answer but never below its own log end (uses max)", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    return max(leader_end_offset, log_end_offset), True
'''),
        ("stops after one question: never asks again", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    ends = {}
    for i, (e, start) in enumerate(epochs):
        ends[e] = epochs[i + 1][1] if i + 1 < len(epochs) else log_end_offset
    if leader_epoch in ends:
        return min(leader_end_offset, ends[leader_epoch], log_end_offset), True
    below = [e for e, _ in epochs if e < leader_epoch]
    if below:
        return min(ends[below[-1]], log_end_offset), True
    return min(leader_end_offset, log_end_offset), True
'''),
        ("cuts at where its own epoch starts, not where it ends", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    starts = dict(epochs)
    if leader_epoch in starts:
        return min(leader_end_offset, starts[leader_epoch], log_end_offset), True
    below = [(e, s) for e, s in epochs if e < leader_epoch]
    if not below:
        return min(leader_end_offset, log_end_offset), True
    return min(below[-1][1], log_end_offset), False
'''),
        ("no branch for 'no epoch at all' (an empty follower): it cuts to -1 and asks again for ever", '''
def truncation_offset(epochs, log_end_offset, leader_epoch, leader_end_offset):
    mine, my_end = LeaderEpochCache(list(epochs)).end_offset_for(leader_epoch, log_end_offset)
    if mine == leader_epoch:
        return min(leader_end_offset, my_end, log_end_offset), True
    return min(my_end, log_end_offset), False
'''),
    ],
}
