"""A minimal reader of partitions, for checking what the cluster committed.

Not a consumer (no group, no commits; that is ``consumer.py``'s job): it
fetches each assigned partition from its leader, from its own position,
gets only records below the high-water mark, and records every poll in a
history so the checker can compare what was read with what was
acknowledged. :meth:`read_to_end` is the final read of a run: every record
of a partition, from offset 0 up to the HW.
"""
from __future__ import annotations

from typing import Any, Callable

from msglib.protocol.metadata import ClientMetadata
from msglib import protocol as p
from msglib.protocol import broker_node
from msglib.protocol import TopicPartition
from msglib.sim.history import FAIL, OK
from msglib.sim.network import Node


class LogReader(Node):
    """Reads partitions below the HW from their leaders and records each read in a history (for the checker)."""

    def __init__(self, cluster, name: str | None = None, *, history=None,
                 value_deserializer: Callable[[bytes], Any] | None = None, max_bytes: int = 1_048_576,
                 request_timeout_ms: float | None = None, retry_backoff_ms: float | None = None) -> None:
        super().__init__(name or cluster.next_client_name("reader"), cluster.network)
        defaults = cluster.client_defaults
        self.request_timeout_ms = request_timeout_ms or defaults.get("request_timeout_ms", 30_000)
        backoff = retry_backoff_ms or defaults.get("retry_backoff_ms", 100)
        self.metadata = ClientMetadata(self, cluster.broker_ids, self.request_timeout_ms, backoff)
        self.history = history
        self.deserialize = value_deserializer or (lambda b: b)
        self.max_bytes = max_bytes
        self.positions: dict[TopicPartition, int] = {}
        self.high_watermarks: dict[TopicPartition, int] = {}
        self.last_reads: dict[TopicPartition, list] = {}  # what the last successful poll returned
        self._out: dict[TopicPartition, tuple[int, Any, list]] = {}  # tp -> (request id, op, callbacks)
        self._ids = 0
        self._polling_every: float | None = None

    def assign(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self.positions.setdefault(tp, 0)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    # -- one fetch ------------------------------------------------------------------------
    def poll(self, tp: TopicPartition, on_done: Callable[[bool], None] | None = None) -> None:
        """Fetch ``tp`` from its position once (asynchronously); ``on_done(ok)`` afterwards.

        If a fetch of ``tp`` is already out, this one waits for its answer instead."""
        if tp in self._out:
            if on_done:
                self._out[tp][2].append(on_done)
            return
        leader = self.metadata.leader(tp)
        if leader is None:
            self.metadata.request_update()
            if on_done:
                self.after(self.metadata.backoff_ms, on_done, False)
            return
        self._ids += 1
        pos = self.positions.setdefault(tp, 0)
        op = self.history.invoke(self.sim.now, self.name, "poll", {"from": {str(tp): pos}}) if self.history else None
        self._out[tp] = (self._ids, op, [on_done] if on_done else [])
        self.send(broker_node(leader), p.FetchRequest(self._ids, -1, tp, pos, self.metadata.leader_epoch(tp),
                                                      self.max_bytes, 0.0))
        self.after(self.request_timeout_ms, self._timeout, tp, self._ids)

    def _finish(self, tp: TopicPartition, ok: bool, value: Any = None, error: str | None = None) -> None:
        _, op, callbacks = self._out.pop(tp)
        if op is not None:
            self.history.complete(op, self.sim.now, OK if ok else FAIL, value if ok else None, error)
        for fn in callbacks:
            fn(ok)

    def _timeout(self, tp: TopicPartition, rid: int) -> None:
        if tp in self._out and self._out[tp][0] == rid:
            self.metadata.request_update()
            self._finish(tp, False, error="RequestTimedOutError")

    def on_message(self, src: str, msg) -> None:
        if isinstance(msg, p.MetadataResponse):
            self.metadata.on_response(msg)
            return
        if not isinstance(msg, p.FetchResponse):
            return
        tp = msg.tp
        if tp not in self._out or self._out[tp][0] != msg.request_id:
            return
        if msg.error is not None:
            if msg.error == p.OFFSET_OUT_OF_RANGE:  # our position is gone (truncated): restart at the start
                self.positions[tp] = max(0, msg.log_start_offset)
            self.metadata.request_update()
            self._finish(tp, False, error=msg.error)
            return
        pos = self.positions[tp]
        reads = []
        for batch in msg.batches:
            for r in batch.records:
                if pos <= r.offset < msg.high_watermark:
                    reads.append([r.offset, self.deserialize(r.value)])
        if reads:
            self.positions[tp] = reads[-1][0] + 1
        self.high_watermarks[tp] = msg.high_watermark
        self.last_reads[tp] = reads
        self._finish(tp, True, {"reads": {str(tp): reads}, "hw": {str(tp): msg.high_watermark}})

    # -- polling loops -------------------------------------------------------------------------
    def start(self, interval_ms: float) -> None:
        """Poll every assigned partition every ``interval_ms`` until :meth:`stop`."""
        self._polling_every = interval_ms
        self.after(0.0, self._loop)

    def stop(self) -> None:
        self._polling_every = None

    def _loop(self) -> None:
        if self._polling_every is None:
            return
        for tp in list(self.positions):
            self.poll(tp)
        self.after(self._polling_every, self._loop)

    def read_to_end(self, tps: list[TopicPartition], timeout_ms: float = 10_000.0) -> dict:
        """From outside the simulation: read each partition from offset 0 up to its HW.

        Returns ``{tp: [(offset, value), ...]}``. Each fetch is a poll in the history.
        """
        out: dict[TopicPartition, list] = {}
        deadline = self.sim.now + timeout_ms
        for tp in tps:
            # A poll still out (sent before, from another position) would answer this read's first poll
            # with records and a high-water mark from back then: let it finish first.
            self.sim.run_until(lambda: tp not in self._out, until=deadline)
            self.seek(tp, 0)
            out[tp] = []
            while self.sim.now < deadline:
                got: list = []
                self.poll(tp, on_done=got.append)
                self.sim.run_until(lambda: bool(got), until=deadline)
                if not got:
                    break
                if got[0]:
                    out[tp] += [tuple(r) for r in self.last_reads[tp]]
                    if self.positions[tp] >= self.high_watermarks[tp]:
                        break
        return out
