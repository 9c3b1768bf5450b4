"""Known-wrong implementations for module 09's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "09-backoff": [
        ("forgets the cap: delays keep doubling for ever", '''
def backoff(retry, base_ms, cap_ms, rng):
    return rng.uniform(0, base_ms * 2 ** (retry - 1))
'''),
        ("off by one in the exponent: the first retry may wait twice the base", '''
def backoff(retry, base_ms, cap_ms, rng):
    return rng.uniform(0, min(cap_ms, base_ms * 2 ** retry))
'''),
        ("no jitter: every client retries at the same moment", '''
def backoff(retry, base_ms, cap_ms, rng):
    return min(cap_ms, base_ms * 2 ** (retry - 1))
'''),
        ("draws from the global random module: a seed cannot replay the run", '''
import random

def backoff(retry, base_ms, cap_ms, rng):
    return random.uniform(0, min(cap_ms, base_ms * 2 ** (retry - 1)))
'''),
        ("caps the drawn delay instead of the ceiling: delays pile up at the cap", '''
def backoff(retry, base_ms, cap_ms, rng):
    return min(cap_ms, rng.uniform(0, base_ms * 2 ** (retry - 1)))
'''),
    ],
    "09-classify": [
        ("retries everything: poison and bad data burn every attempt", '''
def is_transient(exc):
    return True
'''),
        ("only 5xx is transient: 429 Too Many Requests and 408 go to the DLQ", '''
def is_transient(exc):
    if isinstance(exc, HttpError):
        return exc.status >= 500
    if isinstance(exc, (TimeoutError, ConnectionError, TransientError)):
        return True
    if isinstance(exc, (PermanentError, ValueError, KeyError, TypeError, AttributeError)):
        return False
    return True
'''),
        ("exact type comparisons: subclasses such as DeserializationError slip through as transient", '''
def is_transient(exc):
    if type(exc) is HttpError:
        return exc.status in (408, 429) or 500 <= exc.status <= 599
    if type(exc) in (ValueError, KeyError, TypeError, AttributeError, PermanentError):
        return False
    return True
'''),
        ("every HTTP error is permanent: a 503 during a deployment loses the message", '''
def is_transient(exc):
    if isinstance(exc, HttpError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError, TransientError)):
        return True
    if isinstance(exc, (PermanentError, ValueError, KeyError, TypeError, AttributeError)):
        return False
    return True
'''),
    ],
    "09-retry_router": [
        ("off by one: takes the delay of the topic after the next one", '''
def route_failure(topology, failed_topic, now_ms, fatal):
    if fatal:
        return topology.dlt, None
    chain = [topology.main] + list(topology.retry_topics)
    i = chain.index(failed_topic)
    if i + 1 < len(chain):
        return chain[i + 1], now_ms + topology.delays[i + 1]
    return topology.dlt, None
'''),
        ("the due time is the delay itself, not now + delay", '''
def route_failure(topology, failed_topic, now_ms, fatal):
    if fatal:
        return topology.dlt, None
    chain = [topology.main] + list(topology.retry_topics)
    i = chain.index(failed_topic)
    if i + 1 < len(chain):
        return chain[i + 1], topology.delays[i]
    return topology.dlt, None
'''),
        ("ignores fatal errors: a record that cannot deserialize climbs the whole ladder", '''
def route_failure(topology, failed_topic, now_ms, fatal):
    chain = [topology.main] + list(topology.retry_topics)
    i = chain.index(failed_topic)
    if i + 1 < len(chain):
        return chain[i + 1], now_ms + topology.delays[i]
    return topology.dlt, None
'''),
        ("the last retry topic retries itself instead of giving up", '''
def route_failure(topology, failed_topic, now_ms, fatal):
    if fatal:
        return topology.dlt, None
    chain = [topology.main] + list(topology.retry_topics)
    i = min(chain.index(failed_topic) + 1, len(chain) - 1)
    if i == 0:
        return topology.dlt, None
    return chain[i], now_ms + topology.delays[i - 1]
'''),
    ],
    "09-redrive": [
        ("deletes before sending: a send that fails loses the message", '''
def redrive(dlq, destination, budget):
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=min(10, budget - moved))
        if not batch:
            return moved
        for m in batch:
            dlq.delete_message(m.receipt_handle)
            attributes = dict(m.message_attributes)
            attributes.setdefault(ORIGINAL_ID, m.message_id)
            try:
                destination.send_message(m.body, message_attributes=attributes)
            except QueueUnavailable:
                return moved
            moved += 1
    return moved
'''),
        ("never deletes: every message comes back after its visibility timeout and is sent again", '''
def redrive(dlq, destination, budget):
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=min(10, budget - moved))
        if not batch:
            return moved
        for m in batch:
            attributes = dict(m.message_attributes)
            attributes.setdefault(ORIGINAL_ID, m.message_id)
            try:
                destination.send_message(m.body, message_attributes=attributes)
            except QueueUnavailable:
                return moved
            moved += 1
    return moved
'''),
        ("ignores the rate cap: empties the DLQ in one go", '''
def redrive(dlq, destination, budget):
    moved = 0
    while True:
        batch = dlq.receive_message(max_number_of_messages=10)
        if not batch:
            return moved
        for m in batch:
            attributes = dict(m.message_attributes)
            attributes.setdefault(ORIGINAL_ID, m.message_id)
            try:
                destination.send_message(m.body, message_attributes=attributes)
            except QueueUnavailable:
                return moved
            dlq.delete_message(m.receipt_handle)
            moved += 1
'''),
        ("overwrites the original id with the DLQ message's id (a second redrive loses the first id)", '''
def redrive(dlq, destination, budget):
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=min(10, budget - moved))
        if not batch:
            return moved
        for m in batch:
            attributes = dict(m.message_attributes)
            attributes[ORIGINAL_ID] = m.message_id
            try:
                destination.send_message(m.body, message_attributes=attributes)
            except QueueUnavailable:
                return moved
            dlq.delete_message(m.receipt_handle)
            moved += 1
    return moved
'''),
        ("does not catch QueueUnavailable: the first outage fails the whole move task", '''
def redrive(dlq, destination, budget):
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=min(10, budget - moved))
        if not batch:
            return moved
        for m in batch:
            attributes = dict(m.message_attributes)
            attributes.setdefault(ORIGINAL_ID, m.message_id)
            destination.send_message(m.body, message_attributes=attributes)
            dlq.delete_message(m.receipt_handle)
            moved += 1
    return moved
'''),
        ('moves one message per call whatever the budget: the task runs far below its rate', '''
def redrive(dlq, destination, budget):
    batch = dlq.receive_message(max_number_of_messages=1)
    if not batch:
        return 0
    m = batch[0]
    attributes = dict(m.message_attributes)
    attributes.setdefault(ORIGINAL_ID, m.message_id)
    try:
        destination.send_message(m.body, message_attributes=attributes)
    except QueueUnavailable:
        dlq.change_message_visibility(m.receipt_handle, 0)
        return 0
    dlq.delete_message(m.receipt_handle)
    return 1
'''),
        ('receives 10 at a time and stops at the budget: the rest stay invisible for the visibility timeout', '''
def redrive(dlq, destination, budget):
    moved = 0
    for m in dlq.receive_message(max_number_of_messages=10):
        if moved == budget:
            break
        attributes = dict(m.message_attributes)
        attributes.setdefault(ORIGINAL_ID, m.message_id)
        try:
            destination.send_message(m.body, message_attributes=attributes)
        except QueueUnavailable:
            dlq.change_message_visibility(m.receipt_handle, 0)
            return moved
        dlq.delete_message(m.receipt_handle)
        moved += 1
    return moved
'''),
        ('forgets to return how many messages it moved (None)', '''
def redrive(dlq, destination, budget):
    """Move at most `budget` messages from dlq to destination; never lose one, never send one twice."""
    moved = 0
    while moved < budget:
        batch = dlq.receive_message(max_number_of_messages=1)    # oldest first, one at a time
        if not batch:
            break
        m = batch[0]
        attributes = dict(m.message_attributes)
        attributes.setdefault(ORIGINAL_ID, m.message_id)   # the first id survives every redrive
        try:
            destination.send_message(m.body, message_attributes=attributes)
        except QueueUnavailable:
            dlq.change_message_visibility(m.receipt_handle, 0)   # not sent: visible again for the next try
            return
        dlq.delete_message(m.receipt_handle)   # sent: only now forget it
        moved += 1
    return None
'''),
    ],
}

# Part 2 (share groups, KIP-932) keeps its own table.
from tests.wrong.ex09_share import WRONG as _SHARE  # noqa: E402

WRONG.update(_SHARE)
