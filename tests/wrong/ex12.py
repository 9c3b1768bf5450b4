"""Known-wrong implementations for module 12's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "12-windows": [
        ("the end is inclusive: a record at start + size also lands in the window", '''
def windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms):
    update, dropped = [], 0
    start = max(0, timestamp - size_ms) // advance_ms * advance_ms
    while start <= timestamp:
        if timestamp <= start + size_ms:
            if stream_time < start + size_ms + grace_ms:
                update.append(start)
            else:
                dropped += 1
        start += advance_ms
    return update, dropped
'''),
        ("ignores the grace period: a window closes at its end", '''
def windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms):
    update, dropped = [], 0
    start = max(0, timestamp - size_ms + advance_ms) // advance_ms * advance_ms
    while start <= timestamp:
        if stream_time < start + size_ms:
            update.append(start)
        else:
            dropped += 1
        start += advance_ms
    return update, dropped
'''),
        ("off by one at the close: takes records while stream time <= end + grace", '''
def windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms):
    update, dropped = [], 0
    start = max(0, timestamp - size_ms + advance_ms) // advance_ms * advance_ms
    while start <= timestamp:
        if stream_time <= start + size_ms + grace_ms:
            update.append(start)
        else:
            dropped += 1
        start += advance_ms
    return update, dropped
'''),
        ("judges lateness by the record's own timestamp: never drops anything", '''
def windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms):
    update = []
    start = max(0, timestamp - size_ms + advance_ms) // advance_ms * advance_ms
    while start <= timestamp:
        update.append(start)
        start += advance_ms
    return update, 0
'''),
        ("tumbling only: one window per record, whatever the advance", '''
def windows_to_update(timestamp, stream_time, size_ms, advance_ms, grace_ms):
    start = timestamp - timestamp % size_ms
    if stream_time < start + size_ms + grace_ms:
        return [start], 0
    return [], 1
'''),
    ],
    "12-restore": [
        ("stores a tombstone as None instead of deleting the key", '''
def restore(consumer, tp, store, end_offset):
    while consumer.position(tp) < end_offset:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                store[record.key] = record.value
    return store
'''),
        ("skips tombstones: a deleted key comes back", '''
def restore(consumer, tp, store, end_offset):
    while consumer.position(tp) < end_offset:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                if record.value is not None:
                    store[record.key] = record.value
    return store
'''),
        ("starts from an empty store: throws the standby's copy away", '''
def restore(consumer, tp, store, end_offset):
    store = {}
    while consumer.position(tp) < end_offset:
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                if record.value is None:
                    store.pop(record.key, None)
                else:
                    store[record.key] = record.value
    return store
'''),
        ("polls once: stops after the first batch", '''
def restore(consumer, tp, store, end_offset):
    for records in consumer.poll(timeout_ms=50).values():
        for record in records:
            if record.value is None:
                store.pop(record.key, None)
            else:
                store[record.key] = record.value
    return store
'''),
    ],
    "12-table_version": [
        ("the latest version by arrival, whatever its timestamp (a plain table)", '''
def value_as_of(versions, timestamp):
    return versions[-1][1] if versions else None
'''),
        ("strictly before: misses the version written at the record's own timestamp", '''
def value_as_of(versions, timestamp):
    best_ts, best = None, None
    for ts, value in versions:
        if ts < timestamp and (best_ts is None or ts >= best_ts):
            best_ts, best = ts, value
    return best
'''),
        ("the last version in arrival order among the old enough ones, not the newest by timestamp", '''
def value_as_of(versions, timestamp):
    best = None
    for ts, value in versions:
        if ts <= timestamp:
            best = value
    return best
'''),
        ("a delete hides nothing: falls back to the version before it", '''
def value_as_of(versions, timestamp):
    best_ts, best = None, None
    for ts, value in versions:
        if value is not None and ts <= timestamp and (best_ts is None or ts >= best_ts):
            best_ts, best = ts, value
    return best
'''),
    ],
    "12-eos_commit": [
        ("commits the offsets with the consumer, outside the transaction", '''
def commit(tasks, producer, consumer):
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition, timestamp_ms=w.timestamp)
    offsets = {}
    for task in tasks:
        offsets.update(task.offsets_to_commit())
    consumer.commit(offsets)
    producer.commit_transaction()
'''),
        ("never sends the store writes to the changelog", '''
def commit(tasks, producer, consumer):
    offsets = {}
    for task in tasks:
        offsets.update(task.offsets_to_commit())
    producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
    producer.commit_transaction()
'''),
        ("sends only the first task's offsets", '''
def commit(tasks, producer, consumer):
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition, timestamp_ms=w.timestamp)
    if tasks:
        producer.send_offsets_to_transaction(tasks[0].offsets_to_commit(), consumer.group_metadata())
    producer.commit_transaction()
'''),
        ("drops the changelog records' timestamps: a versioned table is restored at the wrong times", '''
def commit(tasks, producer, consumer):
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition)
    offsets = {}
    for task in tasks:
        offsets.update(task.offsets_to_commit())
    producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
    producer.commit_transaction()
'''),
        ("forgets the offsets: the transaction commits output and state, never the input position", '''
def commit(tasks, producer, consumer):
    for task in tasks:
        for w in task.changelog_writes():
            producer.send(w.topic, w.value, key=w.key, partition=w.partition, timestamp_ms=w.timestamp)
    producer.commit_transaction()
'''),
    ],
}
