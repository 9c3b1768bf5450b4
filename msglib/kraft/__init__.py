"""KRaft: the controller quorum that replaced ZooKeeper (Kafka 4.0 runs in KRaft mode only), and
eligible leader replicas (KIP-966). Facts and sources: docs/kraft.md.

Reading order:

1. ``records.py``: the metadata records (KIP-631) and the log's ``Entry(epoch, record)``.
2. ``policies.py``: the pure decisions: ``grant_vote`` and ``advance_high_watermark`` (KIP-595),
   ``elect_partition_leader`` (ISR -> ELR -> unclean last known leader) and ``elr_update`` (KIP-966).
3. ``raft.py``: one quorum voter: follower / candidate / leader / resigned, epochs, votes, Fetch-based
   replication, the high-water mark.
4. ``controller.py``: the metadata image, the controller's decisions (fencing, registration, topics,
   ISR and ELR changes), and ``QuorumController``, the voter that acts as active controller while it leads.
5. ``broker_view.py``: a broker that registers, heartbeats and follows the committed metadata log.
6. ``quorum.py``: all of it on one simulated network, with faults (``ControllerFailover`` among them).
7. ``scenario.py``: seeded runs judged by ``msglib.check.kraft``, and KIP-966's "last replica standing".

Invariants the checker holds the quorum to: at most one leader per epoch; two logs with an entry of
the same epoch at the same offset agree on everything before it; an entry below a voter's high-water
mark is never lost or changed; every broker's image is a prefix of the committed log. And for
partitions: a leader comes from the ISR, else the ELR, else (only if unclean election is enabled) the
last known leader; the ISR and the ELR never overlap; the ELR is empty while the ISR has at least
``min.insync.replicas`` members.

``msglib.cluster`` runs on it (``msglib/cluster/kraft_controller.py``): its partition leadership and ISR
changes are records of this quorum's metadata log; docs/kraft.md.
"""
from msglib.kraft.policies import (Election, ElrState, Policies, advance_high_watermark, elect_partition_leader,
                                   elr_update, grant_vote)

__all__ = ["Policies", "Election", "ElrState", "grant_vote", "advance_high_watermark", "elect_partition_leader",
           "elr_update"]
