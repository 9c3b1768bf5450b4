"""Known-wrong implementations for module 10's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "10-key_dispatch": [
        ("a stateless hash of the key over the current consumers: keys move when a consumer crashes or joins", '''
import zlib

def choose_consumer(key, consumers):
    c = consumers[zlib.crc32(key.encode()) % len(consumers)]
    return c.name if c.has_room else None
'''),
        ("ignores the keys: the least loaded consumer with room (a plain work queue)", '''
def choose_consumer(key, consumers):
    free = [c for c in consumers if c.has_room]
    if not free:
        return None
    return min(free, key=lambda c: len(c.keys)).name
'''),
        ("sticks to the key's consumer only while it has room, else sends the message elsewhere", '''
def choose_consumer(key, consumers):
    for c in consumers:
        if key in c.keys and c.has_room:
            return c.name
    free = [c for c in consumers if c.has_room]
    return free[0].name if free else None
'''),
        ("rendezvous hashing over the live consumers: stable on crashes, but a joining consumer steals keys in flight", '''
import zlib

def choose_consumer(key, consumers):
    best = max(consumers, key=lambda c: zlib.crc32(f"{key}/{c.name}".encode()))
    return best.name if best.has_room else None
'''),
        ("returns the view instead of its name", '''
def choose_consumer(key, consumers):
    for c in consumers:
        if key in c.keys:
            return c if c.has_room else None
    free = [c for c in consumers if c.has_room]
    return free[0] if free else None
'''),
    ],
    "10-choose_broker": [
        ("the hype answer: Kafka for everything", '''
def choose_broker(req):
    return "kafka"
'''),
        ("recites the slide: replay means Kafka, routing means RabbitMQ, otherwise SQS", '''
def choose_broker(req):
    if req.replay:
        return "kafka"
    if req.routing:
        return "rabbitmq"
    return "sqs"
'''),
        ("forgets that queues store one copy per subscriber: ignores max_copies", '''
def choose_broker(req):
    log_needed = req.replay or req.per_key_order
    if log_needed and req.routing:
        return None
    if log_needed:
        return "kafka"
    if req.offline_days > 14:
        return "rabbitmq"
    return "sqs"
'''),
        ("forgets SQS's 14-day retention limit", '''
def choose_broker(req):
    log_needed = req.replay or req.per_key_order or (req.max_copies is not None and req.fan_out > req.max_copies)
    if log_needed and req.routing:
        return None
    if log_needed:
        return "pulsar"
    return "sqs"
'''),
        ("never answers None: picks a log when log and routing needs collide", '''
def choose_broker(req):
    log_needed = req.replay or req.per_key_order or (req.max_copies is not None and req.fan_out > req.max_copies)
    if log_needed:
        return "kafka"
    return "rabbitmq"
'''),
        ("knows RabbitMQ streams but not slow consumers: RabbitMQ for everything", '''
def choose_broker(req):
    return "rabbitmq"
'''),
        ("thinks per-key order always pins keys to a consumer: never SQS FIFO with a slow consumer", '''
def choose_broker(req):
    log_needed = req.replay or (req.max_copies is not None and req.fan_out > req.max_copies)
    if req.tolerate_slow_consumer:
        if req.per_key_order or (log_needed and req.routing):
            return None
        return "kafka" if log_needed else "rabbitmq"
    return "rabbitmq"
'''),
        ("forgets Kafka's share groups: a log cannot route around a slow consumer", '''
def choose_broker(req):
    log_needed = req.replay or (req.max_copies is not None and req.fan_out > req.max_copies)
    if req.tolerate_slow_consumer:
        if req.per_key_order:
            return None if log_needed or req.offline_days > 14 else "sqs"
        return None if log_needed else "rabbitmq"
    return "rabbitmq"
'''),
        ('fan_out >= max_copies: exactly as many copies as allowed taken for too many (no queue then)', '''
def choose_broker(req):
    """A broker that meets every requirement in `req`, or None when none does."""
    one_copy_for_many = req.max_copies is not None and req.fan_out >= req.max_copies
    needs_a_log = req.replay or one_copy_for_many      # history kept; one stored copy read by many
    if not req.tolerate_slow_consumer:
        return "rabbitmq"        # a stream (replay, order, one copy, bound per pattern) or a queue covers the rest
    # the work must route around a slow consumer: no key or partition may be pinned to it
    if req.per_key_order:
        if needs_a_log or req.offline_days > 14:
            return None          # a log pins keys to consumers; SQS FIFO cannot replay or keep > 14 days
        return "sqs"             # FIFO: a key's group goes to one consumer at a time, then to any other
    if needs_a_log:
        return None if req.routing else "kafka"     # a share group reads the log like a queue
    return "rabbitmq"            # a queue: competing consumers, routing in the broker, no expiry
'''),
    ],
    "10-stored_bytes": [
        ("one copy in a queue whatever the fan-out: counts only the slowest subscriber's backlog", '''
def stored_bytes(broker, published, consumed, message_bytes):
    if broker in ("kafka", "pulsar"):
        return published * message_bytes
    return (published - min(consumed)) * message_bytes
'''),
        ("thinks a log deletes what every subscriber has read", '''
def stored_bytes(broker, published, consumed, message_bytes):
    if broker in ("kafka", "pulsar"):
        return (published - min(consumed)) * message_bytes
    return sum(published - c for c in consumed) * message_bytes
'''),
        ("a log copy per subscriber, like queues", '''
def stored_bytes(broker, published, consumed, message_bytes):
    if broker in ("kafka", "pulsar"):
        return published * len(consumed) * message_bytes
    return sum(published - c for c in consumed) * message_bytes
'''),
        ("counts messages, not bytes", '''
def stored_bytes(broker, published, consumed, message_bytes):
    if broker in ("kafka", "pulsar"):
        return published
    return sum(published - c for c in consumed)
'''),
        ("treats Pulsar as a queue", '''
def stored_bytes(broker, published, consumed, message_bytes):
    if broker == "kafka":
        return published * message_bytes
    return sum(published - c for c in consumed) * message_bytes
'''),
    ],
}
