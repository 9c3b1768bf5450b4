"""Known-wrong implementations for module 03's exercise: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

_HEAD = '''
def check_sequence(entry, producer_epoch, first_seq, last_seq):
'''

WRONG = {
    "03-sequence_check": [
        ("never looks for duplicates: a retried batch is written twice", _HEAD + '''
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    return "append"
'''),
        ("only compares with the last batch, not the last five", _HEAD + '''
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    last = entry.batches[-1]
    if last.first_seq == first_seq and last.last_seq == last_seq:
        return last
    return "append" if first_seq == last.last_seq + 1 else "out_of_order"
'''),
        ("off by one: expects the batch to start at the last sequence", _HEAD + '''
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    return "append" if first_seq == entry.batches[-1].last_seq else "out_of_order"
'''),
        ("ignores the producer epoch", _HEAD + '''
    if entry is None:
        return "append"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    return "append" if first_seq == entry.batches[-1].last_seq + 1 else "out_of_order"
'''),
        ("refuses a producer it has never seen unless it starts at 0", _HEAD + '''
    if entry is None:
        return "append" if first_seq == 0 else "out_of_order"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    return "append" if first_seq == entry.batches[-1].last_seq + 1 else "out_of_order"
'''),
        ("looks for duplicates before checking the epoch: a zombie's retry is answered as a success", _HEAD + '''
    if entry is None:
        return "append"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    last = entry.batches[-1].last_seq
    return "append" if first_seq == (0 if last == 2**31 - 1 else last + 1) else "out_of_order"
'''),
        ("a duplicate is recognised by its first sequence alone", _HEAD + '''
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    for batch in entry.batches:
        if batch.first_seq == first_seq:
            return batch
    last = entry.batches[-1].last_seq
    return "append" if first_seq == (0 if last == 2**31 - 1 else last + 1) else "out_of_order"
'''),
        ("wraps around at 2**31 - 1 instead of after it (modulo 2**31 - 1)", _HEAD + '''
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    return "append" if first_seq == (entry.batches[-1].last_seq + 1) % (2**31 - 1) else "out_of_order"
'''),
        ('assumes a known producer has a remembered batch: an entry whose epoch a marker bumped has none yet', '''
def check_sequence(entry, producer_epoch, first_seq, last_seq):
    if entry is None:
        return "append"
    if producer_epoch < entry.producer_epoch:
        return "invalid_epoch"
    if producer_epoch > entry.producer_epoch:
        return "append" if first_seq == 0 else "out_of_order"
    for batch in entry.batches:
        if batch.first_seq == first_seq and batch.last_seq == last_seq:
            return batch
    last = entry.batches[-1].last_seq
    expected = 0 if last == 2**31 - 1 else last + 1
    return "append" if first_seq == expected else "out_of_order"
'''),
    ],
}
