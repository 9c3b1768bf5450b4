"""KafkaAdminClient: create, list and describe topics, shaped like kafka-python's.

::

    from msglib.client import KafkaAdminClient
    with KafkaAdminClient(bootstrap_servers="localhost:9092") as admin:
        admin.create_topics({"orders": {"num_partitions": 3}})
        admin.list_topics()                      # ['orders']

Without ``cluster=`` it manages the embedded default cluster (see ``embedded.py``); with a msglib
``Cluster`` it manages that one. ``new_topics`` takes kafka-python 3.x's forms: a list of names, a dict
``{name: {"num_partitions": n, "replication_factor": r}}``, or a list of :class:`NewTopic`.
``num_partitions``/``replication_factor`` of -1 (the default) mean the broker's defaults: 1 partition
(``num.partitions``), replication factor min(3, brokers) on a Cluster and 1 on the embedded default.

Where msglib differs on purpose: requests go straight to the simulated controller, not over the
simulated network, so the answers are built here and are plain dicts (``{"topics": [{"name",
"error_code", "error_message", "num_partitions", "replication_factor"}]}``), not kafka-python's
response objects; ``delete_topics`` is refused (msglib's controller cannot delete a topic).
"""
from __future__ import annotations

from typing import Any, Iterable

from msglib.client.config import IGNORED_ADMIN, split_configs
from msglib.client.embedded import check_topic_name, resolve, topic_exists
from msglib.client.errors import KafkaError, TopicAlreadyExistsError
from msglib.protocol.errors import IllegalStateError, KafkaConfigurationError

DEFAULT_CONFIG: dict[str, Any] = {
    "bootstrap_servers": "localhost",
    "client_id": None,
    "request_timeout_ms": 30_000,
    "retry_backoff_ms": 100,
}

_ERRORS = {None: (0, None), "TOPIC_ALREADY_EXISTS": (36, "Topic with this name already exists."),
           "INVALID_TOPIC_EXCEPTION": (17, "The request attempted to perform an operation on an invalid topic."),
           "INVALID_PARTITIONS": (37, "Number of partitions is below 1."),
           "INVALID_REPLICATION_FACTOR": (38, "Replication factor is below 1 or larger than the number of "
                                              "available brokers.")}


class NewTopic:
    """A topic to create (kafka-python's ``NewTopic``, deprecated there in favour of a dict)."""

    def __init__(self, name: str, num_partitions: int = -1, replication_factor: int = -1,
                 replica_assignments: dict | None = None, topic_configs: dict | None = None) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = replica_assignments or {}
        self.topic_configs = topic_configs or {}

    def __repr__(self) -> str:
        return f"NewTopic({self.name!r}, num_partitions={self.num_partitions}, " \
               f"replication_factor={self.replication_factor})"


class KafkaAdminClient:
    """Topic administration of a msglib Cluster or the embedded default. See the module docstring."""

    def __init__(self, cluster: Any = None, **configs: Any) -> None:
        configs = split_configs("KafkaAdminClient", configs, DEFAULT_CONFIG, IGNORED_ADMIN)
        self.cluster, _ = resolve(cluster, configs.get("bootstrap_servers", DEFAULT_CONFIG["bootstrap_servers"]))
        if not hasattr(self.cluster, "controller"):
            raise KafkaConfigurationError("KafkaAdminClient manages a msglib Cluster (or the embedded default), "
                                          f"not a {type(self.cluster).__name__}")
        self.config = dict(DEFAULT_CONFIG, **configs)
        self._closed = False

    # -- topics ------------------------------------------------------------------------------------
    @staticmethod
    def _wanted(new_topics: Any) -> list[NewTopic]:
        if isinstance(new_topics, dict):
            return [NewTopic(name, (o or {}).get("num_partitions", -1), (o or {}).get("replication_factor", -1))
                    for name, o in new_topics.items()]
        if isinstance(new_topics, (str, NewTopic)):
            new_topics = [new_topics]
        out = []
        for t in new_topics:
            out.append(t if isinstance(t, NewTopic) else NewTopic(t))
        return out

    def create_topics(self, new_topics: Any, timeout_ms: float | None = None, validate_only: bool = False,
                      raise_errors: bool = True, wait_for_metadata: bool = False) -> dict:
        """Create topics; raise the first error (TopicAlreadyExistsError...) unless ``raise_errors=False``."""
        self._check_open()
        if validate_only and wait_for_metadata:
            raise ValueError("validate_only and wait_for_metadata are mutually exclusive")
        brokers = len(self.cluster.broker_ids)
        default_rf = 1 if getattr(self.cluster, "auto_create_topics", False) else min(3, brokers)
        results, first_error = [], None
        for t in self._wanted(new_topics):
            n = 1 if t.num_partitions == -1 else t.num_partitions
            rf = default_rf if t.replication_factor == -1 else t.replication_factor
            error = None
            try:
                check_topic_name(t.name)
            except KafkaError as exc:
                error, first_error = "INVALID_TOPIC_EXCEPTION", first_error or exc
            if error is None and topic_exists(self.cluster, t.name):
                error = "TOPIC_ALREADY_EXISTS"
                first_error = first_error or TopicAlreadyExistsError(f"Topic {t.name!r} already exists.")
            elif error is None and (not isinstance(n, int) or n < 1):
                error = "INVALID_PARTITIONS"
                first_error = first_error or KafkaConfigurationError(f"num_partitions must be >= 1, got {n!r}")
            elif error is None and (not isinstance(rf, int) or not 1 <= rf <= brokers):
                error = "INVALID_REPLICATION_FACTOR"
                first_error = first_error or KafkaConfigurationError(
                    f"replication_factor must be between 1 and {brokers} (the brokers), got {rf!r}")
            if error is None and not validate_only:
                self.cluster.create_topic(t.name, partitions=n, replication_factor=rf, wait=wait_for_metadata)
            code, message = _ERRORS[error]
            results.append({"name": t.name, "error_code": code, "error_message": message,
                            "num_partitions": n, "replication_factor": rf})
        if first_error is not None and raise_errors:
            raise first_error
        return {"topics": results}

    def delete_topics(self, topics: Iterable[str], timeout_ms: float | None = None,
                      raise_errors: bool = True) -> dict:
        """Refused: msglib's simulated controller cannot delete a topic (a new cluster starts empty:
        ``msglib.client.embedded.reset()`` for the embedded default)."""
        raise KafkaError("delete_topics is not supported by msglib's simulated controller; start from an empty "
                         "cluster instead (msglib.client.embedded.reset() for the embedded default)")

    def list_topics(self) -> list[str]:
        self._check_open()
        return sorted({tp.topic for tp in self.cluster.controller.partitions})

    def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict]:
        """Each topic's partitions as the controller has them: leader, replicas, ISR."""
        self._check_open()
        names = self.list_topics() if topics is None else list(topics)
        out = []
        for name in names:
            states = sorted((st for tp, st in self.cluster.controller.partitions.items() if tp.topic == name),
                            key=lambda st: st.tp.partition)
            code = 0 if states else 3    # UNKNOWN_TOPIC_OR_PARTITION
            out.append({"name": name, "error_code": code, "is_internal": False, "partitions": [
                {"partition_index": st.tp.partition, "leader_id": st.leader, "leader_epoch": st.leader_epoch,
                 "replica_nodes": list(st.replicas), "isr_nodes": list(st.isr), "error_code": 0}
                for st in states]})
        return out

    # -- life cycle ----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("This KafkaAdminClient has been closed.")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "KafkaAdminClient":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


__all__ = ["KafkaAdminClient", "NewTopic", "DEFAULT_CONFIG"]
