"""Share groups (KIP-932, "Queues for Kafka"): consumers that share the records of a partition.

A consumer group gives each partition to one member and tracks one offset per partition. A share group
lets several members read the same partition: the broker hands out individual records under an
*acquisition lock*, counts how often each record was delivered, and each record is acknowledged on its
own (ACCEPT, RELEASE, REJECT). A record that keeps failing is archived after the delivery attempt limit,
so it never blocks the records behind it.

Read in this order:

* ``record.py``: the four record states, acknowledge types and one record's in-flight state;
* ``policies.py``: the record state machine (acquire, lock expiry, release/reject, the delivery limit),
  a pure function and the seam of module 09's exercise;
* ``partition.py``: ``SharePartition``, the in-flight window between the share-partition start offset
  (SPSO) and end offset (SPEO), with lock timers on the simulation clock;
* ``coordinator.py``: the share coordinator (durable share-partition state in ``__share_group_state``)
  and the share-group coordinator (membership, assignment), both on msglib's coordinator runtime;
* ``broker.py``: a broker that answers ShareGroupHeartbeat, ShareFetch and ShareAcknowledge;
* ``consumer.py``: ``KafkaShareConsumer`` (implicit and explicit acknowledgement);
* ``scenario.py``: seeded runs with consumer crashes and lock expiry, judged by ``msglib.check.share``.

Versions and sources: docs/share-groups.md.
"""
from msglib.share.config import ShareGroupConfig
from msglib.share.record import AcknowledgeType, InFlightRecord, RecordState
from msglib.share.policies import transition

__all__ = ["ShareGroupConfig", "AcknowledgeType", "InFlightRecord", "RecordState", "transition"]
