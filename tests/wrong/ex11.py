"""Known-wrong implementations for module 11's exercises: mistakes learners really make.

Each entry replaces the exercise's solution cell; the checks must reject every one.
"""

_ROUTE = '''
def route(event, prefs):
    kind = EVENT_TYPES[event.type]
    out = []
    for user in {users}:
        p = prefs.get(user)
        if p is None:
            continue
        if {consent}kind.marketing and not p.marketing:
            continue
        hour = {hour}
        quiet = False
        if p.quiet_hours is not None:
            start, end = p.quiet_hours
            {quiet}
        for channel in kind.channels:
            if channel not in p.channels:
                continue
            if quiet and {silenced} and not {critical}:
                continue
            out.append((user, channel))
    return out
'''
_OK = dict(users="dict.fromkeys(event.users)", consent="", hour="((event.time_ms + p.tz_offset_h * HOUR_MS) % DAY_MS) / HOUR_MS",
           quiet="if start < end:\n                quiet = start <= hour < end\n            elif start > end:\n"
                 "                quiet = hour >= start or hour < end",
           silenced="channel in INTRUSIVE", critical="kind.critical")


def _route(**changes):
    return _ROUTE.format(**{**_OK, **changes})


_BUCKET = '''
class TokenBucket:
    def __init__(self, capacity, refill_per_s):
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.tokens = {start}
        self.last_ms = None

    def allow(self, now_ms):
        if self.last_ms is not None:
            elapsed = now_ms - self.last_ms
            self.tokens = {refill}
        self.last_ms = now_ms
        {take}
'''
_BUCKET_OK = dict(start="float(capacity)", refill="min(self.capacity, self.tokens + elapsed * self.refill_per_s / 1000)",
                  take="if self.tokens >= 1:\n            self.tokens -= 1\n            return True\n        return False")


def _bucket(**changes):
    return _BUCKET.format(**{**_BUCKET_OK, **changes})


_HANDLE = '''
def handle(job, ctx):
    key = {key}
    {ack_first}if {check_store}key in ctx.delivered:
        ctx.ack(job)
        return
    if {limit}not ctx.limiter.allow(job.user, job.channel{limiter_key}):
        {ack_drop}return
    {store_first}try:
        text = ctx.render(job)
        ctx.provider.send(job.user, text{provider_key})
    except Exception as exc:
        if {transient} and {attempts_left}:
            ctx.retry(job, exc)
        else:
            ctx.dead_letter(job, exc)
        ctx.ack(job)
        return
    {store_after}ctx.ack(job)
'''
_HANDLE_OK = dict(key="(job.event_id, job.channel, job.user)", ack_first="", check_store="", limit="not job.critical and ",
                  limiter_key=", key=key",
                  ack_drop="ctx.ack(job)\n        ", store_first="", provider_key=", idempotency_key=key",
                  transient="ctx.is_transient(exc)", attempts_left="job.attempt < ctx.max_attempts",
                  store_after="ctx.delivered.add(key)\n    ")


def _handle(**changes):
    return _HANDLE.format(**{**_HANDLE_OK, **changes})


_RUNBOOK = '''
def runbook(ops):
    for channel in ops.channels:
        letters = ops.dead_letters(channel)
        {park}
        if {probe}:
            waiting = [d for d in letters if {which}]
            ops.redrive(channel, waiting{budget})
'''
_RUNBOOK_OK = dict(park='ops.park(channel, [d for d in letters if d.reason == "permanent"])', probe="ops.probe(channel)",
                   which='d.reason != "permanent"', budget="[:ops.budget]")


def _runbook(**changes):
    return _RUNBOOK.format(**{**_RUNBOOK_OK, **changes})


_DESIGN = '''
def design():
    return {{"key": {key}, "partitions": {partitions}, "workers": 3, "critical_lane": {critical_lane},
            "critical_skips_limiter": {critical_skips_limiter}, "retry_order": {retry_order}}}
'''


def _design(**changes):
    ok = dict(key="'user'", partitions="6", critical_lane="True", critical_skips_limiter="True",
              retry_order="'block-user'")
    return _DESIGN.format(**{**ok, **changes})


WRONG = {
    "11-route": [
        ("quiet hours across midnight (22-7) are never quiet: start <= hour < end only",
         _route(quiet="quiet = start <= hour < end")),
        ("uses the UTC hour, not the user's local time",
         _route(hour="(event.time_ms % DAY_MS) / HOUR_MS")),
        ("the end of quiet hours is included: 07:00:00.000 is still quiet",
         _route(quiet="if start < end:\n                quiet = start <= hour <= end\n            elif start > end:\n"
                      "                quiet = hour >= start or hour <= end")),
        ("rounds time zones to whole hours: UTC+5:30 becomes UTC+5",
         _route(hour="((event.time_ms + int(p.tz_offset_h) * HOUR_MS) % DAY_MS) / HOUR_MS")),
        ("quiet hours silence email too", _route(silenced="True")),
        ("quiet hours silence critical events too (a password reset code waits until morning)",
         _route(critical="False")),
        ("forgets marketing consent", _route(consent="False and ")),
        ("notifies only the first user of a broadcast", _route(users="event.users[:1]")),
        ("returns the pairs sorted: the users' order and the type's channel order are lost", '''
def route(event, prefs):
    """The (user, channel) pairs `event` should notify, by the four rules above."""
    kind = EVENT_TYPES[event.type]
    out = []
    for user in dict.fromkeys(event.users):            # each user once, in order
        p = prefs.get(user)
        if p is None:                                  # a deleted account
            continue
        if kind.marketing and not p.marketing:
            continue
        hour = ((event.time_ms + p.tz_offset_h * HOUR_MS) % DAY_MS) / HOUR_MS    # the user's local time
        quiet = False
        if p.quiet_hours is not None:
            start, end = p.quiet_hours
            if start < end:
                quiet = start <= hour < end
            elif start > end:                          # wraps past midnight
                quiet = hour >= start or hour < end
        for channel in kind.channels:
            if channel not in p.channels:
                continue
            if quiet and channel in INTRUSIVE and not kind.critical:
                continue
            out.append((user, channel))
    return sorted(out)
'''),
        ('no dedupe of event.users: a user listed twice is notified twice', '''
def route(event, prefs):
    """The (user, channel) pairs `event` should notify, by the four rules above."""
    kind = EVENT_TYPES[event.type]
    out = []
    for user in event.users:
        p = prefs.get(user)
        if p is None:                                  # a deleted account
            continue
        if kind.marketing and not p.marketing:
            continue
        hour = ((event.time_ms + p.tz_offset_h * HOUR_MS) % DAY_MS) / HOUR_MS    # the user's local time
        quiet = False
        if p.quiet_hours is not None:
            start, end = p.quiet_hours
            if start < end:
                quiet = start <= hour < end
            elif start > end:                          # wraps past midnight
                quiet = hour >= start or hour < end
        for channel in kind.channels:
            if channel not in p.channels:
                continue
            if quiet and channel in INTRUSIVE and not kind.critical:
                continue
            out.append((user, channel))
    return out
'''),
    ],
    "11-token_bucket": [
        ("no cap: a long pause stores up an unlimited burst",
         _bucket(refill="self.tokens + elapsed * self.refill_per_s / 1000")),
        ("a new bucket starts empty", _bucket(start="0.0")),
        ("adds only whole tokens and forgets the fractions (int() at every call)",
         _bucket(refill="min(self.capacity, self.tokens + int(elapsed * self.refill_per_s / 1000))")),
        ("refill_per_s used per millisecond: a thousand times too fast",
         _bucket(refill="min(self.capacity, self.tokens + elapsed * self.refill_per_s)")),
        ("> instead of >=: exactly one token is not enough",
         _bucket(take="if self.tokens > 1:\n            self.tokens -= 1\n            return True\n        return False")),
        ("a refused call still costs a token (the bucket goes negative)",
         _bucket(take="self.tokens -= 1\n        return self.tokens >= 0")),
        ("a fixed window per second instead of a bucket: bursts at the window edge", '''
class TokenBucket:
    def __init__(self, capacity, refill_per_s):
        self.limit = capacity
        self.window = None
        self.count = 0

    def allow(self, now_ms):
        window = int(now_ms // 1000)
        if window != self.window:
            self.window, self.count = window, 0
        if self.count < self.limit:
            self.count += 1
            return True
        return False
'''),
    ],
    "11-handle": [
        ("acknowledges first: a crash before the send loses the job",
         _handle(ack_first="ctx.ack(job)\n    ")),
        ("no idempotency key to the provider: a crash or a lost answer after the send notifies twice",
         _handle(provider_key="")),
        ("the key includes the attempt: the retry after a lost answer is a new notification",
         _handle(key="(job.event_id, job.channel, job.user, job.attempt)")),
        ("the key forgets the channel: the email marks the SMS as done",
         _handle(key="(job.event_id, job.user)")),
        ("the key forgets the user: one watcher's push hides the others'",
         _handle(key="(job.event_id, job.channel)")),
        ("retries permanent failures too", _handle(transient="True")),
        ("one attempt too many: attempt <= max_attempts", _handle(attempts_left="job.attempt <= ctx.max_attempts")),
        ("dead-letters every failure at once, transient or not", _handle(attempts_left="False")),
        ("never asks the rate limiter", _handle(limit="False and ")),
        ("asks the limiter without the key, on attempt 1 only: a redrive or a redelivery (attempt 1 again) is "
         "asked afresh, takes a second token and may be refused after it was admitted",
         _handle(limit="job.attempt == 1 and not job.critical and ", limiter_key="")),
        ("no priority lane: a password reset code is rate-limited like a price drop", _handle(limit="")),
        ("records the key before sending: a failed send is never retried",
         _handle(store_first="ctx.delivered.add(key)\n    ", store_after="")),
        ("forgets to acknowledge a rate-limited job", _handle(ack_drop="")),
        ("never records deliveries: every redelivery calls the provider again", _handle(store_after="")),
        ("provider.send(text, ...) without the user: the call fails and the job is dead-lettered for the handler's own TypeError", '''
def handle(job, ctx):
    """Deliver `job` at most once, within the user's limit; retry or dead-letter failures; ack last."""
    key = (job.event_id, job.channel, job.user)        # the notification, not the record or the attempt
    if key in ctx.delivered:                           # a repeat: crash, zombie, duplicate event, redrive
        ctx.ack(job)
        return
    if not job.critical and not ctx.limiter.allow(job.user, job.channel, key=key):
        ctx.ack(job)                                   # over the limit: dropped (the answer is kept for the key)
        return                                         # critical: the priority lane, no limiter
    try:
        text = ctx.render(job)
        ctx.provider.send(text, idempotency_key=key)
    except Exception as exc:
        if ctx.is_transient(exc) and job.attempt < ctx.max_attempts:
            ctx.retry(job, exc)
        else:
            ctx.dead_letter(job, exc)
        ctx.ack(job)                                   # settled: a retry copy or a dead letter exists
        return
    ctx.delivered.add(key)                             # only after the provider said yes
    ctx.ack(job)
'''),
        ("renders the event type instead of the job: every job is dead-lettered for the handler's own error", '''
def handle(job, ctx):
    """Deliver `job` at most once, within the user's limit; retry or dead-letter failures; ack last."""
    key = (job.event_id, job.channel, job.user)        # the notification, not the record or the attempt
    if key in ctx.delivered:                           # a repeat: crash, zombie, duplicate event, redrive
        ctx.ack(job)
        return
    if not job.critical and not ctx.limiter.allow(job.user, job.channel, key=key):
        ctx.ack(job)                                   # over the limit: dropped (the answer is kept for the key)
        return                                         # critical: the priority lane, no limiter
    try:
        text = ctx.render(job.event_type)
        ctx.provider.send(job.user, text, idempotency_key=key)
    except Exception as exc:
        if ctx.is_transient(exc) and job.attempt < ctx.max_attempts:
            ctx.retry(job, exc)
        else:
            ctx.dead_letter(job, exc)
        ctx.ack(job)                                   # settled: a retry copy or a dead letter exists
        return
    ctx.delivered.add(key)                             # only after the provider said yes
    ctx.ack(job)
'''),
    ],
    "11-runbook": [
        ("redrives everything, permanent failures included, and parks nothing",
         _runbook(park="pass", which="True")),
        ("redrives without probing: straight back into the outage", _runbook(probe="True")),
        ("acts only when the alarm is raised: a few dead letters wait for ever",
         _runbook(probe='ops.alarm(channel) == "ALARM" and ops.probe(channel)')),
        ("ignores the budget: the whole DLQ at once", _runbook(budget="")),
        ("never parks: permanent failures keep the DLQ (and its alarm) up", _runbook(park="pass")),
        ("parks everything, transient failures included", _runbook(park="ops.park(channel, letters)\n        continue")),
    ],
    "11-design": [
        ("keyed by event: one user's jobs spread over partitions and workers, and arrive out of order",
         _design(key="'event'")),
        ("retries through the retry topic alone: a user's later messages overtake the one being retried",
         _design(retry_order="'retry-topic'")),
        ("no priority lane: a password reset queues behind the whole campaign", _design(critical_lane="False")),
        ("critical messages ask the rate limiter: a reset after a burst of marketing is dropped",
         _design(critical_skips_limiter="False")),
        ("one partition per channel: one worker drains the campaign while the others stand idle",
         _design(partitions="1")),
        ("no key: the sticky partitioner spreads a user's jobs, whose order is then lost",
         _design(key="'none'")),
    ],
}
