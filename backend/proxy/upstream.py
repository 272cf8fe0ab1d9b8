"""The TCP side of the proxy: connect to the configured XMPP server and secure it.

Only servers named in the configuration are ever dialled (no open relay):
the caller looks the domain up in `Settings` first. The host is resolved
once and the connection goes to the address that was resolved, so a DNS
answer cannot change between the check and the connect (DNS rebinding).
Private and reserved addresses are refused unless the operator configured
such an address (or `allow_private_addresses`) — config is the operator's word.

TLS is negotiated here, before anything from the browser is forwarded:
STARTTLS (RFC 6120 §5), direct TLS (XEP-0368, ALPN `xmpp-client`), or
plaintext for a loopback host only. Certificates are verified against the
XMPP domain with the system CA store, or with the configured `ca_file` only.
The browser then sees a stream that is already secure and never `<starttls/>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from typing import Final, Protocol

from backend.proxy.framing import (
    STREAMS_NS,
    TLS_NS,
    Limits,
    ServerClose,
    ServerElement,
    ServerStreamTranslator,
    StreamError,
    XmlElement,
    stream_header,
)
from backend.settings import XmppServer, is_loopback_host

logger = logging.getLogger("roost.proxy")

READ_SIZE: Final = 65536  # bytes per read; also the StreamReader buffer bound
STARTTLS: Final = f"<starttls xmlns='{TLS_NS}'/>".encode()


class UpstreamError(StreamError):
    """The XMPP server could not be reached or secured (`remote-connection-failed`)."""

    def __init__(self, text: str) -> None:
        super().__init__("remote-connection-failed", text)


class UpstreamConnection(Protocol):
    """What the WebSocket endpoint needs from the server side (one I/O seam)."""

    async def read(self) -> bytes:
        """Up to `READ_SIZE` bytes; b"" at end of stream."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the kernel buffer is full."""
        ...

    async def aclose(self) -> None:
        """Close the connection (idempotent, never raises)."""
        ...


class Connector(Protocol):
    """Opens a secured connection to `server` (tests substitute their own)."""

    async def __call__(
        self, server: XmppServer, *, timeout: float, limits: Limits
    ) -> UpstreamConnection: ...


class TcpUpstream:
    """An open, secured stream socket to the XMPP server."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.address = address
        self._closed = False

    async def read(self) -> bytes:
        """Up to `READ_SIZE` bytes; b"" at end of stream."""
        try:
            return await self.reader.read(READ_SIZE)
        except (OSError, ssl.SSLError):
            return b""

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the kernel buffer is full."""
        self.writer.write(data)
        await self.writer.drain()

    async def aclose(self) -> None:
        """Close the connection (idempotent, never raises)."""
        if self._closed:
            return
        self._closed = True
        self.writer.close()
        # A TLS peer that never answers close_notify must not hold us up.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.writer.wait_closed()


def tls_context(server: XmppServer) -> ssl.SSLContext:
    """Verifying client context: the system CAs, or only `ca_file` when set."""
    ctx = ssl.create_default_context(
        cafile=str(server.ca_file) if server.ca_file is not None else None
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if server.tls == "direct":
        ctx.set_alpn_protocols(["xmpp-client"])  # XEP-0368
    return ctx


def address_allowed(server: XmppServer, address: str) -> bool:
    """May the proxy connect to `address`, resolved from `server.host`?"""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if server.tls == "none":
        # Plaintext is only ever acceptable on this machine.
        return ip.is_loopback
    try:
        configured = ipaddress.ip_address(server.host.strip("[]"))
    except ValueError:
        configured = None
    if configured is not None:
        return True  # an IP literal in the config: the operator's word
    if is_loopback_host(server.host):
        return ip.is_loopback
    if server.allow_private_addresses:
        return not ip.is_multicast and not ip.is_unspecified
    return ip.is_global


async def resolve(server: XmppServer) -> list[str]:
    """Resolve `server.host` once; the allowed addresses, in resolver order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            server.host.strip("[]"), server.port, type=socket.SOCK_STREAM
        )
    except socket.gaierror:
        raise UpstreamError(f"cannot resolve the XMPP server for {server.domain}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses and address_allowed(server, address):
            addresses.append(address)
        elif address not in addresses:
            logger.warning("refusing address %s for %s: not a public address",
                           address, server.domain)
    if not addresses:
        raise UpstreamError(f"the XMPP server for {server.domain} has no allowed address")
    return addresses


async def open_upstream(
    server: XmppServer, *, timeout: float, limits: Limits
) -> UpstreamConnection:
    """Connect to `server` and secure the connection as configured.

    Raises `UpstreamError` (condition `remote-connection-failed`) with a text
    saying what failed: resolution, connection, certificate, missing STARTTLS,
    or the timeout covering all of it.
    """
    ctx = tls_context(server) if server.tls != "none" else None
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(server)
            upstream = await _connect_first(server, addresses, ctx)
            try:
                if server.tls == "starttls":
                    assert ctx is not None
                    await _starttls(upstream, server, ctx, limits)
            except BaseException:
                await upstream.aclose()
                raise
            return upstream
    except TimeoutError:
        raise UpstreamError(f"timed out connecting to the XMPP server for {server.domain}") \
            from None


async def _connect_first(
    server: XmppServer, addresses: list[str], ctx: ssl.SSLContext | None
) -> TcpUpstream:
    direct = server.tls == "direct"
    for address in addresses:
        try:
            reader, writer = await asyncio.open_connection(
                address, server.port, limit=READ_SIZE,
                ssl=ctx if direct else None,
                server_hostname=server.domain if direct else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise _certificate_error(server, exc) from None
        except (OSError, ssl.SSLError) as exc:
            logger.info("connect to %s:%s for %s failed: %s",
                        address, server.port, server.domain, type(exc).__name__)
            continue
        return TcpUpstream(reader, writer, address)
    raise UpstreamError(f"cannot connect to the XMPP server for {server.domain}")


def _certificate_error(server: XmppServer, exc: ssl.SSLCertVerificationError) -> UpstreamError:
    logger.warning("TLS certificate for %s rejected: %s", server.domain, exc.verify_message)
    return UpstreamError(f"the TLS certificate of {server.domain} could not be verified")


async def _starttls(
    upstream: TcpUpstream, server: XmppServer, ctx: ssl.SSLContext, limits: Limits
) -> None:
    """Open a stream, require `<starttls/>`, get `<proceed/>`, upgrade the socket."""
    negotiation = _Negotiation(upstream, server, limits)
    await upstream.write(stream_header(server.domain))
    features = await negotiation.next_element()
    if not (features.ns == STREAMS_NS and features.local == "features"):
        raise UpstreamError(f"the XMPP server for {server.domain} sent no stream features")
    if features.find(TLS_NS, "starttls") is None:
        raise UpstreamError(f"the XMPP server for {server.domain} does not offer STARTTLS")
    await upstream.write(STARTTLS)
    answer = await negotiation.next_element()
    if answer.ns != TLS_NS or answer.local != "proceed":
        raise UpstreamError(f"the XMPP server for {server.domain} refused STARTTLS")
    try:
        await upstream.writer.start_tls(ctx, server_hostname=server.domain)
    except ssl.SSLCertVerificationError as exc:
        raise _certificate_error(server, exc) from None
    except (OSError, ssl.SSLError) as exc:
        logger.warning("TLS handshake with %s failed: %s", server.domain, type(exc).__name__)
        raise UpstreamError(f"the TLS handshake with {server.domain} failed") from None


class _Negotiation:
    """Reads the server's plaintext stream element by element before TLS."""

    def __init__(self, upstream: TcpUpstream, server: XmppServer, limits: Limits) -> None:
        self.upstream = upstream
        self.server = server
        self.translator = ServerStreamTranslator(limits, strip_features=frozenset())
        self.pending: list[XmlElement] = []

    async def next_element(self) -> XmlElement:
        domain = self.server.domain
        while not self.pending:
            data = await self.upstream.reader.read(READ_SIZE)
            if not data:
                raise UpstreamError(f"the XMPP server for {domain} closed the connection")
            try:
                events = self.translator.feed(data)
            except StreamError as exc:
                raise UpstreamError(
                    f"the XMPP server for {domain} sent bad XML ({exc.condition})"
                ) from None
            closed = False
            for event in events:
                if isinstance(event, ServerClose):
                    closed = True
                elif isinstance(event, ServerElement):
                    if event.element.ns == STREAMS_NS and event.element.local == "error":
                        raise UpstreamError(f"the XMPP server for {domain} refused the stream")
                    self.pending.append(event.element)
            if closed and not self.pending:
                raise UpstreamError(f"the XMPP server for {domain} closed the stream")
        return self.pending.pop(0)
