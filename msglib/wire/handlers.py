"""One function per Kafka API: a decoded request body in, a response body out (``None``: no response).

Bodies are the dicts of :mod:`msglib.wire.codec` (field names of Kafka's JSON specs in snake_case). Group
and transaction requests become msglib's own request messages (:mod:`msglib.protocol`) for the
coordinators; everything else is answered from the broker's logs. On the wire KIP-848's
ConsumerGroupHeartbeat names topics by topic id (KIP-516); msglib's coordinator works on names, so the
handler translates both ways with the broker's ids.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, Mapping

from msglib import protocol as p
from msglib.groups.coordinator import COORDINATOR
from msglib.protocol import TopicPartition
from msglib.wire import consumer_protocol as cp
from msglib.wire.broker import NODE_ID, Broker, ProduceError, offsets_from_wire, split_batches
from msglib.wire.codec import ZERO_UUID
from msglib.wire.specs import ERROR_CODES, SPECS

CLUSTER_ID = "msglib-serve"
READ_COMMITTED = 1
EARLIEST, LATEST = -2, -1


def code(error: str | None) -> int:
    """Kafka's number for an error name; msglib's ``"NAME: detail"`` keeps the name."""
    if error is None:
        return 0
    return ERROR_CODES.get(error.partition(":")[0], ERROR_CODES["UNKNOWN_SERVER_ERROR"])


def produce_checks(acks: int, known: bool, records: bytes | None) -> tuple[str | None, str | None, list]:
    """One partition's data in a Produce request, checked before anything is written.

    ``(error name, message, batches)``: the error (None if the data may be written), and the record
    batches split out of ``records``. ``known``: the partition exists.
    """
    if acks not in (0, 1, -1):
        return "INVALID_REQUIRED_ACKS", f"acks={acks}: use 0, 1 or -1 (all)", []
    if not known:
        return "UNKNOWN_TOPIC_OR_PARTITION", None, []
    if records is None:
        return "CORRUPT_MESSAGE", "no records", []
    try:
        return None, None, split_batches(records)
    except ProduceError as exc:
        return exc.code, exc.message, []


def fetch_session_refused(body: dict) -> dict | None:
    """The answer to a Fetch that names a fetch session (msglib serve keeps none), else None."""
    if body.get("session_id", 0) != 0:
        return {"error_code": ERROR_CODES["FETCH_SESSION_ID_NOT_FOUND"], "session_id": 0, "responses": []}
    return None


class Handlers:
    """The APIs ``msglib serve`` answers; ``supported`` is what ApiVersions advertises."""

    def __init__(self, broker: Broker, host: str, port: int) -> None:
        self.broker = broker
        self.host, self.port = host, port
        self.table: dict[int, Callable[[dict, dict], Awaitable[dict | None]]] = {
            18: self.api_versions, 3: self.metadata, 0: self.produce, 1: self.fetch, 2: self.list_offsets,
            10: self.find_coordinator, 11: self.join_group, 14: self.sync_group, 12: self.heartbeat,
            13: self.leave_group, 8: self.offset_commit, 9: self.offset_fetch, 15: self.describe_groups,
            16: self.list_groups, 19: self.create_topics, 20: self.delete_topics, 22: self.init_producer_id,
            24: self.add_partitions_to_txn, 25: self.add_offsets_to_txn, 26: self.end_txn,
            28: self.txn_offset_commit, 68: self.consumer_group_heartbeat,
        }
        self.assignments: dict[tuple[str, int], dict[str, bytes]] = {}   # (group, generation) -> member -> bytes

    @property
    def coordinators(self):
        return self.broker.coordinators

    # -- ApiVersions, Metadata, topics ----------------------------------------------------------------------
    async def api_versions(self, header: dict, body: dict) -> dict:
        return {"error_code": 0, "api_keys": supported_versions()}

    async def metadata(self, header: dict, body: dict) -> dict:
        wanted, refused = metadata_request_topics(header["api_version"], body, self.broker.topic_names)
        auto = body.get("allow_auto_topic_creation", True) and self.broker.auto_create_topics
        topics = list(refused)
        for name in (sorted(self.broker.topics) if wanted is None else wanted):
            error = None
            if name not in self.broker.topics:
                error = self.broker.create_topic(name)[0] if auto else "UNKNOWN_TOPIC_OR_PARTITION"
            parts = self.broker.topics.get(name, [])
            topics.append({"error_code": code(error), "name": name, "is_internal": False,
                           "topic_id": self.broker.topic_ids.get(name, ZERO_UUID), "partitions": [
                {"error_code": 0, "partition_index": part.tp.partition, "leader_id": NODE_ID, "leader_epoch": 0,
                 "replica_nodes": [NODE_ID], "isr_nodes": [NODE_ID], "offline_replicas": []} for part in parts],
                "topic_authorized_operations": -2147483648})
        return {"brokers": [{"node_id": NODE_ID, "host": self.host, "port": self.port, "rack": None}],
                "cluster_id": CLUSTER_ID, "controller_id": NODE_ID, "topics": topics,
                "cluster_authorized_operations": -2147483648}

    async def create_topics(self, header: dict, body: dict) -> dict:
        out = []
        for t in body["topics"]:
            configs = {c["name"]: _config_value(c["value"]) for c in t.get("configs") or []}
            if t["replication_factor"] not in (-1, 1):
                error, message = "INVALID_REPLICATION_FACTOR", (f"replication factor {t['replication_factor']}: "
                                                                "msglib serve has one broker, use 1 (or -1)")
            elif t.get("assignments"):
                error, message = "INVALID_REPLICA_ASSIGNMENT", "manual replica assignments are not served"
            else:
                error, message = self.broker.create_topic(t["name"], t["num_partitions"], configs,
                                                          body.get("validate_only", False))
            out.append({"name": t["name"], "error_code": code(error), "error_message": message or None})
        return {"topics": out}

    async def delete_topics(self, header: dict, body: dict) -> dict:
        return {"responses": [{"name": name, "error_code": code(self.broker.delete_topic(name))}
                              for name in body["topic_names"]]}

    # -- Produce --------------------------------------------------------------------------------------------
    async def produce(self, header: dict, body: dict) -> dict | None:
        acks = body["acks"]
        responses = []
        for t in body["topic_data"]:
            results = []
            for q in t["partition_data"]:
                tp = TopicPartition(t["name"], q["index"])
                base, start = -1, -1
                part = self.broker.partition(tp)
                error, message, batches = produce_checks(acks, part is not None, q["records"])
                if error is None:
                    try:
                        for i, batch in enumerate(batches):
                            offset, start = part.append(batch)
                            base = offset if i == 0 else base
                    except ProduceError as exc:
                        error, message = exc.code, exc.message
                results.append({"index": q["index"], "error_code": code(error), "base_offset": base,
                                "log_append_time_ms": -1, "log_start_offset": start, "error_message": message})
            responses.append({"name": t["name"], "partition_responses": results})
        self.broker.notify()
        return None if acks == 0 else {"responses": responses}

    # -- Fetch, ListOffsets ---------------------------------------------------------------------------------
    async def fetch(self, header: dict, body: dict) -> dict:
        refused = fetch_session_refused(body)
        if refused is not None:
            return refused
        deadline = time.monotonic() + max(0, body["max_wait_ms"]) / 1000.0
        while True:
            changed = self.broker.changed()
            responses, size = self._read(body)
            remaining = deadline - time.monotonic()
            if size >= max(1, body["min_bytes"]) or remaining <= 0:
                return {"error_code": 0, "session_id": 0, "responses": responses}
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def _read(self, body: dict) -> tuple[list, int]:
        committed = body.get("isolation_level", 0) == READ_COMMITTED
        budget = body["max_bytes"] if body["max_bytes"] > 0 else 1 << 30
        total = 0
        responses = []
        for t in body["topics"]:
            parts = []
            for q in t["partitions"]:
                part = self.broker.partition(TopicPartition(t["topic"], q["partition"]))
                entry = {"partition_index": q["partition"], "high_watermark": -1, "last_stable_offset": -1,
                         "log_start_offset": -1, "aborted_transactions": None, "preferred_read_replica": -1,
                         "records": b""}
                parts.append(entry)
                if part is None:
                    entry["error_code"] = code("UNKNOWN_TOPIC_OR_PARTITION")
                    continue
                log = part.log
                hw, lso = part.high_watermark, part.last_stable_offset
                entry.update(high_watermark=hw, last_stable_offset=lso, log_start_offset=log.log_start_offset)
                offset = q["fetch_offset"]
                if not log.log_start_offset <= offset <= log.log_end_offset:
                    entry["error_code"] = code("OFFSET_OUT_OF_RANGE")
                    continue
                entry["error_code"] = 0
                limit = lso if committed else hw
                if offset >= limit or total >= budget:
                    if committed:
                        entry["aborted_transactions"] = []
                    continue
                size = max(0, min(q["partition_max_bytes"], budget - total))
                data = log.read(offset, max_bytes=size, max_offset=limit, min_one=total == 0)
                chunks = [b.encode() for b in data.batches]
                entry["records"] = b"".join(chunks)
                total += len(entry["records"])
                if committed:
                    end = data.batches[-1].next_offset if data.batches else offset
                    entry["aborted_transactions"] = [{"producer_id": a.producer_id, "first_offset": a.first_offset}
                                                     for a in part.producers.aborted_in_range(offset, end)]
            responses.append({"topic": t["topic"], "partitions": parts})
        return responses, total

    async def list_offsets(self, header: dict, body: dict) -> dict:
        committed = body.get("isolation_level", 0) == READ_COMMITTED
        topics = []
        for t in body["topics"]:
            parts = []
            for q in t["partitions"]:
                part = self.broker.partition(TopicPartition(t["name"], q["partition_index"]))
                entry = {"partition_index": q["partition_index"], "error_code": 0, "timestamp": -1, "offset": -1,
                         "leader_epoch": 0}
                if part is None:
                    entry["error_code"] = code("UNKNOWN_TOPIC_OR_PARTITION")
                elif q["timestamp"] == EARLIEST:
                    entry["offset"] = part.log.log_start_offset
                elif q["timestamp"] == LATEST:
                    entry["offset"] = part.last_stable_offset if committed else part.high_watermark
                elif q["timestamp"] < 0:
                    entry["error_code"] = code("INVALID_REQUEST")   # -3 and below need ListOffsets v7+
                else:
                    found = part.log.offsets_for_times(q["timestamp"])
                    if found is not None:
                        entry["offset"], entry["timestamp"] = found
                parts.append(entry)
            topics.append({"name": t["name"], "partitions": parts})
        return {"topics": topics}

    # -- coordinators ---------------------------------------------------------------------------------------
    async def find_coordinator(self, header: dict, body: dict) -> dict:
        if body.get("key_type", 0) not in (0, 1):
            return {"error_code": code("INVALID_REQUEST"), "error_message": "key_type must be 0 (group) or 1 "
                    "(transaction)", "node_id": -1, "host": "", "port": -1}
        node, port = self.coordinator_for(body.get("key") or "")
        return {"error_code": 0, "node_id": node, "host": self.host, "port": port, "error_message": None}

    def coordinator_for(self, key: str) -> tuple[int, int]:
        """``(node id, port)`` of the coordinator of a group or transactional id: the one broker."""
        return NODE_ID, self.port

    async def join_group(self, header: dict, body: dict) -> dict:
        version = header["api_version"]
        session = body["session_timeout_ms"]
        rebalance = body["rebalance_timeout_ms"] if version >= 1 else session
        protocols = [(pr["name"], cp.decode_subscription(pr["metadata"])) for pr in body["protocols"]]
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.JoinGroupRequest(
            rid, body["group_id"], body["member_id"], body.get("group_instance_id"), header["client_id"] or "",
            session, rebalance, body["protocol_type"], protocols))
        return {"error_code": code(resp.error), "generation_id": resp.generation_id,
                "protocol_name": resp.protocol_name or "", "leader": resp.leader, "member_id": resp.member_id,
                "members": [{"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                             "metadata": cp.encode_subscription(m.subscription)} for m in resp.members]}

    async def sync_group(self, header: dict, body: dict) -> dict:
        raw = {a["member_id"]: a["assignment"] for a in body["assignments"]}
        key = (body["group_id"], body["generation_id"])
        if raw:
            self.assignments = {k: v for k, v in self.assignments.items() if k[0] != key[0]}
            self.assignments[key] = raw
        assignments = {m: [tuple(tp) for tp in cp.decode_assignment(data)] for m, data in raw.items()}
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.SyncGroupRequest(
            rid, body["group_id"], body["generation_id"], body["member_id"], body.get("group_instance_id"),
            assignments))
        data = b""
        if resp.error is None:
            data = self.assignments.get(key, {}).get(body["member_id"]) or cp.encode_assignment(resp.assignment)
        return {"error_code": code(resp.error), "assignment": data}

    async def heartbeat(self, header: dict, body: dict) -> dict:
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.HeartbeatRequest(
            rid, body["group_id"], body["generation_id"], body["member_id"], body.get("group_instance_id")))
        return {"error_code": code(resp.error)}

    async def leave_group(self, header: dict, body: dict) -> dict:
        members = body.get("members") or [{"member_id": body.get("member_id", ""), "group_instance_id": None}]
        results = []
        for m in members:
            resp = await self.coordinators.call(COORDINATOR, lambda rid, m=m: p.LeaveGroupRequest(
                rid, body["group_id"], m["member_id"]))
            results.append({"member_id": m["member_id"], "group_instance_id": m.get("group_instance_id"),
                            "error_code": code(resp.error)})
        top = results[0]["error_code"] if header["api_version"] < 3 else 0
        return {"error_code": top, "members": results}

    async def offset_commit(self, header: dict, body: dict) -> dict:
        offsets = offsets_from_wire(body["topics"])
        self.coordinators.pump()
        coordinator, group_id, version = self.coordinators.group, body["group_id"], header["api_version"]
        group = coordinator.consumer_groups.group(group_id)
        exists = group is not None or coordinator.group(group_id) is not None or group_id in coordinator.store.offsets
        error: str | None
        if version < 9 and group is not None and body.get("member_id", "") in group.members:
            error = "UNSUPPORTED_VERSION"   # a KIP-848 member must commit with v9+ (ConsumerGroup.validateOffsetCommit)
        elif version >= 9 and not exists and body.get("generation_id_or_member_epoch", -1) >= 0:
            error = "GROUP_ID_NOT_FOUND"    # v9+: no such group (OffsetMetadataManager.validateOffsetCommit)
        else:
            resp = await self.coordinators.call(COORDINATOR, lambda rid: p.OffsetCommitRequest(
                rid, body["group_id"], body.get("generation_id_or_member_epoch", -1), body.get("member_id", ""),
                body.get("group_instance_id"), offsets))
            error = resp.error
        return {"topics": [{"name": t["name"], "partitions": [
            {"partition_index": q["partition_index"], "error_code": code(error)} for q in t["partitions"]]}
            for t in body["topics"]]}

    async def offset_fetch(self, header: dict, body: dict) -> dict:
        # v7+: with require_stable false a partition with pending transactional offsets is answered with its
        # last committed offset; with it true (and before v7, msglib's choice) UNSTABLE_OFFSET_COMMIT (KIP-447)
        stable = header["api_version"] < 7 or body.get("require_stable", False)
        if header["api_version"] < 8:
            return {"error_code": 0, "topics": await self._group_offsets(body["group_id"], body["topics"], stable)}
        groups = []                       # v8+: several groups; v9+ with the member id and epoch (KIP-848)
        for g in body["groups"]:
            error = self._validate_offset_fetch(g["group_id"], g.get("member_id"), g.get("member_epoch", -1))
            topics = [] if error else await self._group_offsets(g["group_id"], g["topics"], stable)
            groups.append({"group_id": g["group_id"], "topics": topics, "error_code": code(error)})
        return {"groups": groups}

    def _validate_offset_fetch(self, group_id: str, member_id: str | None, member_epoch: int) -> str | None:
        """KIP-848 groups check the member id and epoch an OffsetFetch v9 carries (as Kafka's
        ``ConsumerGroup.validateOffsetFetch`` does); an admin's request (null member id, epoch -1) passes."""
        self.coordinators.pump()
        consumer_groups = self.coordinators.group.consumer_groups
        if not consumer_groups.owns(group_id):
            return None
        return consumer_groups.validate_offset_fetch(group_id, member_id, member_epoch)

    async def _group_offsets(self, group_id: str, topics: list[dict] | None, stable: bool) -> list[dict]:
        wanted = None if topics is None else [
            TopicPartition(t["name"], i) for t in topics for i in t["partition_indexes"]]
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.OffsetFetchRequest(rid, group_id, wanted))
        if resp.error == p.UNSTABLE_OFFSET_COMMIT and not stable:   # the committed offsets, pending ones aside
            stored = self.coordinators.group.store.group_offsets(group_id)
            resp = p.OffsetFetchResponse(resp.request_id, None, {
                tp: (stored[tp].as_offset_and_metadata() if tp in stored else None)
                for tp in (sorted(stored) if wanted is None else wanted)})
        by_topic: dict[str, list] = {}
        if resp.error is not None:        # UNSTABLE_OFFSET_COMMIT: per partition, as Kafka answers it
            for tp in wanted or []:
                by_topic.setdefault(tp.topic, []).append(
                    {"partition_index": tp.partition, "committed_offset": -1, "committed_leader_epoch": -1,
                     "metadata": "", "error_code": code(resp.error)})
        else:
            for tp, om in sorted(resp.offsets.items()):
                by_topic.setdefault(tp.topic, []).append(
                    {"partition_index": tp.partition, "committed_offset": -1 if om is None else om.offset,
                     "committed_leader_epoch": -1 if om is None or om.leader_epoch is None else om.leader_epoch,
                     "metadata": "" if om is None else (om.metadata or ""), "error_code": 0})
        return [{"name": t, "partitions": parts} for t, parts in by_topic.items()]

    async def describe_groups(self, header: dict, body: dict) -> dict:
        self.coordinators.pump()
        out = []
        for group_id in body["groups"]:
            group = self.coordinators.group.group(group_id)
            if group is not None and not group.members and self.coordinators.group.consumer_groups.owns(group_id):
                group = None       # a KIP-848 group is not a classic one: Dead, as Kafka's describeGroups answers
            if group is None:
                out.append({"error_code": 0, "group_id": group_id, "group_state": "Dead", "protocol_type": "",
                            "protocol_data": "", "members": []})
                continue
            members = []
            for m in group.members.values():
                sub = m.subscription(group.protocol_name) if group.protocol_name in m.protocol_names else None
                members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                                "client_id": m.member_id.rsplit("-", 1)[0], "client_host": "/127.0.0.1",
                                "member_metadata": cp.encode_subscription(sub) if sub else b"",
                                "member_assignment": cp.encode_assignment(m.assignment)})
            out.append({"error_code": 0, "group_id": group_id, "group_state": str(group.state.value),
                        "protocol_type": group.protocol_type or "", "protocol_data": group.protocol_name or "",
                        "members": members, "authorized_operations": -2147483648})
        return {"groups": out}

    async def list_groups(self, header: dict, body: dict) -> dict:
        self.coordinators.pump()
        groups = {g: group.protocol_type or "" for g, group in self.coordinators.group.groups.items()}
        for g in self.coordinators.group.consumer_groups.groups:      # KIP-848 groups: protocol type "consumer"
            groups[g] = "consumer"
        return {"error_code": 0, "groups": [{"group_id": g, "protocol_type": groups[g]} for g in sorted(groups)]}

    # -- KIP-848 ----------------------------------------------------------------------------------------------
    async def consumer_group_heartbeat(self, header: dict, body: dict) -> dict:
        """ConsumerGroupHeartbeat (API 68) through msglib's KIP-848 coordinator: topic ids become names on
        the way in and names become ids on the way out; the rack id is not used."""
        if body.get("subscribed_topic_regex"):
            return {"error_code": code("INVALID_REQUEST"), "member_id": body["member_id"], "member_epoch": -1,
                    "heartbeat_interval_ms": 0, "error_message": "subscribed_topic_regex: topic patterns are not "
                    "served by msglib serve; subscribe to topic names (a list) instead"}
        names = self.broker.topic_names
        owned = None if body["topic_partitions"] is None else [   # a topic deleted since is no longer owned
            TopicPartition(names[t["topic_id"]], q) for t in body["topic_partitions"] if t["topic_id"] in names
            for q in t["partitions"]]
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.ConsumerGroupHeartbeatRequest(
            rid, body["group_id"], body["member_id"], body["member_epoch"], body["instance_id"],
            body["rebalance_timeout_ms"], body["subscribed_topic_names"], body["server_assignor"], owned,
            header["client_id"] or ""))
        assignment = None
        if resp.error is None and resp.assignment is not None:
            ids = self.broker.topic_ids
            by_topic: dict[uuid.UUID, list[int]] = {}
            for tp in sorted(resp.assignment):
                if tp.topic in ids:
                    by_topic.setdefault(ids[tp.topic], []).append(tp.partition)
            assignment = {"topic_partitions": [{"topic_id": t, "partitions": qs} for t, qs in by_topic.items()]}
        return {"error_code": code(resp.error), "error_message": resp.error_message, "member_id": resp.member_id,
                "member_epoch": resp.member_epoch, "heartbeat_interval_ms": int(resp.heartbeat_interval_ms),
                "assignment": assignment}

    # -- transactions ---------------------------------------------------------------------------------------
    async def init_producer_id(self, header: dict, body: dict) -> dict:
        tid = body["transactional_id"]
        if tid is None:   # an idempotent producer: a fresh id from the same logged counter
            pid = self.coordinators.txn.state_log.allocate_producer_id()
            return {"error_code": 0, "producer_id": pid, "producer_epoch": 0}
        resp = await self.coordinators.call(p.TXN_COORDINATOR, lambda rid: p.InitProducerIdRequest(
            rid, tid, body["transaction_timeout_ms"]))
        return {"error_code": code(resp.error), "producer_id": resp.producer_id, "producer_epoch": resp.producer_epoch}

    async def add_partitions_to_txn(self, header: dict, body: dict) -> dict:
        tps = [TopicPartition(t["name"], q) for t in body["v3_and_below_topics"] for q in t["partitions"]]
        unknown = {tp for tp in tps if self.broker.partition(tp) is None}
        if unknown:
            errors = {tp: ("UNKNOWN_TOPIC_OR_PARTITION" if tp in unknown else "OPERATION_NOT_ATTEMPTED") for tp in tps}
        else:
            resp = await self.coordinators.call(p.TXN_COORDINATOR, lambda rid: p.AddPartitionsToTxnRequest(
                rid, body["v3_and_below_transactional_id"], body["v3_and_below_producer_id"],
                body["v3_and_below_producer_epoch"], tps))
            errors = {tp: resp.error for tp in tps}
        by_topic: dict[str, list] = {}
        for tp, error in errors.items():
            by_topic.setdefault(tp.topic, []).append({"partition_index": tp.partition,
                                                      "partition_error_code": code(error)})
        return {"results_by_topic_v3_and_below": [{"name": t, "results_by_partition": r}
                                                  for t, r in by_topic.items()]}

    async def add_offsets_to_txn(self, header: dict, body: dict) -> dict:
        resp = await self.coordinators.call(p.TXN_COORDINATOR, lambda rid: p.AddOffsetsToTxnRequest(
            rid, body["transactional_id"], body["producer_id"], body["producer_epoch"], body["group_id"]))
        return {"error_code": code(resp.error)}

    async def end_txn(self, header: dict, body: dict) -> dict:
        resp = await self.coordinators.call(p.TXN_COORDINATOR, lambda rid: p.EndTxnRequest(
            rid, body["transactional_id"], body["producer_id"], body["producer_epoch"], body["committed"]))
        return {"error_code": code(resp.error)}

    async def txn_offset_commit(self, header: dict, body: dict) -> dict:
        offsets = offsets_from_wire(body["topics"])
        resp = await self.coordinators.call(COORDINATOR, lambda rid: p.TxnOffsetCommitRequest(
            rid, body["transactional_id"], body["group_id"], body["producer_id"], body["producer_epoch"],
            body.get("generation_id", -1), body.get("member_id", ""), body.get("group_instance_id"), offsets))
        return {"topics": [{"name": t["name"], "partitions": [
            {"partition_index": q["partition_index"], "error_code": code(resp.error)} for q in t["partitions"]]}
            for t in body["topics"]]}


def _config_value(value: str | None) -> Any:
    if value is not None and value.lstrip("-").isdigit():
        return int(value)
    return value


def metadata_request_topics(version: int, body: dict, topic_names: Mapping[uuid.UUID, str]
                            ) -> tuple[list[str] | None, list[dict]]:
    """The topic names a Metadata request asks for (None: every topic) and the answers for the entries that
    name no servable topic. From v12 an entry may name its topic by id alone (null name); an unknown id is
    answered UNKNOWN_TOPIC_ID with a null name. Before v12 a null name or a topic id is INVALID_REQUEST
    (``KafkaApis.handleTopicMetadataRequest``: v10 and v11 carry the fields but may not use them)."""
    wanted = body["topics"]
    if wanted is None or (version == 0 and not wanted):
        return None, []
    names: list[str] = []
    refused: list[dict] = []
    for t in wanted:
        name, topic_id = t["name"], t.get("topic_id", ZERO_UUID)
        if version < 12 and (name is None or topic_id != ZERO_UUID):
            refused.append(_topic_error("INVALID_REQUEST", name or "", topic_id))
        elif name is not None:
            names.append(name)
        elif topic_id in topic_names:
            names.append(topic_names[topic_id])
        else:
            refused.append(_topic_error("UNKNOWN_TOPIC_ID", None, topic_id))
    return names, refused


def _topic_error(error: str, name: str | None, topic_id: uuid.UUID) -> dict:
    return {"error_code": code(error), "name": name, "topic_id": topic_id, "is_internal": False, "partitions": [],
            "topic_authorized_operations": -2147483648}


def supported_versions() -> list[dict[str, int]]:
    """What ApiVersions advertises: exactly the versions the field tables hold."""
    return [{"api_key": key, "min_version": spec[1][0], "max_version": spec[1][1]}
            for key, spec in sorted((k, v) for k, v in SPECS.items() if isinstance(k, int))]
