"""msglib serve's codecs and server, with raw frames: no Kafka client library needed.

The codecs are checked against hand-built bytes, then fuzzed: arbitrary frames never raise anything but
the two errors the server turns into a clear answer, and a server fed mutated Produce requests stays up
and keeps a log that reopens clean.
"""
from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msglib.log import Log, RecordBatch
from msglib.wire import codec
from msglib.wire.handlers import supported_versions
from msglib.wire.server import ServerThread
from msglib.wire.specs import ERROR_CODES, SPECS

API_KEYS = sorted(k for k in SPECS if isinstance(k, int))


@pytest.fixture
def server(tmp_path):
    with ServerThread(str(tmp_path / "data"), group_initial_rebalance_delay_ms=0) as s:
        yield s


def connect(s: ServerThread) -> socket.socket:
    sock = socket.create_connection((s.host, s.port), timeout=5)
    return sock


def call(sock: socket.socket, api_key: int, version: int, body: dict, correlation_id: int = 1) -> dict:
    sock.sendall(codec.encode_request(api_key, version, correlation_id, body))
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    cid, out = codec.decode_response(api_key, version, recv_exactly(sock, size))
    assert cid == correlation_id
    return out


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def produce_body(topic: str, data: bytes, acks: int = 1) -> dict:
    return {"transactional_id": None, "acks": acks, "timeout_ms": 1000,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": data}]}]}


# -- the encoding ----------------------------------------------------------------------------------------------
def test_request_header_v1_by_hand():
    frame = codec.encode_request(3, 1, 0x01020304, {"topics": None}, client_id="ab")
    # size, api key 3, version 1, correlation id, client id "ab" (int16 length), topics null (int32 -1)
    assert frame == struct.pack(">ihhi", 16, 3, 1, 0x01020304) + b"\x00\x02ab" + b"\xff\xff\xff\xff"
    header, body = codec.decode_request(frame[4:])
    assert header == {"api_key": 3, "api_version": 1, "correlation_id": 0x01020304, "client_id": "ab",
                      "trailing_bytes": 0}
    assert body["topics"] is None


def test_flexible_request_uses_compact_strings_and_tagged_fields():
    frame = codec.encode_request(18, 3, 7, {"client_software_name": "kcat", "client_software_version": "1"},
                                 client_id=None)
    # header v2: client id stays a non-compact nullable string (-1), then an empty tagged-field section;
    # the body's strings are compact (length + 1 as an unsigned varint), then its own tagged fields.
    assert frame[4:] == struct.pack(">hhi", 18, 3, 7) + b"\xff\xff" + b"\x00" + b"\x05kcat" + b"\x021" + b"\x00"


def test_api_versions_response_header_stays_v0_when_flexible():
    chunks = codec.encode_response(18, 3, 9, {"api_keys": [{"api_key": 0, "min_version": 3, "max_version": 8}]})
    data = b"".join(bytes(c) for c in chunks)
    # correlation id, then the body at once (no tagged-field byte in the header), compact array of 1 -> 0x02
    assert data[4:8] == struct.pack(">i", 9) and data[8:10] == b"\x00\x00" and data[10] == 2


@pytest.mark.parametrize("api_key", API_KEYS)
def test_every_served_request_round_trips_at_every_version(api_key):
    lo, hi = SPECS[api_key][1]
    for version in range(lo, hi + 1):
        frame = codec.encode_request(api_key, version, 5, {})
        header, body = codec.decode_request(frame[4:])
        assert header["api_version"] == version
        again = codec.encode_request(api_key, version, 5, body)
        assert again == frame, f"{SPECS[api_key][0]} v{version}"


def test_truncated_frames_name_the_field():
    frame = codec.encode_request(0, 8, 1, produce_body("t", b"x" * 10))[4:]
    for cut in range(8, len(frame) - 1, 7):
        with pytest.raises(codec.MalformedRequestError):
            codec.decode_request(frame[:cut])
    header, body = codec.decode_request(frame + b"\x00\x00")     # ignored after a whole request, as Kafka does
    assert header["trailing_bytes"] == 2 and body == codec.decode_request(frame)[1]


def test_unknown_api_or_version_is_unsupported():
    with pytest.raises(codec.UnsupportedVersionError, match="Produce v2 is not served"):
        codec.decode_request(struct.pack(">hhi", 0, 2, 1) + b"\xff\xff")
    with pytest.raises(codec.UnsupportedVersionError):
        codec.decode_request(struct.pack(">hhi", 999, 0, 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzzed_frames_raise_only_the_two_protocol_errors(data):
    try:
        codec.decode_request(data)
    except (codec.MalformedRequestError, codec.UnsupportedVersionError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(API_KEYS), st.data())
def test_fuzzed_valid_headers_with_random_bodies(api_key, data):
    lo, hi = SPECS[api_key][1]
    version = data.draw(st.integers(lo, hi))
    body = data.draw(st.binary(max_size=200))
    frame = struct.pack(">hhi", api_key, version, 1) + b"\x00\x01c" + body
    try:
        codec.decode_request(frame)
    except (codec.MalformedRequestError, codec.UnsupportedVersionError):
        pass


# -- the server, raw ----------------------------------------------------------------------------------------------
def test_api_versions_advertises_exactly_what_is_served(server):
    with connect(server) as sock:
        out = call(sock, 18, 3, {"client_software_name": "test", "client_software_version": "0"})
    assert out["error_code"] == 0
    assert out["api_keys"] == supported_versions()
    served = {k["api_key"]: (k["min_version"], k["max_version"]) for k in out["api_keys"]}
    assert served == {k: SPECS[k][1] for k in API_KEYS}
    assert len(served) == 22 and served[68] == (0, 1)     # ConsumerGroupHeartbeat (KIP-848)


def test_api_versions_too_new_gets_v0_answer_with_the_list(server):
    with connect(server) as sock:
        sock.sendall(struct.pack(">ihhi", 10, 18, 9, 42) + b"\xff\xff")
        size = struct.unpack(">i", recv_exactly(sock, 4))[0]
        cid, out = codec.decode_response(18, 0, recv_exactly(sock, size))
    assert cid == 42 and out["error_code"] == ERROR_CODES["UNSUPPORTED_VERSION"]
    assert out["api_keys"] == supported_versions()


def test_oversized_and_malformed_frames_close_only_their_connection(server):
    bad = connect(server)
    bad.sendall(struct.pack(">i", 1 << 30))
    assert bad.recv(10) == b""                       # closed: the frame is larger than the limit
    bad.close()
    bad = connect(server)
    bad.sendall(struct.pack(">ihhi", 10, 3, 1, 1) + b"\x00\x05")   # the client id runs past the frame
    assert bad.recv(10) == b""
    bad.close()
    with connect(server) as sock:                    # the server goes on
        assert call(sock, 3, 1, {"topics": None})["brokers"][0]["port"] == server.port
    assert server.server.stats["malformed"] == 2


def test_produce_fetch_and_acks_zero_raw(server):
    batch = RecordBatch([(b"k", b"v1"), (b"k", b"v2")]).encode()
    with connect(server) as sock:
        out = call(sock, 0, 8, produce_body("raw", batch))
        part = out["responses"][0]["partition_responses"][0]
        assert (part["error_code"], part["base_offset"]) == (ERROR_CODES["UNKNOWN_TOPIC_OR_PARTITION"], -1)
        call(sock, 3, 8, {"topics": [{"name": "raw"}], "allow_auto_topic_creation": True})
        part = call(sock, 0, 8, produce_body("raw", batch))["responses"][0]["partition_responses"][0]
        assert (part["error_code"], part["base_offset"]) == (0, 0)
        sock.sendall(codec.encode_request(0, 8, 2, produce_body("raw", batch, acks=0)))   # no answer comes
        part = call(sock, 0, 8, produce_body("raw", batch), correlation_id=3)["responses"][0]["partition_responses"][0]
        assert part["base_offset"] == 4
        fetched = call(sock, 1, 11, {"max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "topics": [
            {"topic": "raw", "partitions": [{"partition": 0, "fetch_offset": 2, "partition_max_bytes": 1 << 20}]}]})
        p0 = fetched["responses"][0]["partitions"][0]
        assert p0["high_watermark"] == 6
        offsets = [r.offset for b in _batches(p0["records"]) for r in b.records]
        assert offsets == [2, 3, 4, 5]


def test_corrupt_batch_is_refused_by_name(server):
    batch = bytearray(RecordBatch([(b"k", b"v")]).encode())
    batch[-1] ^= 0xFF                                # breaks the CRC
    with connect(server) as sock:
        call(sock, 3, 8, {"topics": [{"name": "c"}], "allow_auto_topic_creation": True})
        part = call(sock, 0, 8, produce_body("c", bytes(batch)))["responses"][0]["partition_responses"][0]
    assert part["error_code"] == ERROR_CODES["CORRUPT_MESSAGE"]
    assert "CRC" in part["error_message"]


def test_fetch_long_poll_returns_when_data_arrives(server):
    import threading
    import time
    with connect(server) as sock, connect(server) as other:
        call(sock, 3, 8, {"topics": [{"name": "lp"}], "allow_auto_topic_creation": True})
        body = {"max_wait_ms": 5000, "min_bytes": 1, "max_bytes": 1 << 20, "topics": [
            {"topic": "lp", "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}]}
        timer = threading.Timer(0.3, lambda: call(other, 0, 8, produce_body("lp", RecordBatch([b"x"]).encode())))
        started = time.monotonic()
        timer.start()
        out = call(sock, 1, 11, body)
        waited = time.monotonic() - started
        timer.join()
    assert out["responses"][0]["partitions"][0]["records"]
    print(f"long poll answered after {waited:.2f} s (max_wait 5 s, data after 0.3 s)")
    assert waited < 4.5, "the fetch waited for max_wait_ms although data arrived"


def _batches(data: bytes) -> list[RecordBatch]:
    from msglib.log.records import iter_batches
    return list(iter_batches(data))


def test_fuzzed_produce_requests_never_crash_the_server_or_corrupt_the_log(tmp_path):
    """One server takes 150 mutated Produce requests (hypothesis), answering or closing each connection; after
    each one it still appends, and the log it leaves reopens without anything to repair."""
    data_dir = str(tmp_path / "fuzz")
    good = codec.encode_request(0, 8, 1, produce_body("f", RecordBatch([(b"key", b"value")] * 3).encode()))
    with ServerThread(data_dir) as s:
        with connect(s) as sock:
            call(sock, 3, 8, {"topics": [{"name": "f"}], "allow_auto_topic_creation": True})

        @settings(max_examples=150, deadline=None)
        @given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6))
        def mutated(flips):
            frame = bytearray(good)
            for position, value in flips:
                frame[4 + position % (len(frame) - 4)] = value
            sock = connect(s)
            sock.settimeout(2)
            sock.sendall(bytes(frame))
            try:
                sock.recv(1 << 16)
            except OSError:
                pass
            sock.close()
            with connect(s) as sock:                 # still up, and still appends
                part = call(sock, 0, 8, produce_body("f", RecordBatch([b"after"]).encode()))
                assert part["responses"][0]["partition_responses"][0]["error_code"] == 0

        mutated()
        assert s.server.stats["requests"] > 150
    log = Log(f"{data_dir}/f-0")                     # reopened from disk: every batch whole, offsets dense
    try:
        assert not log.recovery_report.truncated, log.recovery_report.summary()
        records = list(log.records())
        assert [r.offset for r in records] == list(range(log.log_end_offset))
        assert records[-1].value == b"after"
    finally:
        log.close()


def test_idempotent_batches_duplicates_and_gaps(server):
    def batch(seq: int, values: list[bytes], pid: int) -> bytes:
        return RecordBatch(values, producer_id=pid, producer_epoch=0, base_sequence=seq).encode()

    with connect(server) as sock:
        pid = call(sock, 22, 1, {"transactional_id": None, "transaction_timeout_ms": 60000})["producer_id"]
        other = call(sock, 22, 1, {"transactional_id": None, "transaction_timeout_ms": 60000})["producer_id"]
        assert pid >= 0 and other != pid
        call(sock, 3, 8, {"topics": [{"name": "idem"}], "allow_auto_topic_creation": True})

        def send(data: bytes) -> dict:
            return call(sock, 0, 8, produce_body("idem", data))["responses"][0]["partition_responses"][0]

        first = send(batch(0, [b"a", b"b"], pid))
        again = send(batch(0, [b"a", b"b"], pid))             # a retry: answered with the first offsets
        gap = send(batch(5, [b"c"], pid))                     # sequences 2..4 never came
        follow = send(batch(2, [b"c"], pid))
    assert (first["error_code"], first["base_offset"]) == (0, 0)
    assert (again["error_code"], again["base_offset"]) == (0, 0)
    assert gap["error_code"] == ERROR_CODES["OUT_OF_ORDER_SEQUENCE_NUMBER"]
    assert (follow["error_code"], follow["base_offset"]) == (0, 2)
    assert server.server.broker.topics["idem"][0].log.log_end_offset == 3


def test_metadata_without_auto_create_and_illegal_topic_names(server):
    with connect(server) as sock:
        out = call(sock, 3, 8, {"topics": [{"name": "absent"}], "allow_auto_topic_creation": False})
        assert out["topics"][0]["error_code"] == ERROR_CODES["UNKNOWN_TOPIC_OR_PARTITION"]
        assert "absent" not in server.server.broker.topics
        out = call(sock, 3, 8, {"topics": [{"name": "no spaces/allowed"}], "allow_auto_topic_creation": True})
        assert out["topics"][0]["error_code"] == ERROR_CODES["INVALID_TOPIC_EXCEPTION"]
        created = call(sock, 19, 4, {"topics": [{"name": "x", "num_partitions": 2, "replication_factor": 3,
                                                  "assignments": [], "configs": []}], "timeout_ms": 1000})
        topic = created["topics"][0]
        assert topic["error_code"] == ERROR_CODES["INVALID_REPLICATION_FACTOR"]
        assert "use 1" in topic["error_message"]
        bad = call(sock, 19, 4, {"topics": [{"name": "y", "num_partitions": 1, "replication_factor": 1,
                                              "assignments": [], "configs": [{"name": "no.such", "value": "1"}]}],
                                 "timeout_ms": 1000})
        assert bad["topics"][0]["error_code"] == ERROR_CODES["INVALID_CONFIG"]
        assert "no.such" in bad["topics"][0]["error_message"]


def test_fuzzed_requests_of_every_api_keep_the_server_up(tmp_path):
    """Every served API at every version, its default request mutated by hypothesis: each connection is
    answered or closed, and the server still answers ApiVersions and Metadata afterwards."""
    with ServerThread(str(tmp_path / "all"), group_initial_rebalance_delay_ms=0) as s:
        with connect(s) as sock:
            call(sock, 3, 8, {"topics": [{"name": "t"}], "allow_auto_topic_creation": True})

        @settings(max_examples=150, deadline=None)
        @given(st.sampled_from([(k, v) for k in API_KEYS for v in range(SPECS[k][1][0], SPECS[k][1][1] + 1)]),
               st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4),
               st.binary(max_size=40))
        def mutated(api, flips, tail):
            api_key, version = api
            frame = bytearray(codec.encode_request(api_key, version, 1, {"topics": [], "group_id": "g",
                                                                         "max_wait_ms": 0}))
            for position, value in flips:
                if len(frame) > 12:
                    frame[12 + position % (len(frame) - 12)] = value   # the header's first 8 bytes stay
            frame += tail
            frame[:4] = struct.pack(">i", len(frame) - 4)
            sock = connect(s)
            sock.settimeout(0.3)          # acks=0 Produce and long polls answer nothing: do not wait long
            sock.sendall(bytes(frame))
            try:
                sock.recv(1 << 16)
            except OSError:
                pass
            sock.close()

        mutated()
        with connect(s) as sock:
            assert call(sock, 18, 3, {})["error_code"] == 0
            assert call(sock, 3, 8, {"topics": None})["topics"][0]["name"] == "t"
        assert s.server.stats["handler_errors"] == 0, "a decodable request made a handler fail (see the log)"


def test_odd_but_decodable_values_get_error_codes(server):
    with connect(server) as sock:
        made = call(sock, 19, 4, {"topics": [{"name": "huge", "num_partitions": 1 << 30, "replication_factor": 1,
                                               "assignments": [], "configs": []}], "timeout_ms": 1000})
        assert made["topics"][0]["error_code"] == ERROR_CODES["INVALID_PARTITIONS"]
        call(sock, 3, 8, {"topics": [{"name": "odd"}], "allow_auto_topic_creation": True})
        listed = call(sock, 2, 5, {"replica_id": -1, "topics": [{"name": "odd", "partitions": [
            {"partition_index": 0, "timestamp": -7}, {"partition_index": 9, "timestamp": -1}]}]})
        codes = [q["error_code"] for q in listed["topics"][0]["partitions"]]
        assert codes == [ERROR_CODES["INVALID_REQUEST"], ERROR_CODES["UNKNOWN_TOPIC_OR_PARTITION"]]
        fetched = call(sock, 1, 11, {"max_wait_ms": 0, "min_bytes": 1, "max_bytes": -5, "topics": [
            {"topic": "odd", "partitions": [{"partition": 0, "fetch_offset": -3, "partition_max_bytes": -1},
                                            {"partition": -1, "fetch_offset": 0, "partition_max_bytes": 10}]}]})
        codes = [q["error_code"] for q in fetched["responses"][0]["partitions"]]
        assert codes == [ERROR_CODES["OFFSET_OUT_OF_RANGE"], ERROR_CODES["UNKNOWN_TOPIC_OR_PARTITION"]]
    assert server.server.stats["handler_errors"] == 0
