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
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = MUC_NS + "#user"
MUC_OWNER_NS = MUC_NS + "#owner"
MUC_ADMIN_NS = MUC_NS + "#admin"
DATA_NS = "jabber:x:data"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


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


class RoomSaid:
    """One groupchat message (with a body or a subject) this peer received
    from a room (XEP-0045), in arrival order; `delayed`: room history."""

    __slots__ = ("body", "delayed", "id", "nick", "room", "stanza_id", "subject")

    def __init__(self, room: str, nick: str, body: str | None, subject: str | None, id: str,
                 stanza_id: str, delayed: bool) -> None:
        self.room = room  # the room's bare JID
        self.nick = nick  # "" for the room itself
        self.body = body
        self.subject = subject
        self.id = id
        self.stanza_id = stanza_id  # the room's XEP-0359 stanza-id (`by` the room)
        self.delayed = delayed

    def __repr__(self) -> str:
        what = f"subject {self.subject!r}" if self.subject is not None else repr(self.body)
        return f"RoomSaid({what} from {self.room}/{self.nick}{', delayed' if self.delayed else ''})"


class RoomPresence:
    """One presence from a room occupant (or a room's error), in arrival order."""

    __slots__ = ("affiliation", "codes", "condition", "jid", "nick", "reason", "role", "room",
                 "type")

    def __init__(self, room: str, nick: str, type: str, codes: set[str], role: str,
                 affiliation: str, jid: str, reason: str, condition: str) -> None:
        self.room = room
        self.nick = nick
        self.type = type  # "available", "unavailable", "error"
        self.codes = codes  # XEP-0045 status codes ("110" = it is us, "307" = kicked, ...)
        self.role = role
        self.affiliation = affiliation
        self.jid = jid  # the occupant's real JID when the room shows it
        self.reason = reason
        self.condition = condition  # the error condition of an error presence

    def __repr__(self) -> str:
        extra = f" {self.condition}" if self.condition else f" codes={sorted(self.codes)}"
        return f"RoomPresence({self.room}/{self.nick} {self.type}{extra} {self.role})"


class RoomError(RuntimeError):
    """A room refused to let us in: `condition` is the stanza error's."""

    def __init__(self, room: str, condition: str) -> None:
        super().__init__(f"joining {room} failed: {condition}")
        self.condition = condition


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
        # Group chats (XEP-0045): what rooms said and their presences, in
        # arrival order (see join_room / room_bodies / occupants).
        self.room_said: list[RoomSaid] = []
        self.room_presence: list[RoomPresence] = []
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
        client.register_handler(
            Callback("muc-message", MatchXPath("{jabber:client}message"), self._on_room_message)
        )
        client.register_handler(
            Callback("muc-presence", MatchXPath("{jabber:client}presence"),
                     self._on_room_presence)
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

    # -- group chats (runs on the peer's loop) ----------------------------
    def _on_room_message(self, msg: Any) -> None:
        xml = msg.xml
        if xml.get("type") != "groupchat":
            return
        frm = xml.get("from") or ""
        room, _, nick = frm.partition("/")
        body = xml.find(f"{{{CLIENT_NS}}}body")
        subject = xml.find(f"{{{CLIENT_NS}}}subject")
        if body is None and subject is None:
            return
        stanza_id = ""
        for sid in xml.findall(f"{{{SID_NS}}}stanza-id"):
            if sid.get("by") == room:
                stanza_id = sid.get("id") or ""
        said = RoomSaid(room, nick, None if body is None else (body.text or ""),
                        None if subject is None or body is not None else (subject.text or ""),
                        xml.get("id") or "", stanza_id,
                        xml.find(f"{{{DELAY_NS}}}delay") is not None)
        with self._seen_lock:
            self.room_said.append(said)
            self._seen_lock.notify_all()

    def _on_room_presence(self, pres: Any) -> None:
        xml = pres.xml
        x = xml.find(f"{{{MUC_USER_NS}}}x")
        kind = xml.get("type") or "available"
        if x is None and kind != "error":
            return
        frm = xml.get("from") or ""
        room, _, nick = frm.partition("/")
        codes: set[str] = set()
        role = affiliation = jid = reason = condition = ""
        if x is not None:
            codes = {s.get("code") or "" for s in x.findall(f"{{{MUC_USER_NS}}}status")}
            item = x.find(f"{{{MUC_USER_NS}}}item")
            if item is not None:
                role = item.get("role") or ""
                affiliation = item.get("affiliation") or ""
                jid = item.get("jid") or ""
                why = item.find(f"{{{MUC_USER_NS}}}reason")
                reason = "" if why is None else (why.text or "")
        if kind == "error":
            error = xml.find(f"{{{CLIENT_NS}}}error")
            for child in [] if error is None else list(error):
                if child.tag.startswith(f"{{{STANZAS_NS}}}") and not child.tag.endswith("}text"):
                    condition = child.tag.split("}", 1)[1]
        with self._seen_lock:
            self.room_presence.append(
                RoomPresence(room, nick, kind, codes, role, affiliation, jid, reason, condition))
            self._seen_lock.notify_all()

    # -- group chats: what tests call -------------------------------------
    def join_room(self, room: str, nick: str, password: str | None = None,
                  timeout: float = 15.0) -> RoomPresence:
        """Join `room` (bare JID) as `nick` without history; our own presence
        in it (status 110), or RoomError with the room's error condition."""
        with self._seen_lock:
            start = len(self.room_presence)

        def go() -> None:
            pres = self._client.make_presence(pto=f"{room}/{nick}")
            x = ElementTree.SubElement(pres.xml, f"{{{MUC_NS}}}x")
            history = ElementTree.SubElement(x, f"{{{MUC_NS}}}history")
            history.set("maxstanzas", "0")
            if password is not None:
                ElementTree.SubElement(x, f"{{{MUC_NS}}}password").text = password
            pres.send()

        self._call(go)
        found: list[RoomPresence] = []

        def answered() -> bool:
            for p in self.room_presence[start:]:
                if p.room == room and p.nick == nick and (
                        p.type == "error" or "110" in p.codes):
                    found.append(p)
                    return True
            return False

        if not self.wait_until(answered, timeout):
            raise TimeoutError(f"{self.jid}: no answer from {room} to joining as {nick}")
        if found[0].type == "error":
            raise RoomError(room, found[0].condition)
        return found[0]

    def change_nick(self, room: str, new_nick: str) -> None:
        """Our nick in `room` becomes `new_nick` (a presence to the new occupant JID)."""
        self._call(lambda: self._client.send_presence(pto=f"{room}/{new_nick}"))

    def leave_room(self, room: str, nick: str) -> None:
        self._call(lambda: self._client.send_presence(pto=f"{room}/{nick}", ptype="unavailable"))

    def say(self, room: str, body: str, id: str | None = None) -> None:
        """A groupchat message to `room`."""

        def go() -> None:
            msg = self._client.make_message(mto=room, mbody=body, mtype="groupchat")
            if id is not None:
                msg["id"] = id
            msg.send()

        self._call(go)

    def say_many(self, room: str, bodies: Iterable[str]) -> None:
        items = list(bodies)

        def go() -> None:
            for body in items:
                self._client.send_message(mto=room, mbody=body, mtype="groupchat")

        self._call(go)

    def set_subject(self, room: str, subject: str) -> None:
        self._call(lambda: self._client.send_message(mto=room, msubject=subject,
                                                     mtype="groupchat"))

    def configure_room(self, room: str, values: dict[str, Any], timeout: float = 10.0) -> None:
        """Set fields of the room's configuration form (XEP-0045 owner form):
        {var: str | bool | list[str]}. AssertionError when the form lacks one."""

        async def go() -> None:
            get = self._client.make_iq_get(ito=room)
            get.xml.append(ElementTree.Element(f"{{{MUC_OWNER_NS}}}query"))
            form = (await get.send(timeout=timeout)).xml.find(
                f"{{{MUC_OWNER_NS}}}query/{{{DATA_NS}}}x")
            known = set() if form is None else {
                f.get("var") for f in form.findall(f"{{{DATA_NS}}}field")}
            unknown = set(values) - known
            if unknown:
                raise AssertionError(f"{room}'s configuration form has no {sorted(unknown)}")
            submit = self._client.make_iq_set(ito=room)
            query = ElementTree.SubElement(submit.xml, f"{{{MUC_OWNER_NS}}}query")
            x = ElementTree.SubElement(query, f"{{{DATA_NS}}}x")
            x.set("type", "submit")
            fields: dict[str, Any] = {"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig",
                                      **values}
            for var, value in fields.items():
                field = ElementTree.SubElement(x, f"{{{DATA_NS}}}field")
                field.set("var", var)
                items = value if isinstance(value, list) else [value]
                for item in items:
                    text = ("1" if item else "0") if isinstance(item, bool) else str(item)
                    ElementTree.SubElement(field, f"{{{DATA_NS}}}value").text = text
            await submit.send(timeout=timeout)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout * 2 + 1)

    def set_affiliation(self, room: str, jid: str, affiliation: str,
                        timeout: float = 10.0) -> None:
        """Make `jid` (bare) member / admin / owner / outcast / none of `room`."""

        async def go() -> None:
            iq = self._client.make_iq_set(ito=room)
            query = ElementTree.SubElement(iq.xml, f"{{{MUC_ADMIN_NS}}}query")
            item = ElementTree.SubElement(query, f"{{{MUC_ADMIN_NS}}}item")
            item.set("jid", jid)
            item.set("affiliation", affiliation)
            await iq.send(timeout=timeout)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout + 1)

    def set_role(self, room: str, nick: str, role: str, reason: str | None = None,
                 timeout: float = 10.0) -> None:
        """Give occupant `nick` of `room` a role; "none" kicks them."""

        async def go() -> None:
            iq = self._client.make_iq_set(ito=room)
            query = ElementTree.SubElement(iq.xml, f"{{{MUC_ADMIN_NS}}}query")
            item = ElementTree.SubElement(query, f"{{{MUC_ADMIN_NS}}}item")
            item.set("nick", nick)
            item.set("role", role)
            if reason is not None:
                ElementTree.SubElement(item, f"{{{MUC_ADMIN_NS}}}reason").text = reason
            await iq.send(timeout=timeout)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout + 1)

    def room_bodies(self, room: str, nick: str | None = None) -> list[str]:
        """Bodies said in `room` (by `nick` if given), in arrival order."""
        with self._seen_lock:
            return [m.body for m in self.room_said if m.room == room and m.body is not None
                    and (nick is None or m.nick == nick)]

    def occupants(self, room: str) -> dict[str, RoomPresence]:
        """Who is in `room` now as we saw it: nick → their last presence."""
        present: dict[str, RoomPresence] = {}
        with self._seen_lock:
            for p in self.room_presence:
                if p.room != room or p.type == "error":
                    continue
                if p.type == "unavailable":
                    present.pop(p.nick, None)
                else:
                    present[p.nick] = p
        return present

    def presences(self, room: str) -> list[RoomPresence]:
        with self._seen_lock:
            return [p for p in self.room_presence if p.room == room]

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
