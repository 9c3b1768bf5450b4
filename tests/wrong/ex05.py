"""Known-wrong implementations for module 05's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "05-range_assign": [
        ("gives the extra partitions to the last members instead of the first", '''
def range_assign(partitions_per_topic, subscriptions):
    assignment = {member: [] for member in subscriptions}
    for topic in sorted({t for topics in subscriptions.values() for t in topics}):
        members = sorted(m for m in subscriptions if topic in subscriptions[m])
        n = partitions_per_topic.get(topic, 0)
        per_member, extra = divmod(n, len(members))
        start = 0
        for i, member in enumerate(members):
            count = per_member + (1 if i >= len(members) - extra else 0)
            assignment[member] += [TopicPartition(topic, p) for p in range(start, start + count)]
            start += count
    return assignment
'''),
        ("floor division only: the leftover partitions go to nobody", '''
def range_assign(partitions_per_topic, subscriptions):
    assignment = {member: [] for member in subscriptions}
    for topic in sorted({t for topics in subscriptions.values() for t in topics}):
        members = sorted(m for m in subscriptions if topic in subscriptions[m])
        per_member = partitions_per_topic.get(topic, 0) // len(members)
        for i, member in enumerate(members):
            assignment[member] += [TopicPartition(topic, p) for p in range(i * per_member, (i + 1) * per_member)]
    return assignment
'''),
        ("one range over all the partitions of all topics, instead of one range per topic", '''
def range_assign(partitions_per_topic, subscriptions):
    members = sorted(subscriptions)
    everything = [TopicPartition(t, p) for t in sorted(partitions_per_topic)
                  for p in range(partitions_per_topic[t])
                  if any(t in topics for topics in subscriptions.values())]
    per_member, extra = divmod(len(everything), len(members))
    assignment, start = {}, 0
    for i, member in enumerate(members):
        count = per_member + (1 if i < extra else 0)
        assignment[member] = everything[start:start + count]
        start += count
    return assignment
'''),
        ("does not sort the members: the order they happen to come in decides", '''
def range_assign(partitions_per_topic, subscriptions):
    assignment = {member: [] for member in subscriptions}
    for topic in sorted({t for topics in subscriptions.values() for t in topics}):
        members = [m for m in subscriptions if topic in subscriptions[m]]
        n = partitions_per_topic.get(topic, 0)
        per_member, extra = divmod(n, len(members))
        start = 0
        for i, member in enumerate(members):
            count = per_member + (1 if i < extra else 0)
            assignment[member] += [TopicPartition(topic, p) for p in range(start, start + count)]
            start += count
    return assignment
'''),
        ("ignores the subscriptions: every member takes a range of every topic", '''
def range_assign(partitions_per_topic, subscriptions):
    members = sorted(subscriptions)
    assignment = {member: [] for member in members}
    for topic, n in sorted(partitions_per_topic.items()):
        per_member, extra = divmod(n, len(members))
        start = 0
        for i, member in enumerate(members):
            count = per_member + (1 if i < extra else 0)
            assignment[member] += [TopicPartition(topic, p) for p in range(start, start + count)]
            start += count
    return assignment
'''),
        ('partitions_per_topic[topic] for every subscribed topic: a topic not created yet raises KeyError', '''
def range_assign(partitions_per_topic, subscriptions):
    assignment = {member: [] for member in subscriptions}
    topics = sorted({topic for topics in subscriptions.values() for topic in topics})
    for topic in topics:
        members = sorted(m for m in subscriptions if topic in subscriptions[m])
        per_member, extra = divmod(partitions_per_topic[topic], len(members))
        start = 0
        for i, member in enumerate(members):
            count = per_member + (1 if i < extra else 0)
            assignment[member] += [TopicPartition(topic, p) for p in range(start, start + count)]
            start += count
    return assignment
'''),
    ],
    "05-at_least_once": [
        ("commits before processing (that is at-most-once: a crash loses the rest of the batch)", '''
def at_least_once(consumer, process):
    batch = consumer.poll(timeout_ms=20)
    if batch:
        consumer.commit()
    for records in batch.values():
        for record in records:
            process(record)
'''),
        ("never commits: whoever takes a partition over starts from the beginning again", '''
def at_least_once(consumer, process):
    for records in consumer.poll(timeout_ms=20).values():
        for record in records:
            process(record)
'''),
        ("commits the offset of the last record processed, not the next one to read", '''
def at_least_once(consumer, process):
    batch = consumer.poll(timeout_ms=20)
    for tp, records in batch.items():
        for record in records:
            process(record)
    if batch:
        consumer.commit({tp: OffsetAndMetadata(records[-1].offset) for tp, records in batch.items()})
'''),
        ("commits at the start of the next step: the last batch before a shutdown is never committed", '''
def at_least_once(consumer, process):
    consumer.commit()
    for records in consumer.poll(timeout_ms=20).values():
        for record in records:
            process(record)
'''),
        ("handles only the first partition of each batch, but commits them all", '''
def at_least_once(consumer, process):
    batch = consumer.poll(timeout_ms=20)
    for records in list(batch.values())[:1]:
        for record in records:
            process(record)
    if batch:
        consumer.commit()
'''),
    ],
    "05-starting_offset": [
        ("trusts any committed offset, even one that retention deleted", '''
def starting_offset(committed, bounds, policy):
    if committed is not None:
        return committed
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.high_watermark
    raise NoOffsetForPartitionError("no committed offset")
'''),
        ("'latest' goes to the log end offset instead of the high-water mark", '''
def starting_offset(committed, bounds, policy):
    if committed is not None and bounds.log_start_offset <= committed <= bounds.log_end_offset:
        return committed
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.log_end_offset
    if committed is None:
        raise NoOffsetForPartitionError("no committed offset")
    raise OffsetOutOfRangeError(f"offset {committed} is out of range")
'''),
        ("'none' quietly starts at the beginning instead of raising", '''
def starting_offset(committed, bounds, policy):
    if committed is not None and bounds.log_start_offset <= committed <= bounds.log_end_offset:
        return committed
    if policy == "latest":
        return bounds.high_watermark
    return bounds.log_start_offset
'''),
        ("off by one: a committed offset equal to the log end (caught up) counts as out of range", '''
def starting_offset(committed, bounds, policy):
    if committed is not None and bounds.log_start_offset <= committed < bounds.log_end_offset:
        return committed
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.high_watermark
    if committed is None:
        raise NoOffsetForPartitionError("no committed offset")
    raise OffsetOutOfRangeError(f"offset {committed} is out of range")
'''),
        ("ignores the committed offset: applies the policy every time", '''
def starting_offset(committed, bounds, policy):
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.high_watermark
    raise NoOffsetForPartitionError("no committed offset")
'''),
    ],
}

from tests.wrong.ex05_cooperative import WRONG as _COOPERATIVE  # noqa: E402
from tests.wrong.ex05_reconcile import WRONG as _RECONCILE  # noqa: E402

WRONG.update(_COOPERATIVE)
WRONG.update(_RECONCILE)
