"""History checkers: judge what a run did, not how it did it.

``check(history)`` finds lost acknowledged writes, duplicates, inconsistent
offsets, reordering and reads past the high-water mark in a send/poll history
(see ``msglib.check.kafka``); ``divergences`` compares replicas' logs;
``check_dlq`` does the accounting of retries and dead letters
(``msglib.check.dlq``); ``check_eos`` judges consume-transform-produce runs:
each input's output exactly once among the committed output, no aborted or
precommitted reads (``msglib.check.eos``).
"""
from msglib.check.dlq import DLQ_KINDS, DlqCheckResult, check_dlq
from msglib.check.eos import EOS_KINDS, EosCheckResult, check_eos
from msglib.check.kafka import ALL_KINDS, LOSS_KINDS, Anomaly, CheckResult, check
from msglib.check.replicas import Divergence, divergences

__all__ = ["check", "CheckResult", "Anomaly", "ALL_KINDS", "LOSS_KINDS", "divergences", "Divergence",
           "check_dlq", "DlqCheckResult", "DLQ_KINDS", "check_eos", "EosCheckResult", "EOS_KINDS"]
