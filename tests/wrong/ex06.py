"""Known-wrong implementations for module 06's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "06-last_stable_offset": [
        ("the latest open transaction instead of the earliest", '''
def last_stable_offset(high_watermark, open_transactions):
    return min(max(open_transactions.values(), default=high_watermark), high_watermark)
'''),
        ("ignores open transactions: read_committed reads like read_uncommitted", '''
def last_stable_offset(high_watermark, open_transactions):
    return high_watermark
'''),
        ("off by one: lets the first record of the open transaction through", '''
def last_stable_offset(high_watermark, open_transactions):
    if not open_transactions:
        return high_watermark
    return min(min(open_transactions.values()) + 1, high_watermark)
'''),
        ("forgets the high-water mark when a transaction is open", '''
def last_stable_offset(high_watermark, open_transactions):
    if open_transactions:
        return min(open_transactions.values())
    return high_watermark
'''),
        ("the first open transaction in dict order, not the earliest offset", '''
def last_stable_offset(high_watermark, open_transactions):
    for first_offset in open_transactions.values():
        return min(first_offset, high_watermark)
    return high_watermark
'''),
    ],
    "06-filter_aborted": [
        ("never ends the aborted transaction at its ABORT marker: the producer's later commits vanish", '''
def filter_aborted(batches, aborted_transactions):
    pending = sorted(aborted_transactions, key=lambda a: a[1])
    aborting = set()
    kept = []
    for batch in batches:
        while pending and pending[0][1] <= batch.last_offset:
            aborting.add(pending.pop(0)[0])
        if batch.is_control:
            continue
        if batch.is_transactional and batch.producer_id in aborting:
            continue
        kept.append(batch)
    return kept
'''),
        ("drops every transactional batch of a producer that ever aborted, ignoring the first offset", '''
def filter_aborted(batches, aborted_transactions):
    aborted_pids = {pid for pid, first_offset in aborted_transactions}
    return [b for b in batches
            if not b.is_control and not (b.is_transactional and b.producer_id in aborted_pids)]
'''),
        ("only drops batches at exactly the first offset", '''
def filter_aborted(batches, aborted_transactions):
    firsts = {(pid, first) for pid, first in aborted_transactions}
    return [b for b in batches if not b.is_control and (b.producer_id, b.base_offset) not in firsts]
'''),
        ("only drops markers: aborted data reaches the application", '''
def filter_aborted(batches, aborted_transactions):
    return [b for b in batches if not b.is_control]
'''),
        ("compares the first offset with the batch's base offset only (misses a multi-record batch)", '''
def filter_aborted(batches, aborted_transactions):
    pending = sorted(aborted_transactions, key=lambda a: a[1])
    aborting = set()
    kept = []
    for batch in batches:
        while pending and pending[0][1] < batch.base_offset:
            aborting.add(pending.pop(0)[0])
        if batch.is_control:
            if batch.control_type == ControlType.ABORT:
                aborting.discard(batch.producer_id)
            continue
        if batch.is_transactional and batch.producer_id in aborting:
            continue
        kept.append(batch)
    return kept
'''),
    ],
    "06-eos_step": [
        ("commits the input offsets with consumer.commit() after the transaction: a crash in between duplicates", '''
def eos_step(consumer, producer, transform):
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        producer.commit_transaction()
        consumer.commit()
    except ProducerFencedError:
        raise
    except KafkaError:
        producer.abort_transaction()
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
'''),
        ("commits the input offsets before the transaction commits: a crash in between loses", '''
def eos_step(consumer, producer, transform):
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        consumer.commit()
        producer.commit_transaction()
    except ProducerFencedError:
        raise
    except KafkaError:
        producer.abort_transaction()
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
'''),
        ("aborts but does not rewind: the aborted batch is never processed again", '''
def eos_step(consumer, producer, transform):
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    except ProducerFencedError:
        raise
    except KafkaError:
        producer.abort_transaction()
'''),
        ("rewinds but never aborts: the producer stays stuck in the failed transaction", '''
def eos_step(consumer, producer, transform):
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    except ProducerFencedError:
        raise
    except KafkaError:
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
'''),
        ("commits the offset of the last record, not the next one: it is processed again", '''
def eos_step(consumer, producer, transform):
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record), key=record.key)
        offsets = {tp: OffsetAndMetadata(records[-1].offset) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    except ProducerFencedError:
        raise
    except KafkaError:
        producer.abort_transaction()
        for tp, records in batch.items():
            consumer.seek(tp, records[0].offset)
'''),
        ("outputs sent without the input's key (send(OUTPUT, transform(record))): partitioning and per-key order lost", '''
def eos_step(consumer, producer, transform):
    """Outputs and input offsets in one transaction; on an error, abort and process the batch again."""
    batch = consumer.poll(timeout_ms=20)
    if not batch:
        return
    producer.begin_transaction()
    try:
        for tp, records in batch.items():
            for record in records:
                producer.send(OUTPUT, transform(record))
        offsets = {tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in batch.items()}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
    except ProducerFencedError:
        raise                                   # a newer instance owns this transactional.id: stop
    except KafkaError:
        producer.abort_transaction()            # none of this batch's outputs will be read...
        for tp, records in batch.items():       # ...so the batch must be processed again
            if tp in consumer.assignment():
                consumer.seek(tp, records[0].offset)
'''),
    ],
}

# Part 2 (idempotent consumer, outbox) keeps its own table.
from tests.wrong.ex06_patterns import WRONG as _PART2  # noqa: E402

WRONG.update(_PART2)
