"""Mutants that cannot behave differently from the reference, each with the reason.

exercise id -> {(original line, mutated line): reason}, the lines stripped as
mutation/results.json shows them. A mutant listed here, or one that
:func:`by_rule` recognises, is reported as equivalent and not run.
"""
from __future__ import annotations

import re

_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK|WHERE|ON CONFLICT)\b", re.I)


def by_rule(original: str, mutated: str) -> str | None:
    """Equivalence that holds by a general rule, not case by case (None when no rule applies).

    The rule: the one string literal that changed is an SQL statement without quoted literals, and only
    its letter case changed (a dict key such as event.data["amount"] on the same line is no SQL).
    """
    before, after = re.findall(r'"[^"]*"', original), re.findall(r'"[^"]*"', mutated)
    if "'" in original or len(before) != len(after):
        return None
    changed = [(x, y) for x, y in zip(before, after) if x != y]
    if len(changed) != 1:
        return None
    old, new = changed[0]
    if original.replace(old, new, 1) == mutated and old.lower() == new.lower() and _SQL.search(old):
        return ("only the letter case of an SQL statement changed, and SQLite's keywords and identifiers are "
                "case-insensitive (the statement holds no quoted literal)")
    return None


EQUIVALENT: dict[str, dict[tuple[str, str], str]] = {
    "02-choose_segment": {
        ("lo, hi = 0, len(base_offsets)", "lo, hi = 1, len(base_offsets)"):
            "the exercise promises offset >= base_offsets[0] (a read below the log start never reaches the "
            "chooser), so entry 0 is always <= offset and a search starting at 1 ends at the same index",
    },
    "01-idempotent_worker": {
        ("channel.nack(delivery, requeue=True)   # nothing was done: try again later",
         "channel.nack(delivery, )   # nothing was done: try again later"):
            "requeue defaults to True in msglib's Channel.nack: the same call as requeue=True",
    },
    "04-truncation": {
        ("return min(leader_end_offset, my_end, log_end_offset), True", "return min(leader_end_offset, my_end, ), True"):
            "when the follower has the leader's epoch, my_end is its LEO (latest epoch) or the start of its next "
            "epoch, which is never past the LEO (the epoch cache is truncated with the log)",
    },
    "05-starting_offset": {
        **{(old, new): "the exception's message is not part of the contract (the check wants its type)"
           for old, new in [
               ("raise NoOffsetForPartitionError(\"no committed offset, and auto_offset_reset='none'\")",
                "raise NoOffsetForPartitionError(None)"),
               ("raise NoOffsetForPartitionError(\"no committed offset, and auto_offset_reset='none'\")",
                "raise NoOffsetForPartitionError(\"XXno committed offset, and auto_offset_reset='none'XX\")"),
               ("raise NoOffsetForPartitionError(\"no committed offset, and auto_offset_reset='none'\")",
                "raise NoOffsetForPartitionError(\"NO COMMITTED OFFSET, AND AUTO_OFFSET_RESET='NONE'\")"),
               ("raise OffsetOutOfRangeError(f\"committed offset {committed} is not in the log any more, and \" / "
                "\"auto_offset_reset='none'\")", "raise OffsetOutOfRangeError(None)"),
               ("\"auto_offset_reset='none'\")", "\"XXauto_offset_reset='none'XX\")"),
               ("\"auto_offset_reset='none'\")", "\"AUTO_OFFSET_RESET='NONE'\")"),
           ]},
    },
    "05-at_least_once": {
        ("batch = consumer.poll(timeout_ms=20)", "batch = consumer.poll(timeout_ms=21)"):
            "how long an empty poll waits (1 ms of simulated time more) changes no delivery guarantee",
    },
    "06-eos_step": {
        ("batch = consumer.poll(timeout_ms=20)", "batch = consumer.poll(timeout_ms=21)"):
            "how long an empty poll waits (1 ms of simulated time more) changes no transaction's outcome",
    },
    "09-redrive": {
        ("dlq.change_message_visibility(m.receipt_handle, 0)   # not sent: visible again for the next try",
         "dlq.change_message_visibility(m.receipt_handle, 1)   # not sent: visible again for the next try"):
            "the spec lets a message whose send failed stay hidden for its visibility timeout (30 s); 1 ms is "
            "shorter still, and the call returns right away",
    },
    "09-classify": {
        ("return exc.status in (408, 429) or 500 <= exc.status <= 599",
         "return exc.status in (408, 429) or 500 <= exc.status <= 600"):
            "HTTP status codes are three digits, 100-599 (RFC 9110, section 15): 600 never occurs",
    },
    "07-append_retry": {
        ("for attempt in range(1, max_attempts + 1):", "for attempt in range(1, max_attempts + 2):"):
            "the last attempt re-raises ConcurrencyError, so the loop never reaches the extra iteration",
    },
    "07-apply": {
        **{("raise UnknownEventTypeError(\"BankAccount\", event.type, event.stream, event.version)", new):
           "the contract is an error naming the event type (UnknownEventTypeError or ValueError); the aggregate, "
           "stream and version only enrich its message"
           for new in ["raise UnknownEventTypeError(None, event.type, event.stream, event.version)",
                       "raise UnknownEventTypeError(\"BankAccount\", event.type, None, event.version)",
                       "raise UnknownEventTypeError(\"BankAccount\", event.type, event.stream, None)",
                       "raise UnknownEventTypeError(\"XXBankAccountXX\", event.type, event.stream, event.version)",
                       "raise UnknownEventTypeError(\"bankaccount\", event.type, event.stream, event.version)",
                       "raise UnknownEventTypeError(\"BANKACCOUNT\", event.type, event.stream, event.version)"]},
    },
    "08-wait_for": {
        ("if clock() >= deadline:", "if clock() > deadline:"):
            "both raise once timeout seconds have passed; at exactly the deadline '>' polls once more, within the "
            "poll interval the spec leaves open",
        ("raise TimeoutError(f\"read model at {checkpoint}, not yet at {position} after {timeout} s\")",
         "raise TimeoutError(None)"): "the exception's message is not part of the contract (its type is)",
    },
    "10-key_dispatch": {
        **{("return min(free, key=lambda c: len(c.keys)).name     # nobody holds it: any consumer with room (the least",
            new): "when nobody holds the key, any consumer with room is a right answer (the check accepts each); "
                  "min() over the views picks one by name"
           for new in ["return min(free, key=None).name     # nobody holds it: any consumer with room (the least",
                       "return min(free, ).name     # nobody holds it: any consumer with room (the least"]},
    },
    "11-route": {
        ("quiet = False", "quiet = None"): "`quiet` is only read as a truth value, and None is false like False",
        ("if start < end:", "if start <= end:"):
            "with start == end both leave quiet false: the window start <= hour < start is empty",
    },
    "11-design": {
        ('return {"key": "user", "partitions": 6, "workers": 3, "critical_lane": True, "critical_skips_limiter": True,',
         'return {"key": "user", "partitions": 7, "workers": 3, "critical_lane": True, "critical_skips_limiter": True,'):
            "a design question has many right answers: 7 partitions for 3 workers is as good a design as 6 "
            "(every worker has a partition, the campaign drains in time; docs/capstone.md)",
        ('return {"key": "user", "partitions": 6, "workers": 3, "critical_lane": True, "critical_skips_limiter": True,',
         'return {"key": "user", "partitions": 6, "workers": 4, "critical_lane": True, "critical_skips_limiter": True,'):
            "a design question has many right answers: 4 workers on 6 partitions all have work and drain the "
            "campaign faster; more workers than partitions would be the mistake (a known-wrong design in tests)",
    },
    "12-restore": {
        ("for records in consumer.poll(timeout_ms=50).values():",
         "for records in consumer.poll(timeout_ms=51).values():"):
            "the loop polls until the position reaches end_offset; how long an empty poll waits (1 ms of "
            "simulated time more) changes nothing it restores",
    },
}
