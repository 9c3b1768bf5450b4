"""One Kafka request over a fresh socket to a ``msglib serve`` address: the tests' raw client."""
from __future__ import annotations

import socket
import struct

from msglib.wire import codec


def call(address: str, api_key: int, version: int, body: dict) -> dict:
    """Send one request (correlation id 1) and return the decoded response body."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(codec.encode_request(api_key, version, 1, body))
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return codec.decode_response(api_key, version, data[4:])[1]
