"""A TCP forwarder that breaks connections on command (tests of "no message lost").

`ChaosProxy(upstream_port)` listens on a free loopback port and forwards each
connection to the upstream (Prosody's c2s port) on its own asyncio loop and
thread, so sync tests (Playwright) can drive it:

    proxy = ChaosProxy(prosody.c2s_port)
    proxy.drop_all()          # cut every live connection, both ways, at once
    proxy.connections         # live connections now
    proxy.freeze()            # stop forwarding (a dead link: no FIN, no RST)
    proxy.thaw()
    proxy.hold_upstream(b"urn:xmpp:mam:2")   # hold client→server data from the
    proxy.wait_held(); proxy.release()       # chunk that contains the pattern on
    proxy.close()

With `record=True` every byte read is kept (`recorded("up"|"down")`, by
connection if asked; `dump(path)` writes a transcript), so a test can read
what went over the wire (the bound JID, a query id) or show it on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

Direction = Literal["up", "down"]
READ_SIZE = 65536


class _Pair:
    """One proxied connection: the client's socket and ours to the upstream."""

    __slots__ = ("client", "dropped", "n", "upstream")

    def __init__(self, n: int, client: asyncio.StreamWriter,
                 upstream: asyncio.StreamWriter) -> None:
        self.n = n
        self.client = client
        self.upstream = upstream
        self.dropped = False


class ChaosProxy:
    """Loopback TCP forwarder to `upstream_host:upstream_port` with fault injection."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1",
                 host: str = "127.0.0.1", port: int = 0, record: bool = False) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self.record = record
        self.accepted = 0  # connections accepted since start
        self.dropped = 0  # connections cut by drop_all()
        self._live: set[_Pair] = set()
        self._chunks: list[tuple[int, Direction, float, bytes]] = []  # record=True
        self._lock = threading.Lock()
        self._hold_pattern: bytes | None = None
        self._held = threading.Event()
        self._held_data = b""
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        # Created here, used only on the loop (an Event binds to it on first wait).
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._up_open = asyncio.Event()
        self._up_open.set()
        started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(port, started), name="chaos-proxy", daemon=True
        )
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("chaos proxy did not start")
        if self._error is not None:
            raise RuntimeError(f"chaos proxy did not start: {self._error!r}")
        assert self._server is not None
        self.port: int = int(self._server.sockets[0].getsockname()[1])

    # -- loop thread ---------------------------------------------------------
    def _run(self, port: int, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen() -> None:
            self._server = await asyncio.start_server(self._handle, self.host, port)

        try:
            self._loop.run_until_complete(listen())
        except BaseException as exc:  # reported by __init__
            self._error = exc
            started.set()
            return
        started.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError:
            writer.transport.abort()
            return
        if self._closing:
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.accepted += 1
        pair = _Pair(self.accepted, writer, up_writer)
        self._live.add(pair)
        try:
            await asyncio.gather(
                self._pump(pair, reader, up_writer, "up"),
                self._pump(pair, up_reader, writer, "down"),
            )
        except asyncio.CancelledError:
            pass  # close(): the loop is going away
        finally:
            self._live.discard(pair)
            for w in (writer, up_writer):
                w.close()

    async def _pump(self, pair: _Pair, src: asyncio.StreamReader,
                    dst: asyncio.StreamWriter, direction: Direction) -> None:
        try:
            while True:
                data = await src.read(READ_SIZE)
                if not data or pair.dropped:
                    break
                if self.record:
                    with self._lock:
                        self._chunks.append((pair.n, direction, time.time(), data))
                if direction == "up":
                    pattern = self._hold_pattern
                    if pattern is not None and pattern in data:
                        self._hold_pattern = None
                        self._up_open.clear()
                        with self._lock:
                            self._held_data = bytes(data)
                        self._held.set()
                    await self._up_open.wait()
                await self._flowing.wait()
                if pair.dropped:
                    break
                dst.write(data)
                await dst.drain()
            if not pair.dropped and dst.can_write_eof():
                dst.write_eof()  # half-close: the other direction may still finish
        except (OSError, RuntimeError):  # reset, or written after drop_all's abort
            self._abort(pair)

    def _abort(self, pair: _Pair, rst: bool = False) -> bool:
        if pair.dropped:
            return False
        pair.dropped = True
        self._live.discard(pair)
        for w in (pair.client, pair.upstream):
            if rst:
                sock = w.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
            w.transport.abort()
        return True

    def _on_loop(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout)

    # -- the test's side -----------------------------------------------------
    @property
    def connections(self) -> int:
        """Connections forwarded right now."""
        return len(self._live)

    def drop_all(self, rst: bool = False) -> int:
        """Close every live connection at once, both sides, without a goodbye
        (buffered data is discarded; `rst=True` sends a TCP reset instead of
        FIN). Returns how many were cut; new connections are accepted as before."""

        def cut() -> int:
            n = sum(self._abort(pair, rst) for pair in list(self._live))
            self.dropped += n
            return n

        return self._on_loop(cut)

    def wait_connections(self, n: int = 1, timeout: float = 10.0) -> bool:
        """True once at least `n` connections are live (polled), False at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections >= n:
                return True
            time.sleep(0.01)
        return self.connections >= n

    def freeze(self) -> None:
        """Stop forwarding in both directions (data waits here): a dead link."""
        self._on_loop(lambda: self._flowing.clear())

    def thaw(self) -> None:
        self._on_loop(lambda: self._flowing.set())

    def hold_upstream(self, pattern: bytes) -> None:
        """From the next client→server chunk containing `pattern` on, hold all
        client→server data (server→client still flows) until `release()`."""
        self._held.clear()
        self._held_data = b""
        self._hold_pattern = pattern

    def wait_held(self, timeout: float = 20.0) -> bytes:
        """The chunk that started the hold, or TimeoutError."""
        if not self._held.wait(timeout):
            raise TimeoutError(
                f"no client→server data matched {self._hold_pattern!r} in {timeout} s"
            )
        with self._lock:
            return self._held_data

    def release(self) -> None:
        self._hold_pattern = None
        self._on_loop(lambda: self._up_open.set())

    def recorded(self, direction: Direction, connection: int | None = None) -> bytes:
        """What was read client→server ("up") or server→client ("down"), over
        all connections or connection number `connection` (1 = first accepted)."""
        with self._lock:
            return b"".join(data for n, d, _t, data in self._chunks
                            if d == direction and connection in (None, n))

    def sm_outcomes(self) -> list[str]:
        """Per connection, oldest first, what XEP-0198 made of it (record=True):
        "resumed", "resume failed", "resume unanswered" (cut before the
        answer), "fresh" (`<enable/>`), or "none" (cut before either)."""
        with self._lock:
            chunks = list(self._chunks)
        up: dict[int, bytes] = {}
        down: dict[int, bytes] = {}
        for n, d, _t, data in chunks:
            side = up if d == "up" else down
            side[n] = side.get(n, b"") + data
        outcomes = []
        for n in sorted(set(up) | set(down)):
            sent, got = up.get(n, b""), down.get(n, b"")
            if b"<resume " in sent:
                outcomes.append("resumed" if b"<resumed " in got else
                                "resume failed" if b"<failed " in got else "resume unanswered")
            elif b"<enable " in sent:
                outcomes.append("fresh")
            else:
                outcomes.append("none")
        return outcomes

    def dump(self, path: Path) -> Path:
        """Write the recording as a transcript, one chunk per line block:
        `<time> #<connection> up|down <length>` then the bytes (UTF-8, lossy)."""
        with self._lock:
            chunks = list(self._chunks)
        with open(path, "w", encoding="utf-8") as out:
            for n, d, t, data in chunks:
                stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"
                out.write(f"{stamp} #{n} {d} {len(data)}\n")
                out.write(data.decode("utf-8", "replace") + "\n")
        return path

    def close(self) -> None:
        """Stop listening, cut live connections, stop the thread (idempotent)."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._closing = True  # a handler starting from now on just hangs up
            # Stop accepting, but close the listener only once the accepts in
            # flight have become handlers: asyncio (3.11) leaks, open, a socket
            # accepted just before Server.close() (its transport can't attach).
            for sock in self._server.sockets:
                self._loop.remove_reader(sock.fileno())
            for pair in list(self._live):
                self._abort(pair)
            self._hold_pattern = None
            self._flowing.set()
            self._up_open.set()
            # The handlers end on their own once their sockets are gone; one
            # accepted just now starts its handler later (hence the rounds).
            for _ in range(10):
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not tasks:
                    break
                _done, pending = await asyncio.wait(tasks, timeout=2)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                await asyncio.sleep(0)
            self._server.close()  # what waits in the backlog is reset
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            for _ in range(5):  # aborted transports close their sockets in callbacks
                await asyncio.sleep(0)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> ChaosProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
