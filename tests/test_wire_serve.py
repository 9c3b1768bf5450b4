"""``python -m msglib serve`` as a process: its arguments, SIGTERM, and kill -9 losing no acknowledged record."""
from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from msglib.log import Log, RecordBatch
from msglib.log.records import iter_batches
from msglib.wire import codec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(data: str, *extra: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "msglib", "serve", "--port", "0", "--data", data, *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"on 127\.0\.0\.1:(\d+)", line)
    if not found:
        proc.kill()
        raise AssertionError(f"no start-up line: {line!r} {proc.stderr.read()}")
    return proc, int(found.group(1))


def call(sock: socket.socket, api_key: int, version: int, body: dict, cid: int = 1) -> dict:
    sock.sendall(codec.encode_request(api_key, version, cid, body))
    size = struct.unpack(">i", _recv(sock, 4))[0]
    return codec.decode_response(api_key, version, _recv(sock, size))[1]


def _recv(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def produce(sock: socket.socket, topic: str, value: bytes, cid: int) -> int:
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 1000, "topic_data": [
        {"name": topic, "partition_data": [{"index": 0, "records": RecordBatch([value]).encode()}]}]}
    part = call(sock, 0, 8, body, cid)["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 0
    return part["base_offset"]


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port must be 0..65535"),
    (["--host", "example.org"], "--host must be an IP address"),
    (["--partitions", "0"], "--partitions must be at least 1"),
    (["--group-consumer-heartbeat-interval-ms", "50000"], "below --group-consumer-session-timeout-ms (45000)"),
])
def test_bad_arguments_are_one_clear_line(args, message):
    done = subprocess.run([sys.executable, "-m", "msglib", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_data_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    done = subprocess.run([sys.executable, "-m", "msglib", "serve", "--data", str(tmp_path / "f")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "is a file" in done.stderr


@pytest.mark.parametrize("extra, fix", [([], "0 picks a free one"), (["--brokers", "3"], "0 picks free ones")])
def test_a_port_in_use_is_one_line_naming_it_and_the_fix(tmp_path, extra, fix):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "msglib", "serve", "--port", str(port),
                               "--data", str(tmp_path / "d"), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "cannot listen on 127.0.0.1" in done.stderr and str(port) in done.stderr
    assert fix in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_gracefully_and_the_log_reopens_clean(tmp_path, stop_signal):
    data = str(tmp_path / "d")
    proc, port = start(data)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        call(sock, 3, 8, {"topics": [{"name": "t"}], "allow_auto_topic_creation": True})
        for i in range(5):
            produce(sock, "t", b"%d" % i, i + 2)
    proc.send_signal(stop_signal)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in out
    log = Log(os.path.join(data, "t-0"))
    try:
        assert log.recovery_report.clean_shutdown
        assert [r.value for r in log.records()] == [b"%d" % i for i in range(5)]
    finally:
        log.close()


def test_kill_9_then_restart_loses_no_acknowledged_record(tmp_path):
    data = str(tmp_path / "d")
    proc, port = start(data)
    acked: dict[int, bytes] = {}
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    call(sock, 3, 8, {"topics": [{"name": "durable"}], "allow_auto_topic_creation": True})

    def producer() -> None:
        i = 0
        try:
            while True:
                value = b"record-%d" % i
                acked[produce(sock, "durable", value, i + 10)] = value   # recorded only once answered
                i += 1
        except (OSError, ConnectionError, AssertionError):
            return

    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while len(acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()                                       # SIGKILL, in the middle of the stream
    proc.wait(10)
    thread.join(10)
    sock.close()
    assert len(acked) >= 200, "the producer did not get going"
    proc, port = start(data)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            found: dict[int, bytes] = {}
            offset = 0
            while True:
                out = call(sock, 1, 11, {"max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "topics": [
                    {"topic": "durable", "partitions": [{"partition": 0, "fetch_offset": offset,
                                                         "partition_max_bytes": 1 << 20}]}]})
                records = out["responses"][0]["partitions"][0]["records"]
                if not records:
                    break
                for batch in iter_batches(records):
                    for r in batch.records:
                        found[r.offset] = r.value
                        offset = r.offset + 1
        missing = {o: v for o, v in acked.items() if found.get(o) != v}
        assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {list(missing.items())[:3]}"
        print(f"{len(acked)} acknowledged before kill -9; {len(found)} in the log after the restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
