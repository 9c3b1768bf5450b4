"""Known-wrong implementations for module 01's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "01-topic_match": [
        ("'#' as a regex '.+': it needs at least one character, so 'order.#' misses 'order'", '''
import re

def matches(pattern, routing_key):
    regex = pattern.replace(".", r"\\.").replace("*", r"[^.]+").replace("#", r".+")
    return re.fullmatch(regex, routing_key) is not None
'''),
        ("'*' as a regex '.*': one star swallows several words", '''
import re

def matches(pattern, routing_key):
    regex = pattern.replace(".", r"\\.").replace("*", r".*").replace("#", r".*")
    return re.fullmatch(regex, routing_key) is not None
'''),
        ("word by word with zip: '#' treated like '*' (exactly one word)", '''
def matches(pattern, routing_key):
    p, k = pattern.split("."), routing_key.split(".")
    if len(p) != len(k):
        return False
    return all(pw in ("*", "#") or pw == kw for pw, kw in zip(p, k))
'''),
        ("prefix matching: strips the wildcards and compares the start of the key", '''
def matches(pattern, routing_key):
    prefix = pattern.split("*")[0].split("#")[0].rstrip(".")
    if "*" not in pattern and "#" not in pattern:
        return pattern == routing_key
    return routing_key.startswith(prefix)
'''),
        ("an empty binding key split into one empty word: only the routing key's empty case is handled", '''
def matches(pattern, routing_key):
    p = pattern.split(".")
    k = routing_key.split(".") if routing_key else []

    def match(i, j):
        if i == len(p):
            return j == len(k)
        if p[i] == "#":
            return match(i + 1, j) or (j < len(k) and match(i, j + 1))
        if j == len(k):
            return False
        return (p[i] == "*" or p[i] == k[j]) and match(i + 1, j + 1)

    return match(0, 0)
'''),
    ],
    "01-dispatch": [
        ("ignores prefetch: always the consumer whose turn it is", '''
def choose_consumer(consumers, next_index):
    return next_index % len(consumers)
'''),
        ("not round-robin: always scans from the first consumer", '''
def choose_consumer(consumers, next_index):
    for i, c in enumerate(consumers):
        if c.prefetch == 0 or c.unacked < c.prefetch:
            return i
    return None
'''),
        ("off by one: `unacked <= prefetch` lets a consumer take one more than its prefetch", '''
def choose_consumer(consumers, next_index):
    n = len(consumers)
    for step in range(n):
        i = (next_index + step) % n
        c = consumers[i]
        if c.prefetch == 0 or c.unacked <= c.prefetch:
            return i
    return None
'''),
        ("no wrap-around: gives up at the end of the list", '''
def choose_consumer(consumers, next_index):
    for i in range(next_index, len(consumers)):
        c = consumers[i]
        if c.prefetch == 0 or c.unacked < c.prefetch:
            return i
    return None
'''),
        ("prefetch 0 read as 'no room' instead of 'unlimited'", '''
def choose_consumer(consumers, next_index):
    n = len(consumers)
    for step in range(n):
        i = (next_index + step) % n
        if consumers[i].unacked < consumers[i].prefetch:
            return i
    return None
'''),
    ],
    "01-idempotent_worker": [
        ("no dedupe: a redelivery after a lost ack does the task again", '''
def handle(delivery, channel, process, seen):
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    channel.ack(delivery)
'''),
        ("acks first, then works: a crash in the middle loses the task", '''
def handle(delivery, channel, process, seen):
    if delivery.message_id in seen:
        channel.ack(delivery)
        return
    channel.ack(delivery)
    try:
        process(delivery.body)
        seen.add(delivery.message_id)
    except ProcessingFailed:
        pass
'''),
        ("remembers the id before the work: after a failure the retry is skipped as a duplicate", '''
def handle(delivery, channel, process, seen):
    if delivery.message_id in seen:
        channel.ack(delivery)
        return
    seen.add(delivery.message_id)
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    channel.ack(delivery)
'''),
        ("nacks failures with requeue=False: without a DLX the broker drops them", '''
def handle(delivery, channel, process, seen):
    if delivery.message_id in seen:
        channel.ack(delivery)
        return
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=False)
        return
    seen.add(delivery.message_id)
    channel.ack(delivery)
'''),
        ("skips duplicates without acknowledging them: they stay unacked for ever", '''
def handle(delivery, channel, process, seen):
    if delivery.message_id in seen:
        return
    try:
        process(delivery.body)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    seen.add(delivery.message_id)
    channel.ack(delivery)
'''),
        ('processes the delivery object instead of its body', '''
def handle(delivery, channel, process, seen):
    if delivery.message_id in seen:
        channel.ack(delivery)
        return
    try:
        process(delivery)
    except ProcessingFailed:
        channel.nack(delivery, requeue=True)
        return
    seen.add(delivery.message_id)
    channel.ack(delivery)
'''),
    ],
    "01-group_queue": [
        ("a queue per member: every member gets every message (plain fan-out)", '''
def group_queue(broker, exchange, group, member):
    name = f"{exchange}.{group}.{member}"
    broker.declare_queue(name)
    broker.bind(name, exchange)
    return name
'''),
        ("one queue for everyone: the groups split the messages between them", '''
def group_queue(broker, exchange, group, member):
    name = f"{exchange}.all"
    broker.declare_queue(name)
    broker.bind(name, exchange)
    return name
'''),
        ("declares the group's queue but never binds it: nothing arrives", '''
def group_queue(broker, exchange, group, member):
    name = f"{exchange}.{group}"
    broker.declare_queue(name)
    return name
'''),
        ('the queue named after the group only: the same group name on another exchange shares its queue', '''
def group_queue(broker, exchange, group, member):
    broker.declare_queue(group)
    broker.bind(group, exchange)
    return group
'''),
    ],
}
