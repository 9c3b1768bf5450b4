"""``msglib serve --brokers 3``: msglib's simulated replicated cluster behind one Kafka port per broker.

The brokers are :class:`msglib.cluster.Cluster`'s simulated brokers (leaders, followers fetching, the
high-water mark, the ISR, the controller's elections), driven by a simulated clock that follows the wall
clock. Each broker gets its own TCP port on 127.0.0.1; a request that reaches port *i* is handed to
broker *i* as a message on the cluster's network, so a Produce or Fetch sent to a broker that does not
lead the partition is answered NOT_LEADER_OR_FOLLOWER by that broker, exactly as Kafka answers it, and a
real client refreshes its metadata and follows the new leader.

Metadata lists the live brokers and, per partition, the controller's leader, leader epoch, replicas and
ISR. Groups and transactions use the cluster's group and transaction coordinators (one of each, on the
cluster's network); FindCoordinator names a live broker chosen by the key's hash, the same whichever
broker is asked. Everything lives in memory: the mode is for failover experiments, durability across
restarts of the process is the single broker's.

Faults come from the process that runs it (a notebook, a test)::

    with ClusterServerThread(brokers=3) as srv:
        srv.bootstrap                  # "127.0.0.1:40001,127.0.0.1:40002,127.0.0.1:40003"
        srv.crash_broker(srv.leader("orders", 0))   # its port closes, its connections drop
        srv.heal()                     # every broker back (recovering from its own log), every link healed
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from typing import Any, Callable

from msglib import protocol as p
from msglib.cluster import Cluster, ClusterConfig
from msglib.groups.config import GroupConfig
from msglib.groups.coordinator import coordinator_for
from msglib.log.errors import check_int
from msglib.protocol import NO_LEADER, TopicPartition
from msglib.txn.config import TxnConfig
from msglib.txn.coordinator import transaction_coordinator_for
from msglib.txn.group_offsets import attach as attach_txn_offsets
from msglib.wire.broker import FetchWakeup, SimulatedRequests, new_topic_error
from msglib.wire.codec import ZERO_UUID, new_topic_id
from msglib.wire.handlers import (CLUSTER_ID, Handlers, code, fetch_session_refused, metadata_request_topics,
                                  produce_checks)
from msglib.wire.server import (DEFAULT_MAX_REQUEST_BYTES, LoopThread, WireServer, run_command,
                                run_until_signalled)

log = logging.getLogger("msglib.serve")
PUMP_SECONDS = 0.005          # how often the simulated clock catches up with the wall clock
MAX_TOPIC_PARTITIONS = 256


def default_config(min_insync_replicas: int = 2) -> ClusterConfig:
    """Kafka's replication protocol with timers scaled down (a broker is fenced after 90 ms of silence)."""
    return ClusterConfig.fast(min_insync_replicas=min_insync_replicas)


class ClusterFront(SimulatedRequests, FetchWakeup):
    """The simulated cluster, its clock pump, and the gateway through which every port reaches it."""

    def __init__(self, brokers: int = 3, *, seed: int = 0, config: ClusterConfig | None = None,
                 num_partitions: int = 1, replication_factor: int | None = None,
                 group_initial_rebalance_delay_ms: float = 3000.0,
                 group_consumer_heartbeat_interval_ms: float = 5000.0,
                 group_consumer_session_timeout_ms: float = 45000.0) -> None:
        if brokers < 1:
            raise ValueError(f"--brokers must be at least 1, got {brokers}")
        self.cluster = Cluster(brokers, seed=seed, config=config or default_config(min(2, brokers)))
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor or min(3, brokers)
        self.auto_create_topics = True
        self.group = coordinator_for(self.cluster, GroupConfig(
            group_initial_rebalance_delay_ms=group_initial_rebalance_delay_ms,
            group_consumer_heartbeat_interval_ms=group_consumer_heartbeat_interval_ms,
            group_consumer_session_timeout_ms=group_consumer_session_timeout_ms))
        attach_txn_offsets(self.group)
        self.txn = transaction_coordinator_for(self.cluster, TxnConfig())
        self._open_gateway("wire-gateway", self.cluster.network)
        self._sim_start = self.cluster.sim.now
        self._wall_start = time.monotonic()
        self.coordinators = self          # what the group and transaction handlers talk to
        self._topic_ids: dict[str, uuid.UUID] = {}
        self._topic_names: dict[uuid.UUID, str] = {}

    # -- the clock ------------------------------------------------------------------------------------------
    def pump(self) -> None:
        """Run every simulated event due by now (the simulated clock follows the wall clock)."""
        now = self._sim_start + (time.monotonic() - self._wall_start) * 1000.0
        self.cluster.sim.run(until=max(self.cluster.sim.now, now))

    # -- requests to simulated nodes (call: SimulatedRequests) ---------------------------------------------
    def cast(self, dst: str, msg: Any) -> None:
        """Send without waiting for an answer (acks=0)."""
        self.gateway.send(dst, msg)
        self.pump()

    # -- topics ---------------------------------------------------------------------------------------------
    @property
    def topics(self) -> dict[str, list[TopicPartition]]:
        out: dict[str, list[TopicPartition]] = {}
        for tp in self.cluster.topic_partitions():
            out.setdefault(tp.topic, []).append(tp)
        return out

    def partition(self, tp: TopicPartition) -> TopicPartition | None:
        return tp if tp.partition >= 0 and tp in set(self.cluster.topic_partitions()) else None

    @property
    def topic_ids(self) -> dict[str, uuid.UUID]:
        """Each topic's id (KIP-516): random, given the first time the topic is seen (in memory, like the rest)."""
        for name in self.topics:
            if name not in self._topic_ids:
                self._topic_ids[name] = topic_id = new_topic_id()
                self._topic_names[topic_id] = name
        return self._topic_ids

    @property
    def topic_names(self) -> dict[uuid.UUID, str]:
        self.topic_ids                  # noqa: B018 (gives the topics seen for the first time their ids)
        return self._topic_names

    def create_topic(self, name: str, partitions: int = -1, replication_factor: int = -1,
                     validate_only: bool = False) -> tuple[str | None, str]:
        count = self.num_partitions if partitions in (-1, None) else partitions
        refused = new_topic_error(name, count, self.topics, MAX_TOPIC_PARTITIONS)
        if refused is not None:
            return refused
        rf = self.replication_factor if replication_factor in (-1, None) else replication_factor
        brokers = len(self.cluster.broker_ids)
        if not 1 <= rf <= brokers:
            return "INVALID_REPLICATION_FACTOR", f"replication factor {rf}: give 1 to {brokers} (the brokers)"
        if not validate_only:
            self.cluster.create_topic(name, count, rf, wait=False)
            self.pump()
        return None, ""

    def live_brokers(self) -> list[int]:
        return [b for b in self.cluster.broker_ids if self.cluster.brokers[b].alive]


class ClusterHandlers(Handlers):
    """The APIs of one broker's port: data requests go to simulated broker ``broker_id``."""

    def __init__(self, front: ClusterFront, broker_id: int, host: str, ports: dict[int, int]) -> None:
        super().__init__(front, host, ports[broker_id])   # type: ignore[arg-type]
        self.front, self.broker_id, self.ports = front, broker_id, ports
        self.node = self.front.cluster.node(broker_id)

    async def metadata(self, header: dict, body: dict) -> dict:
        front = self.front
        front.pump()
        names, refused = metadata_request_topics(header["api_version"], body, front.topic_names)
        auto = body.get("allow_auto_topic_creation", True) and front.auto_create_topics
        existing = front.topics
        live = set(front.live_brokers())
        topics = list(refused)
        for name in (sorted(existing) if names is None else names):
            error = None
            if name not in existing:
                error = front.create_topic(name)[0] if auto else "UNKNOWN_TOPIC_OR_PARTITION"
                existing = front.topics
            parts = []
            for tp in existing.get(name, []):
                st = front.cluster.state(tp.topic, tp.partition)
                # A leader is announced once it knows it leads (Kafka's brokers answer from their own
                # metadata cache, which lags the controller the same way).
                ready = st.leader != NO_LEADER and st.leader in live and front.cluster.leaders_ready([tp])
                leader = st.leader if ready else -1
                parts.append({"error_code": code(None if leader >= 0 else "LEADER_NOT_AVAILABLE"),
                              "partition_index": tp.partition, "leader_id": leader,
                              "leader_epoch": st.leader_epoch, "replica_nodes": list(st.replicas),
                              "isr_nodes": list(st.isr),
                              "offline_replicas": [b for b in st.replicas if b not in live]})
            if error == "TOPIC_ALREADY_EXISTS":
                error = None
            topics.append({"error_code": code(error), "name": name, "is_internal": False, "partitions": parts,
                           "topic_id": front.topic_ids.get(name, ZERO_UUID),
                           "topic_authorized_operations": -2147483648})
        controller = min(live) if live else -1
        return {"brokers": [{"node_id": b, "host": self.host, "port": self.ports[b], "rack": None}
                            for b in sorted(live)],
                "cluster_id": CLUSTER_ID, "controller_id": controller, "topics": topics,
                "cluster_authorized_operations": -2147483648}

    async def create_topics(self, header: dict, body: dict) -> dict:
        out = []
        for t in body["topics"]:
            if t.get("configs"):
                error, message = "INVALID_CONFIG", ("topic configs are not served by the simulated cluster "
                                                    "(its settings are the cluster's)")
            elif t.get("assignments"):
                error, message = "INVALID_REPLICA_ASSIGNMENT", "manual replica assignments are not served"
            else:
                error, message = self.front.create_topic(t["name"], t["num_partitions"], t["replication_factor"],
                                                         body.get("validate_only", False))
            out.append({"name": t["name"], "error_code": code(error), "error_message": message or None})
        return {"topics": out}

    async def delete_topics(self, header: dict, body: dict) -> dict:
        return {"responses": [{"name": name, "error_code": code("INVALID_REQUEST"),
                               "error_message": "the simulated cluster does not delete topics"}
                              for name in body["topic_names"]]}

    # -- Produce: forwarded to this port's broker -----------------------------------------------------------
    async def produce(self, header: dict, body: dict) -> dict | None:
        acks = body["acks"]
        timeout_ms = max(0, body["timeout_ms"])
        jobs: list[tuple[str, dict, Any]] = []
        responses = []
        for t in body["topic_data"]:
            results = []
            for q in t["partition_data"]:
                tp = TopicPartition(t["name"], q["index"])
                entry = {"index": q["index"], "error_code": 0, "base_offset": -1, "log_append_time_ms": -1,
                         "log_start_offset": -1, "error_message": None}
                results.append(entry)
                error, message, batches = produce_checks(acks, self.front.partition(tp) is not None, q["records"])
                if error is not None:
                    entry.update(error_code=code(error), error_message=message)
                    continue
                jobs.append((tp, entry, [bytes(b) for b in batches]))
            responses.append({"name": t["name"], "partition_responses": results})
        if acks == 0:
            for tp, _entry, batches in jobs:
                for data in batches:
                    self.front.cast(self.node, p.ProduceRequest(-1, 0, timeout_ms, {tp: data}))
            self.front.notify()
            return None
        await asyncio.gather(*(self._produce_one(tp, entry, batches, acks, timeout_ms)
                               for tp, entry, batches in jobs))
        self.front.notify()
        return {"responses": responses}

    async def _produce_one(self, tp: TopicPartition, entry: dict, batches: list[bytes], acks: int,
                           timeout_ms: float) -> None:
        for i, data in enumerate(batches):     # one batch at a time, in order (idempotent sequences)
            fut = self.front.call(self.node, lambda rid, data=data: p.ProduceRequest(rid, acks, timeout_ms,
                                                                                       {tp: data}))
            try:
                resp = await asyncio.wait_for(fut, timeout_ms / 1000.0 + 1.0)
            except asyncio.TimeoutError:
                entry.update(error_code=code("REQUEST_TIMED_OUT"), error_message="no answer from the broker")
                return
            result = resp.results[tp]
            if result.error is not None:
                name, _, detail = result.error.partition(":")
                entry.update(error_code=code(name), error_message=detail.strip() or None)
                return
            if i == 0:
                entry.update(base_offset=result.base_offset, log_start_offset=result.log_start_offset)

    # -- Fetch and ListOffsets: forwarded per partition -----------------------------------------------------
    async def fetch(self, header: dict, body: dict) -> dict:
        refused = fetch_session_refused(body)
        if refused is not None:
            return refused
        isolation = body.get("isolation_level", 0)
        max_wait = max(0, body["max_wait_ms"])
        asks = [(t["topic"], q) for t in body["topics"] for q in t["partitions"]]

        def ask(topic: str, q: dict, wait_ms: float) -> asyncio.Future:
            return self.front.call(self.node, lambda rid: p.FetchRequest(
                rid, -1, TopicPartition(topic, q["partition"]), q["fetch_offset"],
                q.get("current_leader_epoch", -1), max(1, q["partition_max_bytes"]), wait_ms, isolation))

        futures = [ask(topic, q, max_wait) for topic, q in asks]
        deadline = max_wait / 1000.0 + 1.0
        pending = set(futures)
        while pending:
            done, pending = await asyncio.wait(pending, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
            if not done or any(f.result().batches or f.result().error for f in done):
                break
        answers: list[Any] = []
        for (topic, q), fut in zip(asks, futures):
            if not fut.done():      # another partition answered first: ask this one again without waiting
                fut.cancel()
                fut = ask(topic, q, 0)
                try:
                    answers.append(await asyncio.wait_for(fut, 1.0))
                except asyncio.TimeoutError:
                    answers.append(None)
            else:
                answers.append(fut.result())
        by_topic: dict[str, list] = {}
        budget = body["max_bytes"] if body["max_bytes"] > 0 else 1 << 30
        total = 0
        for (topic, q), resp in zip(asks, answers):
            entry = {"partition_index": q["partition"], "error_code": 0, "high_watermark": -1,
                     "last_stable_offset": -1, "log_start_offset": -1, "aborted_transactions": None,
                     "preferred_read_replica": -1, "records": b""}
            by_topic.setdefault(topic, []).append(entry)
            if resp is None:
                entry["error_code"] = code("REQUEST_TIMED_OUT")
                continue
            if resp.error is not None:
                entry["error_code"] = code(resp.error)
                if resp.high_watermark >= 0:
                    entry.update(high_watermark=resp.high_watermark, log_start_offset=resp.log_start_offset,
                                 last_stable_offset=resp.last_stable_offset)
                continue
            entry.update(high_watermark=resp.high_watermark, last_stable_offset=resp.last_stable_offset,
                         log_start_offset=resp.log_start_offset)
            if resp.aborted_transactions is not None:
                entry["aborted_transactions"] = [{"producer_id": a.producer_id, "first_offset": a.first_offset}
                                                 for a in resp.aborted_transactions]
            if total < budget:
                data = b"".join(b.encode() for b in resp.batches)
                entry["records"] = data
                total += len(data)
        return {"error_code": 0, "session_id": 0,
                "responses": [{"topic": t, "partitions": parts} for t, parts in by_topic.items()]}

    async def list_offsets(self, header: dict, body: dict) -> dict:
        isolation = body.get("isolation_level", 0)
        topics = []
        for t in body["topics"]:
            parts = []
            for q in t["partitions"]:
                tp = TopicPartition(t["name"], q["partition_index"])
                entry = {"partition_index": tp.partition, "error_code": 0, "timestamp": -1, "offset": -1,
                         "leader_epoch": -1}
                parts.append(entry)
                if q["timestamp"] < -2:
                    entry["error_code"] = code("INVALID_REQUEST")
                    continue
                fut = self.front.call(self.node, lambda rid: p.ListOffsetsRequest(
                    rid, -1, tp, q["timestamp"], isolation, q.get("current_leader_epoch", -1)))
                try:
                    resp = await asyncio.wait_for(fut, 5.0)
                except asyncio.TimeoutError:
                    entry["error_code"] = code("REQUEST_TIMED_OUT")
                    continue
                entry.update(error_code=code(resp.error), offset=resp.offset, timestamp=resp.timestamp,
                             leader_epoch=resp.leader_epoch)
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics}

    # -- coordinators ---------------------------------------------------------------------------------------
    def coordinator_for(self, key: str) -> tuple[int, int]:
        """One answer for a key whichever broker is asked (a client whose coordinator moves abandons its
        join): a live broker picked by the key's hash, as Kafka's coordinator is the leader of the
        ``__consumer_offsets`` (or ``__transaction_state``) partition the key hashes to."""
        live = sorted(self.front.live_brokers()) or [self.broker_id]
        node = live[zlib.crc32(key.encode()) % len(live)]
        return node, self.ports[node]

    async def init_producer_id(self, header: dict, body: dict) -> dict:
        if body["transactional_id"] is None:   # an idempotent producer: this broker hands out the id
            fut = self.front.call(self.node, lambda rid: p.InitProducerIdRequest(rid))
            resp = await asyncio.wait_for(fut, 5.0)
            return {"error_code": code(resp.error), "producer_id": resp.producer_id,
                    "producer_epoch": resp.producer_epoch}
        return await super().init_producer_id(header, body)


class BrokerPort(WireServer):
    """One broker's listening socket; :meth:`close` drops it and every connection (a crash)."""

    def __init__(self, front: ClusterFront, broker_id: int, host: str, port: int, ports: dict[int, int],
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.front, self.broker_id, self.host, self.port = front, broker_id, host, port
        self.ports = ports
        self.max_request_bytes = max_request_bytes
        self.handlers: Handlers | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._busy: set[asyncio.Task] = set()
        self.stats = {"requests": 0, "malformed": 0, "unsupported": 0, "connections": 0, "handler_errors": 0}

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.ports[self.broker_id] = self.port
        self.handlers = ClusterHandlers(self.front, self.broker_id, self.host, self.ports)

    async def close(self) -> None:
        """Stop listening and drop every connection at once (what clients see when a broker dies)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        await self.close()


class ClusterServer:
    """Every broker's port and the clock pump, in one event loop."""

    def __init__(self, brokers: int = 3, host: str = "127.0.0.1", port: int = 9092, *, seed: int = 0,
                 config: ClusterConfig | None = None, num_partitions: int = 1,
                 replication_factor: int | None = None, group_initial_rebalance_delay_ms: float = 3000.0,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, **group_options: float) -> None:
        self.front = ClusterFront(brokers, seed=seed, config=config, num_partitions=num_partitions,
                                  replication_factor=replication_factor,
                                  group_initial_rebalance_delay_ms=group_initial_rebalance_delay_ms, **group_options)
        self.host = host
        self.ports: dict[int, int] = {b: (0 if port == 0 else port + b) for b in self.front.cluster.broker_ids}
        self.ports_wanted = dict(self.ports)
        self.ports_by_broker = self.ports
        self.brokers = {b: BrokerPort(self.front, b, host, self.ports[b], self.ports, max_request_bytes)
                        for b in self.front.cluster.broker_ids}
        self._pumper: asyncio.Task | None = None

    @property
    def cluster(self) -> Cluster:
        return self.front.cluster

    async def start(self) -> None:
        for b, port in self.brokers.items():
            await port.start()
        self._pumper = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            await asyncio.sleep(PUMP_SECONDS)
            self.front.pump()

    async def stop(self) -> None:
        for port in self.brokers.values():
            await port.close()
        if self._pumper is not None:
            self._pumper.cancel()

    # -- faults (call in the event loop; ClusterServerThread wraps them for other threads) ------------------
    async def crash_broker(self, broker: int) -> None:
        self._known(broker)
        self.front.pump()
        self.cluster.crash(broker)
        await self.brokers[broker].close()

    async def restart_broker(self, broker: int) -> None:
        self._known(broker)
        self.front.pump()
        if not self.cluster.brokers[broker].alive:
            self.cluster.restart(broker)
        if not self.brokers[broker].listening:
            await self.brokers[broker].start()

    async def heal(self) -> None:
        self.front.pump()
        self.cluster.heal()
        for b, port in self.brokers.items():
            if not port.listening:
                await port.start()

    def _known(self, broker: int) -> None:
        if broker not in self.brokers:
            raise ValueError(f"broker {broker!r}: this cluster has brokers {sorted(self.brokers)}")


def unknown_partition(cluster: Cluster, topic: str, partition: int) -> p.UnknownTopicOrPartitionError:
    """The error for a partition ``cluster``'s controller does not know: what exists, and the fix."""
    have = sorted(tp.partition for tp in cluster.topic_partitions() if tp.topic == topic)
    if have:
        return p.UnknownTopicOrPartitionError(
            f"topic {topic!r} has partitions 0..{have[-1]}, not {partition}: ask for one of those")
    topics = sorted({tp.topic for tp in cluster.topic_partitions()})
    return p.UnknownTopicOrPartitionError(
        f"no topic {topic!r} on this cluster (its topics: {topics}): create it first (a producer's first send or "
        f"a Metadata request creates it with the server's defaults, or the admin client's create_topics), then "
        f"ask again once metadata names its leader")


class ClusterServerThread(LoopThread):
    """``msglib serve --brokers N`` in a background thread, with faults callable from any thread.

    ``with ClusterServerThread(brokers=3) as srv:`` binds 127.0.0.1 on free ports (or ``port``,
    ``port + 1``, ...); ``srv.bootstrap`` lists them. ``crash_broker(i)``, ``restart_broker(i)`` and
    ``heal()`` act on the simulated cluster and its ports; ``leader(topic, partition)`` and
    ``describe()`` look inside. Leaving the block stops everything.
    """

    def __init__(self, brokers: int = 3, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.brokers_count, self.host, self.port, self.options = brokers, host, port, options
        self.server: ClusterServer | None = None

    @property
    def addresses(self) -> list[str]:
        return [f"{self.host}:{self.server.ports[b]}" for b in sorted(self.server.ports)]

    @property
    def bootstrap(self) -> str:
        return ",".join(self.addresses)

    def _new_server(self) -> ClusterServer:
        return ClusterServer(self.brokers_count, self.host, self.port, **self.options)

    def _thread_name(self) -> str:
        return "msglib-serve-cluster"

    def _run(self, coro_or_fn: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("the cluster server is not running: call start() (or use it in a with block)")
        if asyncio.iscoroutine(coro_or_fn):
            return asyncio.run_coroutine_threadsafe(coro_or_fn, self._loop).result(30)

        async def call() -> Any:
            return coro_or_fn()
        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)

    def crash_broker(self, broker: int) -> None:
        """Crash simulated broker ``broker`` and close its port (its clients see the connection drop)."""
        self._run(self.server.crash_broker(broker))

    def restart_broker(self, broker: int) -> None:
        """Restart ``broker`` from its log and reopen its port (the same port number)."""
        self._run(self.server.restart_broker(broker))

    def heal(self) -> None:
        """Undo every fault: every broker restarted, every link healed, every port open."""
        self._run(self.server.heal())

    def leader(self, topic: str, partition: int = 0) -> int | None:
        """The controller's leader of a partition (None while it has none).

        A partition the controller does not know raises :class:`~msglib.protocol.UnknownTopicOrPartitionError`
        naming it, the partitions its topic has, and how to create it.
        """
        check_int("partition", partition, 0, 2**31 - 1, "a partition number (an int >= 0)")

        def look() -> int | None:
            cluster = self.server.cluster
            if TopicPartition(topic, partition) not in cluster.controller.partitions:
                raise unknown_partition(cluster, topic, partition)
            return cluster.leader(topic, partition)
        return self._run(look)

    def describe(self) -> str:
        """Every partition: leader, epoch, ISR, and each replica's role, LEO and HW."""
        return self._run(lambda: self.server.cluster.describe())

    def call(self, fn: Callable[[Cluster], Any]) -> Any:
        """Run ``fn(cluster)`` in the server's thread (any other fault of :class:`~msglib.cluster.Cluster`)."""
        return self._run(lambda: fn(self.server.cluster))


async def serve_cluster(brokers: int, host: str, port: int, *, ready: Any = None, **options: Any) -> None:
    """Run until SIGTERM or SIGINT (the ``python -m msglib serve --brokers N`` command)."""
    def banner(server: ClusterServer) -> str:
        listing = ", ".join(f"broker {b} on {host}:{server.ports[b]}" for b in sorted(server.ports))
        return f"a simulated {brokers}-broker cluster (in memory): {listing}"
    await run_until_signalled(ClusterServer(brokers, host, port, **options), banner, ready)


def main(args: Any) -> int:
    """``python -m msglib serve --brokers N`` (arguments parsed and checked by :mod:`msglib.wire.cli`)."""
    return run_command(
        serve_cluster(args.brokers, args.host, args.port, num_partitions=args.partitions,
                      max_request_bytes=args.max_request_bytes, config=default_config(args.min_insync_replicas),
                      group_initial_rebalance_delay_ms=args.group_initial_rebalance_delay_ms,
                      group_consumer_heartbeat_interval_ms=args.group_consumer_heartbeat_interval_ms,
                      group_consumer_session_timeout_ms=args.group_consumer_session_timeout_ms),
        f"{args.host} ports {args.port}..{args.port + args.brokers - 1}",
        "choose another --port (0 picks free ones) or stop what uses them")
