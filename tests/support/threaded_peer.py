"""A slixmpp client on its own thread, for tests that drive Playwright's sync API.

Playwright's sync API refuses to run inside an asyncio loop, so the XMPP peer
gets a private loop on a background thread and a small blocking interface.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

SID_NS = "urn:xmpp:sid:0"
DELAY_NS = "urn:xmpp:delay"
CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
CLIENT_NS = "jabber:client"


class Seen:
    """One chat message with a body as this peer saw it (or sent it itself).

    `via`: "live" (addressed to us), "carbon-received" / "carbon-sent"
    (XEP-0280 copies, unwrapped), "own" (sent by this peer);
    `stanza_id`: a XEP-0359 stanza-id `by` our own bare JID, else "".
    """

    __slots__ = ("body", "delayed", "id", "origin_id", "peer", "sender", "stanza_id", "t", "via")

    def __init__(self, sender: str, peer: str, body: str, id: str, origin_id: str,
                 stanza_id: str, via: str, delayed: bool) -> None:
        self.sender = sender  # bare JID of the author
        self.peer = peer  # bare JID of the other side of the 1:1 conversation
        self.body = body
        self.id = id
        self.origin_id = origin_id
        self.stanza_id = stanza_id
        self.via = via
        self.delayed = delayed
        self.t = time.monotonic()

    def __repr__(self) -> str:
        return (f"Seen({self.body!r} from {self.sender} via {self.via}, id={self.id!r}, "
                f"origin_id={self.origin_id!r}, stanza_id={self.stanza_id!r}"
                f"{', delayed' if self.delayed else ''})")


def dedup(messages: Iterable[Seen]) -> tuple[list[Seen], list[tuple[Seen, Seen]]]:
    """(kept, [(duplicate, first copy)]), the way a real client (Conversations)
    spots copies: the same author and the same stanza-id (assigned by our
    server) or the same origin-id (XEP-0359, chosen by the sender; the
    message id when there is none)."""
    kept: list[Seen] = []
    dups: list[tuple[Seen, Seen]] = []
    by_key: dict[tuple[str, str, str], Seen] = {}
    for m in messages:
        keys = []
        if m.stanza_id:
            keys.append((m.sender, "sid", m.stanza_id))
        if m.origin_id or m.id:
            keys.append((m.sender, "oid", m.origin_id or m.id))
        first = next((by_key[k] for k in keys if k in by_key), None)
        if first is not None:
            dups.append((m, first))
        else:
            kept.append(m)
        for k in keys:
            by_key.setdefault(k, first or m)
    return kept, dups


class ThreadedPeer:
    """A real XMPP client (slixmpp) connected to Prosody over plaintext loopback c2s."""

    def __init__(
        self, jid: str, password: str, port: int, host: str = "127.0.0.1",
        accept_delayed: bool = False, carbons: bool = False, stream_management: bool = False,
    ) -> None:
        """`accept_delayed`: also report offline messages (with a `<delay/>`);
        only for a private server, where no earlier test left any.
        `carbons`: enable XEP-0280 at login and record the copies (as
        Conversations does); `stream_management`: XEP-0198 acks (slixmpp's
        xep_0198, without resumption)."""
        self.jid = jid
        self.bare = jid.split("/")[0]
        self.accept_delayed = accept_delayed
        self.carbons = carbons
        self.stream_management = stream_management
        # Every chat message with a body, in arrival order (all of them:
        # delayed ones, carbons, our own sends): see `conversation()`.
        self.seen: list[Seen] = []
        self._seen_lock = threading.Condition()
        # Available resources by bare JID (from presence).
        self.resources: dict[str, set[str]] = {}
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
        if self.carbons:
            client.register_plugin("xep_0280")
        if self.stream_management:
            client.register_plugin("xep_0198")
            client.plugin["xep_0198"].allow_resume = False

        async def on_start(_event: object) -> None:
            client.send_presence()
            await client.get_roster()
            if self.carbons:
                await client.plugin["xep_0280"].enable(timeout=10)
            self._ready.set()

        def on_carbon(msg: Any) -> None:
            kind = "received" if msg.xml.find(f"{{{CARBONS_NS}}}received") is not None else "sent"
            inner = msg.xml.find(f"{{{CARBONS_NS}}}{kind}/{{{FORWARD_NS}}}forwarded"
                                 f"/{{{CLIENT_NS}}}message")
            if inner is not None:
                self._record(inner, f"carbon-{kind}")

        def on_message(msg: Any) -> None:
            if msg.xml.find(f"{{{CARBONS_NS}}}received") is None and msg.xml.find(
                    f"{{{CARBONS_NS}}}sent") is None and msg["type"] in ("chat", "normal"):
                self._record(msg.xml, "live")
            # Offline messages stored for this account by an earlier test carry
            # a <delay/>; tests wait only for what is sent while they run.
            if not self.accept_delayed and msg.xml.find("{urn:xmpp:delay}delay") is not None:
                return
            if msg["type"] in ("chat", "normal") and msg["body"]:
                self.inbox.put((str(msg["from"].bare), str(msg["body"])))

        def on_presence(pres: Any) -> None:
            self.presence.put((str(pres["from"]), str(pres["type"])))
            frm = pres["from"]
            with self._seen_lock:
                res = self.resources.setdefault(str(frm.bare), set())
                if pres["type"] in ("unavailable", "error"):
                    res.discard(str(frm))
                elif pres["type"] in ("available", "", "away", "chat", "dnd", "xa"):
                    res.add(str(frm))
                self._seen_lock.notify_all()

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
        if self.carbons:
            client.add_event_handler("carbon_received", on_carbon)
            client.add_event_handler("carbon_sent", on_carbon)
        self._client = client
        client.connect(host, port)
        self._loop.run_forever()

    def _call(self, fn: Any) -> None:
        self._loop.call_soon_threadsafe(fn)

    # -- what this peer holds (Conversations-like) ------------------------
    def _record(self, xml: Any, via: str) -> None:
        """Keep a chat message with a body (runs on the peer's loop)."""
        body = xml.find(f"{{{CLIENT_NS}}}body")
        if body is None or not body.text or xml.get("type", "normal") not in ("chat", "normal"):
            return
        sender = (xml.get("from") or self.bare).split("/")[0]
        to = (xml.get("to") or self.bare).split("/")[0]
        peer = to if sender == self.bare else sender
        stanza_id = ""
        for sid in xml.findall(f"{{{SID_NS}}}stanza-id"):
            if sid.get("by") == self.bare:
                stanza_id = sid.get("id") or ""
        origin = xml.find(f"{{{SID_NS}}}origin-id")
        seen = Seen(sender, peer, body.text, xml.get("id") or "",
                    origin.get("id") or "" if origin is not None else "", stanza_id, via,
                    xml.find(f"{{{DELAY_NS}}}delay") is not None)
        with self._seen_lock:
            self.seen.append(seen)
            self._seen_lock.notify_all()

    def raw(self, peer: str) -> list[Seen]:
        """Every copy in the 1:1 conversation with `peer` (bare JID), in
        arrival order, duplicates included."""
        with self._seen_lock:
            return [m for m in self.seen if m.peer == peer]

    def conversation(self, peer: str) -> list[Seen]:
        """The conversation with `peer` as a client shows it: copies removed."""
        return dedup(self.raw(peer))[0]

    def bodies_from(self, sender: str, prefix: str = "") -> list[str]:
        """Bodies `sender` (bare JID) wrote in our conversation, in order,
        copies removed (optionally only those starting with `prefix`)."""
        return [m.body for m in self.conversation(sender)
                if m.sender == sender and m.body.startswith(prefix)]

    def duplicates(self, peer: str) -> list[tuple[Seen, Seen]]:
        """(copy, first) pairs that `conversation()` left out."""
        return dedup(self.raw(peer))[1]

    def wait_until(self, predicate: Any, timeout: float) -> bool:
        """Poll `predicate()` whenever a message or presence comes in; its
        result (False at the deadline)."""
        deadline = time.monotonic() + timeout
        with self._seen_lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._seen_lock.wait(min(left, 0.25))
        return True

    def wait_resource(self, bare: str, timeout: float = 15.0, exclude: Iterable[str] = ()) -> str:
        """A full JID of `bare` that is available now (from presence), not in
        `exclude`; TimeoutError if none shows up."""
        skip = set(exclude)

        def found() -> bool:
            return bool(self.resources.get(bare, set()) - skip)

        if not self.wait_until(found, timeout):
            raise TimeoutError(f"{self.jid} saw no available resource of {bare} in {timeout} s")
        with self._seen_lock:
            return sorted(self.resources[bare] - skip)[0]

    # -- sending ----------------------------------------------------------
    def send_batch(self, to: str, items: Iterable[tuple[str, str]]) -> None:
        """Chat messages [(id, body)] in one go, each with its id as XEP-0359
        origin-id (stable ids, as Conversations sends them); kept in `seen`."""
        batch = list(items)

        def go() -> None:
            for msg_id, body in batch:
                msg = self._client.make_message(mto=to, mbody=body, mtype="chat")
                msg["id"] = msg_id
                origin = ElementTree.Element(f"{{{SID_NS}}}origin-id")
                origin.set("id", msg_id)
                msg.xml.append(origin)
                msg.send()
                self._record(msg.xml, "own")

        self._call(go)

    def send_raw(self, xml: str) -> None:
        """A stanza exactly as written (forgery tests)."""
        self._call(lambda: self._client.send_raw(xml))

    def sync(self, timeout: float = 15.0) -> None:
        """Round trip to the server (XEP-0199 ping): everything sent before
        has been handled by the server when this returns."""

        async def ping() -> None:
            iq = self._client.make_iq_get(ito=self.bare.split("@")[-1])
            iq.xml.append(ElementTree.Element("{urn:xmpp:ping}ping"))
            await iq.send(timeout=timeout)

        asyncio.run_coroutine_threadsafe(ping(), self._loop).result(timeout + 1)

    def send(self, to: str, body: str) -> None:
        self._call(lambda: self._client.send_message(mto=to, mbody=body, mtype="chat"))

    def send_requesting_receipt(self, to: str, body: str, msg_id: str) -> None:
        """A chat message with id `msg_id` and a XEP-0184 `<request/>`."""

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
