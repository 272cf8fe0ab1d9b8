"""Backend test parts: a real uvicorn server in a thread, a test CA, a tiny RFC 7395 client."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from backend.app import create_app
from backend.cli import uvicorn_config
from backend.devserver.prosody import free_port
from backend.proxy.framing import Limits
from backend.proxy.upstream import UpstreamConnection, open_upstream
from backend.settings import Settings, XmppServer, build_settings
from tests.conftest import require

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
STREAMS = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
CLIENT = "jabber:client"


class CountingConnector:
    """The real connector, counting calls (to prove "no upstream connection")."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(
        self, server: XmppServer, *, timeout: float, limits: Limits
    ) -> UpstreamConnection:
        self.calls.append(server.domain)
        return await open_upstream(server, timeout=timeout, limits=limits)


@dataclass
class RunningProxy:
    """A Roost backend served by uvicorn on a loopback port."""

    settings: Settings
    port: int
    connector: CountingConnector

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/xmpp-websocket"

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"


@dataclass
class _Thread:
    server: uvicorn.Server
    thread: threading.Thread


def start_proxy(
    raw: dict[str, Any], static_dir: Path | None = None
) -> tuple[RunningProxy, _Thread]:
    """Serve `create_app` for the raw settings (port filled in) in a thread."""
    port = free_port()
    raw = {**raw, "server": {"host": "127.0.0.1", "port": port, **raw.get("server", {})}}
    if static_dir is not None:
        raw["server"]["static_dir"] = str(static_dir)
    settings = build_settings(raw)
    connector = CountingConnector()
    config = uvicorn_config(
        settings, create_app(settings, connector=connector), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return RunningProxy(settings, port, connector), _Thread(server, thread)


def stop_proxy(handle: _Thread) -> None:
    handle.server.should_exit = True
    handle.thread.join(10)


# -- a test CA (openssl CLI) ------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA, a `localhost` certificate it signed, and an unrelated CA."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    require(shutil.which("openssl") is not None, "openssl (apt package openssl)")
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN=Roost test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "localhost.key", "-out", "localhost.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=CA:FALSE\n"
    )
    _openssl("x509", "-req", "-in", "localhost.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "localhost.crt", "-days", "2", "-extfile", "ext.cnf",
             cwd=d)
    return Pki(d / "ca.pem", d / "localhost.crt", d / "localhost.key", d / "other-ca.pem")


# -- a minimal RFC 7395 client over `websockets` ----------------------------


def parse(frame: str | bytes) -> ET.Element:
    return ET.fromstring(frame)


def tag(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


class XmppWs:
    """Just enough of an XMPP-over-WebSocket client to drive the proxy in tests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: str) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = 10) -> ET.Element:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        return parse(frame)

    async def recv_until(self, wanted: str, timeout: float = 10) -> ET.Element:
        """Skip frames (presence, roster pushes...) until one with tag `wanted`."""
        async with asyncio.timeout(timeout):
            while True:
                el = await self.recv(timeout)
                if el.tag == wanted:
                    return el

    async def open(self, domain: str = "localhost") -> ET.Element:
        """Send `<open/>`; return the stream features."""
        await self.send(f'<open xmlns="{FRAMING}" to="{domain}" version="1.0"/>')
        opened = await self.recv()
        assert opened.tag == tag(FRAMING, "open"), opened.tag
        assert opened.get("from") == domain
        features = await self.recv()
        assert features.tag == tag(STREAMS, "features"), features.tag
        return features

    async def login(self, user: str, password: str, resource: str) -> str:
        """SASL PLAIN, restart, bind; return the full JID."""
        features = await self.open()
        mechanisms = [m.text for m in features.iter(tag(SASL, "mechanism"))]
        assert "PLAIN" in mechanisms, mechanisms
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.send(f'<auth xmlns="{SASL}" mechanism="PLAIN">{token}</auth>')
        result = await self.recv()
        assert result.tag == tag(SASL, "success"), ET.tostring(result)
        features = await self.open()
        assert features.find(tag(BIND, "bind")) is not None
        await self.send(
            f'<iq xmlns="{CLIENT}" type="set" id="bind1"><bind xmlns="{BIND}">'
            f"<resource>{resource}</resource></bind></iq>"
        )
        iq = await self.recv_until(tag(CLIENT, "iq"))
        assert iq.get("type") == "result", ET.tostring(iq)
        jid = iq.findtext(f"{tag(BIND, 'bind')}/{tag(BIND, 'jid')}")
        assert jid
        return jid

    async def ping(self, ident: str = "ping1") -> None:
        """An IQ round trip with the server: proves the session still works."""
        await self.send(
            f'<iq xmlns="{CLIENT}" type="get" id="{ident}" to="localhost">'
            '<ping xmlns="urn:xmpp:ping"/></iq>'
        )
        while True:
            iq = await self.recv_until(tag(CLIENT, "iq"))
            if iq.get("id") == ident:
                assert iq.get("type") == "result"
                return

    async def expect_stream_error(self, condition: str) -> ET.Element:
        """The next frames are `<error/>` with `condition`, `<close/>`, then the close."""
        error = await self.recv()
        assert error.tag == tag(STREAMS, "error"), ET.tostring(error)
        conditions = [c.tag for c in error if c.tag != tag(
            "urn:ietf:params:xml:ns:xmpp-streams", "text")]
        assert conditions == [tag("urn:ietf:params:xml:ns:xmpp-streams", condition)], conditions
        close = await self.recv()
        assert close.tag == tag(FRAMING, "close")
        await asyncio.wait_for(self.ws.wait_closed(), 10)
        return error


def ws_connect(proxy: RunningProxy, origin: str | None = "default",
               subprotocols: list[str] | None = None) -> Any:
    """`websockets.connect` to the proxy with an allowed Origin unless told otherwise."""
    if subprotocols is None:
        subprotocols = ["xmpp"]
    kwargs: dict[str, Any] = {"subprotocols": subprotocols or None, "open_timeout": 10,
                              "proxy": None, "compression": None, "max_size": None}
    if origin == "default":
        kwargs["origin"] = proxy.origin
    elif origin is not None:
        kwargs["origin"] = origin
    return connect(proxy.ws_url, **kwargs)


@pytest.fixture
def make_proxy() -> Iterator[Any]:
    """Factory: start a proxy for raw settings; all stopped at teardown."""
    handles: list[_Thread] = []

    def factory(raw: dict[str, Any], static_dir: Path | None = None) -> RunningProxy:
        proxy, handle = start_proxy(raw, static_dir)
        handles.append(handle)
        return proxy

    yield factory
    for handle in handles:
        stop_proxy(handle)
