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
    if os.path.exists(args.data) and not os.path.isdir(args.data):
        return f"--data {args.data!r} is a file; give a folder (it is created if missing)"
    return None


def run(args: argparse.Namespace) -> int:
    bad = problem(args)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return 2
    from msglib.wire.server import main
    return main(args)
