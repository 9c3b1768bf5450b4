"""KIP-848 and topic ids on the wire, with raw frames (no client library): the ``uuid`` type and nullable
structs by hand, topic ids kept across restarts (KIP-516), Metadata v12 by topic id, ConsumerGroupHeartbeat
(API 68) through msglib's coordinator step by step, OffsetCommit/OffsetFetch v9 with the member epoch, and
fuzzed ConsumerGroupHeartbeat frames that must never crash the server.
"""
from __future__ import annotations

import json
import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msglib.wire import codec
from msglib.wire.server import ServerThread
from msglib.wire.specs import ERROR_CODES
from tests.test_wire_codec import call, connect

CGH, METADATA, OFFSET_COMMIT, OFFSET_FETCH, CREATE, DELETE, LIST_GROUPS = 68, 3, 8, 9, 19, 20, 16


def options() -> dict:
    return {"group_initial_rebalance_delay_ms": 0, "group_consumer_heartbeat_interval_ms": 100,
            "group_consumer_session_timeout_ms": 5000}


@pytest.fixture
def server(tmp_path):
    with ServerThread(str(tmp_path / "data"), **options()) as s:
        yield s


def create(sock, name: str, partitions: int) -> None:
    out = call(sock, CREATE, 4, {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1,
                                             "assignments": [], "configs": []}], "timeout_ms": 1000})
    assert out["topics"][0]["error_code"] == 0, out


def topic_ids(sock, version: int = 12) -> dict[str, uuid.UUID]:
    return {t["name"]: t["topic_id"] for t in call(sock, METADATA, version, {"topics": None})["topics"]}


def heartbeat(sock, member: str, epoch: int, *, topics=None, owned=None, regex=None, group: str = "g",
              version: int = 1) -> dict:
    return call(sock, CGH, version, {
        "group_id": group, "member_id": member, "member_epoch": epoch, "instance_id": None, "rack_id": None,
        "rebalance_timeout_ms": 30000 if epoch == 0 else -1, "subscribed_topic_names": topics,
        "subscribed_topic_regex": regex, "server_assignor": None, "topic_partitions": owned})


def partitions_of(answer: dict, ids: dict[str, uuid.UUID]) -> set[tuple[str, int]] | None:
    if answer["assignment"] is None:
        return None
    names = {v: k for k, v in ids.items()}
    return {(names[t["topic_id"]], q) for t in answer["assignment"]["topic_partitions"] for q in t["partitions"]}


# -- the encoding ----------------------------------------------------------------------------------------------
def test_uuid_and_nullable_struct_by_hand():
    topic_id = uuid.UUID(bytes=bytes(range(16)))
    body = {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "member_id": "m", "member_epoch": 3,
            "heartbeat_interval_ms": 5000, "assignment": None}
    head = struct.pack(">ih", 0, 0) + b"\x00" + b"\x02m" + struct.pack(">ii", 3, 5000)
    data = b"".join(bytes(c) for c in codec.encode_response(CGH, 1, 7, body))
    # size, correlation id, response header v1's empty tags, then the body: a null Assignment is int8 -1
    assert data[4:] == struct.pack(">i", 7) + b"\x00" + head + b"\xff" + b"\x00"
    body["assignment"] = {"topic_partitions": [{"topic_id": topic_id, "partitions": [4]}]}
    data = b"".join(bytes(c) for c in codec.encode_response(CGH, 1, 7, body))
    # present: int8 1, a compact array of one (0x02), the 16 id bytes, partitions [4], then each struct's tags
    assert data[9:] == head + b"\x01" + b"\x02" + bytes(range(16)) + b"\x02" + struct.pack(">i", 4) + b"\x00" * 3
    cid, back = codec.decode_response(CGH, 1, data[4:])
    assert cid == 7 and back["assignment"]["topic_partitions"][0]["topic_id"] == topic_id


def test_topic_id_text_form_is_kafkas():
    # Kafka's Uuid.toString is URL-safe base64 without padding; the KRaft metadata topic's id is 0...01
    assert codec.topic_id_text(uuid.UUID(int=1)) == "AAAAAAAAAAAAAAAAAAAAAQ"
    made = [codec.new_topic_id() for _ in range(2000)]
    assert all(u.int > 1 and not codec.topic_id_text(u).startswith("-") for u in made)
    assert len(set(made)) == len(made)
    assert all(codec.parse_topic_id(codec.topic_id_text(u)) == u for u in made[:50])
    with pytest.raises(ValueError, match="16 bytes"):
        codec.parse_topic_id("AAAA")


# -- topic ids ---------------------------------------------------------------------------------------------------
def test_topic_ids_survive_a_restart_and_change_when_a_topic_is_created_again(tmp_path):
    folder = str(tmp_path / "data")
    with ServerThread(folder, **options()) as s, connect(s) as sock:
        create(sock, "a", 1)
        call(sock, METADATA, 12, {"topics": [{"topic_id": codec.ZERO_UUID, "name": "b"}],
                                  "allow_auto_topic_creation": True})
        before = topic_ids(sock)
    assert set(before) == {"a", "b"} and codec.ZERO_UUID not in before.values()
    catalog = json.load(open(f"{folder}/topics.json"))
    assert {n: codec.parse_topic_id(e["topic_id"]) for n, e in catalog.items()} == before
    with ServerThread(folder, **options()) as s, connect(s) as sock:
        assert topic_ids(sock) == before                                     # kept on disk with the topic
        assert call(sock, DELETE, 3, {"topic_names": ["a"], "timeout_ms": 1000})["responses"][0]["error_code"] == 0
        create(sock, "a", 1)
        again = topic_ids(sock)
    assert again["b"] == before["b"] and again["a"] != before["a"]          # a new topic, a new id (KIP-516)


def test_a_catalog_from_before_topic_ids_gets_them_once(tmp_path):
    folder = str(tmp_path / "data")
    with ServerThread(folder, **options()) as s, connect(s) as sock:
        create(sock, "old", 2)
    catalog = json.load(open(f"{folder}/topics.json"))
    for entry in catalog.values():
        del entry["topic_id"]
    json.dump(catalog, open(f"{folder}/topics.json", "w"))
    with ServerThread(folder, **options()) as s, connect(s) as sock:
        first = topic_ids(sock)
    with ServerThread(folder, **options()) as s, connect(s) as sock:
        assert topic_ids(sock) == first and first["old"] != codec.ZERO_UUID


def test_metadata_v12_by_topic_id_and_the_older_versions(server):
    with connect(server) as sock:
        create(sock, "named", 3)
        ids = topic_ids(sock)
        unknown = uuid.UUID(int=12345)
        out = call(sock, METADATA, 12, {"topics": [{"topic_id": ids["named"], "name": None},
                                                   {"topic_id": unknown, "name": None}],
                                        "allow_auto_topic_creation": False})
        by_id = {t["topic_id"]: t for t in out["topics"]}
        assert by_id[ids["named"]]["name"] == "named" and len(by_id[ids["named"]]["partitions"]) == 3
        assert by_id[unknown]["error_code"] == ERROR_CODES["UNKNOWN_TOPIC_ID"] and by_id[unknown]["name"] is None
        # v10 and v11 carry the fields but may not use them (KafkaApis answers INVALID_REQUEST)
        old = call(sock, METADATA, 11, {"topics": [{"topic_id": ids["named"], "name": None}]})
        assert old["topics"][0]["error_code"] == ERROR_CODES["INVALID_REQUEST"]
        assert topic_ids(sock, 10) == ids                                    # v10+ answers carry the id
        assert [t["name"] for t in call(sock, METADATA, 8, {"topics": None})["topics"]] == ["named"]


def test_librdkafkas_all_topics_metadata_v12_frame_decodes():
    """librdkafka 2.x writes a v9+ all-topics Metadata request with the 4 bytes it reserved for the topic count
    still there (a compact null array, then 3 zero bytes): Kafka's broker ignores what follows a request, so
    must this server (it closed the connection before, and a classic group leader failed its assignment)."""
    frame = bytes.fromhex("0003000c00000004000772646b61666b610000000000000000")   # captured from librdkafka
    header, body = codec.decode_request(frame)
    assert (header["api_version"], header["client_id"], header["trailing_bytes"]) == (12, "rdkafka", 3)
    assert body["topics"] is None


# -- ConsumerGroupHeartbeat ----------------------------------------------------------------------------------
def test_consumer_group_heartbeat_hands_a_partition_over_only_after_its_revocation(server):
    with connect(server) as sock:
        create(sock, "t", 2)
        ids = topic_ids(sock)
        tid = ids["t"]
        one = heartbeat(sock, "m1", 0, topics=["t"], owned=[])          # KIP-1082: the client makes its id
        assert (one["error_code"], one["member_id"], one["heartbeat_interval_ms"]) == (0, "m1", 100)
        assert one["member_epoch"] >= 1 and partitions_of(one, ids) == {("t", 0), ("t", 1)}
        steady = heartbeat(sock, "m1", one["member_epoch"])
        assert steady["error_code"] == 0 and steady["assignment"] is None          # null: nothing changed

        two = heartbeat(sock, "m2", 0, topics=["t"], owned=[])
        assert two["error_code"] == 0 and partitions_of(two, ids) == set()        # its partition is still m1's
        revoke = heartbeat(sock, "m1", one["member_epoch"])
        kept = partitions_of(revoke, ids)
        assert len(kept) == 1                                                 # m1 must give one up first
        freed = ({("t", 0), ("t", 1)} - kept).pop()
        mine = next(iter(kept))[1]
        assert partitions_of(heartbeat(sock, "m2", two["member_epoch"]), ids) is None   # not yet free
        acked = heartbeat(sock, "m1", revoke["member_epoch"],
                          owned=[{"topic_id": tid, "partitions": [q for _, q in kept]}])
        assert acked["error_code"] == 0 and acked["member_epoch"] > one["member_epoch"]
        given = heartbeat(sock, "m2", two["member_epoch"])
        assert partitions_of(given, ids) == {freed}

        # OffsetCommit v9 / OffsetFetch v9 carry the member epoch
        def commit(epoch: int) -> int:
            out = call(sock, OFFSET_COMMIT, 9, {"group_id": "g", "generation_id_or_member_epoch": epoch,
                                                "member_id": "m1", "group_instance_id": None, "topics": [
                {"name": "t", "partitions": [{"partition_index": mine, "committed_offset": 7,
                                              "committed_leader_epoch": -1, "committed_metadata": None}]}]})
            return out["topics"][0]["partitions"][0]["error_code"]

        def fetch(member, epoch: int) -> dict:
            return call(sock, OFFSET_FETCH, 9, {"groups": [{"group_id": "g", "member_id": member,
                                                            "member_epoch": epoch, "topics": None}]})["groups"][0]

        assert commit(one["member_epoch"]) == ERROR_CODES["STALE_MEMBER_EPOCH"]
        nowhere = call(sock, OFFSET_COMMIT, 9, {"group_id": "no-such-group", "generation_id_or_member_epoch": 3,
                                                "member_id": "m1", "topics": [{"name": "t", "partitions": [
                                                    {"partition_index": 0, "committed_offset": 1}]}]})
        assert nowhere["topics"][0]["partitions"][0]["error_code"] == ERROR_CODES["GROUP_ID_NOT_FOUND"]
        old = call(sock, OFFSET_COMMIT, 8, {"group_id": "g", "generation_id_or_member_epoch": acked["member_epoch"],
                                            "member_id": "m1", "topics": [{"name": "t", "partitions": [
                                                {"partition_index": mine, "committed_offset": 7}]}]})
        assert old["topics"][0]["partitions"][0]["error_code"] == ERROR_CODES["UNSUPPORTED_VERSION"]   # v9+ only
        assert commit(acked["member_epoch"]) == 0
        assert fetch("m1", one["member_epoch"])["error_code"] == ERROR_CODES["STALE_MEMBER_EPOCH"]
        assert fetch("nobody", 3)["error_code"] == ERROR_CODES["UNKNOWN_MEMBER_ID"]
        for member, epoch in (("m1", acked["member_epoch"]), (None, -1)):   # the member; an admin
            group = fetch(member, epoch)
            assert group["error_code"] == 0
            assert [(p["partition_index"], p["committed_offset"]) for t in group["topics"] for p in t["partitions"]] \
                == [(mine, 7)]

        groups = call(sock, LIST_GROUPS, 2, {})["groups"]
        assert {"group_id": "g", "protocol_type": "consumer"} in groups
        described = call(sock, 15, 4, {"groups": ["g"], "include_authorized_operations": False})["groups"][0]
        assert described["group_state"] == "Dead"             # not a classic group (Kafka's describeGroups)
        left = heartbeat(sock, "m2", -1)            # epoch -1: leave
        assert (left["error_code"], left["member_epoch"]) == (0, -1)


def test_consumer_group_heartbeat_errors_are_kafkas(server):
    with connect(server) as sock:
        create(sock, "t", 1)
        regex = heartbeat(sock, "r", 0, topics=[], owned=[], regex="^t.*")
        assert regex["error_code"] == ERROR_CODES["INVALID_REQUEST"] and "topic names" in regex["error_message"]
        assert heartbeat(sock, "ghost", 4)["error_code"] == ERROR_CODES["UNKNOWN_MEMBER_ID"]
        joined = heartbeat(sock, "m", 0, topics=["t"], owned=[], version=0)         # v0: no regex field
        assert joined["error_code"] == 0
        ahead = heartbeat(sock, "m", joined["member_epoch"] + 5)
        assert ahead["error_code"] == ERROR_CODES["FENCED_MEMBER_EPOCH"] and "ahead" in ahead["error_message"]
        bad = call(sock, CGH, 1, {"group_id": "g", "member_id": "x", "member_epoch": 0, "rebalance_timeout_ms": 1000,
                                  "subscribed_topic_names": ["t"], "server_assignor": "nope", "topic_partitions": []})
        assert bad["error_code"] == ERROR_CODES["UNSUPPORTED_ASSIGNOR"]
        # a classic group's id cannot take a consumer-protocol member while it has members
        from msglib.wire.consumer_protocol import encode_subscription
        from msglib.protocol import Subscription
        call(sock, 11, 5, {"group_id": "classic", "session_timeout_ms": 10000, "rebalance_timeout_ms": 10000,
                           "member_id": "", "group_instance_id": None, "protocol_type": "consumer",
                           "protocols": [{"name": "range", "metadata": encode_subscription(Subscription(["t"]))}]})
        mixed = heartbeat(sock, "y", 0, topics=["t"], owned=[], group="classic")
        assert mixed["error_code"] == ERROR_CODES["INCONSISTENT_GROUP_PROTOCOL"]


# -- fuzzing ----------------------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1), st.binary(max_size=200))
def test_fuzzed_heartbeat_bodies_raise_only_the_protocol_errors(version, body):
    frame = struct.pack(">hhi", CGH, version, 1) + b"\x00\x01c" + b"\x00" + body
    try:
        codec.decode_request(frame)
    except (codec.MalformedRequestError, codec.UnsupportedVersionError):
        pass


def test_fuzzed_heartbeats_never_crash_the_server(tmp_path):
    """A live server takes 150 mutated ConsumerGroupHeartbeat requests (joins, steady heartbeats and acks with
    topic ids): each is answered or its connection closed, no handler fails, the coordinator's clock keeps
    running, and a clean member still joins and is given the topic afterwards."""
    with ServerThread(str(tmp_path / "fuzz"), **options()) as s:
        with connect(s) as sock:
            create(sock, "t", 2)
            tid = topic_ids(sock)["t"]
        good = [codec.encode_request(CGH, 1, 1, {
            "group_id": "f", "member_id": "m", "member_epoch": epoch, "rebalance_timeout_ms": 1000,
            "subscribed_topic_names": ["t", "u"], "subscribed_topic_regex": None, "server_assignor": "range",
            "topic_partitions": [{"topic_id": tid, "partitions": [0, 1]}]}) for epoch in (0, 1, -1)]

        @settings(max_examples=150, deadline=None)
        @given(st.sampled_from(good), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=5))
        def mutated(frame, flips):
            frame = bytearray(frame)
            for position, value in flips:
                frame[12 + position % (len(frame) - 12)] = value      # the header's first 8 bytes stay
            sock = connect(s)
            sock.settimeout(0.3)
            sock.sendall(bytes(frame))
            try:
                sock.recv(1 << 16)
            except OSError:
                pass
            sock.close()

        mutated()
        stats = s.server.stats
        answered = sum(1 for e in s.server.broker.coordinators.group.trace if e.get("group") != "after"
                       and e.get("protocol") == "consumer")
        print(f"{stats['requests']} requests, {stats['malformed']} malformed, {answered} reached the coordinator")
        assert answered > 10, "the mutations should reach the coordinator too, not only the decoder"
        assert stats["handler_errors"] == 0
        assert not s.server._pumper.done(), "the coordinators' clock stopped"
        with connect(s) as sock:
            ids = topic_ids(sock)
            clean = heartbeat(sock, "clean", 0, topics=["t"], owned=[], group="after")
            assert clean["error_code"] == 0 and partitions_of(clean, ids) == {("t", 0), ("t", 1)}


def test_offset_fetch_require_stable(server):
    """OffsetFetch v7+: pending transactional offsets make a partition UNSTABLE_OFFSET_COMMIT only when the
    request sets require_stable (KIP-447); otherwise the last committed offset is answered."""
    with connect(server) as sock:
        create(sock, "t", 1)
        out = call(sock, OFFSET_COMMIT, 9, {"group_id": "tg", "generation_id_or_member_epoch": -1, "member_id": "",
                                            "group_instance_id": None, "topics": [{"name": "t", "partitions": [
                                                {"partition_index": 0, "committed_offset": 2,
                                                 "committed_leader_epoch": -1, "committed_metadata": None}]}]})
        assert out["topics"][0]["partitions"][0]["error_code"] == 0
        pid = call(sock, 22, 1, {"transactional_id": "tx", "transaction_timeout_ms": 60000})
        assert pid["error_code"] == 0
        ids = {"transactional_id": "tx", "producer_id": pid["producer_id"], "producer_epoch": pid["producer_epoch"]}
        assert call(sock, 25, 2, {**ids, "group_id": "tg"})["error_code"] == 0
        txn = call(sock, 28, 3, {**ids, "group_id": "tg", "generation_id": -1, "member_id": "",
                                 "group_instance_id": None, "topics": [{"name": "t", "partitions": [
                                     {"partition_index": 0, "committed_offset": 5, "committed_leader_epoch": -1,
                                      "committed_metadata": None}]}]})
        assert txn["topics"][0]["partitions"][0]["error_code"] == 0

        def fetch(require_stable: bool) -> dict:
            out = call(sock, OFFSET_FETCH, 8, {"groups": [{"group_id": "tg", "topics": [
                {"name": "t", "partition_indexes": [0]}]}], "require_stable": require_stable})
            return out["groups"][0]["topics"][0]["partitions"][0]

        assert fetch(True)["error_code"] == ERROR_CODES["UNSTABLE_OFFSET_COMMIT"]
        relaxed = fetch(False)
        assert (relaxed["error_code"], relaxed["committed_offset"]) == (0, 2)
