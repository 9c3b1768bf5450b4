"""Messaging patterns built on msglib's stores (sagas; module 06 adds outbox, idempotent consumer, CDC)."""
