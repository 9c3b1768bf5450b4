"""Known-wrong implementations for module 02's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "02-sparse_index_lookup": [
        ("takes the first entry >= the target (the ceiling): the scan starts after the record", '''
def lookup(index, target_offset):
    for offset, position in index:
        if offset >= target_offset:
            return position
    return index[-1][1] if len(index) else 0
'''),
        ("off by one: the last entry strictly below the target", '''
def lookup(index, target_offset):
    best = 0
    for offset, position in index:
        if offset < target_offset:
            best = position
    return best
'''),
        ("forgets the case where every entry is above the target (index[-1] wraps around)", '''
def lookup(index, target_offset):
    lo, hi = 0, len(index)
    while lo < hi:
        mid = (lo + hi) // 2
        if index[mid][0] <= target_offset:
            lo = mid + 1
        else:
            hi = mid
    return index[lo - 1][1] if len(index) else 0
'''),
        ("a linear scan: right answers, but reads the whole index for every lookup", '''
def lookup(index, target_offset):
    best = 0
    for offset, position in index:
        if offset > target_offset:
            break
        best = position
    return best
'''),
        ("returns the entry's offset instead of its byte position", '''
def lookup(index, target_offset):
    best = 0
    for offset, position in index:
        if offset <= target_offset:
            best = offset
    return best
'''),
    ],
    "02-choose_segment": [
        ("strict comparison: an offset equal to a base offset goes to the segment before", '''
def choose_segment(base_offsets, offset):
    chosen = 0
    for i, base in enumerate(base_offsets):
        if base < offset:
            chosen = i
    return chosen
'''),
        ("the first segment whose base is >= the offset (the ceiling)", '''
def choose_segment(base_offsets, offset):
    for i, base in enumerate(base_offsets):
        if base >= offset:
            return i
    return len(base_offsets) - 1
'''),
        ("a linear scan from the newest segment back: right answers, reads every base offset", '''
def choose_segment(base_offsets, offset):
    for i in range(len(base_offsets) - 1, -1, -1):
        if base_offsets[i] <= offset:
            return i
    return 0
'''),
        ("always the active (last) segment", '''
def choose_segment(base_offsets, offset):
    return len(base_offsets) - 1
'''),
        ("binary search that returns lo instead of lo - 1", '''
def choose_segment(base_offsets, offset):
    lo, hi = 0, len(base_offsets)
    while lo < hi:
        mid = (lo + hi) // 2
        if base_offsets[mid] <= offset:
            lo = mid + 1
        else:
            hi = mid
    return min(lo, len(base_offsets) - 1)
'''),
    ],
    "02-compaction_rule": [
        ("<= instead of >=: keeps every old value", '''
def should_retain(record, latest_offset_for_key, tombstones_expired):
    if record.offset > latest_offset_for_key[record.key]:
        return False
    return not (record.value is None and tombstones_expired)
'''),
        ("keeps tombstones forever", '''
def should_retain(record, latest_offset_for_key, tombstones_expired):
    return record.offset >= latest_offset_for_key[record.key]
'''),
        ("drops tombstones at once: consumers never see the delete", '''
def should_retain(record, latest_offset_for_key, tombstones_expired):
    return record.value is not None and record.offset >= latest_offset_for_key[record.key]
'''),
        ("truthiness: `not record.value` treats an empty value b'' as a tombstone", '''
def should_retain(record, latest_offset_for_key, tombstones_expired):
    if record.offset < latest_offset_for_key[record.key]:
        return False
    if not record.value and tombstones_expired:
        return False
    return True
'''),
        ("strict >: drops the latest value too", '''
def should_retain(record, latest_offset_for_key, tombstones_expired):
    if record.offset > latest_offset_for_key[record.key]:
        return not (record.value is None and tombstones_expired)
    return False
'''),
    ],
    "02-retention": [
        ("not a prefix: deletes every expired segment wherever it is", '''
def deletable_segments(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
    count = 0
    if retention_ms >= 0:
        for seg in segments:
            if seg.next_offset <= high_watermark and now_ms - seg.largest_timestamp > retention_ms:
                count += 1
    by_size = 0
    if retention_bytes >= 0:
        excess = sum(s.size_bytes for s in segments) - retention_bytes
        for seg in segments:
            if seg.next_offset > high_watermark or excess - seg.size_bytes < 0:
                break
            excess -= seg.size_bytes
            by_size += 1
    return max(count, by_size)
'''),
        (">= instead of >: a segment exactly retention.ms old is deleted", '''
def deletable_segments(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
    by_time = 0
    if retention_ms >= 0:
        for seg in segments:
            if seg.next_offset > high_watermark or now_ms - seg.largest_timestamp < retention_ms:
                break
            by_time += 1
    by_size = 0
    if retention_bytes >= 0:
        excess = sum(s.size_bytes for s in segments) - retention_bytes
        for seg in segments:
            if seg.next_offset > high_watermark or excess - seg.size_bytes < 0:
                break
            excess -= seg.size_bytes
            by_size += 1
    return max(by_time, by_size)
'''),
        ("ignores the high watermark: deletes data not yet replicated", '''
def deletable_segments(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
    by_time = 0
    if retention_ms >= 0:
        for seg in segments:
            if not now_ms - seg.largest_timestamp > retention_ms:
                break
            by_time += 1
    by_size = 0
    if retention_bytes >= 0:
        excess = sum(s.size_bytes for s in segments) - retention_bytes
        for seg in segments:
            if excess - seg.size_bytes < 0:
                break
            excess -= seg.size_bytes
            by_size += 1
    return max(by_time, by_size)
'''),
        ("treats -1 as a limit instead of 'no limit'", '''
def deletable_segments(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
    by_time = 0
    for seg in segments:
        if seg.next_offset > high_watermark or not now_ms - seg.largest_timestamp > retention_ms:
            break
        by_time += 1
    by_size = 0
    excess = sum(s.size_bytes for s in segments) - retention_bytes
    for seg in segments:
        if seg.next_offset > high_watermark or excess - seg.size_bytes < 0:
            break
        excess -= seg.size_bytes
        by_size += 1
    return max(by_time, by_size)
'''),
        ("size rule deletes while the total is above the limit (goes below retention.bytes)", '''
def deletable_segments(segments, *, now_ms, retention_ms, retention_bytes, high_watermark):
    by_time = 0
    if retention_ms >= 0:
        for seg in segments:
            if seg.next_offset > high_watermark or not now_ms - seg.largest_timestamp > retention_ms:
                break
            by_time += 1
    by_size = 0
    if retention_bytes >= 0:
        total = sum(s.size_bytes for s in segments)
        for seg in segments:
            if seg.next_offset > high_watermark or total <= retention_bytes:
                break
            total -= seg.size_bytes
            by_size += 1
    return max(by_time, by_size)
'''),
    ],
}

from tests.wrong.ex02_partitioner import WRONG as _STICKY  # noqa: E402

WRONG.update(_STICKY)
