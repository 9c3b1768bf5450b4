"""Known-wrong implementations for module 00's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

WRONG = {
    "00-call_chain": [
        ("swallows the failure and reports success with a partial latency", '''
def call_chain(calls):
    total = 0.0
    for call in calls:
        try:
            total += call()
        except ServiceDown:
            pass
    return total
'''),
        ("off by one: never calls the last service", '''
def call_chain(calls):
    total = 0.0
    for call in calls[:-1]:
        total += call()
    return total
'''),
        ("keeps calling downstream services after a failure, then raises", '''
def call_chain(calls):
    total, failure = 0.0, None
    for call in calls:
        try:
            total += call()
        except ServiceDown as exc:
            failure = exc
    if failure is not None:
        raise failure
    return total
'''),
        ("thinks the hops run in parallel: returns the slowest instead of the sum", '''
def call_chain(calls):
    return max(call() for call in calls)
'''),
    ],
    "00-queue_handler": [
        ("acknowledges even when the service failed (at-most-once: the message is lost)", '''
def handle(message, service, forward):
    try:
        forward(service(message))
    except ServiceDown:
        pass
    return True
'''),
        ("forwards the incoming message instead of the service's result, before processing", '''
def handle(message, service, forward):
    forward(message)
    try:
        service(message)
    except ServiceDown:
        return False
    return True
'''),
        ("rejects after forwarding, so every message is redelivered and processed twice", '''
def handle(message, service, forward):
    try:
        result = service(message)
    except ServiceDown:
        return False
    forward(result)
    return False
'''),
        ("returns True on failure and False on success (the two cases swapped)", '''
def handle(message, service, forward):
    try:
        result = service(message)
    except ServiceDown:
        return True
    forward(result)
    return False
'''),
        ('calls the service twice per delivery (a first call as a check, then the real one)', '''
def handle(message, service, forward):
    try:
        service(message)              # a "health check" call first
        result = service(message)
    except ServiceDown:
        return False
    forward(result)
    return True
'''),
    ],
}
