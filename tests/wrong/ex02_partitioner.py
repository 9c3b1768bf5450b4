"""Known-wrong sticky partitioners (module 02, ``02-sticky_partitioner``): mistakes learners make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

_PICK = '''
    top = max(queue_sizes) + 1
    x = r % sum(top - q for q in queue_sizes)
    running = 0
    for p, q in enumerate(queue_sizes):
        running += top - q
        if x < running:
            break
    sticky.partition, sticky.produced_bytes = p, 0
'''

WRONG = {
    "02-sticky_partitioner": [
        ("ignores the queues: a uniform draw (r % n), so a slow broker gets its full share", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        enough = sticky.produced_bytes >= sticky.batch_size
        if not (enough and batch_full) and sticky.produced_bytes < 2 * sticky.batch_size:
            return
    sticky.partition, sticky.produced_bytes = r % len(queue_sizes), 0
'''),
        ("weights the draw by the queue size itself: the longest queue (the slow broker) is the likeliest", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        enough = sticky.produced_bytes >= sticky.batch_size
        if not (enough and batch_full) and sticky.produced_bytes < 2 * sticky.batch_size:
            return
    weights = [q + 1 for q in queue_sizes]
    x = r % sum(weights)
    running = 0
    for p, w in enumerate(weights):
        running += w
        if x < running:
            break
    sticky.partition, sticky.produced_bytes = p, 0
'''),
        ("switches on every full batch, without counting the bytes (KIP-480's trigger)", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None and not batch_full:
        return
''' + _PICK),
        ("never counts from 0 again: after the first switch it switches on every record", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        enough = sticky.produced_bytes >= sticky.batch_size
        if not (enough and batch_full) and sticky.produced_bytes < 2 * sticky.batch_size:
            return
    produced = sticky.produced_bytes
''' + _PICK + '''
    sticky.produced_bytes = produced
'''),
        ("forgets the 2 x batch_size cap: a batch that never fills keeps the partition forever", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        if not (sticky.produced_bytes >= sticky.batch_size and batch_full):
            return
''' + _PICK),
        ("off by one in the draw: x <= running picks the partition before the right one", '''
def update_sticky(sticky, appended_bytes, batch_full, queue_sizes, r):
    if sticky.partition is not None:
        sticky.produced_bytes += appended_bytes
        enough = sticky.produced_bytes >= sticky.batch_size
        if not (enough and batch_full) and sticky.produced_bytes < 2 * sticky.batch_size:
            return
    top = max(queue_sizes) + 1
    x = r % sum(top - q for q in queue_sizes)
    running = 0
    for p, q in enumerate(queue_sizes):
        running += top - q
        if x <= running:
            break
    sticky.partition, sticky.produced_bytes = p, 0
'''),
    ],
}
