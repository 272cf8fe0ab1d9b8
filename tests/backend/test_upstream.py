"""backend/proxy/upstream.py: address policy and negotiation failures (local sockets only)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from backend.devserver.prosody import free_port
from backend.proxy.framing import Limits
from backend.proxy.upstream import (
    UpstreamError,
    address_allowed,
    open_upstream,
    resolve,
    tls_context,
)
from backend.settings import XmppServer
from tests.support.aio import run as run_coro

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='x' from='localhost' version='1.0'>"
)


def xs(host: str = "xmpp.example.org", tls: str = "starttls", port: int = 5222,
       private: bool = False, ca_file: Path | None = None) -> XmppServer:
    return XmppServer("localhost", host, port, tls, ca_file, private)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("server", "address", "allowed"),
    [
        (xs(), "93.184.216.34", True),
        (xs(), "2606:2800:220:1::1", True),
        (xs(), "127.0.0.1", False),
        (xs(), "10.1.2.3", False),
        (xs(), "192.168.1.1", False),
        (xs(), "169.254.169.254", False),  # cloud metadata
        (xs(), "100.64.0.1", False),
        (xs(), "::1", False),
        (xs(), "fe80::1%eth0", False),
        (xs(), "::ffff:127.0.0.1", False),
        (xs(), "0.0.0.0", False),
        (xs(private=True), "10.1.2.3", True),
        (xs(private=True), "224.0.0.1", False),
        (xs(host="10.0.0.5"), "10.0.0.5", True),  # an IP literal is the operator's word
        (xs(host="localhost"), "127.0.0.1", True),
        (xs(host="localhost"), "93.184.216.34", False),
        (xs(host="127.0.0.1", tls="none"), "127.0.0.1", True),
        (xs(host="localhost", tls="none"), "::1", True),
        (xs(host="localhost", tls="none"), "10.0.0.1", False),
    ],
)
def test_address_policy(server: XmppServer, address: str, allowed: bool) -> None:
    assert address_allowed(server, address) is allowed


def test_resolve_refuses_names_pointing_inside() -> None:
    # "localhost.localdomain"-style names are not special: a public-looking
    # configured name resolving to loopback is refused (DNS rebinding).
    server = xs(host="127.0.0.1.nip.invalid")
    with pytest.raises(UpstreamError):
        run_coro(resolve(server))


def test_resolve_localhost() -> None:
    addresses = run_coro(resolve(xs(host="localhost", tls="none")))
    assert addresses and all(a in ("127.0.0.1", "::1") for a in addresses)


def test_tls_context_verifies() -> None:
    ctx = tls_context(xs())
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def serve_and_open(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                     Awaitable[None]],
                   timeout: float = 2) -> str:
    """Run a fake server with `handler`; return the UpstreamError text from opening."""
    async def main() -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(UpstreamError) as info:
                await open_upstream(xs(host="127.0.0.1", port=port), timeout=timeout,
                                    limits=Limits())
            assert info.value.condition == "remote-connection-failed"
            return info.value.text
        finally:
            server.close()

    return run_coro(main())


def answering(answer: bytes) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    return handler


def test_starttls_not_offered() -> None:
    text = serve_and_open(answering(
        HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
        b"</stream:features>"))
    assert "does not offer STARTTLS" in text


def test_starttls_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(HEADER + b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:"
                     b"xmpp-tls'/></stream:features>")
        await reader.read(4096)
        writer.write(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
        await writer.drain()
        writer.close()

    assert "refused STARTTLS" in serve_and_open(handler)


def test_server_stream_error_during_negotiation() -> None:
    text = serve_and_open(answering(
        HEADER + b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error></stream:stream>"))
    assert "refused the stream" in text


def test_server_garbage_during_negotiation() -> None:
    assert "bad XML" in serve_and_open(answering(b"HTTP/1.1 400 Bad Request\r\n\r\n"))


def test_silent_server_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    assert "timed out" in serve_and_open(handler, timeout=0.3)


def test_connection_refused() -> None:
    server = xs(host="127.0.0.1", port=free_port(), tls="none")
    with pytest.raises(UpstreamError) as info:
        run_coro(open_upstream(server, timeout=2, limits=Limits()))
    assert "cannot connect" in info.value.text
