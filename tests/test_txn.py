"""Transactions (section K of the semantics reference, items 120-137), on a simulated cluster."""
from __future__ import annotations

import pytest

from msglib.client.consumer import filter_aborted
from msglib.client.errors import (IllegalStateError, InvalidTxnTimeoutError, KafkaConfigurationError, KafkaError,
                                  ProducerFencedError)
from msglib.client.transaction_manager import ABORTABLE_ERROR, FATAL_ERROR, IN_TRANSACTION, READY
from msglib.cluster import Cluster, ClusterConfig
from msglib.cluster import protocol as cp
from msglib.groups import CommitFailedError, OffsetAndMetadata, TopicPartition
from msglib.log import RecordBatch
from msglib.sim.network import Endpoint
from msglib.txn import TransactionState, VALID_PREVIOUS_STATES, can_transition, transaction_coordinator_for
from msglib.txn.states import (COMPLETE_ABORT, COMPLETE_COMMIT, DEAD, EMPTY, ONGOING, PREPARE_ABORT, PREPARE_COMMIT,
                               PREPARE_EPOCH_FENCE)

A0, B0 = TopicPartition("a", 0), TopicPartition("b", 0)


def make_cluster(seed: int = 1, topics=("a", "b"), partitions: int = 1) -> Cluster:
    cl = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2))
    for t in topics:
        cl.create_topic(t, partitions, 3)
    return cl


def txn_producer(cl: Cluster, tid: str = "t1", **config):
    p = cl.producer(transactional_id=tid, **config)
    p.init_transactions()
    return p


def read_all(cl: Cluster, tp: TopicPartition, isolation: str, polls: int = 40, start: int = 0):
    """(records as (offset, value), final position) of a fresh consumer of ``tp`` from ``start``."""
    c = cl.consumer(isolation_level=isolation, auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, start)
    got = []
    for _ in range(polls):
        got += [(r.offset, r.value) for recs in c.poll(timeout_ms=20).values() for r in recs]
    return got, c.position(tp)


def log_layout(cl: Cluster, tp: TopicPartition):
    """[(offset, 'data'|'COMMIT'|'ABORT', value)] on the leader."""
    part = cl.replica(cl.leader(tp.topic, tp.partition), tp.topic, tp.partition)
    out = []
    for batch in part.log.batches():
        for r in batch.records:
            out.append((r.offset, batch.control_type.name if batch.is_control else "data",
                        None if batch.is_control else r.value))
    return out


# ------------------------------------------------------------------ docs/transactions.md T2: the coordinator's state machine
def test_k121_transition_table_is_kafkas():
    expected = {
        EMPTY: {EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT},
        ONGOING: {EMPTY, ONGOING, COMPLETE_COMMIT, COMPLETE_ABORT},
        PREPARE_COMMIT: {ONGOING},
        PREPARE_ABORT: {ONGOING, PREPARE_EPOCH_FENCE},
        COMPLETE_COMMIT: {PREPARE_COMMIT},
        COMPLETE_ABORT: {PREPARE_ABORT},
        PREPARE_EPOCH_FENCE: {ONGOING},
        DEAD: {EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT},
    }
    assert {k: set(v) for k, v in VALID_PREVIOUS_STATES.items()} == expected
    for target in TransactionState:
        for current in TransactionState:
            assert can_transition(current, target) == (current in expected[target])
    assert can_transition("Ongoing", "PrepareCommit") and not can_transition("Empty", "PrepareCommit")


def test_k121_coordinator_goes_through_the_states_in_order():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"x")
    p.commit_transaction()
    cl.run(50)
    coord = transaction_coordinator_for(cl)
    states = [e["event"] for e in coord.trace if e.get("transactional_id") == "t1" and e["event"].startswith("->")]
    assert states == ["-> Ongoing", "-> PrepareCommit", "-> CompleteCommit"]
    assert coord.transaction("t1").state == COMPLETE_COMMIT


def test_k121_an_illegal_move_is_refused_by_the_seam():
    cl = make_cluster()
    transaction_coordinator_for(cl, can_transition=lambda cur, target: target != PREPARE_COMMIT)
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"x")
    with pytest.raises(Exception):
        p.commit_transaction()


# ------------------------------------------------------------------ docs/transactions.md T1: call order, IllegalStateError
def test_k120_misuse_raises_illegal_state():
    cl = make_cluster()
    p = cl.producer(transactional_id="t1")
    with pytest.raises(IllegalStateError, match="init_transactions"):
        p.send("a", b"x")                                   # before init_transactions
    with pytest.raises(IllegalStateError):
        p.begin_transaction()
    p.init_transactions()
    with pytest.raises(IllegalStateError, match="READY"):
        p.send("a", b"x")                                   # outside a transaction
    with pytest.raises(IllegalStateError):
        p.commit_transaction()                              # no transaction to commit
    with pytest.raises(KafkaError, match="not in an active transaction"):
        p.send_offsets_to_transaction({A0: OffsetAndMetadata(1)}, "g")
    with pytest.raises(IllegalStateError):
        p.init_transactions()                               # once only
    p.begin_transaction()
    with pytest.raises(IllegalStateError):
        p.begin_transaction()                               # already in one
    p.abort_transaction()
    assert p.txn.state == READY
    plain = cl.producer()
    for call in (plain.init_transactions, plain.begin_transaction, plain.commit_transaction,
                 plain.abort_transaction):
        with pytest.raises(IllegalStateError, match="not transactional"):
            call()
    with pytest.raises(IllegalStateError, match="not transactional"):
        plain.send_offsets_to_transaction({}, "g")


def test_k120_a_transaction_with_no_writes_commits_without_the_coordinator():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.commit_transaction()
    assert p.txn.state == READY
    assert transaction_coordinator_for(cl).transaction("t1").state == EMPTY


# ------------------------------------------------------------------ docs/transactions.md T17: idempotence is implied
def test_k136_transactional_id_forces_idempotence_and_refuses_conflicts():
    cl = make_cluster()
    p = cl.producer(transactional_id="t1", acks="all")
    assert p.idempotent
    with pytest.raises(KafkaConfigurationError):
        cl.producer(transactional_id="t2", acks=1)
    with pytest.raises(KafkaConfigurationError):
        cl.producer(transactional_id="t3", max_in_flight_requests_per_connection=6)
    with pytest.raises(KafkaConfigurationError):
        cl.producer(transactional_id="t4", enable_idempotence=False)
    with pytest.raises(KafkaConfigurationError):
        cl.producer(transactional_id="")


def test_k124_a_timeout_above_the_maximum_is_refused():
    cl = make_cluster()
    p = cl.producer(transactional_id="t1", transaction_timeout_ms=2_000_000)
    with pytest.raises(InvalidTxnTimeoutError):
        p.init_transactions()


# ------------------------------------------------------------------ docs/transactions.md T6: markers
def test_k125_commit_marker_takes_one_offset():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"a")
    p.send("a", b"b")
    p.commit_transaction()
    cl.run(50)
    assert log_layout(cl, A0) == [(0, "data", b"a"), (1, "data", b"b"), (2, "COMMIT", None)]
    part = cl.replica(cl.leader("a", 0), "a", 0)
    assert part.log_end_offset == 3
    plain = cl.producer()
    assert plain.send("a", b"next").get().offset == 3


def test_k125_markers_go_to_every_partition_touched_and_only_those():
    cl = make_cluster(topics=("a", "b", "c"))
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"1")
    p.send("b", b"2")
    p.commit_transaction()
    cl.run(50)
    assert [k for _, k, _ in log_layout(cl, A0)] == ["data", "COMMIT"]
    assert [k for _, k, _ in log_layout(cl, B0)] == ["data", "COMMIT"]
    assert log_layout(cl, TopicPartition("c", 0)) == []


# ------------------------------------------------------------------ docs/transactions.md T7/T8: the last stable offset
def test_k126_lso_is_min_of_first_open_offset_and_hw():
    from msglib.cluster.policies import last_stable_offset

    assert last_stable_offset(10, {}) == 10
    assert last_stable_offset(10, {7: 4, 8: 6}) == 4
    assert last_stable_offset(3, {7: 4}) == 3


def test_k127_read_committed_stops_at_an_open_transaction():
    cl = make_cluster()
    t1 = txn_producer(cl)
    t1.begin_transaction()
    t1.send("a", b"x").get()                  # x@0, transaction open
    cl.producer().send("a", b"y").get()       # non-transactional y@1
    cl.run(20)
    part = cl.replica(cl.leader("a", 0), "a", 0)
    assert part.high_watermark == 2 and part.last_stable_offset == 0
    assert read_all(cl, A0, "read_committed") == ([], 0)
    assert read_all(cl, A0, "read_uncommitted")[0] == [(0, b"x"), (1, b"y")]
    t1.commit_transaction()
    cl.run(50)
    assert log_layout(cl, A0)[2] == (2, "COMMIT", None)
    assert read_all(cl, A0, "read_committed") == ([(0, b"x"), (1, b"y")], 3)


def test_k127_end_offsets_and_latest_reset_use_the_lso():
    cl = make_cluster()
    cl.producer().send("a", b"before").get()
    t1 = txn_producer(cl)
    t1.begin_transaction()
    t1.send("a", b"open").get()
    cl.run(20)
    rc = cl.consumer(isolation_level="read_committed", auto_offset_reset="latest")
    ru = cl.consumer(auto_offset_reset="latest")
    rc.assign([A0])
    ru.assign([A0])
    assert rc.end_offsets([A0]) == {A0: 1} and ru.end_offsets([A0]) == {A0: 2}
    assert rc.position(A0) == 1 and ru.position(A0) == 2


# ------------------------------------------------------------------ docs/transactions.md T9/T10: aborted data, control records
def k128_log(cl: Cluster):
    t = txn_producer(cl)
    t.begin_transaction()
    t.send("a", b"a")
    t.send("a", b"b")
    t.flush()                                 # written, then aborted (unsent records would just be dropped)
    t.abort_transaction()
    t.begin_transaction()
    t.send("a", b"c")
    t.commit_transaction()
    cl.run(50)


def test_k128_read_committed_skips_aborted_records():
    cl = make_cluster()
    k128_log(cl)
    assert log_layout(cl, A0) == [(0, "data", b"a"), (1, "data", b"b"), (2, "ABORT", None), (3, "data", b"c"),
                                  (4, "COMMIT", None)]
    assert read_all(cl, A0, "read_committed") == ([(3, b"c")], 5)
    records, position = read_all(cl, A0, "read_uncommitted")
    assert records == [(0, b"a"), (1, b"b"), (3, b"c")] and position == 5    # docs/transactions.md T10: markers never returned


def test_k128_fetch_response_lists_the_aborted_transactions_in_range():
    cl = make_cluster()
    k128_log(cl)
    answers = []
    node = Endpoint("asker", cl.network, lambda src, msg: answers.append(msg))
    node.send(f"b{cl.leader('a', 0)}", cp.FetchRequest(1, -1, A0, 0, -1, isolation_level=cp.READ_COMMITTED))
    node.send(f"b{cl.leader('a', 0)}", cp.FetchRequest(2, -1, A0, 3, -1, isolation_level=cp.READ_COMMITTED))
    node.send(f"b{cl.leader('a', 0)}", cp.FetchRequest(3, -1, A0, 0, -1))
    cl.sim.run_until(lambda: len(answers) == 3, until=cl.sim.now + 500)
    by_id = {m.request_id: m for m in answers}
    pid = cl.replica(cl.leader("a", 0), "a", 0).log.batches().__next__().producer_id
    assert by_id[1].aborted_transactions == [cp.AbortedTransaction(pid, 0)]
    assert by_id[2].aborted_transactions == []          # the aborted one ended before offset 3
    assert by_id[3].aborted_transactions is None         # read_uncommitted: not asked
    assert by_id[1].last_stable_offset == 5


def _batch(offset, pid, values=(b"v",), transactional=True):
    return RecordBatch(list(values), base_offset=offset, producer_id=pid, producer_epoch=0, base_sequence=0,
                       is_transactional=transactional)


def _marker(offset, pid, kind):
    return RecordBatch.control(kind, producer_id=pid, producer_epoch=0, base_offset=offset)


def test_filter_aborted_keeps_the_same_producers_other_transactions():
    batches = [_batch(0, 7, [b"committed-1"]), _marker(1, 7, "COMMIT"),
               _batch(2, 7, [b"aborted"]), _batch(3, 9, [b"other producer"]), _marker(4, 7, "ABORT"),
               _batch(5, 7, [b"committed-2"]), _batch(6, -1, [b"plain"], transactional=False),
               _marker(7, 7, "COMMIT")]
    kept = filter_aborted(batches, [(7, 2)])
    assert [b.records[0].value for b in kept] == [b"committed-1", b"other producer", b"committed-2", b"plain"]
    assert filter_aborted(batches[:2], []) == [batches[0]]


# ------------------------------------------------------------------ docs/transactions.md T11/T12: atomic visibility
def test_k130_all_or_nothing_per_partition_after_commit_and_never_after_abort():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    for i in range(5):
        p.send("a", f"c{i}".encode())
        p.send("b", f"c{i}".encode())
    p.commit_transaction()
    p.begin_transaction()
    for i in range(5):
        p.send("a", f"x{i}".encode())
        p.send("b", f"x{i}".encode())
    p.flush()
    p.abort_transaction()
    cl.run(100)
    for tp in (A0, B0):
        values = [v for _, v in read_all(cl, tp, "read_committed")[0]]
        assert values == [f"c{i}".encode() for i in range(5)]


def test_k131_a_transaction_never_sees_its_own_uncommitted_writes():
    cl = make_cluster()
    p = txn_producer(cl)
    c = cl.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    c.assign([A0])
    p.begin_transaction()
    p.send("a", b"mine").get()
    seen_before = [r.value for recs in c.poll(timeout_ms=100).values() for r in recs]
    p.commit_transaction()
    seen_after = []
    for _ in range(10):
        seen_after += [r.value for recs in c.poll(timeout_ms=20).values() for r in recs]
    assert seen_before == [] and seen_after == [b"mine"]


# ------------------------------------------------------------------ docs/transactions.md T3/T4/T18: fencing
def test_k122_a_new_instance_keeps_the_producer_id_bumps_the_epoch_and_aborts_the_old_transaction():
    cl = make_cluster()
    old = txn_producer(cl, "app")
    old.begin_transaction()
    old.send("a", b"zombie-1").get()
    new = txn_producer(cl, "app")
    assert new.producer_id == old.producer_id
    assert new.producer_epoch > old.producer_epoch                     # docs/transactions.md T18: only "greater" is asserted
    coord = transaction_coordinator_for(cl)
    events = [e["event"] for e in coord.trace if e.get("transactional_id") == "app"]
    assert "-> PrepareEpochFence" in events and events.index("-> PrepareEpochFence") < events.index("-> PrepareAbort")
    cl.run(50)
    assert [k for _, k, _ in log_layout(cl, A0)] == ["data", "ABORT"]
    assert read_all(cl, A0, "read_committed")[0] == []


def test_k123_the_zombie_is_fenced_and_none_of_its_data_becomes_visible():
    cl = make_cluster()
    old = txn_producer(cl, "app")
    old.begin_transaction()
    old.send("a", b"before-fence").get()
    new = txn_producer(cl, "app")
    late = old.send("a", b"after-fence")                  # the zombie keeps writing
    with pytest.raises((ProducerFencedError, KafkaError)):
        late.get()
    with pytest.raises(ProducerFencedError):
        old.commit_transaction()
    assert old.txn.state == FATAL_ERROR
    for call in (old.begin_transaction, old.abort_transaction, lambda: old.send("a", b"z")):
        with pytest.raises(ProducerFencedError):
            call()
    new.begin_transaction()
    new.send("a", b"new").get()
    new.commit_transaction()
    cl.run(50)
    assert [v for _, v in read_all(cl, A0, "read_committed")[0]] == [b"new"]


def test_k123_a_zombie_add_partitions_is_fenced():
    cl = make_cluster()
    old = txn_producer(cl, "app")
    txn_producer(cl, "app")
    old.begin_transaction()
    f = old.send("b", b"z")
    with pytest.raises(ProducerFencedError):
        f.get()
    assert old.txn.state == FATAL_ERROR


# ------------------------------------------------------------------ docs/transactions.md T5: the transaction timeout
def test_k124_an_open_transaction_is_aborted_at_its_timeout_and_the_producer_fenced():
    cl = make_cluster()
    p = txn_producer(cl, "slow", transaction_timeout_ms=500)
    epoch = p.producer_epoch
    p.begin_transaction()
    p.send("a", b"too late").get()
    cl.run(800)
    meta = transaction_coordinator_for(cl).transaction("slow")
    assert meta.state == COMPLETE_ABORT and meta.producer_epoch > epoch
    assert [k for _, k, _ in log_layout(cl, A0)] == ["data", "ABORT"]
    with pytest.raises(ProducerFencedError, match="transaction_timeout_ms"):
        p.commit_transaction()


# ------------------------------------------------------------------ docs/transactions.md T13/T15: offsets in a transaction
def _group_consumer(cl, group="g"):
    c = cl.consumer("a", group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                    isolation_level="read_committed")
    for _ in range(20):
        c.poll(timeout_ms=20)
        if c.assignment():
            break
    return c


def test_k132_offsets_move_only_if_the_transaction_commits():
    cl = make_cluster()
    plain = cl.producer()
    for i in range(5):
        plain.send("a", str(i).encode())
    plain.flush()
    c = _group_consumer(cl)
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("b", b"out")
    p.send_offsets_to_transaction({A0: OffsetAndMetadata(3)}, c.group_metadata())
    p.abort_transaction()
    cl.run(50)
    assert c.committed(A0) is None                       # the abort dropped them
    p.begin_transaction()
    p.send("b", b"out")
    p.send_offsets_to_transaction({A0: OffsetAndMetadata(3)}, c.group_metadata())
    p.commit_transaction()
    cl.run(50)
    assert c.committed(A0) == 3                          # next-offset convention
    p.begin_transaction()
    p.send_offsets_to_transaction({A0: 5}, c.group_metadata())   # an int offset is the offset itself
    p.abort_transaction()
    cl.run(50)
    assert c.committed(A0) == 3


def test_k134_a_stale_member_cannot_commit_offsets_in_a_transaction():
    cl = make_cluster()
    c1 = _group_consumer(cl)
    stale = c1.group_metadata()
    c2 = cl.consumer("a", group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    for _ in range(40):                                   # a rebalance: new generation
        c1.poll(timeout_ms=10)
        c2.poll(timeout_ms=10)
        if c1.generation > stale.generation_id and c2.assignment() is not None and c1.generation == c2.generation:
            break
    assert c1.generation > stale.generation_id
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("b", b"out")
    with pytest.raises(CommitFailedError):
        p.send_offsets_to_transaction({A0: OffsetAndMetadata(1)}, stale)
    assert p.txn.state == ABORTABLE_ERROR
    with pytest.raises(KafkaError):
        p.commit_transaction()                             # only abort is allowed now
    p.abort_transaction()
    assert p.txn.state == READY
    p.begin_transaction()
    p.send_offsets_to_transaction({A0: OffsetAndMetadata(1)}, c1.group_metadata())
    p.commit_transaction()
    cl.run(50)
    assert c1.committed(A0) == 1


def test_pending_transactional_offsets_make_a_new_owner_wait():
    cl = make_cluster()
    plain = cl.producer()
    for i in range(6):
        plain.send("a", str(i).encode())
    plain.flush()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send_offsets_to_transaction({A0: OffsetAndMetadata(4)}, "g")
    reader = cl.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    reader.assign([A0])
    assert reader.poll(timeout_ms=200) == {}                 # UNSTABLE_OFFSET_COMMIT: no position yet
    p.commit_transaction()
    got = []
    for _ in range(20):
        got += [r.offset for recs in reader.poll(timeout_ms=20).values() for r in recs]
    assert got == [4, 5]                                      # started from the transaction's offsets


# ------------------------------------------------------------------ docs/transactions.md T16: no plain writes inside a transaction
def test_k135_a_plain_batch_from_a_producer_with_an_open_transaction_is_refused():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"in txn").get()
    answers = []
    node = Endpoint("raw", cl.network, lambda src, msg: answers.append(msg))
    plain = RecordBatch([b"sneaky"], producer_id=p.producer_id, producer_epoch=p.producer_epoch, base_sequence=1)
    node.send(f"b{cl.leader('a', 0)}", cp.ProduceRequest(1, -1, 300, {A0: plain.encode()}))
    cl.sim.run_until(lambda: bool(answers), until=cl.sim.now + 500)
    assert answers[0].results[A0].error == cp.INVALID_TXN_STATE


# ------------------------------------------------------------------ crashes of the coordinators and leaders
def test_a_decided_commit_survives_a_coordinator_crash():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"1")
    p.send("b", b"2")
    p.flush()
    coord = transaction_coordinator_for(cl)
    for b in cl.broker_ids:                                   # markers cannot be written for now
        cl.cut("txn-coordinator", b)
    p.commit_transaction()                                    # PrepareCommit is logged
    assert coord.transaction("t1").state == PREPARE_COMMIT
    coord.crash(power_loss=True)
    cl.heal_all()
    cl.run(50)
    coord.restart()                                           # reloads PrepareCommit, writes the markers
    cl.run(200)
    assert coord.transaction("t1").state == COMPLETE_COMMIT
    assert read_all(cl, A0, "read_committed")[0] == [(0, b"1")]
    assert read_all(cl, B0, "read_committed")[0] == [(0, b"2")]


def test_markers_reach_a_new_leader_after_a_crash():
    cl = make_cluster(seed=3)
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("a", b"1").get()
    cl.crash(cl.leader("a", 0))
    p.commit_transaction()
    cl.run(500)
    assert transaction_coordinator_for(cl).transaction("t1").state == COMPLETE_COMMIT
    assert read_all(cl, A0, "read_committed")[0] == [(0, b"1")]


def test_pending_offsets_survive_a_group_coordinator_crash():
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    p.send("b", b"out")
    p.send_offsets_to_transaction({A0: OffsetAndMetadata(7)}, "g")
    from msglib.groups import coordinator_for

    gc = coordinator_for(cl)
    gc.crash(power_loss=True)
    gc.restart()
    p.commit_transaction()
    cl.run(200)
    assert gc.committed("g", A0) == 7


def test_an_unused_transactional_id_expires():
    from msglib.txn import TxnConfig

    cl = make_cluster()
    transaction_coordinator_for(cl, TxnConfig.fast(transactional_id_expiration_ms=1_000,
                                                   transaction_remove_expired_transaction_cleanup_interval_ms=200))
    p = txn_producer(cl)
    pid = p.producer_id
    cl.run(1_500)
    coord = transaction_coordinator_for(cl)
    assert coord.transaction("t1") is None
    assert any(e["event"] == "-> Dead" for e in coord.trace)
    assert txn_producer(cl).producer_id != pid


# ------------------------------------------------------------------ regressions found by bench_txn (seed 104)
def test_a_record_sent_after_a_batch_expired_is_not_swallowed_by_it():
    """A batch given up (expired) was left as its partition's open batch: the next sends to that
    partition were appended to it and vanished, never sent and never answered, while
    commit_transaction() went on without them (3 committed inputs lost in bench_txn, seed 104)."""
    cl = make_cluster()
    p = cl.producer()
    p.send("a", b"warm-up").get()          # metadata known: the next send goes straight into a batch
    first = p.send("a", b"doomed")
    batch = p.accumulator.open[A0]
    batch.created_ms -= 10 * p.config["delivery_timeout_ms"]   # it has waited too long (e.g. for its partition)
    p._expire_batches(cl.sim.now)
    assert first.failed()
    later = p.send("a", b"after")
    assert p.accumulator.open[A0] is not batch
    assert later.get().offset == 1
    assert read_all(cl, A0, "read_uncommitted")[0] == [(0, b"warm-up"), (1, b"after")]


def test_abort_drops_sends_still_waiting_for_metadata():
    """abort_transaction() must not wait for records whose topic metadata has not arrived yet."""
    cl = make_cluster()
    p = txn_producer(cl)
    p.begin_transaction()
    waiting = p.send("not-yet", b"x")      # no such topic (yet): the record waits for metadata
    assert p._waiting_metadata
    start = cl.sim.now
    p.abort_transaction()
    assert p._waiting_metadata == [] and waiting.failed()
    assert cl.sim.now - start < 1_000      # not max_block_ms (3 s here)


def test_eos_seed_104_is_exactly_once():
    from msglib.txn.eos import random_events, run_eos

    r = run_eos(104, events=random_events(104, 1_500.0, count=4, kinds=("crash", "pause", "error")))
    assert r.valid, r.summary()
