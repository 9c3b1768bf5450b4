"""msglib.txn -- transactions: atomic writes across partitions, and exactly-once processing.

A *transaction* groups records for several partitions (and a consumer
group's offsets) so that they become visible together or never: a
read_committed consumer sees all of them or none. It rests on three pieces:

* the **transaction coordinator** (``coordinator.py``): one state machine per
  transactional id (``states.py``), kept in a ``__transaction_state`` log
  (``state_log.py``); it fences old producer instances by epoch, times out
  transactions, and ends each one by writing a COMMIT or ABORT *marker* to
  every partition it touched;
* the **partitions** (``msglib.cluster``): their producer state knows which
  transactions are open (the *last stable offset* stops before the earliest)
  and which were aborted (the *aborted transaction index*);
* the **clients** (``msglib.client``): the transactional producer
  (``transaction_manager.py``) and the read_committed consumer.

Two protocol versions (``TxnConfig.transaction_version``, docs/transactions.md
T18-T24): 1 is KIP-98's; 2 (KIP-890, Kafka 4.0's default) bumps the producer
epoch at every commit and abort and has the partition leader add its partition
to the transaction, which fences a late write of an aborted transaction.

Read in this order: ``states.py``, ``protocol.py``, ``coordinator.py`` (on the
one coordinator runtime, ``msglib.coordinator``), ``group_offsets.py`` (offsets
committed inside a transaction, KIP-447 fencing), ``interleaving.py`` (several
producers' transactions interleaved, every read_committed read judged),
``eos.py`` (consume-transform-produce, run under crashes and zombies, checked by
``msglib.check.eos``), ``hanging.py`` (the hanging transaction of version 1, and
how version 2 fences it).
"""
from msglib.txn.config import TxnConfig
from msglib.txn.coordinator import TransactionCoordinator, transaction_coordinator_for
from msglib.txn.state_log import TransactionMetadata
from msglib.txn.states import TransactionState, VALID_PREVIOUS_STATES, can_transition

__all__ = ["TxnConfig", "TransactionCoordinator", "transaction_coordinator_for", "TransactionMetadata",
           "TransactionState", "VALID_PREVIOUS_STATES", "can_transition"]
