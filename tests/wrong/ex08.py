"""Known-wrong implementations for module 08's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

_HANDLE_HEAD = '''
def handle(conn, event):
    order_id = event.stream[len("order-"):]
'''

WRONG = {
    "08-handlers": [
        ("a cancelled order that was paid is not refunded", _HANDLE_HEAD + '''
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id) VALUES (?, ?)", (order_id, user))
        conn.execute("INSERT INTO user_stats (user_id, orders_placed) VALUES (?, 1) "
                     "ON CONFLICT(user_id) DO UPDATE SET orders_placed = orders_placed + 1", (user,))
        return
    (user, paid) = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?",
                                (order_id,)).fetchone()
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats_orders SET paid = ? WHERE order_id = ?", (event.data["amount"], order_id))
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderShipped":
        conn.execute("UPDATE user_stats SET orders_shipped = orders_shipped + 1 WHERE user_id = ?", (user,))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1 WHERE user_id = ?", (user,))
'''),
        ("UPDATE only: a user's first order finds no row to update, so nobody ever appears", _HANDLE_HEAD + '''
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id) VALUES (?, ?)", (order_id, user))
        conn.execute("UPDATE user_stats SET orders_placed = orders_placed + 1 WHERE user_id = ?", (user,))
        return
    (user, paid) = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?",
                                (order_id,)).fetchone()
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats_orders SET paid = ? WHERE order_id = ?", (event.data["amount"], order_id))
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderShipped":
        conn.execute("UPDATE user_stats SET orders_shipped = orders_shipped + 1 WHERE user_id = ?", (user,))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1, "
                     "total_spent = total_spent - ? WHERE user_id = ?", (paid, user))
'''),
        ("refunds the order's total on every cancel, even when it was never paid", _HANDLE_HEAD + '''
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id, paid) VALUES (?, ?, ?)",
                     (order_id, user, event.data["total"]))
        conn.execute("INSERT INTO user_stats (user_id, orders_placed) VALUES (?, 1) "
                     "ON CONFLICT(user_id) DO UPDATE SET orders_placed = orders_placed + 1", (user,))
        return
    (user, total) = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?",
                                 (order_id,)).fetchone()
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderShipped":
        conn.execute("UPDATE user_stats SET orders_shipped = orders_shipped + 1 WHERE user_id = ?", (user,))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1, "
                     "total_spent = total_spent - ? WHERE user_id = ?", (total, user))
'''),
        ("forgets shipped orders", _HANDLE_HEAD + '''
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id) VALUES (?, ?)", (order_id, user))
        conn.execute("INSERT INTO user_stats (user_id, orders_placed) VALUES (?, 1) "
                     "ON CONFLICT(user_id) DO UPDATE SET orders_placed = orders_placed + 1", (user,))
        return
    (user, paid) = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?",
                                (order_id,)).fetchone()
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats_orders SET paid = ? WHERE order_id = ?", (event.data["amount"], order_id))
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1, "
                     "total_spent = total_spent - ? WHERE user_id = ?", (paid, user))
'''),
        ("assumes every event in $all is an order event: a bank account's event in the same store crashes it",
         _HANDLE_HEAD + '''
    if event.type == "OrderPlaced":
        user = event.data["user_id"]
        conn.execute("INSERT INTO user_stats_orders (order_id, user_id) VALUES (?, ?)", (order_id, user))
        conn.execute("INSERT INTO user_stats (user_id, orders_placed) VALUES (?, 1) "
                     "ON CONFLICT(user_id) DO UPDATE SET orders_placed = orders_placed + 1", (user,))
        return
    (user, paid) = conn.execute("SELECT user_id, paid FROM user_stats_orders WHERE order_id = ?",
                                (order_id,)).fetchone()
    if event.type == "OrderPaid":
        conn.execute("UPDATE user_stats_orders SET paid = ? WHERE order_id = ?", (event.data["amount"], order_id))
        conn.execute("UPDATE user_stats SET orders_paid = orders_paid + 1, total_spent = total_spent + ? "
                     "WHERE user_id = ?", (event.data["amount"], user))
    elif event.type == "OrderShipped":
        conn.execute("UPDATE user_stats SET orders_shipped = orders_shipped + 1 WHERE user_id = ?", (user,))
    elif event.type == "OrderCancelled":
        conn.execute("UPDATE user_stats SET orders_cancelled = orders_cancelled + 1, "
                     "total_spent = total_spent - ? WHERE user_id = ?", (paid, user))
'''),
    ],
    "08-process_batch": [
        ("commits each event, then the checkpoint, in separate transactions", '''
def process_batch(conn, projection, events):
    for event in events:
        conn.execute("BEGIN")
        projection.handle(conn, event)
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        save_checkpoint(conn, projection.name, event.position)
        conn.execute("COMMIT")
'''),
        ("moves the checkpoint first, then applies the batch (a kill in between skips events)", '''
def process_batch(conn, projection, events):
    conn.execute("BEGIN")
    save_checkpoint(conn, projection.name, events[-1].position)
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    for event in events:
        projection.handle(conn, event)
    conn.execute("COMMIT")
'''),
        ("off by one: saves the position of the batch's first event", '''
def process_batch(conn, projection, events):
    conn.execute("BEGIN")
    for event in events:
        projection.handle(conn, event)
    save_checkpoint(conn, projection.name, events[0].position)
    conn.execute("COMMIT")
'''),
        ("no BEGIN: every statement commits on its own (autocommit)", '''
def process_batch(conn, projection, events):
    for event in events:
        projection.handle(conn, event)
    save_checkpoint(conn, projection.name, events[-1].position)
'''),
        ("one transaction for the batch, but the checkpoint saved after the COMMIT (autocommit)", '''
def process_batch(conn, projection, events):
    conn.execute("BEGIN")
    for event in events:
        projection.handle(conn, event)
    conn.execute("COMMIT")
    save_checkpoint(conn, projection.name, events[-1].position)
'''),
    ],
    "08-wait_for": [
        ("compares with > instead of >=: waits for one event too many", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while True:
        checkpoint = read_checkpoint()
        if checkpoint > position:
            return checkpoint
        if clock() >= deadline:
            raise TimeoutError(f"read model at {checkpoint}, wanted {position}")
        sleep(poll)
'''),
        ("never gives up", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    while read_checkpoint() < position:
        sleep(poll)
    return read_checkpoint()
'''),
        ("returns quietly on timeout: the caller reads a stale model as if it were fresh", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while clock() < deadline:
        checkpoint = read_checkpoint()
        if checkpoint >= position:
            return checkpoint
        sleep(poll)
    return read_checkpoint()
'''),
        ("counts sleeps instead of reading the clock (real sleeps overshoot)", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    for _ in range(int(timeout / poll) + 1):
        checkpoint = read_checkpoint()
        if checkpoint >= position:
            return checkpoint
        sleep(poll)
    raise TimeoutError(f"read model at {read_checkpoint()}, wanted {position}")
'''),
        ("returns True instead of the checkpoint it found", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while True:
        if read_checkpoint() >= position:
            return True
        if clock() >= deadline:
            raise TimeoutError(f"read model not yet at {position}")
        sleep(poll)
'''),
        ("checks the clock before the checkpoint: gives up on a read model that has just caught up", '''
def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while clock() < deadline:
        checkpoint = read_checkpoint()
        if checkpoint >= position:
            return checkpoint
        sleep(poll)
    raise TimeoutError(f"read model at {read_checkpoint()}, wanted {position}")
'''),
        ("calls time.sleep instead of the sleep it was given (the test's clock never moves)", '''
import time

def wait_for(read_checkpoint, position, timeout, clock, sleep, poll=0.01):
    deadline = clock() + timeout
    while True:
        checkpoint = read_checkpoint()
        if checkpoint >= position:
            return checkpoint
        if clock() >= deadline:
            raise TimeoutError(f"read model at {checkpoint}, wanted {position}")
        time.sleep(poll)
'''),
    ],
}
