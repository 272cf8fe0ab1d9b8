"""`/xmpp-websocket`: the RFC 7395 endpoint, proxying to the configured XMPP server.

One `ProxySession` per WebSocket:

1. Before accepting: the `Origin` header must be in the allowlist, the
   client must offer the `xmpp` subprotocol, and its address may not already
   hold `max_sessions_per_ip` sessions; otherwise the handshake is refused
   (closing before accept answers HTTP 403).
2. The first frame must be `<open to=DOMAIN/>` within `connect_timeout`;
   a domain that is not configured is answered with `host-unknown` and no
   connection is attempted (no open relay).
3. The upstream connection is opened and secured (`upstream.py`), the
   stream header written, and both directions are pumped concurrently
   through the sans-I/O translators (`framing.py`). SASL `<success/>` must
   reach the browser within `auth_timeout` seconds of the upstream
   connection, or the stream ends with `policy-violation` (an unauthenticated
   stream holds a connection to the XMPP server; it gets a short deadline).
4. Any `StreamError` is answered with a framed `<stream:error>` and
   `<close/>`, then both sides are closed.

Logging goes to the `roost.proxy` logger and is about connections only:
never frame contents (passwords, SASL data, message bodies).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from backend.proxy.framing import (
    CLOSE_FRAME,
    SASL_NS,
    STREAM_CLOSE,
    ClientClose,
    ClientFrameTranslator,
    ClientOpen,
    Limits,
    ServerClose,
    ServerElement,
    ServerStreamTranslator,
    StreamError,
    stream_error_frame,
)
from backend.proxy.upstream import Connector, UpstreamConnection, open_upstream
from backend.settings import Settings, XmppServer, normalize_origin

logger = logging.getLogger("roost.proxy")

SUBPROTOCOL: Final = "xmpp"
CLOSE_GRACE: Final = 5.0  # seconds to wait for the server's </stream:stream>
_ids = itertools.count(1)


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Exact match of the normalised `Origin` against the allowlist.

    Missing and `null` origins are refused: a browser always sends one on
    a WebSocket handshake, and `null` comes from sandboxed or file pages.
    """
    if origin is None or origin.strip().lower() == "null":
        return False
    # An Origin header is exactly scheme://host[:port]; anything more is forged.
    if origin.count("/") != 2:
        return False
    normalized = normalize_origin(origin)
    return normalized is not None and normalized in allowed


class SessionCounter:
    """Open sessions per client address, bounded by `limit` (0: unbounded).

    One per application, shared by every WebSocket route. Only touched from
    the event loop, between awaits, so it needs no lock.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        """Count a new session for `address`; False (and nothing counted) when full."""
        if self.limit and self.open[address] >= self.limit:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


def make_endpoint(
    settings: Settings, connector: Connector | None = None,
    sessions: SessionCounter | None = None,
) -> Callable[[WebSocket], Awaitable[None]]:
    """The WebSocket route handler bound to `settings` (and a connector for tests).

    Routes that share `sessions` share the per-address session limit.
    """
    connect: Connector = connector or open_upstream
    counter = sessions or SessionCounter(settings.websocket.max_sessions_per_ip)

    async def xmpp_websocket(websocket: WebSocket) -> None:
        await ProxySession(websocket, settings, connect, counter).run()

    return xmpp_websocket


class ProxySession:
    """One browser WebSocket and, once opened, one upstream XMPP connection."""

    def __init__(
        self, websocket: WebSocket, settings: Settings, connect: Connector,
        sessions: SessionCounter | None = None,
    ) -> None:
        self.websocket = websocket
        self.settings = settings
        self.connect = connect
        self.sessions = sessions or SessionCounter(settings.websocket.max_sessions_per_ip)
        self.limits = Limits(max_stanza_size=settings.websocket.max_stanza_size)
        self.client = ClientFrameTranslator(self.limits)
        self.server_stream = ServerStreamTranslator(self.limits)
        self.upstream: UpstreamConnection | None = None
        self.xmpp_server: XmppServer | None = None
        self.id = next(_ids)
        self._error: StreamError | None = None
        self._client_gone = False
        self._close_sent = False
        self._authenticated = anyio.Event()
        peer = websocket.client
        self.peer = f"{peer.host}:{peer.port}" if peer else "?"
        self.address = peer.host if peer else "?"

    async def run(self) -> None:
        """Check the handshake, then proxy until either side closes."""
        ws = self.websocket
        origin = ws.headers.get("origin")
        if not origin_allowed(origin, self.settings.websocket.allowed_origins):
            logger.warning("[%d] %s: origin %r refused", self.id, self.peer, origin)
            await ws.close(code=1008)  # before accept: the client sees HTTP 403
            return
        if SUBPROTOCOL not in ws.scope.get("subprotocols", []):
            logger.warning("[%d] %s: no 'xmpp' subprotocol offered", self.id, self.peer)
            await ws.close(code=1002)
            return
        if not self.sessions.acquire(self.address):
            logger.warning("[%d] %s: refused, already %d sessions from this address",
                           self.id, self.peer, self.sessions.limit)
            await ws.close(code=1008)  # before accept: HTTP 403
            return
        try:
            await ws.accept(subprotocol=SUBPROTOCOL)
            logger.info("[%d] %s: accepted", self.id, self.peer)
            try:
                await self._serve()
            except StreamError as exc:
                self._error = exc
            except WebSocketDisconnect:
                self._client_gone = True
            finally:
                await self._finish()
        finally:
            self.sessions.release(self.address)

    async def _serve(self) -> None:
        timeout = self.settings.websocket.connect_timeout
        opened: ClientOpen | None = None
        with anyio.move_on_after(timeout):
            event = self.client.receive(await self._receive_frame())
            if not isinstance(event, ClientOpen):
                raise StreamError("bad-format", "the first frame must be <open/>")
            opened = event
        if opened is None:
            raise StreamError("connection-timeout", "no <open/> in time")
        server = self.settings.xmpp_server_for(opened.to or "")
        if server is None:
            # Never dial anything for a domain the operator did not configure.
            logger.warning("[%d] %s: domain not served", self.id, self.peer)
            raise StreamError("host-unknown", "this service does not serve that domain")
        self.xmpp_server = server
        self.upstream = await self.connect(server, timeout=timeout, limits=self.limits)
        logger.info("[%d] %s: connected to %s (%s)", self.id, self.peer, server.domain, server.tls)
        await self._write_up(opened.header)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._pump_down, tg.cancel_scope)
            tg.start_soon(self._pump_up, tg.cancel_scope)
            tg.start_soon(self._auth_deadline, tg.cancel_scope)

    async def _write_up(self, data: bytes) -> None:
        """Write to the server; a failed write is `remote-connection-failed`."""
        try:
            await self._upstream().write(data)
        except OSError:  # includes ssl.SSLError
            logger.info("[%d] %s: writing to the XMPP server failed", self.id, self.peer)
            raise StreamError("remote-connection-failed",
                              "the connection to the XMPP server was lost") from None

    async def _auth_deadline(self, scope: anyio.CancelScope) -> None:
        """End the stream unless SASL `<success/>` reached the browser in time."""
        timeout = self.settings.websocket.auth_timeout
        with anyio.move_on_after(timeout):
            await self._authenticated.wait()
            return
        logger.info("[%d] %s: not authenticated within %g s", self.id, self.peer, timeout)
        self._error = StreamError("policy-violation", "not authenticated in time")
        scope.cancel()

    async def _receive_frame(self) -> str | bytes:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is not None:
            return str(text)
        # RFC 7395 §3.3.3: XMPP goes in text frames only.
        raise StreamError("bad-format", "binary frames are not allowed")

    async def _pump_up(self, scope: anyio.CancelScope) -> None:
        """Browser → server, until the browser closes or fails."""
        try:
            while True:
                event = self.client.receive(await self._receive_frame())
                if isinstance(event, ClientOpen):
                    # Stream restart (after SASL): same domain only, and the
                    # server's reply is a new XML document.
                    if self.settings.xmpp_server_for(event.to or "") is not self.xmpp_server:
                        raise StreamError("host-unknown", "a restart may not change the domain")
                    self.server_stream.restart()
                    await self._write_up(event.header)
                elif isinstance(event, ClientClose):
                    await self._write_up(event.data)
                    break
                else:
                    await self._write_up(event.data)
        except StreamError as exc:
            self._error = exc
            scope.cancel()
            return
        except WebSocketDisconnect:
            self._client_gone = True
            scope.cancel()
            return
        # The browser closed its stream: give the server a moment to close its own.
        await anyio.sleep(CLOSE_GRACE)
        scope.cancel()

    async def _pump_down(self, scope: anyio.CancelScope) -> None:
        """Server → browser, until the server closes or fails."""
        upstream = self._upstream()
        try:
            while True:
                data = await upstream.read()
                if not data:
                    if not self._close_sent:
                        raise StreamError("remote-connection-failed",
                                          "the XMPP server closed the connection")
                    break
                for event in self.server_stream.feed(data):
                    await self.websocket.send_text(event.frame)
                    if isinstance(event, ServerClose):
                        self._close_sent = True
                    elif isinstance(event, ServerElement) and _is_sasl_success(event):
                        self._authenticated.set()
                if self._close_sent:
                    break
        except StreamError as exc:
            # The server broke the stream: tell the browser, in our words.
            if exc.condition != "remote-connection-failed":
                logger.warning("[%d] server for %s sent a bad stream: %s", self.id,
                               self.xmpp_server.domain if self.xmpp_server else "?",
                               exc.condition)
                exc = StreamError("remote-connection-failed",
                                  "the XMPP server sent an invalid stream")
            self._error = exc
        except (WebSocketDisconnect, OSError, RuntimeError):
            self._client_gone = True
        scope.cancel()

    def _upstream(self) -> UpstreamConnection:
        if self.upstream is None:
            raise RuntimeError("Expected an upstream connection, got None")
        return self.upstream

    async def _finish(self) -> None:
        """Send the stream error and/or `<close/>`, close both sides."""
        ws = self.websocket
        error = self._error
        with anyio.CancelScope(shield=True):
            if self.upstream is not None:
                if error is not None and error.condition != "remote-connection-failed":
                    # Our side is ending the stream: close it properly upstream.
                    try:
                        await self.upstream.write(STREAM_CLOSE)
                    except Exception:
                        pass
                await self.upstream.aclose()
            if not self._client_gone and ws.application_state == WebSocketState.CONNECTED \
                    and ws.client_state == WebSocketState.CONNECTED:
                try:
                    if error is not None:
                        await ws.send_text(stream_error_frame(error.condition, error.text))
                    if not self._close_sent:
                        await ws.send_text(CLOSE_FRAME)
                    await ws.close(code=1000)
                except Exception:
                    pass
        if error is not None:
            logger.info("[%d] %s: closed with stream error %s", self.id, self.peer,
                        error.condition)
        else:
            logger.info("[%d] %s: closed", self.id, self.peer)


def _is_sasl_success(event: ServerElement) -> bool:
    return event.element.ns == SASL_NS and event.element.local == "success"
