"""Known-wrong implementations for module 07's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "07-apply": [
        ("withdrawals add to the balance (copy-paste from the deposit branch)", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner, account.opened = data["owner"], True
    elif event.type in ("MoneyDeposited", "MoneyWithdrawn"):
        account.balance += data["amount"]
        if "transfer_id" in data:
            account.transfers.add(data["transfer_id"])
    elif event.type == "AccountClosed":
        account.closed = True
    else:
        raise ValueError(f"unknown event type {event.type!r}")
'''),
        ("forgets to remember transfer ids, so a retried transfer step moves money twice", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner, account.opened = data["owner"], True
    elif event.type == "MoneyDeposited":
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        account.closed = True
    else:
        raise ValueError(f"unknown event type {event.type!r}")
'''),
        ("bumps the version inside apply (replay already counts events)", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner, account.opened = data["owner"], True
    elif event.type == "MoneyDeposited":
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        account.closed = True
    else:
        raise ValueError(f"unknown event type {event.type!r}")
    if "transfer_id" in data:
        account.transfers.add(data["transfer_id"])
    account.version += 1
'''),
        ("silently ignores event types it does not know", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner, account.opened = data["owner"], True
    elif event.type == "MoneyDeposited":
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        account.closed = True
    if "transfer_id" in data:
        account.transfers.add(data["transfer_id"])
'''),
        ("never marks the account closed", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner, account.opened = data["owner"], True
    elif event.type == "MoneyDeposited":
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        pass
    else:
        raise ValueError(f"unknown event type {event.type!r}")
    if "transfer_id" in data:
        account.transfers.add(data["transfer_id"])
'''),
        ("re-checks the business rules in apply: a stored overdraft or a late deposit stops the replay", '''
def apply(account, event):
    data = event.data
    if event.type == "AccountOpened":
        account.owner = data["owner"]
        account.opened = True
    elif event.type == "MoneyDeposited":
        if account.closed:
            raise AccountClosedError(f"account {account.id} is closed")
        account.balance += data["amount"]
    elif event.type == "MoneyWithdrawn":
        if data["amount"] > account.balance:
            raise DomainError("insufficient funds")
        account.balance -= data["amount"]
    elif event.type == "AccountClosed":
        account.closed = True
    else:
        raise UnknownEventTypeError("BankAccount", event.type, event.stream, event.version)
    if "transfer_id" in data:
        account.transfers.add(data["transfer_id"])
'''),
    ],
    "07-append_retry": [
        ("appends with expected_version=ANY (no concurrency check at all)", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    history = store.read_stream(stream)
    events = decide(history)
    if not events:
        return None
    return store.append(stream, events, expected_version=ANY)
'''),
        ("retries with the same stale history instead of reading again", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    history = store.read_stream(stream)
    version = history[-1].version if history else 0
    for attempt in range(max_attempts):
        events = decide(history)
        if not events:
            return None
        try:
            return store.append(stream, events, expected_version=version)
        except ConcurrencyError:
            if attempt == max_attempts - 1:
                raise
'''),
        ("swallows the last ConcurrencyError and returns None: the caller thinks it worked", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    for attempt in range(max_attempts):
        history = store.read_stream(stream)
        events = decide(history)
        if not events:
            return None
        try:
            return store.append(stream, events, expected_version=history[-1].version if history else 0)
        except ConcurrencyError:
            pass
    return None
'''),
        ("off by one: gives up after max_attempts - 1 tries", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    for attempt in range(1, max_attempts):
        history = store.read_stream(stream)
        events = decide(history)
        if not events:
            return None
        try:
            return store.append(stream, events, expected_version=history[-1].version if history else 0)
        except ConcurrencyError:
            if attempt == max_attempts - 1:
                raise
    history = store.read_stream(stream)
    return store.append(stream, decide(history), expected_version=history[-1].version + 1)
'''),
        ("history[-1] on a new stream: the first event of a stream can never be appended", '''
def append_with_retry(store, stream, decide, max_attempts=5):
    for attempt in range(1, max_attempts + 1):
        history = store.read_stream(stream)
        events = decide(history)
        if not events:
            return None
        try:
            return store.append(stream, events, expected_version=history[-1].version)
        except ConcurrencyError:
            if attempt == max_attempts:
                raise
'''),
    ],
    "07-upcaster": [
        ("truncates instead of rounding: 12.29 euros becomes 1228 cents", '''
def upcast_deposit_v1(data):
    return {"amount": int(data["amount_eur"] * 100), "currency": "EUR"}
'''),
        ("forgets the currency field", '''
def upcast_deposit_v1(data):
    return {"amount": round(data["amount_eur"] * 100)}
'''),
        ("keeps euros: renames the field but does not convert to cents", '''
def upcast_deposit_v1(data):
    return {"amount": data["amount_eur"], "currency": "EUR"}
'''),
        ("mutates the old dict and returns nothing", '''
def upcast_deposit_v1(data):
    data["amount"] = round(data.pop("amount_eur") * 100)
    data["currency"] = "EUR"
'''),
        ("round(x, 2): the right number of cents, but a float (1250.0), not an int", '''
def upcast_deposit_v1(data):
    return {"amount": round(data["amount_eur"] * 100, 2), "currency": "EUR"}
'''),
    ],
    "07-saga": [
        ("no compensation: a refused credit just fails, and the debited money is lost", '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "fail", "credit_failed": "fail", "refunded": "fail"}.get(transfer.status)
'''),
        ("compensates a debit that never happened: money is created", '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "refund", "credit_failed": "refund", "refunded": "fail"}.get(transfer.status)
'''),
        ("stops after the refund: the saga never reaches a terminal status", '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "fail", "credit_failed": "refund"}.get(transfer.status)
'''),
        ("reports a refused refund as 'failed': the debited money is owed, yet the saga says it was returned",
         '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "fail", "credit_failed": "refund", "refunded": "fail",
            "stuck": "fail"}.get(transfer.status)
'''),
        ("retries a refused refund for ever: the source stays closed, the saga never stops", '''
def next_step(transfer):
    return {"started": "debit", "debited": "credit", "credited": "complete",
            "debit_failed": "fail", "credit_failed": "refund", "refunded": "fail",
            "stuck": "refund"}.get(transfer.status)
'''),
        ("credits before debiting (and so never compensates a refused debit)", '''
def next_step(transfer):
    return {"started": "credit", "credited": "debit", "debited": "complete",
            "credit_failed": "fail", "debit_failed": "fail", "refunded": "fail"}.get(transfer.status)
'''),
    ],
}
