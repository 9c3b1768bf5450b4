"""The consumer's pure decisions, each a seam an exercise plugs into (the client side of ``cluster/policies.py``).

* :func:`starting_offset` -- where to start reading a partition: the committed offset, else
  ``auto.offset.reset``. Seam: ``KafkaConsumer(reset_position=...)``. Kafka's Java client:
  ``SubscriptionState``'s offset reset strategy.
* :func:`filter_aborted` -- which batches of a read_committed fetch reach the application. Seam:
  ``KafkaConsumer(aborted_filter=...)``. Kafka's Java client: ``CompletedFetch`` (its aborted producer ids).

Both are pure: they read their arguments, return a value and touch nothing else. The fetcher
(``fetcher.py``) calls them; a learner's version replaces the default through the setting.
"""
from __future__ import annotations

from collections import namedtuple

from msglib.log.records import ControlType
from msglib.protocol.errors import NoOffsetForPartitionError, OffsetOutOfRangeError

PartitionBounds = namedtuple("PartitionBounds", ["log_start_offset", "high_watermark", "log_end_offset",
                                                 "last_stable_offset"], defaults=[None])
PartitionBounds.__doc__ = """Where a partition's log stands: the first offset still readable, the end consumers
may read to (the high-water mark), the end of the log (the next offset to be written), and the end
read_committed consumers may read to (the last stable offset; None where there are no transactions)."""


def starting_offset(committed: int | None, bounds: PartitionBounds, policy: str) -> int:
    """Where a consumer starts reading a partition (``auto.offset.reset``).

    The committed offset if there is one and it is still in the log
    (``log_start_offset <= committed <= log_end_offset``); otherwise the policy:
    ``earliest`` -> the log start, ``latest`` -> the high-water mark, ``none`` ->
    an error, because the consumer must not guess.
    """
    if committed is not None and bounds.log_start_offset <= committed <= bounds.log_end_offset:
        return committed
    if policy == "earliest":
        return bounds.log_start_offset
    if policy == "latest":
        return bounds.high_watermark
    if committed is None:
        raise NoOffsetForPartitionError("no committed offset and auto_offset_reset='none'")
    raise OffsetOutOfRangeError(f"offset {committed} is outside the log [{bounds.log_start_offset}, "
                                f"{bounds.log_end_offset}] and auto_offset_reset='none'")


def filter_aborted(batches: list, aborted_transactions: list) -> list:
    """The batches a read_committed consumer hands to the application (Kafka's CompletedFetch).

    ``batches``: one fetch's record batches, in offset order, all below the
    last stable offset. ``aborted_transactions``: ``(producer_id,
    first_offset)`` of every aborted transaction that overlaps them.

    Walking the batches in order, a producer's transaction counts as aborted
    from its ``first_offset`` on, until that producer's ABORT marker. Its
    transactional batches in between are dropped. Everything else stays:
    non-transactional batches, and the same producer's *other* transactions
    (before ``first_offset``, or after the marker: committed ones). Control
    batches (the markers) are never handed to the application.
    """
    pending = sorted(aborted_transactions, key=lambda a: a[1])   # by first offset
    aborting: set[int] = set()                                  # producers inside an aborted transaction
    out = []
    for batch in batches:
        while pending and pending[0][1] <= batch.last_offset:      # reached this transaction's first record
            aborting.add(pending.pop(0)[0])
        if batch.is_control:
            if batch.control_type == ControlType.ABORT:
                aborting.discard(batch.producer_id)                 # that aborted transaction ends here
            continue
        if batch.is_transactional and batch.producer_id in aborting:
            continue
        out.append(batch)
    return out


__all__ = ["PartitionBounds", "starting_offset", "filter_aborted"]
