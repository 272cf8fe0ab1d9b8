"""slixmpp bots for the demo and the tests: an echo bot and a small test peer.

Both log in over plaintext c2s, which Roost's private Prosody offers on
loopback only (shared/PROSODY.md §0 gives the slixmpp 1.17 settings).

- `EchoBot` accepts every subscription request (and asks back) and answers
  each chat message with ``"echo: <text>"``. Use ``await bot.start()`` /
  ``await bot.stop()`` inside an event loop, or ``bot.run()`` to block until
  SIGINT/SIGTERM (``python -m backend.devserver.bots JID PASSWORD --port N``).
- `Peer` is a test participant: connect, send a chat message, wait for the
  next message or presence (with a timeout), set presence, subscribe.

Every method must be called from the event loop that ran ``start()``/
``connect()`` (slixmpp binds a client to one loop). Tests that drive
Playwright's sync API want `tests/support/threaded_peer.py` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import slixmpp

Show = Literal["chat", "away", "xa", "dnd"]
T = TypeVar("T")

ECHO_PREFIX = "echo: "


class BotError(RuntimeError):
    """A bot could not log in (wrong password, server unreachable, timeout)."""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A chat message as a `Peer` received it."""

    from_jid: str  # bare JID of the sender
    resource: str
    body: str
    id: str
    type: str


@dataclass(frozen=True, slots=True)
class IncomingPresence:
    """A presence stanza as a `Peer` received it (type "available" when absent)."""

    from_jid: str  # bare JID of the sender
    resource: str
    type: str
    show: str
    status: str


class _Inbox(Generic[T]):
    """Items in arrival order; `get` takes the first one that matches."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._changed = asyncio.Event()

    def put(self, item: T) -> None:
        self._items.append(item)
        self._changed.set()

    async def get(self, match: Callable[[T], bool], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            for i, item in enumerate(self._items):
                if match(item):
                    del self._items[i]
                    return item
            # Single-threaded: nothing can arrive between the scan and clear().
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def clear(self) -> None:
        self._items.clear()


def loopback_client(jid: str, password: str) -> slixmpp.ClientXMPP:
    """A slixmpp client for plaintext c2s on loopback (never use it across a network)."""
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.enable_starttls = False
    client.enable_plaintext = True
    client.plugin["feature_mechanisms"].unencrypted_scram = True
    return client


class _Session:
    """One slixmpp login: connect until the session starts, disconnect cleanly."""

    def __init__(self, jid: str, password: str, host: str, port: int) -> None:
        self.jid = jid
        self.password = password
        self.host = host
        self.port = port
        self._client: slixmpp.ClientXMPP | None = None
        self._closing = False

    @property
    def client(self) -> slixmpp.ClientXMPP:
        if self._client is None:
            raise RuntimeError(f"Expected a connected session for {self.jid}, got none")
        return self._client

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def _configure(self, client: slixmpp.ClientXMPP) -> None:
        """Hook for subclasses: set options and add event handlers before connecting."""

    async def _open(self, timeout: float) -> None:
        if self._client is not None:
            raise RuntimeError(f"Expected a stopped session for {self.jid}, got a running one")
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        # Created here so that slixmpp binds it to the running loop.
        client = loopback_client(self.jid, self.password)
        self._client = client
        self._closing = False

        async def on_session_start(_event: object) -> None:
            client.send_presence()
            await client.get_roster()
            if not ready.done():
                ready.set_result(None)

        def on_failure(reason: object) -> None:
            if not ready.done():
                ready.set_exception(BotError(f"{self.jid} could not log in: {reason}"))

        client.add_event_handler("session_start", on_session_start)
        client.add_event_handler("failed_all_auth", lambda _e: on_failure("authentication failed"))
        client.add_event_handler("connection_failed", on_failure)
        self._configure(client)
        client.connect(self.host, self.port)
        try:
            await asyncio.wait_for(ready, timeout)
        except BaseException as exc:
            self._abort()
            if isinstance(exc, TimeoutError):
                raise BotError(
                    f"{self.jid} did not log in to {self.host}:{self.port} within {timeout} s"
                ) from None
            raise

    def _abort(self) -> None:
        client, self._client = self._client, None
        self._closing = True
        if client is not None:
            client.cancel_connection_attempt()
            client.abort()

    async def _close(self, timeout: float = 3.0) -> None:
        client = self._client
        if client is None:
            return
        self._closing = True
        try:
            await asyncio.wait_for(client.disconnect(wait=timeout), timeout + 1)
        except (TimeoutError, OSError):
            pass
        finally:
            self._abort()


class EchoBot(_Session):
    """Replies ``"echo: <text>"`` to chat messages; accepts and returns subscriptions."""

    def __init__(
        self,
        jid: str,
        password: str,
        host: str = "127.0.0.1",
        port: int = 5222,
        *,
        status: str = "I answer every message with the same text.",
        reconnect: bool = True,
    ) -> None:
        super().__init__(jid, password, host, port)
        self.status = status
        self.reconnect = reconnect
        self.echoed = 0

    def _configure(self, client: slixmpp.ClientXMPP) -> None:
        client.auto_authorize = True  # answer "subscribe" with "subscribed"
        client.auto_subscribe = True  # and ask back, so both sides see presence
        client.add_event_handler("session_start", self._on_session_start)
        client.add_event_handler("message", self._on_message)
        client.add_event_handler("disconnected", self._on_disconnected)

    def _on_session_start(self, _event: object) -> None:
        self.client.send_presence(pshow="chat", pstatus=self.status)

    def _on_message(self, msg: Any) -> None:
        if msg["type"] not in ("chat", "normal") or not msg["body"]:
            return
        if msg["from"].bare == self.client.boundjid.bare:
            return
        msg.reply(ECHO_PREFIX + str(msg["body"])).send()
        self.echoed += 1

    def _on_disconnected(self, _reason: object) -> None:
        # Lost the server (e.g. Prosody restarted) rather than asked to stop:
        # slixmpp's connect loop keeps retrying with a back-off.
        if self.reconnect and not self._closing and self._client is not None:
            self._client.connect(self.host, self.port)

    async def start(self, timeout: float = 15.0) -> EchoBot:
        """Log in and start answering; raises `BotError` if the login fails."""
        await self._open(timeout)
        return self

    async def stop(self) -> None:
        """Close the stream (idempotent)."""
        await self._close()

    def run(self) -> None:
        """Block until SIGINT or SIGTERM, answering messages (for scripts and the CLI)."""
        asyncio.run(self._run_until_signal())

    async def _run_until_signal(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> EchoBot:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class Peer(_Session):
    """A test participant with inboxes for messages and presences.

    ``auto_accept=False`` leaves subscription requests to the test: they
    arrive as presences of type "subscribe" (answer with `approve`).
    """

    def __init__(
        self,
        jid: str,
        password: str,
        host: str = "127.0.0.1",
        port: int = 5222,
        *,
        auto_accept: bool = False,
    ) -> None:
        super().__init__(jid, password, host, port)
        self.auto_accept = auto_accept
        self.messages: _Inbox[IncomingMessage] = _Inbox()
        self.presences: _Inbox[IncomingPresence] = _Inbox()

    def _configure(self, client: slixmpp.ClientXMPP) -> None:
        client.auto_authorize = True if self.auto_accept else None
        client.auto_subscribe = self.auto_accept
        client.add_event_handler("message", self._on_message)
        client.add_event_handler("presence", self._on_presence)

    def _on_message(self, msg: Any) -> None:
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.messages.put(
                IncomingMessage(
                    from_jid=str(msg["from"].bare), resource=str(msg["from"].resource),
                    body=str(msg["body"]), id=str(msg["id"]), type=str(msg["type"]),
                )
            )

    def _on_presence(self, pres: Any) -> None:
        self.presences.put(
            IncomingPresence(
                from_jid=str(pres["from"].bare), resource=str(pres["from"].resource),
                # pres["type"] reports the <show/> for available presence: read the attribute.
                type=str(pres.xml.get("type") or "available"), show=str(pres["show"] or ""),
                status=str(pres["status"] or ""),
            )
        )

    async def connect(self, timeout: float = 15.0) -> Peer:
        """Log in, send initial presence and fetch the roster."""
        await self._open(timeout)
        return self

    async def disconnect(self) -> None:
        await self._close()

    async def __aenter__(self) -> Peer:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    # -- actions ----------------------------------------------------------
    def send_chat(self, to: str, body: str) -> str:
        """Send a chat message; returns its id."""
        msg = self.client.make_message(mto=to, mbody=body, mtype="chat")
        msg.send()
        return str(msg["id"])

    def set_presence(self, show: Show | None = None, status: str | None = None) -> None:
        """Broadcast available presence with an optional show and status."""
        self.client.send_presence(pshow=show, pstatus=status)

    def subscribe(self, jid: str) -> None:
        """Ask to see `jid`'s presence (adds it to the roster on the server)."""
        self.client.send_presence_subscription(pto=jid, ptype="subscribe")

    def approve(self, jid: str) -> None:
        """Accept `jid`'s subscription request."""
        self.client.send_presence_subscription(pto=jid, ptype="subscribed")

    def subscription(self, jid: str) -> str:
        """The roster subscription state towards `jid` ("none", "to", "from", "both")."""
        return str(self.client.client_roster[jid]["subscription"])

    # -- waiting ------------------------------------------------------------
    async def next_message(
        self, from_jid: str | None = None, timeout: float = 10.0
    ) -> IncomingMessage:
        """The next chat message (from `from_jid`'s bare JID if given), or TimeoutError.

        Messages that don't match stay in the inbox for later calls.
        """
        return await self.messages.get(
            lambda m: from_jid is None or m.from_jid == from_jid, timeout,
            f"message for {self.jid}" + (f" from {from_jid}" if from_jid else ""),
        )

    async def next_presence(
        self, from_jid: str | None = None, type: str | None = None, timeout: float = 10.0
    ) -> IncomingPresence:
        """The next presence matching the bare JID and type given, or TimeoutError."""
        return await self.presences.get(
            lambda p: (from_jid is None or p.from_jid == from_jid)
            and (type is None or p.type == type),
            timeout,
            f"presence{' ' + type if type else ''} for {self.jid}"
            + (f" from {from_jid}" if from_jid else ""),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an echo bot on a plaintext loopback c2s.")
    parser.add_argument("jid")
    parser.add_argument("password")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5222)
    opts = parser.parse_args(argv)
    try:
        EchoBot(opts.jid, opts.password, opts.host, opts.port).run()
    except BotError as exc:
        print(f"echo bot: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
