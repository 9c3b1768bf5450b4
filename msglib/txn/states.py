"""The transaction coordinator's states for one transactional id, and which moves are legal.

::

    Empty ──AddPartitions──► Ongoing ──EndTxn(commit)──► PrepareCommit ──markers written──► CompleteCommit
      ▲                        │  │                                                              │
      │                        │  └──EndTxn(abort) / timeout──► PrepareAbort ──markers──► CompleteAbort
      │                        │                                   ▲                             │
      │                        └──new producer instance (fence)──► PrepareEpochFence             │
      └───────────────── InitProducerId (a new epoch) ◄──────────────────────────────────────────┘

    Ongoing is also entered straight from CompleteCommit / CompleteAbort: the next transaction.
    Dead: the transactional id expired (unused for transactional.id.expiration.ms).

``VALID_PREVIOUS_STATES`` is Kafka's table (``TransactionMetadata``, item
docs/transactions.md T2): a move is legal only from the listed
states. The coordinator asks :func:`can_transition` before every move.
"""
from __future__ import annotations

from enum import Enum


class TransactionState(str, Enum):
    """A transactional id's state. A ``str`` enum: ``TransactionState.ONGOING == "Ongoing"``."""

    EMPTY = "Empty"                          # a producer id and epoch, no transaction open
    ONGOING = "Ongoing"                      # partitions (and groups) added, data being written
    PREPARE_COMMIT = "PrepareCommit"         # the commit is decided (logged); markers being written
    PREPARE_ABORT = "PrepareAbort"           # the abort is decided; markers being written
    COMPLETE_COMMIT = "CompleteCommit"       # every partition has its COMMIT marker
    COMPLETE_ABORT = "CompleteAbort"         # every partition has its ABORT marker
    PREPARE_EPOCH_FENCE = "PrepareEpochFence"  # a newer instance arrived: bump the epoch, then abort
    DEAD = "Dead"                            # expired: the id is forgotten

    def __str__(self) -> str:
        return self.value


EMPTY = TransactionState.EMPTY
ONGOING = TransactionState.ONGOING
PREPARE_COMMIT = TransactionState.PREPARE_COMMIT
PREPARE_ABORT = TransactionState.PREPARE_ABORT
COMPLETE_COMMIT = TransactionState.COMPLETE_COMMIT
COMPLETE_ABORT = TransactionState.COMPLETE_ABORT
PREPARE_EPOCH_FENCE = TransactionState.PREPARE_EPOCH_FENCE
DEAD = TransactionState.DEAD

# target state -> the states a transaction may come from (docs/transactions.md T2)
VALID_PREVIOUS_STATES: dict[TransactionState, frozenset[TransactionState]] = {
    EMPTY: frozenset({EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT}),
    ONGOING: frozenset({EMPTY, ONGOING, COMPLETE_COMMIT, COMPLETE_ABORT}),
    PREPARE_COMMIT: frozenset({ONGOING}),
    PREPARE_ABORT: frozenset({ONGOING, PREPARE_EPOCH_FENCE}),
    COMPLETE_COMMIT: frozenset({PREPARE_COMMIT}),
    COMPLETE_ABORT: frozenset({PREPARE_ABORT}),
    PREPARE_EPOCH_FENCE: frozenset({ONGOING}),
    DEAD: frozenset({EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT}),
}


def can_transition(current: TransactionState | str, target: TransactionState | str) -> bool:
    """msglib's rule: may a transaction in ``current`` move to ``target``? (Kafka's table above.)"""
    return TransactionState(current) in VALID_PREVIOUS_STATES[TransactionState(target)]
