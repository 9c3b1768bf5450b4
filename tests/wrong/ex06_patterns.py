"""Known-wrong implementations for module 06, part 2 (idempotent consumer, outbox relay).

Each entry replaces the exercise's solution cell; the checks must reject every one.
The names they use (sqlite3, top_up, publish, CONSUMER_ID) come from the section's locked cell.
"""

WRONG = {
    "06-idempotent_handle": [
        ("does the top-up and commits, then records the id in a second transaction (a crash between doubles it)", '''
def handle(conn, message):
    if conn.execute("SELECT 1 FROM processed_messages WHERE consumer_id = ? AND message_id = ?",
                    (CONSUMER_ID, message.id)).fetchone():
        return "duplicate"
    with conn:
        top_up(conn, message)
    with conn:
        conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                     (CONSUMER_ID, message.id))
    return "processed"
'''),
        ("records the id and commits first, then does the top-up (a crash between loses it)", '''
def handle(conn, message):
    try:
        with conn:
            conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                         (CONSUMER_ID, message.id))
    except sqlite3.IntegrityError:
        return "duplicate"
    with conn:
        top_up(conn, message)
    return "processed"
'''),
        ("checks for the id but never records it", '''
def handle(conn, message):
    with conn:
        if conn.execute("SELECT 1 FROM processed_messages WHERE consumer_id = ? AND message_id = ?",
                        (CONSUMER_ID, message.id)).fetchone():
            return "duplicate"
        top_up(conn, message)
    return "processed"
'''),
        ("INSERT OR IGNORE the id, then always top up (the duplicate is ignored, the effect is not)", '''
def handle(conn, message):
    with conn:
        conn.execute("INSERT OR IGNORE INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                     (CONSUMER_ID, message.id))
        top_up(conn, message)
    return "processed"
'''),
        ("remembers processed ids in a Python set: gone (or ahead of the database) after a crash", '''
SEEN = set()

def handle(conn, message):
    if message.id in SEEN:
        return "duplicate"
    with conn:
        top_up(conn, message)
    SEEN.add(message.id)
    return "processed"
'''),
        ("never commits: the top-up and the id stay in an open transaction", '''
def handle(conn, message):
    try:
        conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                     (CONSUMER_ID, message.id))
    except sqlite3.IntegrityError:
        return "duplicate"
    top_up(conn, message)
    return "processed"
'''),
        ("lets the primary-key error escape instead of acknowledging the duplicate", '''
def handle(conn, message):
    with conn:
        conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                     (CONSUMER_ID, message.id))
        top_up(conn, message)
    return "processed"
'''),
        ("returns 'processed' for duplicates too", '''
def handle(conn, message):
    with conn:
        try:
            conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                         (CONSUMER_ID, message.id))
        except sqlite3.IntegrityError:
            return "processed"
        top_up(conn, message)
    return "processed"
'''),
        ('dedupes by content (account and amount), not by message id: a second, different top-up of the same amount is dropped', '''
def handle(conn, message):
    key = f"{message.payload['account']}:{message.payload['amount']}"
    with conn:
        try:
            conn.execute("INSERT INTO processed_messages (consumer_id, message_id) VALUES (?, ?)",
                         (CONSUMER_ID, key))
        except sqlite3.IntegrityError:
            return "duplicate"
        top_up(conn, message)
    return "processed"
'''),
    ],
    "06-outbox_relay": [
        ("marks the batch published before publishing it (a crash in between loses events)", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    with conn:
        for row in rows:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row[0],))
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
    return len(rows)
'''),
        ("orders by the event id (a random id), not by the outbox sequence", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY event_id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
        ("skips a row whose publish failed and goes on with the next one", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    sent = 0
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        try:
            publish(topic, event_id, aggregate_id, event_type, payload)
        except BrokerUnavailableError:
            continue
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
        sent += 1
    return sent
'''),
        ("marks every unpublished row after the batch (also rows committed meanwhile, never published)", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
    with conn:
        conn.execute("UPDATE outbox SET published = 1 WHERE published = 0")
    return len(rows)
'''),
        ("publishes but never marks: every step sends the same rows again", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
    return len(rows)
'''),
        ("marks rows published but never commits the marks", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
        ("newest first (ORDER BY id DESC)", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id DESC LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
        ("swallows a failed publish and marks the row anyway", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        try:
            publish(topic, event_id, aggregate_id, event_type, payload)
        except Exception:
            pass
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
        ("keys records by the event type instead of the aggregate id", '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id LIMIT ?", (batch_size,)).fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, event_type, event_type, payload)
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
        ('ignores batch_size: one call publishes the whole backlog', '''
def relay_once(conn, topic, batch_size):
    rows = conn.execute("SELECT id, event_id, aggregate_id, event_type, payload FROM outbox "
                        "WHERE published = 0 ORDER BY id").fetchall()
    for row_id, event_id, aggregate_id, event_type, payload in rows:
        publish(topic, event_id, aggregate_id, event_type, payload)
        with conn:
            conn.execute("UPDATE outbox SET published = 1 WHERE id = ?", (row_id,))
    return len(rows)
'''),
    ],
}
