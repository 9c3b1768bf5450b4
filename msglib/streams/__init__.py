"""msglib.streams -- stream processing in the manner of Kafka Streams, on msglib's log, groups and transactions.

A stream application reads topics, transforms records one at a time, keeps *state* (counts, windows, tables),
and writes topics. Read in this order:

* ``windows.py``  -- event-time windows (tumbling, hopping, sliding, session, join), grace, when a window closes
* ``stores.py``   -- state stores, their compacted changelog topics, restoring a store from its changelog
* ``topology.py`` -- the processors (map, filter, flat_map, branch, aggregate, windowed aggregate, joins) and
  the DSL that wires them; repartition topics and sub-topologies
* ``task.py``     -- a task: one sub-topology on one partition; stream time; what a commit sends
* ``driver.py``   -- a test driver: a topology run in-process, record by record (the reference)
* ``app.py``      -- instances on a simulated cluster: tasks assigned by the consumer group, standby
  replicas, at-least-once vs exactly-once v2, under seeded crashes, judged by ``msglib.check.streams``

Invariants:

* stream time of a task = the largest timestamp it has processed; it never decreases, and it survives a move
  to another instance (it travels in the committed offsets' metadata);
* a window ``[start, end)`` takes records while stream time < end + grace; a record only for closed windows
  is dropped and counted, never processed;
* after a commit, a store equals what its changelog says; under exactly-once, the changelog writes, the
  outputs and the input offsets of a commit interval are one transaction, so a restored store always matches
  the committed offsets;
* a task's input partitions all have its partition number (co-partitioning): records with the same key meet
  in one task.
"""
