"""Mutants that cannot behave differently from the reference, each with the reason.

exercise id -> {(original line, mutated line): reason}, the lines stripped as
mutation/results.json shows them. A mutant listed here is reported as
equivalent and not run.
"""
from __future__ import annotations

EQUIVALENT: dict[str, dict[tuple[str, str], str]] = {
    "01-idempotent_worker": {
        ("channel.nack(delivery, requeue=True)   # nothing was done: try again later",
         "channel.nack(delivery, )   # nothing was done: try again later"):
            "requeue defaults to True in Channel.nack, as in AMQP's basic.nack",
    },
}
