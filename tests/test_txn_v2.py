"""Transactions v2 (KIP-890, Kafka 4.0) beside v1 (KIP-98): the epoch bump at every EndTxn, the partition
added by its leader, the hanging transaction of v1 and its fencing (docs/transactions.md T18-T22)."""
from __future__ import annotations

import pytest

from msglib import protocol as proto
from msglib.check.eos import find_hanging_transactions
from msglib.cluster import Cluster, ClusterConfig
from msglib.protocol import TopicPartition
from msglib.protocol.errors import ProducerFencedError
from msglib.sim.network import Endpoint
from msglib.txn import TxnConfig, transaction_coordinator_for
from msglib.txn.hanging import compare_versions, run_hanging


def make(version: int, seed: int = 1, **cluster):
    cl = Cluster(3, seed=seed, config=ClusterConfig.fast(min_insync_replicas=2, **cluster))
    cl.create_topic("t", 2, 3)
    co = transaction_coordinator_for(cl, TxnConfig.fast(transaction_version=version))
    return cl, co


def sent_types(producer) -> list[str]:
    """Record the type of every message the producer's node sends."""
    seen: list[str] = []
    original = producer.node.send

    def send(dst, msg):
        seen.append(type(msg).__name__)
        original(dst, msg)
    producer.node.send = send
    return seen


def read_committed(cl, topic="t", partitions=(0, 1)) -> list[bytes]:
    c = cl.consumer(isolation_level="read_committed", auto_offset_reset="earliest")
    c.assign([TopicPartition(topic, p) for p in partitions])
    out = []
    for _ in range(20):
        for records in c.poll(timeout_ms=50).values():
            out += [r.value for r in records]
    c.close()
    return sorted(out)


@pytest.mark.parametrize("version", [1, 2])
def test_epoch_per_transaction(version):
    cl, co = make(version)
    p = cl.producer(transactional_id="x")
    p.init_transactions()
    for i, end in enumerate(["commit", "abort", "commit"]):
        p.begin_transaction()
        p.send("t", f"v{i}".encode(), partition=0)
        p.send("t", f"w{i}".encode(), partition=1)
        p.flush()
        getattr(p, f"{end}_transaction")()
    if version == 2:
        assert p.txn.epochs == [0, 1, 2] and p.producer_epoch == 3     # EndTxn answered with the new epoch
        assert co.transaction("x").producer_epoch == 3
        # every marker carries the epoch of the EndTxn that wrote it (the last one lands just after commit returns)
        cl.sim.run(until=cl.sim.now + 200)
        markers = [b.producer_epoch for b in cl.replica(cl.leader("t", 0), "t", 0).log.batches() if b.is_control]
        assert markers == [1, 2, 3]
    else:
        assert p.txn.epochs == [0, 0, 0] and p.producer_epoch == 0
    assert read_committed(cl) == [b"v0", b"v2", b"w0", b"w2"]


@pytest.mark.parametrize("version,expect_client_add", [(1, True), (2, False)])
def test_who_adds_the_partition(version, expect_client_add):
    cl, co = make(version)
    p = cl.producer(transactional_id="x")
    p.init_transactions()
    seen = sent_types(p)
    p.begin_transaction()
    p.send("t", b"a", partition=0)
    p.send("t", b"b", partition=1)
    p.commit_transaction()
    assert ("AddPartitionsToTxnRequest" in seen) == expect_client_add
    added_by_leader = [e for e in co.trace if e["event"] == "leader added partitions"]
    assert bool(added_by_leader) == (not expect_client_add)
    if added_by_leader:
        assert {t for e in added_by_leader for t in e["targets"]} == {"t-0", "t-1"}
        assert all(e["leader"].startswith("b") for e in added_by_leader)
    assert read_committed(cl) == [b"a", b"b"]


def test_a_pre_4_0_client_keeps_v1_on_a_v2_cluster():
    cl, co = make(2)
    p = cl.producer(transactional_id="old")
    p.txn.max_version = 1
    p.init_transactions()
    seen = sent_types(p)
    p.begin_transaction()
    p.send("t", b"a", partition=0)
    p.commit_transaction()
    assert p.txn.version == 1 and "AddPartitionsToTxnRequest" in seen and p.producer_epoch == 0


def test_zombie_fenced_under_v2():
    cl, co = make(2)
    old = cl.producer(transactional_id="app")
    old.init_transactions()
    old.begin_transaction()
    old.send("t", b"zombie", partition=0)
    old.flush()
    new = cl.producer(transactional_id="app")
    new.init_transactions()                   # aborts the old instance's transaction, bumps the epoch
    assert new.producer_epoch > old.producer_epoch
    with pytest.raises(ProducerFencedError):
        old.commit_transaction()
    new.begin_transaction()
    new.send("t", b"fresh", partition=0)
    new.commit_transaction()
    assert read_committed(cl) == [b"fresh"]


def test_a_retried_end_txn_gets_the_same_answer_and_the_new_epoch():
    cl, co = make(2)
    answers = []
    ep = Endpoint("client-x", cl.network, lambda src, msg: answers.append(msg))
    ep.send(proto.TXN_COORDINATOR, proto.InitProducerIdRequest(1, "x", 60_000))
    cl.sim.run(until=cl.sim.now + 50)
    pid, epoch = answers[-1].producer_id, answers[-1].producer_epoch
    ep.send(proto.TXN_COORDINATOR, proto.AddPartitionsToTxnRequest(2, "x", pid, epoch, [TopicPartition("t", 0)]))
    cl.sim.run(until=cl.sim.now + 50)
    for rid in (3, 4):        # the answer to the first EndTxn "was lost": the client sends it again
        ep.send(proto.TXN_COORDINATOR, proto.EndTxnRequest(rid, "x", pid, epoch, True, 2))
        cl.sim.run(until=cl.sim.now + 200)
    first, retry = answers[-2], answers[-1]
    assert first.error is None and first.producer_epoch == epoch + 1
    assert retry.error is None and retry.producer_epoch == epoch + 1     # not PRODUCER_FENCED
    # an abort from the old epoch is not a retry of this commit
    ep.send(proto.TXN_COORDINATOR, proto.EndTxnRequest(5, "x", pid, epoch, False, 2))
    cl.sim.run(until=cl.sim.now + 50)
    assert answers[-1].error == proto.INVALID_TXN_STATE


def test_transaction_version_is_checked():
    with pytest.raises(ValueError, match="transaction_version must be 1"):
        TxnConfig(transaction_version=3)
    with pytest.raises(ValueError, match="then must be"):
        run_hanging(0, then="later")


# ---------------------------------------------------------------------------------- the hanging transaction
def test_v1_late_write_hangs_the_partition():
    r = run_hanging(0, transaction_version=1)
    assert r.late_offset is not None and r.late_write.startswith("appended")
    assert r.aborted == ["a1", "a2"]
    assert len(r.hanging) == 1
    h = r.hanging[0]
    assert h.transactional_id == "payments-app" and h.first_offset == r.late_offset
    assert r.last_stable_offset == r.late_offset < r.high_watermark       # the LSO is stuck under the late write
    assert r.read_committed == ["b1"] and r.stalled == ["b2", "b3"]     # read_committed consumers stall
    assert "HANGING" in r.verdict() and not r.valid


def test_v1_next_transaction_swallows_the_late_write():
    r = run_hanging(0, transaction_version=1, then="continue")
    assert r.aborted_visible == ["a2"] and not r.hanging
    assert "ABORTED DATA VISIBLE" in r.verdict()


@pytest.mark.parametrize("then", ["stop", "continue"])
@pytest.mark.parametrize("version,verification", [(2, False), (1, True)])
def test_late_write_fenced(version, verification, then):
    r = run_hanging(0, transaction_version=version, verification=verification, then=then)
    assert r.late_offset is None and r.late_write.startswith("refused")
    assert r.valid, r.verdict()
    assert r.last_stable_offset == r.high_watermark
    expected = ["b1", "b2", "b3"] + (["a3"] if then == "continue" else [])
    assert sorted(r.read_committed) == sorted(expected)


def test_hanging_over_seeds():
    rows = compare_versions(range(3))
    by = {}
    for row in rows:
        by.setdefault(row["protocol"], []).append(row)
    v1 = next(v for k, v in by.items() if k.startswith("v1 (KIP-98)"))
    v2 = next(v for k, v in by.items() if k.startswith("v2"))
    assert all(r["hanging"] == 1 and r["stalled"] == 2 for r in v1)
    assert all(r["hanging"] == 0 and r["stalled"] == 0 and r["aborted_visible"] == 0 for r in v2)


def test_checker_sees_no_hanging_in_a_healthy_cluster():
    cl, co = make(1)
    p = cl.producer(transactional_id="x")
    p.init_transactions()
    p.begin_transaction()
    p.send("t", b"a", partition=0)
    p.flush()
    assert find_hanging_transactions(cl, co) == []       # open, but the coordinator has it open too
    p.commit_transaction()
    cl.sim.run(until=cl.sim.now + 200)
    assert find_hanging_transactions(cl, co) == []


# ---------------------------------------------------------------------------------- on the coordinator runtime
def test_the_transaction_coordinator_runs_on_the_coordinator_runtime():
    from msglib.coordinator import CoordinatorNode
    from msglib.txn.state_log import TransactionStateShard
    cl, co = make(2)
    assert isinstance(co, CoordinatorNode) and isinstance(co.runtime.shard, TransactionStateShard)
    assert co.runtime.topic == "__transaction_state" and co.runtime.log.config.cleanup_policy == "compact"
    assert co.runtime.is_scheduled("abort-timed-out") and co.runtime.is_scheduled("remove-expired")
    p = cl.producer(transactional_id="x")
    p.init_transactions()
    p.begin_transaction()
    p.send("t", b"a", partition=0)
    p.commit_transaction()            # v2: the epoch moved to 1 with the commit, logged before the answer
    before = co.transaction("x").to_json()
    co.crash(power_loss=True)         # everything the coordinator answered was flushed first
    assert co.txns == {} and not co.runtime.is_scheduled("abort-timed-out")
    co.restart()
    after = co.transaction("x").to_json()
    assert after["producer_epoch"] == 1 and after["prev_producer_epoch"] == 0 and after["transaction_version"] == 2
    assert after["producer_id"] == before["producer_id"] and after["state"] in ("PrepareCommit", "CompleteCommit")
    assert co.runtime.is_scheduled("abort-timed-out")
    assert any(e["event"] == "coordinator restarted" for e in co.trace)
    cl.sim.run(until=cl.sim.now + 200)
    assert co.transaction("x").state == "CompleteCommit"
    p2 = cl.producer(transactional_id="y")     # the producer id counter came back from the log too
    p2.init_transactions()
    assert p2.producer_id != p.producer_id


# ---------------------------------------------------------------------------------- module 06's pictures and helpers
def test_plot_hanging_outlines_the_late_write(monkeypatch):
    from msglib.viz import txn as viz
    r1, r2 = run_hanging(0, transaction_version=1), run_hanging(0, transaction_version=2)
    fig = viz.plot_hanging(r1, r2)
    assert len(fig.axes) == 2
    assert any(t.get_text() == "late write" for t in fig.axes[0].texts)
    assert not any(t.get_text() == "late write" for t in fig.axes[1].texts)
    assert "HANGING" in fig.axes[0].get_title(loc="left") and "refused" in fig.axes[1].get_title(loc="left")
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    assert viz.plot_hanging(r1) is None


def test_serve_subprocess_starts_a_server_on_loopback_and_stops_it(monkeypatch):
    import socket
    from msglib.viz import txn as viz
    with viz.serve_subprocess() as address:
        host, port = address.split(":")
        assert host == "127.0.0.1"
        socket.create_connection((host, int(port)), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()
    monkeypatch.setenv("MSGLIB_GRADING_RUN", "1")
    with viz.serve_subprocess() as address:
        assert address is None                  # nothing is started while a grader runs the notebook
