"""``python -m msglib serve``'s arguments, and their checks (a bad value is one clear line, exit status 2)."""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9092, help="TCP port (default 9092; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--data", default="msglib-data", help="folder for the logs (default ./msglib-data)")
    parser.add_argument("--partitions", type=int, default=1,
                        help="partitions of an auto-created topic (Kafka's num.partitions, default 1)")
    parser.add_argument("--max-request-bytes", type=int, default=16 * 1024 * 1024,
                        help="largest request frame accepted (default 16 MiB)")
    parser.add_argument("--fsync", action="store_true",
                        help="fsync every append before answering (survives power loss, not only kill -9)")
    parser.add_argument("--group-initial-rebalance-delay-ms", type=float, default=3000.0,
                        help="wait for more members before a new group's first rebalance (Kafka's default 3000)")
    parser.add_argument("--group-consumer-heartbeat-interval-ms", type=float, default=5000.0,
                        help="KIP-848 groups (group.protocol=consumer): the heartbeat interval the coordinator "
                             "gives members (Kafka's group.consumer.heartbeat.interval.ms, default 5000)")
    parser.add_argument("--group-consumer-session-timeout-ms", type=float, default=45000.0,
                        help="KIP-848 groups: a member silent this long is removed (Kafka's "
                             "group.consumer.session.timeout.ms, default 45000)")
    parser.add_argument("--brokers", type=int, default=1,
                        help="1 (default): one broker on msglib's on-disk log; 2 to 9: msglib's simulated "
                             "replicated cluster in memory, broker i on --port + i (docs/wire-protocol.md)")
    parser.add_argument("--min-insync-replicas", type=int, default=2,
                        help="with --brokers >= 2: min.insync.replicas of every topic (default 2)")


def problem(args: argparse.Namespace) -> str | None:
    if not 0 <= args.port <= 65535:
        return f"--port must be 0..65535, got {args.port}"
    try:
        ipaddress.ip_address(args.host)
    except ValueError:
        if args.host != "localhost":
            return f"--host must be an IP address such as 127.0.0.1 (or localhost), got {args.host!r}"
    if args.partitions < 1:
        return f"--partitions must be at least 1, got {args.partitions}"
    if args.max_request_bytes < 1024:
        return f"--max-request-bytes must be at least 1024, got {args.max_request_bytes}"
    if args.group_initial_rebalance_delay_ms < 0:
        return f"--group-initial-rebalance-delay-ms must be >= 0, got {args.group_initial_rebalance_delay_ms}"
    if not 0 < args.group_consumer_heartbeat_interval_ms < args.group_consumer_session_timeout_ms:
        return (f"--group-consumer-heartbeat-interval-ms must be above 0 and below "
                f"--group-consumer-session-timeout-ms ({args.group_consumer_session_timeout_ms:g}), got "
                f"{args.group_consumer_heartbeat_interval_ms:g}: members heartbeat well within their session")
    if not 1 <= args.brokers <= 9:
        return f"--brokers must be 1 to 9, got {args.brokers}"
    if args.brokers > 1 and not 1 <= args.min_insync_replicas <= args.brokers:
        return f"--min-insync-replicas must be 1 to {args.brokers} (the brokers), got {args.min_insync_replicas}"
    if args.brokers > 1 and args.port and args.port + args.brokers - 1 > 65535:
        return (f"--port {args.port} leaves no room for {args.brokers} brokers "
                f"(ports --port to --port + {args.brokers - 1})")
    if os.path.exists(args.data) and not os.path.isdir(args.data):
        return f"--data {args.data!r} is a file; give a folder (it is created if missing)"
    return None


def run(args: argparse.Namespace) -> int:
    bad = problem(args)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    if args.brokers > 1:
        from msglib.wire.replicated import main as cluster_main
        return cluster_main(args)
    from msglib.wire.server import main
    return main(args)
