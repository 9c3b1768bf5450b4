"""Transaction coordinator settings, named after Kafka's broker configs.

The defaults are Kafka's. :meth:`TxnConfig.fast` shortens the timers that
decide how quickly things happen in a short simulation (how often timed-out
transactions are looked for, marker retries); limits stay Kafka's.

``transaction_version`` is the cluster's finalized ``transaction.version``
feature level (Kafka 4.0, KIP-1022; docs/transactions.md T19): 2, the default
of a cluster formatted with 4.0, turns on the protocol of KIP-890 part 2 for
the producers that support it; 1 keeps KIP-98's protocol (Kafka's levels 0 and
1 differ only in how ``__transaction_state`` records are encoded, which msglib
does not model). A producer uses the lower of its own version and this one,
chosen at the start of each transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class TxnConfig:
    transaction_max_timeout_ms: float = 900_000        # a producer may not ask for a longer timeout
    transaction_abort_timed_out_transaction_cleanup_interval_ms: float = 10_000
    transactional_id_expiration_ms: float = 604_800_000  # 7 days without a transaction: the id is forgotten
    transaction_remove_expired_transaction_cleanup_interval_ms: float = 3_600_000
    request_timeout_ms: float = 30_000                  # a marker request with no answer is sent again
    retry_backoff_ms: float = 100
    segment_bytes: int = 100 * 1024 * 1024              # __transaction_state segments (compacted)
    transaction_version: int = 2                        # the finalized feature level: 1 (KIP-98) or 2 (KIP-890)

    def __post_init__(self) -> None:
        if self.transaction_version not in (1, 2) or isinstance(self.transaction_version, bool):
            raise ValueError(f"TxnConfig.transaction_version must be 1 (KIP-98's protocol) or 2 (KIP-890, Kafka "
                             f"4.0's default), got {self.transaction_version!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"TxnConfig.{f.name} must be a number > 0, got {value!r}")

    @classmethod
    def fast(cls, **overrides) -> "TxnConfig":
        """Timers ~100x shorter, to pair with ``ClusterConfig.fast()`` and the clients' fast defaults."""
        base = dict(transaction_abort_timed_out_transaction_cleanup_interval_ms=100, request_timeout_ms=300,
                    retry_backoff_ms=20, transaction_remove_expired_transaction_cleanup_interval_ms=36_000)
        base.update(overrides)
        return cls(**base)

    def with_(self, **changes) -> "TxnConfig":
        return replace(self, **changes)
