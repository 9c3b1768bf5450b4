"""Fixtures for the fidelity suite: a real RabbitMQ node, started once per test session.

The node is Debian's ``rabbitmq-server`` (3.10.8 on Debian 12; ``make sysdeps`` installs it in
CI). It gets its own data and log directories, config, node name, free ports and its own epmd,
all bound to 127.0.0.1, and is stopped (epmd too) when the session ends. Without the package,
without pika, or if the node does not start, the tests that need it skip and say why.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

# the Debian package's real start script (not /usr/sbin's wrapper, which switches to the rabbitmq user)
RABBITMQ_SERVER = os.environ.get("MSGLIB_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server")
START_TIMEOUT_S = 90.0
CONSUMER_TIMEOUT_MS = 2_000        # short, so the consumer-timeout scenario is quick; no other scenario holds 2 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class RabbitNode:
    """A throwaway RabbitMQ node: ``port`` is its AMQP port on 127.0.0.1, ``version`` what it reports."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port, self.dist_port, self.epmd_port = _free_port(), _free_port(), _free_port()
        self.name = f"msglib-fidelity-{os.getpid()}@localhost"
        self.proc: subprocess.Popen | None = None
        self.version = "?"
        for d in ("home", "mnesia", "log"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq-env.conf").write_text("")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"consumer_timeout = {CONSUMER_TIMEOUT_MS}\n")
        # the channel checks its consumers' timeouts on its tick (60 s by default): tick often
        (base / "advanced.config").write_text("[{rabbit, [{channel_tick_interval, 200}]}].\n")
        self.env = dict(
            os.environ, HOME=str(base / "home"), RABBITMQ_CONF_ENV_FILE=str(base / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.name, RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"), RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(base / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"), RABBITMQ_PID_FILE=str(base / "pid"),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port), ERL_EPMD_ADDRESS="127.0.0.1", ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")

    def start(self) -> None:
        self.log = open(self.base / "server.out", "wb")
        self.proc = subprocess.Popen([RABBITMQ_SERVER], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.base, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.proc.returncode}: {self.tail()}")
            if _answers(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"rabbitmq-server did not answer on 127.0.0.1:{self.port} within "
                           f"{START_TIMEOUT_S:.0f} s: {self.tail()}")

    def tail(self) -> str:
        try:
            return (self.base / "server.out").read_text(errors="replace")[-1500:]
        except OSError:
            return "(no output)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)      # the group started above: the script and its erl
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        epmd = shutil.which("epmd")
        if epmd:                                           # our own epmd, on our own port
            subprocess.run([epmd, "-kill"], env=self.env, capture_output=True, timeout=10)
        if hasattr(self, "log"):
            self.log.close()


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory):
    """A running RabbitMQ node for the session, or a skip that says why there is none."""
    pika = pytest.importorskip("pika", reason="pika (the AMQP client of the fidelity tests) is not installed: "
                                              "pip install -e '.[course]'")
    if not os.path.exists(RABBITMQ_SERVER):
        pytest.skip(f"no real RabbitMQ: {RABBITMQ_SERVER} is missing (Debian's rabbitmq-server package; "
                    "`make sysdeps` installs it as root; MSGLIB_RABBITMQ_SERVER names another start script)")
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"))
    try:
        node.start()
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        node.version = conn._impl.server_properties.get("version", b"?")
        node.version = node.version.decode() if isinstance(node.version, bytes) else str(node.version)
        conn.close()
    except Exception as exc:  # noqa: BLE001 - any failure to get a broker is a reason to skip, said plainly
        node.stop()
        pytest.skip(f"could not start a local RabbitMQ node: {exc}")
    yield node
    node.stop()
