"""A broker's side of KRaft: register, heartbeat, and follow the metadata log (KIP-631).

A :class:`BrokerView` is a quorum *observer*: it Fetches the metadata log from the quorum leader like
a voter does, but never votes, and it builds its :class:`~msglib.kraft.controller.MetadataImage` from
the entries below the high-water mark only, so its image is always a prefix of the committed log. (A
Kafka broker replicates the uncommitted tail too and applies up to the HWM; msglib's leader hands
observers committed entries only, which gives the same image with no truncation on the broker side.)

It registers with the active controller (``BrokerRegistration``; its broker epoch is the offset of the
``RegisterBrokerRecord``), then heartbeats every ``heartbeat_interval_ms`` with the offset it has
replayed. The controller unfences it once it has caught up past its registration, and fences it when
the heartbeats stop for ``broker.session.timeout.ms``. A broker restarted after a power loss registers
with ``clean_shutdown=False``, which takes it out of every ELR (KIP-966).
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.kraft.controller import (BrokerHeartbeat, BrokerHeartbeatResponse, BrokerRegistration,
                                     BrokerRegistrationResponse, MetadataImage)
from msglib.kraft.raft import Fetch, FetchResponse
from msglib.kraft.records import Entry
from msglib.sim.network import Network, Node


class BrokerView(Node):
    """Broker ``broker_id`` on node ``b<broker_id>``, following the metadata log."""

    def __init__(self, broker_id: int, network: Network, voters: list[str], *,
                 heartbeat_interval_ms: float = 40.0, fetch_interval_ms: float = 10.0,
                 observe: Callable[[str, str, dict], None] | None = None) -> None:
        super().__init__(f"b{broker_id}", network)
        self.broker_id = broker_id
        self.voters = list(voters)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.fetch_interval_ms = fetch_interval_ms
        self.observe = observe or (lambda node, f, value: None)
        self.rng = self.sim.random(f"broker/{broker_id}")
        self.clean_shutdown = True
        self._reset()
        self._start()

    def _reset(self) -> None:
        self.image = MetadataImage()
        self.entries: list[Entry] = []
        self.leader: str | None = None
        self.epoch = 0
        self.broker_epoch = -1
        self.fenced = True

    def _start(self) -> None:
        self.after(0.0, self._fetch_loop)
        self.after(0.0, self._heartbeat_loop)

    def _target(self) -> str:
        return self.leader if self.leader is not None else self.rng.choice(self.voters)

    def _fetch_loop(self) -> None:
        self.send(self._target(), Fetch(self.epoch, self.name, len(self.entries), 0, observer=True))
        self.after(self.fetch_interval_ms, self._fetch_loop)

    def _heartbeat_loop(self) -> None:
        if self.broker_epoch < 0:
            self.send(self._target(), BrokerRegistration(self.broker_id, self.clean_shutdown))
        else:
            self.send(self._target(), BrokerHeartbeat(self.broker_id, self.broker_epoch, self.image.offset))
        self.after(self.heartbeat_interval_ms, self._heartbeat_loop)

    def on_message(self, src: str, msg: Any) -> None:
        if isinstance(msg, FetchResponse):
            if msg.epoch < self.epoch:
                return
            self.epoch = msg.epoch
            self.leader = msg.leader
            if msg.fetch_offset != len(self.entries) or src != msg.leader:
                return
            for entry in msg.entries:
                offset = len(self.entries)
                self.entries.append(entry)
                self.image.apply(entry.record)
                self.observe(self.name, "apply", {"offset": offset, "epoch": entry.epoch, "record": entry.record})
            if msg.entries:
                self.send(src, Fetch(self.epoch, self.name, len(self.entries), 0, observer=True))
        elif isinstance(msg, BrokerRegistrationResponse):
            if msg.broker_epoch < 0:
                self.leader = None
            else:
                self.broker_epoch = msg.broker_epoch
                self.clean_shutdown = True
        elif isinstance(msg, BrokerHeartbeatResponse):
            if msg.error == "NOT_CONTROLLER":
                self.leader = None
            elif msg.error == "STALE_BROKER_EPOCH":
                self.broker_epoch = -1  # register again
            else:
                self.fenced = msg.fenced

    def on_crash(self, power_loss: bool) -> None:
        self._reset()
        self.clean_shutdown = not power_loss

    def on_restart(self) -> None:
        self._reset()
        self._start()
