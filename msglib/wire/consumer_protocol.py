"""The consumer protocol's embedded messages: what JoinGroup and SyncGroup carry as opaque bytes.

A consumer's JoinGroup metadata is a ``ConsumerProtocolSubscription`` (version int16, topics, user data,
and from v1 the partitions it owns, from v2 its generation) and the leader's SyncGroup assignment for each
member a ``ConsumerProtocolAssignment`` (version int16, topic partitions, user data), defined in Kafka's
``clients/src/main/resources/common/message/ConsumerProtocol{Subscription,Assignment}.json``. The broker
never needs them (a real broker passes them through); msglib's group coordinator works on topics and
partitions, so the wire front decodes them for it and hands the original bytes back to clients.
"""
from __future__ import annotations

import struct

from msglib.protocol import Subscription, TopicPartition
from msglib.wire.codec import MalformedRequestError, Reader

_I16, _I32 = struct.Struct(">h"), struct.Struct(">i")


def _topic_partitions(r: Reader, what: str) -> list[TopicPartition]:
    out = []
    for _ in range(max(0, r.length(False, True, what))):
        topic = _string(r, what)
        out += [TopicPartition(topic, r.int(_I32, what)) for _ in range(max(0, r.length(False, True, what)))]
    return out


def _string(r: Reader, what: str) -> str:
    n = r.length(False, False, what)
    return "" if n < 0 else str(r.take(n, what), "utf-8", "replace")


def decode_subscription(data: bytes | None) -> Subscription:
    """A member's subscription; the raw bytes ride along in ``user_data`` (handed back to the leader)."""
    if not data:
        return Subscription((), user_data=data)
    try:
        r = Reader(data)
        version = r.int(_I16, "subscription version")
        topics = tuple(_string(r, "subscription topics") for _ in range(max(0, r.length(False, True, "topics"))))
        r.length(False, True, "user data")   # skipped: the raw bytes are kept whole
        owned: list[TopicPartition] = []
        if version >= 1 and r.pos < r.end:
            owned = _topic_partitions(r, "owned partitions")
        return Subscription(topics, tuple(owned), user_data=bytes(data))
    except (MalformedRequestError, IndexError):
        return Subscription((), user_data=bytes(data))   # not the consumer protocol: passed through as is


def encode_subscription(sub: Subscription) -> bytes:
    """The bytes a member joined with, or a version-0 subscription rebuilt from the topics."""
    if isinstance(sub.user_data, (bytes, bytearray)):
        return bytes(sub.user_data)
    out = [_I16.pack(0), _I32.pack(len(sub.topics))]
    for t in sub.topics:
        raw = t.encode()
        out += [_I16.pack(len(raw)), raw]
    out.append(_I32.pack(-1))
    return b"".join(out)


def decode_assignment(data: bytes | None) -> list[TopicPartition]:
    if not data:
        return []
    try:
        r = Reader(data)
        r.int(_I16, "assignment version")
        return _topic_partitions(r, "assigned partitions")
    except (MalformedRequestError, IndexError):
        return []


def encode_assignment(tps: list[TopicPartition]) -> bytes:
    """A version-0 assignment (used when the leader's original bytes are not known, e.g. after a restart)."""
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    out = [_I16.pack(0), _I32.pack(len(by_topic))]
    for topic, parts in sorted(by_topic.items()):
        raw = topic.encode()
        out += [_I16.pack(len(raw)), raw, _I32.pack(len(parts))] + [_I32.pack(q) for q in sorted(parts)]
    out.append(_I32.pack(-1))
    return b"".join(out)
