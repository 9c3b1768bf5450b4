"""``msglib serve`` and ``msglib serve --brokers N`` answer the request checks they share the same way.

The checks live once (``produce_checks``, ``fetch_session_refused`` and ``Handlers.find_coordinator`` in
wire/handlers.py; ``new_topic_error`` in wire/broker.py); each server is driven here over its socket.
"""
from __future__ import annotations

import time

import pytest

from msglib.wire.replicated import ClusterServerThread
from msglib.wire.server import ServerThread
from msglib.wire.specs import ERROR_CODES
from tests.wire_call import call


@pytest.fixture(params=["one broker", "cluster"])
def address(request, tmp_path):
    if request.param == "one broker":
        with ServerThread(str(tmp_path / "data")) as s:
            yield s.address
    else:
        with ClusterServerThread(brokers=3) as srv:
            yield srv.addresses[0]


def produce(address: str, topic: str, records: bytes | None, acks: int = 1, partition: int = 0) -> dict:
    out = call(address, 0, 8, {"transactional_id": None, "acks": acks, "timeout_ms": 1000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": records}]}]})
    return out["responses"][0]["partition_responses"][0]


def create(address: str, name: str, partitions: int = 1) -> dict:
    out = call(address, 19, 4, {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1,
                                            "assignments": [], "configs": []}], "timeout_ms": 1000})
    return out["topics"][0]


def wait_for_leader(address: str, topic: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        meta = call(address, 3, 8, {"topics": [{"name": topic}], "allow_auto_topic_creation": True,
                                    "include_cluster_authorized_operations": False,
                                    "include_topic_authorized_operations": False})
        parts = meta["topics"][0]["partitions"]
        if parts and parts[0]["leader_id"] >= 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"no leader for {topic} after 10 s")


def test_produce_checks(address):
    wait_for_leader(address, "t")
    bad_acks = produce(address, "t", b"", acks=2)
    assert (bad_acks["error_code"], bad_acks["error_message"]) == (ERROR_CODES["INVALID_REQUIRED_ACKS"],
                                                                   "acks=2: use 0, 1 or -1 (all)")
    assert produce(address, "t", b"", partition=7)["error_code"] == ERROR_CODES["UNKNOWN_TOPIC_OR_PARTITION"]
    empty = produce(address, "t", None)
    assert (empty["error_code"], empty["error_message"]) == (ERROR_CODES["CORRUPT_MESSAGE"], "no records")
    torn = produce(address, "t", b"\0" * 5)
    assert (torn["error_code"], torn["error_message"]) == (ERROR_CODES["CORRUPT_MESSAGE"],
                                                           "records end inside a batch header")
    assert torn["base_offset"] == -1


def test_fetch_session_and_find_coordinator_checks(address):
    fetched = call(address, 1, 11, {"max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "session_id": 5,
                                    "topics": []})
    assert (fetched["error_code"], fetched["responses"]) == (ERROR_CODES["FETCH_SESSION_ID_NOT_FOUND"], [])
    refused = call(address, 10, 2, {"key": "g", "key_type": 2})
    assert (refused["error_code"], refused["node_id"]) == (ERROR_CODES["INVALID_REQUEST"], -1)
    found = call(address, 10, 2, {"key": "g", "key_type": 0})
    assert found["error_code"] == 0 and found["node_id"] >= 0 and found["port"] > 0


def test_new_topic_checks(address):
    dots = create(address, "..")
    assert dots["error_code"] == ERROR_CODES["INVALID_TOPIC_EXCEPTION"]
    assert "not '.' or '..'" in dots["error_message"]
    none = create(address, "none", partitions=0)
    assert (none["error_code"], none["error_message"].split(":")[0]) == (ERROR_CODES["INVALID_PARTITIONS"],
                                                                         "0 partitions")
    assert create(address, "twice")["error_code"] == 0
    again = create(address, "twice")
    assert (again["error_code"], again["error_message"]) == (ERROR_CODES["TOPIC_ALREADY_EXISTS"],
                                                             "topic 'twice' already exists")
