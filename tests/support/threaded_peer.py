"""A slixmpp client on its own thread, for tests that drive Playwright's sync API.

Playwright's sync API refuses to run inside an asyncio loop, so the XMPP peer
gets a private loop on a background thread and a small blocking interface.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath


class ThreadedPeer:
    """A real XMPP client (slixmpp) connected to Prosody over plaintext loopback c2s."""

    def __init__(
        self, jid: str, password: str, port: int, host: str = "127.0.0.1",
        accept_delayed: bool = False,
    ) -> None:
        """`accept_delayed`: also report offline messages (with a `<delay/>`);
        only for a private server, where no earlier test left any."""
        self.jid = jid
        self.accept_delayed = accept_delayed
        self.inbox: queue.Queue[tuple[str, str]] = queue.Queue()
        self.presence: queue.Queue[tuple[str, str]] = queue.Queue()
        # XEP-0184 receipts received: (from full JID, acknowledged id).
        self.receipts: queue.Queue[tuple[str, str]] = queue.Queue()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        self._thread = threading.Thread(
            target=self._run, args=(jid, password, host, port), daemon=True
        )
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError(f"{jid} could not log in to Prosody on port {port}")

    def _run(self, jid: str, password: str, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        client = slixmpp.ClientXMPP(jid, password)
        client.enable_direct_tls = False
        client.enable_starttls = False
        client.enable_plaintext = True
        client.plugin["feature_mechanisms"].unencrypted_scram = True
        client.auto_authorize = True
        client.auto_subscribe = True

        async def on_start(_event: object) -> None:
            client.send_presence()
            await client.get_roster()
            self._ready.set()

        def on_message(msg: Any) -> None:
            # Offline messages stored for this account by an earlier test carry
            # a <delay/>; tests wait only for what is sent while they run.
            if not self.accept_delayed and msg.xml.find("{urn:xmpp:delay}delay") is not None:
                return
            if msg["type"] in ("chat", "normal") and msg["body"]:
                self.inbox.put((str(msg["from"].bare), str(msg["body"])))

        def on_presence(pres: Any) -> None:
            self.presence.put((str(pres["from"]), str(pres["type"])))

        def on_receipt(msg: Any) -> None:
            # slixmpp's "message" event only covers messages with a body.
            receipt = msg.xml.find("{urn:xmpp:receipts}received")
            if receipt is not None:
                self.receipts.put((str(msg["from"]), str(receipt.get("id") or "")))

        client.register_handler(
            Callback("receipts", MatchXPath("{jabber:client}message/{urn:xmpp:receipts}received"),
                     on_receipt)
        )
        client.add_event_handler("session_start", on_start)
        client.add_event_handler("message", on_message)
        client.add_event_handler("presence", on_presence)
        self._client = client
        client.connect(host, port)
        self._loop.run_forever()

    def _call(self, fn: Any) -> None:
        self._loop.call_soon_threadsafe(fn)

    def send(self, to: str, body: str) -> None:
        self._call(lambda: self._client.send_message(mto=to, mbody=body, mtype="chat"))

    def send_requesting_receipt(self, to: str, body: str, msg_id: str) -> None:
        """A chat message with id `msg_id` and a XEP-0184 `<request/>`."""
        from xml.etree import ElementTree

        def go() -> None:
            msg = self._client.make_message(mto=to, mbody=body, mtype="chat")
            msg["id"] = msg_id
            msg.xml.append(ElementTree.Element("{urn:xmpp:receipts}request"))
            msg.send()

        self._call(go)

    def wait_receipt(self, timeout: float = 15.0) -> tuple[str, str]:
        """Next (from full JID, acknowledged id) receipt, or TimeoutError."""
        try:
            return self.receipts.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.jid} received no receipt in {timeout} s") from None

    def send_many(self, to: str, bodies: list[str]) -> None:
        def go() -> None:
            for body in bodies:
                self._client.send_message(mto=to, mbody=body, mtype="chat")

        self._call(go)

    def wait_message(self, timeout: float = 15.0) -> tuple[str, str]:
        """Next (from bare JID, body) received, or TimeoutError."""
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.jid} received no message in {timeout} s") from None

    def stop(self) -> None:
        async def bye() -> None:
            try:
                await asyncio.wait_for(self._client.disconnect(), 3)
            finally:
                # Let slixmpp's own tasks finish cancelling before the loop stops.
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._loop.stop()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(bye(), self._loop)
            self._thread.join(5)
