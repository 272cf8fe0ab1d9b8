"""`XmppClient`: the sans-I/O façade the app drives (see docs/architecture.md).

Frames in (`receive`), frames out (`take_output`), events back. Negotiation
is `ClientStream`'s; this module handles stanzas once bound: IQ tracking by
id (responses are matched to the request *and* its addressee), the roster
(RFC 6121 §2), presence and subscriptions (§3-4), and chat messages (§5).

Security (docs SECURITY.md): roster pushes are accepted only with no `from`
or from our own account; everything else is dropped and answered with
`service-unavailable`, which is what RFC 6121 §2.1.6 asks for. A message
bounce (`type="error"`) is accepted only for an id we sent, and only from
the bare JID we sent it to, our own server's domain, or with no `from`: else
anyone who saw an id could mark our message as not delivered.

Carbons (XEP-0280, with `carbons=True`): after `Online` a disco#info query
to our server's domain; when it lists `urn:xmpp:carbons:2`, carbons are
enabled. Every incoming message with a carbon wrapper goes through
`xep_0280.unwrap_carbon` first (whether or not we enabled them): a forged
one (not from our own bare JID) is dropped and reported (`Dropped`), never
shown as the message it wraps.

Archive (XEP-0313, `query_archive`): queries go to our own archive (no
`to`); each `queryid` we sent is remembered until its `<fin/>` (or error),
and a result is accepted only for such a `queryid` and from our own bare
JID or no `from` (SECURITY.md); anything else is `Dropped`, never shown.
A live message's `<stanza-id/>` is trusted only when `by` is our own bare
JID (`ChatMessage.archive_id`).

Confirming (XEP-0198 with `ack_after_confirm=True`, for "ack an inbound
stanza only once it is stored"): the events whose class has
`needs_confirm = True` are exactly `ChatReceived` and `ChatSent` (live
messages, received and sent carbons alike). Each one must be confirmed
once, in the order `receive()` returned them, with `confirm_handled()`,
including those the caller decides not to store (a duplicate, a correction
it drops, a message from a blocked contact): an unconfirmed event holds
back the acks of every later stanza, and the server's unacked queue grows
until it gives up on the session. A stanza yields at most one such event.
Everything else counts as handled when `receive()` returns and needs no
confirmation: `ArchiveMessage` (the archive keeps it: move the catch-up
cursor only once the page is stored), `Receipt`, `Marker`, `ChatState`,
`MessageFailed`, presence and roster events, `Dropped`. Confirm on the
client that reported the event: confirmations owed by a dead connection's
client go to that client (they move its `resume_state()` "h_in"), never to
the next one; what the old one never confirmed, the server re-sends after
`Resumed` (dedup by id/origin-id). Without SM the calls are still accepted.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import ForgedStanza, JidError, ProtocolError, XmppError
from roost.xmpp.events import (
    ArchiveDone,
    ArchiveFailed,
    ArchiveGap,
    ArchiveMessage,
    ChatMessage,
    ChatReceived,
    ChatSent,
    ChatState,
    Dropped,
    Marker,
    MessageFailed,
    Online,
    PresenceChanged,
    Receipt,
    Resumed,
    RosterChanged,
    RosterItem,
    RosterLoaded,
    SubscriptionChanged,
    SubscriptionRequest,
)
from roost.xmpp.jid import JID
from roost.xmpp.stamps import parse_datetime
from roost.xmpp.stream import CLOSED, CLOSING, READY, ClientStream, stanza_error
from roost.xmpp.xeps.xep_0198 import ACK_EVERY, is_stanza

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.xmpp.events import Record

    ResponseHandler = Callable[[Element], list[Record]]

SHOWS = ("away", "chat", "dnd", "xa")
# How many sent message ids are remembered (with their addressee) so that a
# bounce can be checked against who we wrote to; older ones are forgotten.
MAX_SENT_IDS = 256
SUBSCRIPTIONS = ("none", "to", "from", "both", "remove")
_MESSAGE_TYPES = ("chat", "normal")


def _as_jid(value: JID | str) -> JID:
    return value if isinstance(value, JID) else JID.parse(value)


def parse_roster_item(item: Element) -> RosterItem:
    """A `RosterItem` from `<item/>`; raises `JidError` for a bad `jid`."""
    jid_text = item.get("jid")
    if not jid_text:
        raise JidError("roster item without jid")
    subscription = item.get("subscription") or "none"
    if subscription not in SUBSCRIPTIONS:
        subscription = "none"
    ask = item.get("ask")
    return RosterItem(
        JID.parse(jid_text).bare,
        item.get("name") or None,
        subscription,
        "subscribe" if ask == "subscribe" else None,
        [g.text for g in item.find_all("group", ns.ROSTER) if g.text],
    )


class XmppClient:
    """One XMPP session: login, roster, presence, chat. See the module docstring."""

    __slots__ = (
        "_archive_queries",
        "_carbons",
        "_csi_active",
        "_hold_presence",
        "_online",
        "_pending",
        "_presence_due",
        "_sent",
        "_stream",
        "carbons_enabled",
        "roster",
    )

    def __init__(
        self,
        jid: JID | str,
        password: str,
        secure: bool = False,
        *,
        random_bytes: Callable[[int], bytes],
        mechanisms: tuple[str, ...] | list[str] | None = None,
        resume: dict[str, object] | None = None,
        ack_after_confirm: bool = False,
        ack_every: int = ACK_EVERY,
        sm_resume: bool = True,
        carbons: bool = False,
        hold_presence: bool = False,
    ) -> None:
        """`secure` says the transport is TLS (or loopback): only then is PLAIN allowed.

        XEP-0198 (used whenever the server offers it): `resume` is a dict from
        an earlier client's `resume_state()`: after SASL the session is resumed
        instead of bound (`Resumed`, or `ResumeFailed` then a fresh `Online`);
        a malformed one raises ValueError. `ack_after_confirm`: a stanza whose
        events need storing (`ChatReceived`, `ChatSent`: "Confirming" in the
        module docstring) counts as handled for the server only after
        `confirm_handled()`; by default it counts once `receive()` returned.
        `ack_every`: ask for an ack after this many stanzas sent.
        `sm_resume=False` enables acks without asking for resumption, for a
        driver that doesn't keep `resume_state()`: the server then ends the
        session when the connection drops instead of holding it for a resume.

        `carbons`: after `Online`, ask our server (disco#info) whether it
        supports XEP-0280 and, if so, enable carbons (`carbons_enabled`
        becomes True once the server agreed): messages to and from our other
        clients then arrive as `ChatReceived` / `ChatSent`.

        `hold_presence`: a fresh session's initial presence waits for
        `send_initial_presence()`, so the driver can ask the archive first:
        a server (Prosody's mod_mam) then leaves offline messages out, which
        the archive query brings anyway (no flood of copies to deduplicate).
        """
        self._stream = ClientStream(
            _as_jid(jid),
            password,
            secure,
            random_bytes,
            mechanisms,
            resume=resume,
            ack_after_confirm=ack_after_confirm,
            ack_every=ack_every,
            sm_resume=sm_resume,
        )
        self._online = False
        # XEP-0352 state the server has for this session: True after a fresh
        # bind (the default), None when unknown (a resumed session keeps the
        # state the old connection set).
        self._csi_active: bool | None = None
        self._carbons = carbons
        self._hold_presence = hold_presence
        self._presence_due = False  # held initial presence (`hold_presence`)
        self.carbons_enabled = False
        # queryid → our own bare JID, for each archive query without its <fin/> yet
        self._archive_queries: dict[str, JID] = {}
        # id → (addressee or None for our own account, handler of the response)
        self._pending: dict[str, tuple[JID | None, ResponseHandler]] = {}
        # message id → bare JID it was sent to (oldest first, MAX_SENT_IDS at most)
        self._sent: dict[str, JID] = {}
        self.roster: dict[JID, RosterItem] = {}
        if resume is not None:
            self._load_sent(resume.get("sent"))

    def _load_sent(self, sent: object) -> None:
        # Bounces for messages of the resumed session are still recognised.
        if not isinstance(sent, list):
            return
        for entry in sent[-MAX_SENT_IDS:]:
            try:
                msg_id, bare = entry
                self._sent[str(msg_id)] = JID.parse(str(bare)).bare
            except (TypeError, ValueError, XmppError):
                continue

    # -- state --------------------------------------------------------------
    @property
    def jid(self) -> JID:
        """The login JID; after `Online`, the bound full JID."""
        return self._stream.jid

    @property
    def state(self) -> str:
        """The `ClientStream` state (idle, opening, …, ready, closing, closed)."""
        return self._stream.state

    @property
    def online(self) -> bool:
        return self._online and self._stream.state == READY

    # -- driving ------------------------------------------------------------
    def start(self) -> None:
        """Queue the opening `<open/>`; call once the WebSocket is open."""
        self._stream.start()

    def receive(self, element: Element) -> list[Record]:
        """Handle one parsed frame; return what happened. Never raises on bad input."""
        stream = self._stream
        events: list[Record] = []
        if stream.deferred:
            events.extend(stream.deferred)
            del stream.deferred[:]
        if self._online and element.ns == ns.CLIENT and stream.state in (READY, CLOSING):
            try:
                handled = self._on_stanza(element)
            except XmppError as exc:
                # A malformed stanza is the sender's problem, not the stream's.
                handled = [Dropped(f"malformed <{element.name}/>: {exc}")]
            waiting = False
            for event in handled:
                waiting = waiting or event.needs_confirm
            if is_stanza(element):
                # XEP-0198 counts message/presence/iq only: anything else in
                # jabber:client (invalid, ignored) must not move `h`.
                stream.sm.received(waiting)
            events.extend(handled)
            return events
        was_ready = stream.state == READY
        events.extend(stream.receive(element))
        if not was_ready and stream.state == READY:
            resumed = False
            for event in events:
                resumed = resumed or isinstance(event, Resumed)
            if resumed:
                self._online = True  # the session goes on: no roster, no presence
                self._csi_active = None  # the server kept the old connection's
            else:
                events.extend(self._go_online())
        if stream.state == CLOSED:
            self._online = False
            self._pending.clear()
            self._archive_queries.clear()
        return events

    def provide_salted_password(self, salted: bytes) -> list[Record]:
        """Answer a `NeedSaltedPassword` event with PBKDF2's output."""
        return self._stream.provide_salted_password(salted)

    def take_output(self) -> list[str]:
        """Serialised frames to send, oldest first; drains the queue."""
        output = self._stream.output
        frames = [f if isinstance(f, str) else f.to_xml() for f in output]
        del output[:]
        return frames

    # -- XEP-0198 stream management -------------------------------------------------
    def request_ack(self) -> bool:
        """Ask the server to acknowledge what we sent (call it on a timer; it is
        also sent after every `ack_every` stanzas). Queues `<r/>` only when SM is
        enabled and something is unacknowledged; returns True when it did.
        `Acked(ids)` reports the answer."""
        return self._stream.request_ack()

    def confirm_handled(self, n: int = 1) -> None:
        """With `ack_after_confirm=True`: the `n` oldest events that need it
        (`ChatReceived`, `ChatSent`: see "Confirming" in the module docstring)
        are stored; the server may now drop them. Raises ValueError when
        fewer are waiting. Call it on the client that reported the events
        (also after its `Closed`: it then only moves `resume_state()`'s
        "h_in"), never on the next connection's client."""
        self._stream.confirm_handled(n)

    @property
    def sm_active(self) -> bool:
        """XEP-0198 is on for this stream: from our `<enable/>` (or `Resumed`)
        on, every stanza we send will be acknowledged (`Acked`), also those
        sent before `<enabled/>` arrives. False without SM, and again after
        `SmFailed` (enable refused: no `Acked` will come for what was sent)."""
        return self._stream.sm.active

    def unacked_ids(self) -> list[str]:
        """Ids of our message stanzas the server has not acknowledged yet
        (XEP-0198), oldest first: `send_chat`'s (and `send_marker`'s) ids.

        Empty when SM is off (refused, not offered, or after `ResumeFailed`:
        the fresh session starts a new count). Right after `Resumed` these are
        the messages the core has just re-sent itself (exactly once): don't
        send them again; `Acked` reports them as they are acknowledged.
        """
        return self._stream.sm.unacked_ids()

    # -- XEP-0352 client state indication ----------------------------------------
    @property
    def csi_supported(self) -> bool:
        """The server offered XEP-0352 (`<csi/>` in the stream features)."""
        return self._stream.csi_supported

    def set_active(self, active: bool) -> bool:
        """Tell the server whether the user is looking (XEP-0352): `<active/>`
        or `<inactive/>` (an inactive client may get presence and other
        unimportant stanzas late, in batches). Sent only when the server
        supports CSI, the session is online and the state changes; returns
        True when it sent. A nonza: not counted or re-sent by XEP-0198.

        A fresh session (`Online`) starts active. While offline nothing is
        sent or remembered: call it again after `Online` when the page is
        hidden. After `Resumed` the server keeps the state the previous
        connection set, which this client doesn't know: call
        `set_active(page visible)` right after `Resumed`; the first call then
        always sends.
        """
        active = bool(active)
        if not self.csi_supported or not self.online or self._csi_active is active:
            return False
        from roost.xmpp.xeps import xep_0352

        self._stream.send(xep_0352.build_active() if active else xep_0352.build_inactive())
        self._csi_active = active
        return True

    def resume_state(self) -> dict[str, object] | None:
        """Plain JSON-able data for `XmppClient(..., resume=...)`, or None when
        this session can't be resumed (no resumable SM, or closed orderly).

        Keys: "id" (SM id), "h_in", "out", "unacked" ([[stanza xml, message id
        or ""], ...]), "jid" (bound full JID), "max", "location", "sent"
        ([[message id, bare JID], ...]). Save it after sending and after acks;
        the copy taken after the connection died is the one to use.
        """
        state = self._stream.resume_state()
        if state is not None:
            state["sent"] = [[msg_id, str(bare)] for msg_id, bare in self._sent.items()]
        return state

    def close(self) -> None:
        """Queue `<close/>`. `Closed(None)` follows when the server answers."""
        self._stream.close()

    # -- sending --------------------------------------------------------------
    def _send(self, element: Element) -> None:
        if not self.online:
            raise RuntimeError(f"Expected an online session, got state {self.state!r}")
        self._stream.send(element)

    def _iq(
        self, iq_type: str, payload: Element, handler: ResponseHandler, to: JID | None = None
    ) -> str:
        iq_id = self._stream.new_id()
        iq = Element("iq", ns.CLIENT, {"type": iq_type, "id": iq_id})
        if to is not None:
            iq.attrs["to"] = str(to)
        iq.append(payload)
        self._send(iq)
        self._pending[iq_id] = (to, handler)
        return iq_id

    def send_chat(
        self,
        to: JID | str,
        body: str,
        *,
        id: str | None = None,
        replaces: str | None = None,
    ) -> str:
        """Send a chat message; returns its id (also sent as XEP-0359 origin-id).

        `id`: re-send a message under the id it had (after `ResumeFailed`, or
        from the outbox), so the receiver can tell it is the same message; a
        new id by default. `replaces`: a XEP-0308 correction of our message
        with that id (the *original* message's id, also when correcting a
        correction); the correction has its own new id and origin-id, and
        `body` is the whole corrected text. An empty `replaces` is a ValueError.
        """
        if replaces is not None and not replaces:
            raise ValueError("replaces must be the corrected message's id")
        msg_id = id or self._stream.new_id()
        message = Element(
            "message", ns.CLIENT, {"type": "chat", "to": str(_as_jid(to)), "id": msg_id}
        )
        message.add("body", text=body)
        message.add("origin-id", ns.SID, {"id": msg_id})
        if replaces is not None:
            from roost.xmpp.xeps import xep_0308

            message.append(xep_0308.build_replace(replaces))
        # Receipt (XEP-0184) and chat markers (XEP-0333) come back for this id
        # (`Receipt` / `Marker`); "active" (XEP-0085) tells we send chat states.
        from roost.xmpp.xeps import xep_0085, xep_0184, xep_0333

        message.append(xep_0184.build_request())
        message.append(xep_0333.build_markable())
        message.append(xep_0085.build_chat_state("active"))
        self._send(message)
        sent = self._sent
        sent[msg_id] = _as_jid(to).bare
        if len(sent) > MAX_SENT_IDS:
            del sent[next(iter(sent))]
        return msg_id

    def send_marker(self, to: JID | str, kind: str, marked_id: str) -> str:
        """Send a XEP-0333 marker (`kind`: received/displayed/acknowledged) for
        the message `marked_id` we got from `to`; returns the marker message's id."""
        from roost.xmpp.xeps import xep_0333

        msg_id = self._stream.new_id()
        self._send(xep_0333.build_marker_message(_as_jid(to), msg_id, kind, marked_id))
        return msg_id

    def send_chat_state(self, to: JID | str, state: str) -> None:
        """Send a standalone XEP-0085 notification (composing, paused, ...).
        Only to someone who sent us chat states (XEP-0085 §5.1: the caller's job)."""
        from roost.xmpp.xeps import xep_0085

        self._send(xep_0085.build_chat_state_message(_as_jid(to), state))

    def ping(self) -> str:
        """Send a XEP-0199 ping to our server (its domain); returns the iq id.

        The answer is not reported: any frame that arrives shows the link is
        alive, which is what the caller watches. An error answer (or none)
        doesn't end the session; an answer from anyone but the domain is
        `Dropped`.
        """
        return self._iq(
            "get", Element("ping", ns.PING), _ignore_response, JID(None, self.jid.domain)
        )

    def query_archive(
        self,
        after_id: str | None = None,
        start: float | None = None,
        before_last: bool = False,
        max: int = 100,
        before_id: str | None = None,
        with_jid: JID | str | None = None,
    ) -> str:
        """Query our own archive (XEP-0313); returns the query id.

        `after_id`: the page after that archive id (catching up, forward);
        `start`: from that time (epoch seconds); `before_last=True`: the last
        page; `before_id`: the page before that id (paging back); `with_jid`:
        only messages to and from that JID (the `with` field; a bare JID
        covers all its clients: one conversation). Results arrive as
        `ArchiveMessage`, then `ArchiveDone` (or `ArchiveGap` when
        `after_id`/`before_id` is no longer in the archive, `ArchiveFailed`).
        They are checked exactly like any other query's (our queryid, from
        our own bare JID or no `from`), not against `with_jid`.
        """
        from roost.xmpp.xeps import xep_0313

        if before_last and before_id is None:
            before_id = ""
        with_text = None if with_jid is None else str(_as_jid(with_jid))
        query_id = self._stream.new_id()
        iq_id = self._stream.new_id()
        iq = xep_0313.build_query(
            iq_id,
            query_id,
            with_text,
            start=start,
            after_id=after_id,
            before_id=before_id,
            max=max,
        )
        self._send(iq)
        self._archive_queries[query_id] = self.jid.bare

        def on_fin(response: Element) -> list[Record]:
            self._archive_queries.pop(query_id, None)
            if xep_0313.is_item_not_found(response):
                return [ArchiveGap(query_id)]
            if response.get("type") == "error":
                return [ArchiveFailed(query_id, stanza_error(response))]
            try:
                fin = xep_0313.parse_fin(response)
            except ProtocolError as exc:
                return [ArchiveFailed(query_id, exc)]
            return [ArchiveDone(query_id, fin.complete, fin.last, fin.count, fin.first)]

        self._pending[iq_id] = (None, on_fin)
        return query_id

    def send_presence(
        self, show: str | None = None, status: str | None = None, available: bool = True
    ) -> None:
        """Broadcast our presence; `show` is None or one of away/chat/dnd/xa."""
        presence = Element("presence", ns.CLIENT)
        if not available:
            presence.attrs["type"] = "unavailable"
        elif show is not None:
            if show not in SHOWS:
                raise ValueError("show must be one of " + ", ".join(SHOWS))
            presence.add("show", text=show)
        if status:
            presence.add("status", text=status)
        self._send(presence)

    def send_initial_presence(self) -> None:
        """Send the initial presence a `hold_presence` client held (once)."""
        if self._presence_due and self._online:
            self._presence_due = False
            self.send_presence()

    def _presence_to(self, jid: JID | str, kind: str) -> JID:
        bare = _as_jid(jid).bare
        self._send(Element("presence", ns.CLIENT, {"type": kind, "to": str(bare)}))
        return bare

    def subscribe(self, jid: JID | str) -> None:
        """Ask to see `jid`'s presence."""
        self._presence_to(jid, "subscribe")

    def approve(self, jid: JID | str) -> None:
        """Let `jid` see our presence.

        Also asks for theirs when we don't have it yet and haven't asked:
        in a chat app a one-way subscription is almost never what a person
        means by "accept".
        """
        bare = self._presence_to(jid, "subscribed")
        item = self.roster.get(bare)
        has_theirs = item is not None and (item.subscription in ("to", "both") or item.ask)
        if not has_theirs:
            self._presence_to(bare, "subscribe")

    def deny(self, jid: JID | str) -> None:
        """Refuse (or revoke) `jid`'s subscription to our presence."""
        self._presence_to(jid, "unsubscribed")

    def unsubscribe(self, jid: JID | str) -> None:
        """Stop seeing `jid`'s presence."""
        self._presence_to(jid, "unsubscribe")

    def set_roster_item(
        self, jid: JID | str, name: str | None = None, groups: list[str] | None = None
    ) -> str:
        """Add or update a roster item (RFC 6121 §2.3); the server pushes the change."""
        query = Element("query", ns.ROSTER)
        item = query.add("item", attrs={"jid": str(_as_jid(jid).bare)})
        if name:
            item.attrs["name"] = name
        for group in groups or ():
            item.add("group", text=group)
        return self._iq("set", query, _ignore_response)

    def remove_roster_item(self, jid: JID | str) -> str:
        """Remove a roster item (RFC 6121 §2.5), which also cancels subscriptions."""
        query = Element("query", ns.ROSTER)
        query.add("item", attrs={"jid": str(_as_jid(jid).bare), "subscription": "remove"})
        return self._iq("set", query, _ignore_response)

    # -- receiving --------------------------------------------------------------
    def _go_online(self) -> list[Record]:
        self._online = True
        self._csi_active = True  # XEP-0352 §4: a fresh session starts active
        # RFC 6121 §2.2 then §4.2: roster first, then initial presence, so the
        # presences the server sends back meet a known roster.
        self._iq("get", Element("query", ns.ROSTER), self._on_roster_result)
        if self._hold_presence:
            self._presence_due = True
        else:
            self.send_presence()
        self.carbons_enabled = False
        if self._carbons:
            server = JID(None, self.jid.domain)
            self._iq("get", Element("query", ns.DISCO_INFO), self._on_server_info, server)
        return [Online(self.jid)]

    def _on_server_info(self, iq: Element) -> list[Record]:
        query = iq.find("query", ns.DISCO_INFO) if iq.get("type") == "result" else None
        if query is None:
            return []
        for feature in query.find_all("feature", ns.DISCO_INFO):
            if feature.get("var") == ns.CARBONS:
                from roost.xmpp.xeps import xep_0280

                iq_id = self._stream.new_id()
                self._send(xep_0280.build_enable(iq_id))
                self._pending[iq_id] = (None, self._on_carbons_enabled)
                break
        return []

    def _on_carbons_enabled(self, iq: Element) -> list[Record]:
        self.carbons_enabled = iq.get("type") == "result"
        return []

    def _sender(self, stanza: Element) -> JID | None:
        text = stanza.get("from")
        return None if text is None else JID.parse(text)

    def _is_own_account(self, sender: JID | None) -> bool:
        # No `from` means the server on behalf of our account.
        own = self.jid
        return sender is None or sender == own.bare or sender == own

    def _on_stanza(self, stanza: Element) -> list[Record]:
        if stanza.name == "iq":
            return self._on_iq(stanza)
        if stanza.name == "message":
            return self._on_message(stanza)
        if stanza.name == "presence":
            return self._on_presence(stanza)
        return []

    def _on_iq(self, iq: Element) -> list[Record]:
        iq_type = iq.get("type")
        iq_id = iq.get("id")
        sender = self._sender(iq)
        if iq_type in ("result", "error"):
            # Never answer a response (RFC 6120 §8.2.3), whatever it is.
            pending = self._pending.get(iq_id) if iq_id else None
            if pending is None:
                return [Dropped("response to an unknown iq id")]
            to, handler = pending
            ok = self._is_own_account(sender) if to is None else sender == to
            if not ok:
                # Someone else guessing our id: keep waiting for the real answer.
                return [Dropped(f"iq response from {sender}, expected {to}")]
            del self._pending[iq_id]  # type: ignore[arg-type]
            return handler(iq)
        if iq_type not in ("get", "set") or not iq_id:
            return [Dropped("iq without a valid type or id")]
        if len(iq.children) != 1:
            self._reply_error(iq, "bad-request", "modify")
            return [Dropped("iq request without exactly one child")]
        payload = iq.children[0]
        if iq_type == "set" and payload.name == "query" and payload.ns == ns.ROSTER:
            return self._on_roster_push(iq, payload, sender)
        if iq_type == "get" and payload.name == "ping" and payload.ns == ns.PING:
            self._reply_result(iq)
            return []
        self._reply_error(iq, "service-unavailable")
        return []

    def _reply_result(self, iq: Element) -> None:
        reply = Element("iq", ns.CLIENT, {"type": "result", "id": iq.get("id") or ""})
        if iq.get("from"):
            reply.attrs["to"] = iq.attrs["from"]
        self._stream.send(reply)

    def _reply_error(self, iq: Element, condition: str, error_type: str = "cancel") -> None:
        reply = Element("iq", ns.CLIENT, {"type": "error", "id": iq.get("id") or ""})
        if iq.get("from"):
            reply.attrs["to"] = iq.attrs["from"]
        error = reply.add("error", attrs={"type": error_type})
        error.add(condition, ns.STANZAS)
        self._stream.send(reply)

    def _on_roster_result(self, iq: Element) -> list[Record]:
        if iq.get("type") != "result":
            return []
        query = iq.find("query", ns.ROSTER)
        items: list[RosterItem] = []
        for element in [] if query is None else query.find_all("item", ns.ROSTER):
            try:
                item = parse_roster_item(element)
            except JidError:
                continue  # one bad entry shouldn't cost the whole roster
            if item.subscription != "remove":
                items.append(item)
        self.roster = {item.jid: item for item in items}
        return [RosterLoaded(items)]

    def _on_roster_push(self, iq: Element, query: Element, sender: JID | None) -> list[Record]:
        if not self._is_own_account(sender):
            # CVE-2017-5589 family: anyone can send us an iq that looks like a push.
            self._reply_error(iq, "service-unavailable")
            return [Dropped(f"roster push from {sender}")]
        elements = query.find_all("item", ns.ROSTER)
        if len(elements) != 1:
            self._reply_error(iq, "bad-request", "modify")
            return [Dropped("roster push without exactly one item")]
        try:
            item = parse_roster_item(elements[0])
        except JidError:
            self._reply_error(iq, "bad-request", "modify")
            return [Dropped("roster push with a bad jid")]
        if item.subscription == "remove":
            self.roster.pop(item.jid, None)
        else:
            self.roster[item.jid] = item
        self._reply_result(iq)
        return [RosterChanged(item)]

    def _on_message(self, message: Element) -> list[Record]:
        for child in message.children:
            if child.ns == ns.MAM and child.name == "result":
                return self._on_archive_result(message)
        for child in message.children:
            if child.ns == ns.CARBONS:
                return self._on_carbon(message)
        msg_type = message.get("type") or "normal"
        if msg_type == "error":
            return self._on_message_error(message)
        events: list[Record] = []
        if msg_type in _MESSAGE_TYPES:
            events.extend(self._on_receipt_or_marker(message))
        chat = self._chat_message(message)
        if chat is not None and message.find("stanza-id", ns.SID) is not None:
            from roost.xmpp.xeps import xep_0359

            chat.archive_id = xep_0359.trusted_stanza_id(message, (self.jid.bare,))
        if chat is not None:
            events.append(ChatReceived(chat))
        elif msg_type in _MESSAGE_TYPES:
            from roost.xmpp.xeps import xep_0085

            state = xep_0085.parse_chat_state(message)
            sender = self._sender(message)
            if state is not None and sender is not None and sender.bare != self.jid.bare:
                events.append(ChatState(sender, state))
        return events

    def _on_receipt_or_marker(self, message: Element) -> list[Record]:
        """A live 1:1 message (never a carbon or an archive result): answer a
        receipt request (XEP-0184) at once; turn a receipt / marker for one of
        our messages into `Receipt` / `Marker`, but only when it comes from the
        bare JID we sent that message to (else anyone who saw an id could mark
        our messages delivered or read)."""
        from roost.xmpp.xeps import xep_0184, xep_0333

        events: list[Record] = []
        parsed = xep_0184.parse_receipt(message)
        sender = self._sender(message)
        if parsed is not None and parsed[0] == xep_0184.REQUEST:
            # Not to our own account's other clients; not while closing; and
            # (XEP-0184 §8) only to contacts allowed to see our presence: a
            # receipt would tell anyone else that we are online.
            if (
                sender is not None
                and sender.bare != self.jid.bare
                and self.online
                and self._sees_our_presence(sender)
            ):
                receipt = xep_0184.receipt_for(message, self._stream.new_id())
                if receipt is not None:
                    self._stream.send(receipt)
        elif parsed is not None:
            acked_id = parsed[1]
            if self._sent_to(acked_id, sender):
                events.append(Receipt(sender, acked_id))  # type: ignore[arg-type]
            else:
                events.append(Dropped(f"receipt for {acked_id!r} from {sender}"))
        marker = xep_0333.parse_marker(message)
        if marker is not None:
            if self._sent_to(marker.id, sender):
                events.append(Marker(sender, marker.kind, marker.id))  # type: ignore[arg-type]
            else:
                events.append(Dropped(f"{marker.kind} marker for {marker.id!r} from {sender}"))
        return events

    def _sees_our_presence(self, jid: JID) -> bool:
        """The roster says `jid` is subscribed to our presence (from/both)."""
        item = self.roster.get(jid.bare)
        return item is not None and item.subscription in ("from", "both")

    def _sent_to(self, msg_id: str, sender: JID | None) -> bool:
        """True when we recently sent `msg_id` to `sender`'s bare JID."""
        addressee = self._sent.get(msg_id)
        return addressee is not None and sender is not None and sender.bare == addressee

    def _on_archive_result(self, message: Element) -> list[Record]:
        """A XEP-0313 result (SECURITY.md: only for our queryid, from our account)."""
        from roost.xmpp.xeps import xep_0313

        own = self.jid.bare
        try:
            archived = xep_0313.parse_result(message, self._archive_queries, own)
        except ForgedStanza as exc:
            return [Dropped(f"forged archive result: {exc}")]
        except ProtocolError as exc:
            return [Dropped(f"bad archive result: {exc}")]
        if archived is None:
            return []
        chat = self._chat_message(archived.message)
        if chat is None:
            return []  # chat states, receipts, groupchat: nothing to show
        chat.archive_id = archived.archive_id
        if archived.stamp is not None:
            chat.stamp = archived.stamp
        direction = "out" if chat.from_jid.bare == own else "in"
        return [
            ArchiveMessage(archived.query_id, archived.archive_id, chat.stamp, chat, direction)
        ]

    def _chat_message(self, message: Element) -> ChatMessage | None:
        """The `ChatMessage` of a chat/normal message with a body, else None."""
        msg_type = message.get("type") or "normal"
        if msg_type not in _MESSAGE_TYPES:
            return None  # groupchat/headline/error: not handled here
        body = message.find_text("body", ns.CLIENT)
        if body is None:
            return None  # chat states, receipts, ...: not handled yet
        sender = self._sender(message) or self.jid.bare
        to_text = message.get("to")
        delay = message.find("delay", ns.DELAY)
        stamp_text = None if delay is None else delay.get("stamp")
        from roost.xmpp.xeps import xep_0085, xep_0308, xep_0333, xep_0359

        return ChatMessage(
            message.get("id"),
            sender,
            None if to_text is None else JID.parse(to_text),
            body,
            msg_type,
            message.find_text("thread", ns.CLIENT) or None,
            None if stamp_text is None else parse_datetime(stamp_text),
            markable=xep_0333.is_markable(message),
            chat_state=xep_0085.parse_chat_state(message),
            origin_id=xep_0359.parse_origin_id(message),
            replaces=xep_0308.parse_replace(message),
        )

    def _on_carbon(self, message: Element) -> list[Record]:
        """A message with a XEP-0280 wrapper (SECURITY.md: only from our own bare JID)."""
        from roost.xmpp.xeps import xep_0280

        try:
            carbon = xep_0280.unwrap_carbon(message, self.jid.bare)
        except ForgedStanza as exc:
            return [Dropped(f"forged carbon: {exc}")]
        if carbon is None:
            # Not a carbon (groupchat/error with a wrapper): handled as what it
            # is; the wrapped message is never looked at.
            if (message.get("type") or "normal") == "error":
                return self._on_message_error(message)
            chat = self._chat_message(message)
            return [] if chat is None else [ChatReceived(chat)]
        chat = self._chat_message(carbon.message)
        if chat is None:
            return []
        if carbon.direction == xep_0280.RECEIVED:
            return [ChatReceived(chat)]
        if chat.to_jid is None:
            return [Dropped("sent carbon without an addressee")]
        return [ChatSent(chat)]

    def _on_message_error(self, message: Element) -> list[Record]:
        msg_id = message.get("id")
        addressee = self._sent.get(msg_id) if msg_id else None
        if addressee is None:
            return [Dropped("message error for an id we didn't send")]
        sender = self._sender(message)
        own_server = JID(None, self.jid.domain)
        if not (sender is None or sender.bare == addressee or sender == own_server):
            return [Dropped(f"message error from {sender}, sent to {addressee}")]
        del self._sent[msg_id]  # type: ignore[arg-type]
        return [MessageFailed(msg_id, stanza_error(message))]

    def _on_presence(self, presence: Element) -> list[Record]:
        sender = self._sender(presence)
        if sender is None:
            return []
        kind = presence.get("type")
        status = presence.find_text("status", ns.CLIENT) or None
        if kind is None or kind == "unavailable":
            show = presence.find_text("show", ns.CLIENT)
            priority = 0
            priority_text = presence.find_text("priority", ns.CLIENT)
            if priority_text:
                try:
                    priority = max(-128, min(127, int(priority_text)))
                except ValueError:
                    pass
            return [
                PresenceChanged(
                    sender, kind is None, show if show in SHOWS else None, status, priority
                )
            ]
        if kind == "subscribe":
            return [SubscriptionRequest(sender.bare, status)]
        if kind in ("subscribed", "unsubscribe", "unsubscribed"):
            return [SubscriptionChanged(sender.bare, kind)]
        return []  # probe (server's job), error: nothing to report


def _ignore_response(iq: Element) -> list[Record]:
    return []
