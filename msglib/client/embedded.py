"""The embedded default: a process-wide simulated cluster that clients use when given no ``cluster=``.

kafka-python's clients take ``bootstrap_servers`` (default ``'localhost'``, port 9092). msglib's clients
run in this process, so the only address they can serve is the embedded default's: ``localhost:9092``
(also written ``localhost``, ``127.0.0.1:9092``, ``[::1]:9092``). With that address, or with none, a
``KafkaProducer``, ``KafkaConsumer`` or ``KafkaAdminClient`` built without ``cluster=`` joins one shared
:class:`~msglib.cluster.Cluster` (one broker, Kafka's default timers), made on first use. Its topics are
created on first use, as a broker with Kafka's default ``auto.create.topics.enable=true`` does (one
partition, ``num.partitions=1``; replication factor 1). So code written for kafka-python runs with only
its import line changed::

    from msglib.client import KafkaProducer          # was: from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=["localhost:9092"])

Any other address (``"kafka:9092"``, a cloud broker) is refused at construction with
:class:`NoBrokersAvailable`, naming the two ways forward, instead of every send timing out later.

msglib differs on purpose: this "broker" is not listening on port 9092 (nothing leaves the process;
``python -m msglib serve`` is the way to put a real port in front of msglib), and time is the cluster's
simulated clock, which moves while a client waits (``poll``, ``flush``, ``future.get``).
:func:`reset` drops the default, so tests and notebooks can start from an empty cluster.
"""
from __future__ import annotations

from typing import Any, Iterable

from msglib.client.errors import InvalidTopicError, NoBrokersAvailable

EMBEDDED_ADDRESS = "localhost:9092"
DEFAULT_PORT = 9092                       # kafka-python's default port when an address names none
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
NUM_PARTITIONS = 1                        # Kafka's num.partitions default, for auto-created topics

_default: Any = None
_seed = 0


def _split(address: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port or None)."""
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if port and not port.isdigit():
        raise NoBrokersAvailable(f"bootstrap_servers: {address!r} is not host[:port] (port {port!r} is not a number)")
    return host.lower(), int(port) if port else None


def addresses(bootstrap_servers: Any) -> list[str]:
    """kafka-python's forms: ``'host[:port]'``, ``'h1:p1,h2:p2'`` or a list of them -> a list of addresses."""
    if isinstance(bootstrap_servers, str):
        items = bootstrap_servers.split(",")
    elif isinstance(bootstrap_servers, (list, tuple, set)):
        items = list(bootstrap_servers)
    else:
        raise NoBrokersAvailable(f"bootstrap_servers must be 'host:port' or a list of them, "
                                 f"not {type(bootstrap_servers).__name__}")
    out = [a.strip() for a in items if isinstance(a, str) and a.strip()]
    if len(out) != len(items) or not out:
        raise NoBrokersAvailable(f"bootstrap_servers must name at least one 'host:port', got {bootstrap_servers!r}")
    return out


def is_embedded(address: str) -> bool:
    """Is ``address`` the embedded default's (localhost, port 9092 or none given)?"""
    host, port = _split(address)
    return host in _LOCAL_HOSTS and port in (None, DEFAULT_PORT)


def refusal(unservable: list[str]) -> NoBrokersAvailable:
    return NoBrokersAvailable(
        f"msglib's in-process clients cannot reach {', '.join(repr(a) for a in unservable)}: they run inside "
        f"this Python process and serve only the embedded default cluster. Two ways forward: (1) use the "
        f"embedded default: leave bootstrap_servers out, or set bootstrap_servers='{EMBEDDED_ADDRESS}' "
        f"(or pass cluster= a msglib Cluster); (2) talk to a real broker with a real client: "
        f"`from kafka import KafkaProducer, KafkaConsumer` (pip install kafka-python) against "
        f"`python -m msglib serve` or a real Kafka cluster.")


def resolve(cluster: Any, bootstrap_servers: Any) -> tuple[Any, list[int] | None]:
    """(the cluster to use, broker ids to bootstrap from or None for all) for a client's arguments.

    Broker ids (ints) are msglib's own ``bootstrap_servers`` with ``cluster=``; addresses must be the
    embedded default's, else :class:`NoBrokersAvailable` is raised now.
    """
    if bootstrap_servers is None:
        return (cluster if cluster is not None else default_cluster()), None
    items = list(bootstrap_servers) if isinstance(bootstrap_servers, (list, tuple)) else [bootstrap_servers]
    if items and all(isinstance(b, int) and not isinstance(b, bool) for b in items):
        if cluster is None:
            raise NoBrokersAvailable(f"bootstrap_servers={bootstrap_servers!r} names broker ids of a msglib "
                                     f"Cluster: pass the cluster too (cluster=cluster), or give an address "
                                     f"such as '{EMBEDDED_ADDRESS}' for the embedded default")
        return cluster, items
    wanted = addresses(bootstrap_servers)
    unservable = [a for a in wanted if not is_embedded(a)]
    if unservable:
        raise refusal(unservable)
    return (cluster if cluster is not None else default_cluster()), None


def default_cluster() -> Any:
    """The process-wide embedded cluster (made on first use): one broker, Kafka's timers, auto-created topics."""
    global _default
    if _default is None:
        # The one import that goes up a floor (clients -> systems): listed in tests/test_layers.py.
        from msglib.cluster.cluster import Cluster, ClusterConfig

        cluster = Cluster(brokers=1, seed=_seed, config=ClusterConfig())
        cluster.auto_create_topics = True
        cluster.bootstrap_address = EMBEDDED_ADDRESS
        _default = cluster
    return _default


def reset(seed: int = 0) -> None:
    """Forget the embedded default; the next client without ``cluster=`` gets a new, empty one (``seed``)."""
    global _default, _seed
    _default, _seed = None, seed


def topic_exists(cluster: Any, topic: str) -> bool:
    return any(tp.topic == topic for tp in cluster.controller.partitions)


def auto_create(cluster: Any, topics: Iterable[str]) -> None:
    """Create missing ``topics`` on a cluster that auto-creates them (the embedded default), like a broker
    with ``auto.create.topics.enable=true`` answering a Metadata request: ``num.partitions`` partitions."""
    if not getattr(cluster, "auto_create_topics", False):
        return
    for topic in topics:
        if not topic_exists(cluster, topic):
            check_topic_name(topic)
            cluster.create_topic(topic, partitions=NUM_PARTITIONS, replication_factor=1, wait=False)


def check_topic_name(topic: Any) -> None:
    """Kafka's rule for topic names: 1-249 characters of ASCII letters, digits, '.', '_' and '-', not '.' or '..'."""
    legal = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if not isinstance(topic, str) or not topic or len(topic) > 249 or topic in (".", "..") \
            or not set(topic) <= legal:
        raise InvalidTopicError(f"{topic!r} is not a legal topic name: use 1-249 ASCII letters, digits, "
                                      f"'.', '_' or '-'")


__all__ = ["EMBEDDED_ADDRESS", "NUM_PARTITIONS", "default_cluster", "reset", "resolve", "auto_create",
           "addresses", "is_embedded", "NoBrokersAvailable"]
