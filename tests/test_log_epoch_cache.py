"""The leader epoch cache (KIP-101, section G #63) as the log maintains it."""
from msglib.log import UNDEFINED_EPOCH, LeaderEpochCache, Log, Record


def test_end_offset_for_follows_kafka():
    cache = LeaderEpochCache([(1, 0), (2, 10), (4, 25)])
    leo = 40
    assert cache.end_offset_for(4, leo) == (4, 40)          # the latest epoch: the LEO
    assert cache.end_offset_for(2, leo) == (2, 25)          # an older one: where the next epoch starts
    assert cache.end_offset_for(3, leo) == (2, 25)          # unknown 3: the largest epoch <= 3, then 4's start
    assert cache.end_offset_for(0, leo) == (0, 0)           # below every epoch: the first start offset
    assert cache.end_offset_for(9, leo) == (UNDEFINED_EPOCH, -1)
    assert cache.end_offset_for(-1, leo) == (UNDEFINED_EPOCH, -1)
    assert LeaderEpochCache().end_offset_for(1, leo) == (UNDEFINED_EPOCH, -1)


def test_assign_keeps_epochs_and_offsets_increasing():
    cache = LeaderEpochCache()
    assert cache.assign(1, 0) and not cache.assign(1, 5)     # a repeat of the latest epoch: no change
    cache.assign(3, 10)
    cache.assign(2, 8)                                       # an older epoch at a lower offset replaces 3
    assert cache.entries == [(1, 0), (2, 8)]
    cache.assign(5, 8)                                       # same start offset: 2 is superseded
    assert cache.entries == [(1, 0), (5, 8)]
    cache.truncate_from_end(8)
    assert cache.entries == [(1, 0)]
    cache.assign(6, 20)
    cache.truncate_from_start(12)                           # the epoch holding 12 now starts there
    assert cache.entries == [(1, 12), (6, 20)]
    assert cache.epoch_for_offset(15) == 1 and cache.epoch_for_offset(25) == 6
    assert LeaderEpochCache.parse(cache.to_bytes()) == cache.entries


def test_kip_279_divergent_follower_truncates_to_the_leaders_epoch_end():
    # A (old leader, epoch 1) wrote 0-19; B took over in epoch 2 after only 0-9 reached it.
    a, b = Log(), Log()
    for o in range(20):
        a.append([Record(None, b"a%d" % o)], leader_epoch=1)
        if o < 10:
            b.append_as_follower(a.read(o)[0])
    for o in range(10, 15):
        b.append([Record(None, b"b%d" % o)], leader_epoch=2)
    # A comes back as follower and asks B where its latest epoch (1) ends.
    epoch, end = b.leader_epoch_cache.end_offset_for(a.leader_epoch_cache.latest_epoch, b.log_end_offset)
    assert (epoch, end) == (1, 10)
    a.truncate_to(min(end, a.log_end_offset))
    for batch in b.read(a.log_end_offset, max_bytes=10**6):
        a.append_as_follower(batch)
    assert [r.value for r in a.records()] == [r.value for r in b.records()]
    assert a.leader_epoch_cache.entries == b.leader_epoch_cache.entries == [(1, 0), (2, 10)]
