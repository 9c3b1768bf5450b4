"""Messaging patterns built on msglib's stores (sagas; module 06 adds outbox, idempotent consumer, CDC)."""

# Module 06: exactly-once beyond Kafka (import the submodules directly for the details).
from msglib.patterns.crash import CrashSchedule, CrashingConnection, InjectedCrash  # noqa: E402,F401
from msglib.patterns.idempotent import IdempotentConsumer, Message, TrackingConsumer, idempotent  # noqa: E402,F401
from msglib.patterns.outbox import OutboxRelay, judge_delivery, relay_once  # noqa: E402,F401
from msglib.patterns.cdc import CdcConnector, capture  # noqa: E402,F401
