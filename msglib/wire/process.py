"""``python -m msglib serve`` in a child process, for a notebook cell or a script that wants a real Kafka
client to talk to msglib's own log.

::

    with ServeProcess(partitions=3) as server:          # 127.0.0.1, a free port, a temporary folder
        producer = kafka.KafkaProducer(bootstrap_servers=server.bootstrap)
        ...
    # stopped (SIGTERM, as Ctrl-C would), and the temporary folder removed

A child process, not a thread: the server runs exactly as it does from a terminal, and stopping it is
what stopping a broker is. Only loopback is used.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

_STARTED = re.compile(r"Kafka protocol on ([\d.]+):(\d+)")


class ServeProcess:
    """``msglib serve`` on 127.0.0.1, on a free port, over ``data`` (a new temporary folder by default,
    removed on exit; a folder you pass is kept). ``partitions``: of auto-created topics;
    ``rebalance_delay_ms``: Kafka's ``group.initial.rebalance.delay.ms`` (0 here: groups form at once)."""

    def __init__(self, data: str | None = None, *, partitions: int = 1, rebalance_delay_ms: float = 0.0,
                 start_timeout_s: float = 30.0) -> None:
        if not isinstance(partitions, int) or partitions < 1:
            raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
        self._own_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="msglib-serve-")
        self.partitions = partitions
        self.rebalance_delay_ms = rebalance_delay_ms
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self.host, self.port = "127.0.0.1", 0
        self.output: list[str] = []                       # the server's last lines after start-up

    @property
    def bootstrap(self) -> str:
        """``host:port``, what a client's ``bootstrap_servers`` takes."""
        return f"{self.host}:{self.port}"

    def start(self) -> "ServeProcess":
        cmd = [sys.executable, "-m", "msglib", "serve", "--host", "127.0.0.1", "--port", "0", "--data", self.data,
               "--partitions", str(self.partitions), "--group-initial-rebalance-delay-ms", str(self.rebalance_delay_ms)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + self.start_timeout_s
        seen = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break                                     # the process ended before it listened
            seen.append(line.rstrip())
            found = _STARTED.search(line)
            if found:
                self.host, self.port = found.group(1), int(found.group(2))
                # keep reading what it prints, so that a full pipe never blocks the server
                threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("msglib serve did not start: " + (" | ".join(seen[-5:]) or "no output") +
                           ". Run `python -m msglib serve --port 0` in a terminal to see why.")

    def _drain(self, stream: Any) -> None:
        try:
            for line in stream:
                self.output.append(line.rstrip())
                del self.output[:-50]
        except (OSError, ValueError):
            pass                                          # closed by stop()

    def stop(self) -> None:
        """SIGTERM (a clean stop), then kill after 10 s; remove the temporary folder."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._own_data:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["ServeProcess"]
