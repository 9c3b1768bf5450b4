"""kafka-python settings that msglib's clients accept and ignore, and the one warning that names them.

Code written for kafka-python often carries settings about the network, security and metrics
(``security_protocol``, ``ssl_cafile``, ``sasl_mechanism``, ``api_version``...). msglib's clients talk
over a simulated network inside this process, so these settings mean nothing here: a client accepts
them (the pasted code runs) and emits ONE :class:`IgnoredConfigWarning` naming every one it ignored,
so nobody believes msglib encrypted or authenticated anything. Any other unknown key is refused, as
kafka-python refuses it (``KafkaConfigurationError: Unrecognized configs``).

The lists are the keys of kafka-python 3.0's ``DEFAULT_CONFIG`` (``KafkaConsumer``, ``KafkaProducer``,
``KafkaAdminClient``) that msglib does not implement, plus ``api_version_auto_timeout_ms`` (kafka-python
2.x). ``tests/test_kafka_python_contract.py`` checks that every key of kafka-python's ``DEFAULT_CONFIG``
is either implemented or listed here.
"""
from __future__ import annotations

import warnings
from typing import Any, Iterable

from msglib.protocol.errors import KafkaConfigurationError

# Connections, sockets, TLS, SASL, metrics, client plumbing: common to the three clients.
_NETWORK = frozenset({
    "api_version", "api_version_auto_timeout_ms", "bootstrap_timeout_ms", "client_dns_lookup",
    "connections_max_idle_ms", "kafka_client", "metadata_max_age_ms", "metric_reporters", "metrics_enabled",
    "metrics_num_samples", "metrics_sample_window_ms", "proxy_url", "receive_buffer_bytes",
    "receive_message_max_bytes", "reconnect_backoff_max_ms", "reconnect_backoff_ms", "selector",
    "send_buffer_bytes", "socket_options", "socks5_proxy", "security_protocol",
    "ssl_cafile", "ssl_certfile", "ssl_check_hostname", "ssl_ciphers", "ssl_context", "ssl_crlfile",
    "ssl_keyfile", "ssl_password",
    "sasl_kerberos_domain_name", "sasl_kerberos_name", "sasl_kerberos_service_name", "sasl_mechanism",
    "sasl_oauth_token_provider", "sasl_plain_password", "sasl_plain_username",
})

IGNORED_CONSUMER = _NETWORK | {
    "check_crcs", "client_rack", "default_offset_commit_callback", "enable_incremental_fetch_sessions",
    "exclude_internal_topics", "fetch_max_bytes", "max_in_flight_requests_per_connection", "metric_group_prefix",
}
IGNORED_PRODUCER = _NETWORK
IGNORED_ADMIN = _NETWORK | {"max_in_flight_requests_per_connection"}


# Today's Java-client defaults msglib's clients use, with the Kafka release each comes from
# (docs/kafka-defaults.md has the sources). Where kafka-python 3.0 differs, msglib follows Kafka:
# kafka-python keeps ``linger_ms=0``; Kafka's producer lingers 5 ms since 4.0 (KIP-1030).
LINGER_MS = 5                    # Kafka 4.0, KIP-1030 (was 0)
ACKS = -1                        # "all"; Kafka 3.0, KIP-679 (was 1)
ENABLE_IDEMPOTENCE = True        # Kafka 3.0, KIP-679; in effect from 3.0.1 / 3.1.1 / 3.2.0 (KAFKA-13598);
                                 # quietly off when acks != all, retries == 0 or more than 5 requests in
                                 # flight and it was not set explicitly (KAFKA-13673, 3.2.0)
SESSION_TIMEOUT_MS = 45_000      # Kafka 3.0, KIP-735 (was 10 s); classic protocol only
GROUP_PROTOCOL = "classic"       # Kafka 4.0: the KIP-848 protocol is generally available, opt-in


class IgnoredConfigWarning(UserWarning):
    """Settings accepted for kafka-python compatibility that have no effect in msglib."""


def split_configs(kind: str, configs: dict[str, Any], known: Iterable[str], ignored: frozenset[str]
                  ) -> dict[str, Any]:
    """The settings ``kind`` uses; warn once about ignored ones; refuse unknown ones."""
    known = set(known)
    unknown = sorted(set(configs) - known - ignored)
    if unknown:
        raise KafkaConfigurationError(f"Unrecognized configs: {unknown} ({kind} accepts kafka-python's settings; "
                                      f"check the spelling)")
    dropped = sorted(set(configs) & ignored)
    if dropped:
        warnings.warn(f"{kind}: msglib ignores {', '.join(dropped)}: its clients run in this process over a "
                      f"simulated network (no sockets, TLS, SASL or metrics reporters). They are accepted so "
                      f"that code written for kafka-python runs unchanged.", IgnoredConfigWarning, stacklevel=3)
    return {k: v for k, v in configs.items() if k in known}


__all__ = ["IGNORED_CONSUMER", "IGNORED_PRODUCER", "IGNORED_ADMIN", "IgnoredConfigWarning", "split_configs",
           "LINGER_MS", "ACKS", "ENABLE_IDEMPOTENCE", "SESSION_TIMEOUT_MS", "GROUP_PROTOCOL"]
