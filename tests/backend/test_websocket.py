"""backend/proxy/websocket.py in process, with a scripted in-memory XMPP server.

The connector is the proxy's one I/O seam (like an httpx mock transport):
here it returns `ScriptedServer`, which answers what the proxy writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from backend.app import create_app
from backend.proxy.framing import FRAMING_NS, STREAM_ERRORS_NS, STREAMS_NS, Limits
from backend.proxy.upstream import UpstreamConnection, UpstreamError
from backend.proxy.websocket import origin_allowed
from backend.settings import XmppServer, build_settings

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='x' from='example.org' version='1.0'>"
)
ORIGIN = "http://localhost:8080"
OPEN = f'<open xmlns="{FRAMING_NS}" to="example.org" version="1.0"/>'
SECRET = "hunter2-s3cret"


class ScriptedServer:
    """An in-memory upstream: `reply(written) -> bytes to send back` (b"" = nothing)."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.written: list[bytes] = []
        self.closed = False
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        answer = self.reply(data)
        if answer is not None:
            self.inbox.put_nowait(answer)

    async def aclose(self) -> None:
        self.closed = True


def xmpp_like(data: bytes) -> bytes | None:
    if data.startswith(b"<?xml"):
        return HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:" \
            b"xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    if data.startswith(b"<auth"):
        return b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
    if data.startswith(b"<message"):
        return b"<message from='bob@example.org/r'><body>echo</body></message>"
    if data == b"</stream:stream>":
        return b"</stream:stream>"
    return None


class Connector:
    def __init__(self, reply: Callable[[bytes], bytes | None] = xmpp_like,
                 error: Exception | None = None) -> None:
        self.reply = reply
        self.error = error
        self.servers: list[ScriptedServer] = []

    async def __call__(self, server: XmppServer, *, timeout: float,
                       limits: Limits) -> UpstreamConnection:
        if self.error is not None:
            raise self.error
        scripted = ScriptedServer(self.reply)
        self.servers.append(scripted)
        return scripted


def make_client(connector: Connector, **websocket: Any) -> TestClient:
    settings = build_settings({
        "server": {"static_dir": "/nonexistent"},
        "xmpp": {"servers": [
            {"domain": "example.org", "host": "xmpp.example.org"},
            {"domain": "other.example", "host": "xmpp.other.example"},
        ]},
        "websocket": {"connect_timeout": 2, **websocket},
    })
    return TestClient(create_app(settings, connector=connector))


def connect(client: TestClient, origin: str | None = ORIGIN,
            subprotocols: list[str] | None = None) -> Any:
    headers = {"origin": origin} if origin is not None else {}
    return client.websocket_connect(
        "/xmpp-websocket", subprotocols=["xmpp"] if subprotocols is None else subprotocols,
        headers=headers,
    )


def parse(frame: str) -> ET.Element:
    return ET.fromstring(frame)


def assert_stream_error(ws: Any, condition: str) -> None:
    error = parse(ws.receive_text())
    assert error.tag == f"{{{STREAMS_NS}}}error"
    assert error[0].tag == f"{{{STREAM_ERRORS_NS}}}{condition}"
    assert parse(ws.receive_text()).tag == f"{{{FRAMING_NS}}}close"
    with pytest.raises(WebSocketDisconnect):
        ws.receive_text()


def test_full_session_and_clean_close(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="roost")
    connector = Connector()
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        assert parse(ws.receive_text()).get("id") == "x"
        assert parse(ws.receive_text()).tag == f"{{{STREAMS_NS}}}features"
        ws.send_text(f'<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">'
                     f"{SECRET}</auth>")
        assert "success" in ws.receive_text()
        ws.send_text(OPEN)  # restart: the upstream parser starts a new document
        assert parse(ws.receive_text()).get("from") == "example.org"
        ws.receive_text()
        ws.send_text(f'<message xmlns="jabber:client" to="bob@example.org"><body>{SECRET}'
                     "</body></message>")
        assert "echo" in ws.receive_text()
        ws.send_text(f'<close xmlns="{FRAMING_NS}"/>')
        assert parse(ws.receive_text()).tag == f"{{{FRAMING_NS}}}close"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
    (server,) = connector.servers
    assert server.written[0].startswith(b"<?xml version='1.0'?><stream:stream")
    assert b"to='example.org'" in server.written[0]
    assert server.written[-1] == b"</stream:stream>"
    assert server.closed
    # Connection-level events only: no frame content, no credentials.
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert "auth" not in record.getMessage()


@pytest.mark.parametrize(
    "origin",
    [None, "null", "http://evil.example", "http://localhost.evil.example",
     "http://localhost:8081", "https://localhost:8080", "http://localhost:8080/x",
     "http://localhost:8080.evil.example", " http://evil.example"],
)
def test_origin_refused_before_accept(origin: str | None) -> None:
    connector = Connector()
    with pytest.raises(WebSocketDisconnect) as info, connect(make_client(connector), origin):
        pass
    assert info.value.code == 1008
    assert connector.servers == []


def test_origin_allowed_helper() -> None:
    allowed = ("http://localhost:8080", "https://chat.example.org")
    assert origin_allowed("http://localhost:8080", allowed)
    assert origin_allowed("HTTP://LOCALHOST:8080", allowed)
    assert origin_allowed("https://chat.example.org:443", allowed)
    assert not origin_allowed("https://chat.example.org.evil", allowed)
    assert not origin_allowed(None, allowed)


def test_subprotocol_required() -> None:
    with pytest.raises(WebSocketDisconnect), connect(make_client(Connector()), subprotocols=[]):
        pass


def test_unknown_domain_never_connects() -> None:
    connector = Connector()
    with connect(make_client(connector)) as ws:
        ws.send_text(f'<open xmlns="{FRAMING_NS}" to="evil.example" version="1.0"/>')
        assert_stream_error(ws, "host-unknown")
    assert connector.servers == []


def test_open_without_to_is_host_unknown() -> None:
    connector = Connector()
    with connect(make_client(connector)) as ws:
        ws.send_text(f'<open xmlns="{FRAMING_NS}" version="1.0"/>')
        assert_stream_error(ws, "host-unknown")
    assert connector.servers == []


def test_restart_cannot_switch_domain() -> None:
    connector = Connector()
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
        ws.send_text(f'<open xmlns="{FRAMING_NS}" to="other.example" version="1.0"/>')
        assert_stream_error(ws, "host-unknown")
    assert len(connector.servers) == 1
    assert connector.servers[0].written[-1] == b"</stream:stream>"
    assert connector.servers[0].closed


def test_stanza_before_open() -> None:
    with connect(make_client(Connector())) as ws:
        ws.send_text('<message xmlns="jabber:client"/>')
        assert_stream_error(ws, "bad-format")


def test_binary_frames_refused() -> None:
    with connect(make_client(Connector())) as ws:
        ws.send_bytes(OPEN.encode())
        assert_stream_error(ws, "bad-format")


def test_no_open_in_time() -> None:
    with connect(make_client(Connector(), connect_timeout=0.2)) as ws:
        assert_stream_error(ws, "connection-timeout")


def test_upstream_failure_is_reported() -> None:
    connector = Connector(error=UpstreamError("cannot connect to the XMPP server for x"))
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        error = parse(ws.receive_text())
        assert error[0].tag == f"{{{STREAM_ERRORS_NS}}}remote-connection-failed"
        assert "cannot connect" in (error[1].text or "")


def test_upstream_eof_without_close() -> None:
    def reply(data: bytes) -> bytes | None:
        return HEADER if data.startswith(b"<?xml") else b""

    with connect(make_client(Connector(reply))) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.send_text('<presence xmlns="jabber:client"/>')
        assert_stream_error(ws, "remote-connection-failed")


def test_upstream_garbage_is_not_forwarded() -> None:
    def reply(data: bytes) -> bytes | None:
        return HEADER if data.startswith(b"<?xml") else b"<!-- <script> -->"

    connector = Connector(reply)
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.send_text('<presence xmlns="jabber:client"/>')
        assert_stream_error(ws, "remote-connection-failed")
    assert connector.servers[0].closed


def test_oversized_frame() -> None:
    connector = Connector()
    with connect(make_client(connector, max_stanza_size=10000)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
        ws.send_text('<message xmlns="jabber:client"><body>' + "x" * 10000 + "</body></message>")
        assert_stream_error(ws, "policy-violation")
    # Nothing of the oversized stanza went upstream.
    assert not any(b"xxxx" in w for w in connector.servers[0].written)


def test_client_disconnect_closes_upstream() -> None:
    connector = Connector()
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
    # The TestClient waits for the app to finish when leaving the block.
    assert connector.servers[0].closed


def test_upstream_write_failure_is_a_stream_error() -> None:
    """A write to a dead server must not look like a clean close to the browser."""
    def reply(data: bytes) -> bytes | None:
        if data.startswith(b"<message"):
            raise BrokenPipeError(32, "Broken pipe")
        return xmpp_like(data)

    connector = Connector(reply)
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
        ws.send_text('<message xmlns="jabber:client" to="bob@example.org"><body>x</body></message>')
        assert_stream_error(ws, "remote-connection-failed")
    assert connector.servers[0].closed


def test_stream_header_write_failure_is_a_stream_error() -> None:
    def reply(data: bytes) -> bytes | None:
        raise ConnectionResetError(104, "Connection reset by peer")

    connector = Connector(reply)
    with connect(make_client(connector)) as ws:
        ws.send_text(OPEN)
        assert_stream_error(ws, "remote-connection-failed")
    assert connector.servers[0].closed


def test_unauthenticated_stream_gets_a_deadline() -> None:
    connector = Connector()
    with connect(make_client(connector, auth_timeout=0.2)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
        # No <auth/>: the proxy ends the stream, both ways.
        assert_stream_error(ws, "policy-violation")
    (server,) = connector.servers
    assert server.written[-1] == b"</stream:stream>"
    assert server.closed


def test_authenticated_stream_outlives_the_auth_deadline() -> None:
    connector = Connector()
    with connect(make_client(connector, auth_timeout=0.2)) as ws:
        ws.send_text(OPEN)
        ws.receive_text()
        ws.receive_text()
        ws.send_text('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">eA==</auth>')
        assert "success" in ws.receive_text()
        time.sleep(0.4)
        ws.send_text('<message xmlns="jabber:client" to="bob@example.org"><body>x</body></message>')
        assert "echo" in ws.receive_text()


def test_sessions_per_address_are_limited() -> None:
    connector = Connector()
    client = make_client(connector, max_sessions_per_ip=2)
    with connect(client) as first, connect(client) as second:
        first.send_text(OPEN)
        first.receive_text()
        second.send_text(OPEN)
        second.receive_text()
        with pytest.raises(WebSocketDisconnect) as info, connect(client):
            pass
        assert info.value.code == 1008  # refused before accept: HTTP 403
        assert len(connector.servers) == 2
    # Closed sessions no longer count.
    with connect(client) as again, connect(client) as another:
        again.send_text(OPEN)
        assert parse(again.receive_text()).get("id") == "x"
        another.send_text(OPEN)
        assert parse(another.receive_text()).get("id") == "x"
