"""``msglib serve``: an asyncio TCP server speaking Kafka's wire protocol in front of :class:`Broker`.

Each connection reads one size-prefixed frame at a time, answers it, then reads the next, so responses
leave in request order (Kafka's broker also handles one request per connection at a time). A frame larger
than ``max_request_bytes`` (Kafka's ``socket.request.max.bytes``, 100 MiB by default; smaller here) or one
that does not decode closes that connection with a log line naming the problem; the server and the other
connections go on. An API or version that is not served is answered with UNSUPPORTED_VERSION (for
ApiVersions, with the list of what is served, as KIP-511 asks). SIGTERM and SIGINT stop accepting, let the
requests in progress finish (up to 5 s), then close every log.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import struct
import sys
from typing import Any, Callable, Coroutine

from msglib.groups.config import GroupConfig
from msglib.wire import codec
from msglib.wire.broker import Broker
from msglib.wire.handlers import Handlers, supported_versions
from msglib.wire.specs import ERROR_CODES

log = logging.getLogger("msglib.serve")
_SIZE = struct.Struct(">i")
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


class WireServer:
    """One listening socket, one :class:`Broker`. ``await start()``, then ``await stop()``."""

    def __init__(self, data_dir: str, host: str = "127.0.0.1", port: int = 9092, *, num_partitions: int = 1,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, fsync: bool = False,
                 group_initial_rebalance_delay_ms: float = 3000.0, auto_create_topics: bool = True,
                 group_consumer_heartbeat_interval_ms: float = 5000.0,
                 group_consumer_session_timeout_ms: float = 45000.0) -> None:
        self.data_dir, self.host, self.port = data_dir, host, port
        self.max_request_bytes = max_request_bytes
        groups = GroupConfig(group_initial_rebalance_delay_ms=group_initial_rebalance_delay_ms,
                             group_consumer_heartbeat_interval_ms=group_consumer_heartbeat_interval_ms,
                             group_consumer_session_timeout_ms=group_consumer_session_timeout_ms)
        self.broker = Broker(data_dir, num_partitions=num_partitions, fsync=fsync,
                             auto_create_topics=auto_create_topics, group_config=groups)
        self.handlers: Handlers | None = None
        self._server: asyncio.base_events.Server | None = None
        self._pumper: asyncio.Task | None = None
        self._connections: set[asyncio.Task] = set()
        self._busy: set[asyncio.Task] = set()          # connections in the middle of a request
        self.stats = {"requests": 0, "malformed": 0, "unsupported": 0, "connections": 0, "handler_errors": 0}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]      # port 0: the one the OS chose
        self.handlers = Handlers(self.broker, self.host, self.port)
        self._pumper = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        """Coordinator timers (sessions, rebalance delays, transaction timeouts) follow the wall clock."""
        while True:
            await asyncio.sleep(0.02)
            self.broker.coordinators.pump()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        deadline = asyncio.get_running_loop().time() + 5.0
        while self._busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)    # let requests in progress finish (a long poll ends at its max_wait)
        for task in list(self._connections):
            task.cancel()
        await asyncio.sleep(0)
        if self._pumper is not None:
            self._pumper.cancel()
        self.broker.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        self.stats["connections"] += 1
        peer = writer.get_extra_info("peername")
        try:
            while True:
                try:
                    head = await reader.readexactly(4)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                size = _SIZE.unpack(head)[0]
                if size < 8 or size > self.max_request_bytes:
                    self.stats["malformed"] += 1
                    log.warning("closing %s: a request frame of %d bytes (the limit is %d, the minimum 8)",
                                peer, size, self.max_request_bytes)
                    return
                try:
                    frame = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self._busy.add(task)
                try:
                    response = await self.respond(frame)
                    if response:
                        writer.writelines(response)
                        await writer.drain()
                finally:
                    self._busy.discard(task)
                if response is None:
                    return
        except asyncio.CancelledError:
            pass
        except ConnectionError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def respond(self, frame: bytes) -> list | None:
        """The response chunks for one request frame; ``[]``: no response (acks=0); None: close."""
        self.stats["requests"] += 1
        try:
            header, body = codec.decode_request(frame)
        except codec.UnsupportedVersionError as exc:
            self.stats["unsupported"] += 1
            log.info("%s", exc)
            error = {"error_code": ERROR_CODES["UNSUPPORTED_VERSION"]}
            if exc.api_key == codec.API_VERSIONS:   # answered as v0, with what is served (KIP-511)
                error["api_keys"] = supported_versions()
                return codec.encode_response(codec.API_VERSIONS, 0, exc.correlation_id, error)
            return None
        except codec.MalformedRequestError as exc:
            self.stats["malformed"] += 1
            log.warning("closing a connection: malformed request: %s", exc)
            return None
        if header["trailing_bytes"]:
            self.stats["trailing"] = self.stats.get("trailing", 0) + 1
            log.debug("%s v%d: %d bytes after the request, ignored", codec.SPECS[header["api_key"]][0],
                      header["api_version"], header["trailing_bytes"])
        handler = self.handlers.table[header["api_key"]]
        try:
            body_out = await handler(header, body)
        except Exception:   # a bug here must not take the server down: log it, close this connection
            self.stats["handler_errors"] += 1
            log.exception("%s v%d failed", codec.SPECS[header["api_key"]][0], header["api_version"])
            return None
        if body_out is None:
            return []
        return codec.encode_response(header["api_key"], header["api_version"], header["correlation_id"], body_out)


async def run_until_signalled(server: Any, banner: Callable[[Any], str], ready: Any = None) -> None:
    """Start ``server``, print ``banner(server)``, call ``ready(server)``, then serve until SIGTERM or SIGINT.

    The process tail shared by ``msglib serve`` and ``msglib serve --brokers N``: ``server`` has ``async start()``
    and ``async stop()``; the banner is built after ``start()`` so it can name the ports the OS chose.
    """
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):   # not the main thread (tests run it in a thread)
            pass
    print(f"msglib serve: {banner(server)}", flush=True)
    if ready is not None:
        ready(server)
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("msglib serve: stopped", flush=True)


def run_command(serving: Coroutine[Any, Any, None], where: str, fix: str) -> int:
    """Run ``serving`` as the process's whole life, warnings logged to stderr; 0 once stopped by a signal.

    A port that cannot be bound gives exit status 1 and one line: ``cannot listen on <where>: <why>; <fix>``.
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        asyncio.run(serving)
    except OSError as exc:
        print(f"msglib serve: cannot listen on {where}: {exc.strerror or exc}; {fix}", file=sys.stderr)
        return 1
    return 0


async def serve(data_dir: str, host: str = "127.0.0.1", port: int = 9092, *, ready: Any = None,
                **options: Any) -> None:
    """Run until SIGTERM or SIGINT. ``ready(server)`` is called once the port is open."""
    await run_until_signalled(
        WireServer(data_dir, host, port, **options),
        lambda server: f"Kafka protocol on {server.host}:{server.port}, data in {server.data_dir}", ready)


def main(args: Any) -> int:
    """The ``python -m msglib serve`` command (arguments parsed by msglib.__main__)."""
    return run_command(
        serve(args.data, args.host, args.port, num_partitions=args.partitions,
              max_request_bytes=args.max_request_bytes, fsync=args.fsync,
              group_initial_rebalance_delay_ms=args.group_initial_rebalance_delay_ms,
              group_consumer_heartbeat_interval_ms=args.group_consumer_heartbeat_interval_ms,
              group_consumer_session_timeout_ms=args.group_consumer_session_timeout_ms),
        f"{args.host}:{args.port}", "choose another --port (0 picks a free one) or stop what uses it")


class LoopThread:
    """A server object in its own event loop on a daemon thread (tests, notebooks); subclasses say which.

    ``start()`` returns once it listens, or raises what stopped it from starting; ``stop()`` stops the
    loop, then the server (``await server.stop()``), and waits for the thread; ``with`` does both.
    """

    server: Any = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: Any = None

    def _new_server(self) -> Any:
        raise NotImplementedError

    def _thread_name(self) -> str:
        return "msglib-serve"

    def _listening(self) -> None:
        """Called in the server's thread once it listens, before ``start()`` returns."""

    def start(self) -> Any:
        import threading
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self.server = self._new_server()
                loop.run_until_complete(self.server.start())
            except BaseException as exc:   # reported to the caller of start()
                failure.append(exc)
                started.set()
                loop.close()
                return
            self._listening()
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=self._thread_name(), daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class ServerThread(LoopThread):
    """``msglib serve`` in a background thread (tests, notebooks): ``with ServerThread(dir) as s: s.address``.

    Binds 127.0.0.1 on a free port unless told otherwise; leaving the block stops the server and closes
    its logs. :meth:`restart` stops it and starts a new one on the same port and data.
    """

    def __init__(self, data_dir: str, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.data_dir, self.host, self.port, self.options = data_dir, host, port, options
        self.server: WireServer | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _new_server(self) -> WireServer:
        return WireServer(self.data_dir, self.host, self.port, **self.options)

    def _thread_name(self) -> str:
        return f"msglib-serve-{self.port}"

    def _listening(self) -> None:
        self.port = self.server.port      # port 0: the one the OS chose

    def restart(self) -> "ServerThread":
        self.stop()
        return self.start()
