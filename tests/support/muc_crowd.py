"""Many occupants in one room, cheaply: lean c2s connections (one account,
one resource each) that log in with SASL PLAIN, bind, join a room without
history and then only drain what the room sends them (`settle()` waits
until that has stopped: a room whose crowd just joined is still busy).

A full client (slixmpp) per occupant costs far more Python than a join
needs; these speak just enough XMPP for Prosody on plaintext loopback c2s
(allow_unencrypted_plain_auth, as backend/devserver/prosody.py configures
it). No initial presence is sent to the account's server, so the resources
don't broadcast presence to each other: the only fan-out is the room's own
(each join goes to every occupant, XEP-0045).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from xml.sax.saxutils import quoteattr

STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream to={domain} xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)


class CrowdError(RuntimeError):
    pass


class Crowd:
    """`Crowd(port, "bob", "bob", "localhost").join(room, nicks)`: each nick
    joins from a connection of its own (resource "crowd-<i>"); `close()`
    drops them all (the room sees them leave)."""

    def __init__(self, port: int, user: str, password: str, domain: str,
                 host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.user = user
        self.password = password
        self.domain = domain
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._writers: list[asyncio.StreamWriter] = []
        self._drains: list[asyncio.Task[None]] = []
        self._count = 0
        # Read up to our own presence in the room before the next login.
        self.wait_joined = False
        # When a connection last read something (monotonic clock).
        self.last_read = time.monotonic()

    async def _until(self, reader: asyncio.StreamReader, *marks: bytes, timeout: float = 30.0,
                     keep: int = 64) -> bytes:
        """Read until one of `marks` shows up; what ends with it (the tail only)."""
        tail = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CrowdError(f"timed out waiting for {marks}")
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                raise CrowdError(f"connection closed waiting for {marks}; last: {tail[-200:]!r}")
            self.last_read = time.monotonic()
            tail = tail[-keep:] + chunk
            for mark in marks:
                if mark in tail:
                    return tail

    async def _one(self, room: str, nick: str, resource: str) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(writer)
        header = STREAM_HEADER.format(domain=quoteattr(self.domain)).encode()
        writer.write(header)
        await self._until(reader, b"</stream:features>")
        token = base64.b64encode(f"\0{self.user}\0{self.password}".encode()).decode()
        writer.write(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                     f"{token}</auth>".encode())
        got = await self._until(reader, b"<success", b"<failure")
        if b"<failure" in got:
            raise CrowdError(f"{self.user} could not log in: {got[-200:]!r}")
        writer.write(header)
        await self._until(reader, b"</stream:features>")
        writer.write(f"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     f"<resource>{resource}</resource></bind></iq>".encode())
        got = await self._until(reader, b"</iq>")
        if b"type='error'" in got or b'type="error"' in got:
            raise CrowdError(f"{self.user}/{resource} could not bind: {got[-200:]!r}")
        to = quoteattr(f"{room}/{nick}")
        writer.write(f"<presence to={to}><x xmlns='http://jabber.org/protocol/muc'>"
                     f"<history maxstanzas='0'/></x></presence>".encode())
        if self.wait_joined:
            # Our own presence (status 110) comes after everyone else's.
            got = await self._until(reader, b"code='110'", b'code="110"', b"type='error'",
                                    b'type="error"', timeout=60.0)
            if b"type='error'" in got or b'type="error"' in got:
                raise CrowdError(f"{nick} could not join {room}: {got[-300:]!r}")
        # Read what the room sends from now on, as a client would: unread,
        # it piles up in Prosody's buffers.
        self._drains.append(self._loop.create_task(self._drain(reader)))

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            self.last_read = time.monotonic()

    def settle(self, quiet: float = 1.5, timeout: float = 120.0) -> float:
        """Wait until no connection has read anything for `quiet` seconds:
        the room's fan-out of the joins (each one goes to every occupant,
        O(n²) presences) is over. The seconds it took; CrowdError on timeout."""
        start = time.monotonic()
        while time.monotonic() - self.last_read < quiet:
            if time.monotonic() - start > timeout:
                raise CrowdError(f"the room was still sending after {timeout:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - start

    def join(self, room: str, nicks: list[str], concurrency: int = 25,
             timeout: float = 120.0) -> float:
        """Every nick in `nicks` joins `room` (at most `concurrency` logging in
        at a time); the seconds it took. CrowdError if one fails."""
        start = time.monotonic()
        first = self._count
        self._count += len(nicks)

        async def all_of() -> None:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int, nick: str) -> None:
                async with gate:
                    await self._one(room, nick, f"crowd-{first + i}")

            await asyncio.gather(*(one(i, n) for i, n in enumerate(nicks)))

        asyncio.run_coroutine_threadsafe(all_of(), self._loop).result(timeout)
        return time.monotonic() - start

    def close(self) -> None:
        async def bye() -> None:
            for task in self._drains:
                task.cancel()
            for writer in self._writers:
                try:
                    writer.write(b"</stream:stream>")
                    writer.close()
                except Exception:  # already gone (server stopped)
                    pass
            await asyncio.gather(*self._drains, return_exceptions=True)
            self._loop.stop()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(bye(), self._loop)
            self._thread.join(5)
