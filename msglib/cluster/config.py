"""Cluster settings, named after Kafka's (``replica.lag.time.max.ms`` -> ``replica_lag_time_max_ms``).

The defaults are Kafka's. Simulations of a few seconds use
:meth:`ClusterConfig.fast`, the same protocol with every timer about a hundred
times shorter, so a fault is noticed in a few hundred simulated ms instead
of tens of seconds. Only the ratios between the timers matter to what
happens; absolute values only stretch simulated time.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from msglib.log.config import LogConfig

TRUNCATION_MODES = ("leader_epoch", "high_watermark")
# "kraft": a quorum of controllers replicates the metadata log (Kafka 4.0+ runs only this way; docs/kraft.md).
# "single_node": the one controller node msglib had before, which never fails (kept to compare).
CONTROLLER_MODES = ("kraft", "single_node")


@dataclass(frozen=True)
class ClusterConfig:
    """Every cluster setting, with Kafka's defaults; ``ClusterConfig.fast()`` for short simulations."""

    min_insync_replicas: int = 1
    unclean_leader_election_enable: bool = False
    replica_lag_time_max_ms: float = 30_000
    replica_fetch_wait_max_ms: float = 500
    replica_fetch_max_bytes: int = 1_048_576
    replica_fetch_backoff_ms: float = 1_000
    replica_socket_timeout_ms: float = 30_000  # a fetch with no answer is sent again after this
    broker_heartbeat_interval_ms: float = 2_000
    broker_session_timeout_ms: float = 9_000  # the controller fences a broker silent this long
    replica_high_watermark_checkpoint_interval_ms: float = 5_000
    # How often the simulated OS writes dirty pages to disk. A crash with
    # power loss loses what was written since (Kafka leaves fsync to the OS).
    os_writeback_interval_ms: float = 5_000
    # "leader_epoch": KIP-101/KIP-279 truncation (Kafka >= 2.0). "high_watermark":
    # truncate to the local high-water mark, as Kafka did before KIP-101.
    truncation: str = "leader_epoch"
    # KIP-890 part 1 (Kafka 3.6, where it defaults to true): with transaction version 1, a leader asks
    # the transaction coordinator whether a transactional batch's partition is in the open transaction.
    # msglib's default is off, so that version 1 is KIP-98's protocol as it ran up to Kafka 3.5.
    transaction_partition_verification_enable: bool = False
    # The metadata plane: a KRaft quorum of ``controller_quorum_voters`` controllers (one for a
    # single-broker cluster, like Kafka's quickstart), or the old single controller node.
    controller: str = "kraft"
    controller_quorum_voters: int = 3
    controller_quorum_fetch_timeout_ms: float = 2_000    # controller.quorum.fetch.timeout.ms
    controller_quorum_election_timeout_ms: float = 1_000  # controller.quorum.election.timeout.ms
    # KIP-966 (eligible.leader.replicas.version=1): off by default in 4.0, on for new 4.1+ clusters.
    eligible_leader_replicas: bool = True
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.min_insync_replicas, int) or self.min_insync_replicas < 1:
            raise ValueError(f"min_insync_replicas must be an int >= 1, got {self.min_insync_replicas!r}")
        if self.controller not in CONTROLLER_MODES:
            raise ValueError(f"controller must be one of {CONTROLLER_MODES}, got {self.controller!r}")
        if not isinstance(self.controller_quorum_voters, int) or self.controller_quorum_voters < 1:
            raise ValueError(f"controller_quorum_voters must be an int >= 1, got {self.controller_quorum_voters!r}")
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {self.truncation!r}")
        for f in fields(self):
            if f.name.endswith("_ms"):
                value = getattr(self, f.name)
                if not isinstance(value, (int, float)) or value <= 0:
                    raise ValueError(f"{f.name} must be a positive number of ms, got {value!r}")
        if self.broker_session_timeout_ms <= self.broker_heartbeat_interval_ms:
            raise ValueError("broker_session_timeout_ms must be longer than broker_heartbeat_interval_ms, "
                             "or every broker is fenced between two heartbeats")

    @classmethod
    def fast(cls, **overrides) -> "ClusterConfig":
        """Kafka's protocol with timers scaled down for short simulations."""
        # Simulated batches are tiny (a few records), so Kafka's one index entry
        # per 4 KiB would leave dozens of batch headers to scan per fetch:
        # index every batch instead.
        base = dict(replica_lag_time_max_ms=300, replica_fetch_wait_max_ms=50, replica_fetch_backoff_ms=20,
                    replica_socket_timeout_ms=300, broker_heartbeat_interval_ms=20,
                    broker_session_timeout_ms=90, replica_high_watermark_checkpoint_interval_ms=50,
                    os_writeback_interval_ms=50, controller_quorum_fetch_timeout_ms=60,
                    controller_quorum_election_timeout_ms=30, log=LogConfig(index_interval_bytes=0))
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes) -> "ClusterConfig":
        return replace(self, **changes)
