"""A client's network side: its endpoint, request ids, and waiting in simulated time.

kafka-python's ``KafkaClient`` plays this part: the consumer's fetcher and its coordinator
client share one, so both send from the same node and wake the same waiting ``poll``.
Responses arrive in simulation callbacks (the "network thread"); the application thread
waits with :meth:`wait` or :meth:`block_until` until one of them calls :meth:`wakeup`.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.protocol.errors import KafkaTimeoutError
from msglib.sim.network import Endpoint, Network


class NetworkClient:
    """One client node on the simulated network. ``closed`` stops the coordinator's heartbeats."""

    def __init__(self, name: str, network: Network, on_message: Callable[[str, Any], None],
                 default_api_timeout_ms: float) -> None:
        self.node = Endpoint(name, network, on_message)
        self.sim = self.node.sim
        self.default_api_timeout_ms = default_api_timeout_ms
        self.closed = False
        self._request_ids = 0
        self._woken = False

    def next_request_id(self) -> int:
        self._request_ids += 1
        return self._request_ids

    def wakeup(self) -> None:
        """Something arrived (or is due): a waiting application thread looks again."""
        self._woken = True

    def wakeup_later(self, ms: float) -> None:
        self.node.after(ms, self.wakeup)

    def wait(self, until: float) -> None:
        """Let simulated time run until a response arrives or the clock reaches ``until``."""
        self._woken = False
        self.sim.run_until(lambda: self._woken, until=until)
        if not self._woken and self.sim.now < until:
            self.sim.run(until=until)   # nothing left to happen before then: just let the clock move

    def block_until(self, done: Callable[[], bool], timeout_ms: float | None, what: str) -> None:
        """Wait until ``done()``, or raise KafkaTimeoutError after ``timeout_ms`` (default_api_timeout_ms if None)."""
        deadline = self.sim.now + (self.default_api_timeout_ms if timeout_ms is None else timeout_ms)
        while not done():
            if self.sim.now >= deadline:
                raise KafkaTimeoutError(f"{what} did not finish within {deadline - self.sim.now:g} ms")
            self.wait(deadline)
