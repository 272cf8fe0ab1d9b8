"""`XmppClient`: the sans-I/O façade the app drives (see docs/architecture.md).

Frames in (`receive`), frames out (`take_output`), events back. Negotiation
is `ClientStream`'s; this module handles stanzas once bound: IQ tracking by
id (responses are matched to the request *and* its addressee), the roster
(RFC 6121 §2), presence and subscriptions (§3-4), chat messages (§5), and
group chats (XEP-0045 with bookmarks, disco, moderation: below).

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

Group chats (XEP-0045, `join_room` and the methods after it): `rooms`
holds the rooms joined or being joined, with our nick. A groupchat message
is accepted only from such a room's JIDs, a muc#user presence is occupant
presence only for such a room (else `Dropped`), and a room's stanza-id is
trusted only when `by` is the room's bare JID. A subject, a moderation
announcement (XEP-0425: only from the room's bare JID) and a room's
archive results (only from the room queried, for our queryid) are checked
the same way. A mediated invitation is accepted only from a bare JID that
can be a room (not a contact, not a full JID). Receipts and markers are
never sent for groupchat. PEP bookmark notifications (XEP-0402) are
accepted only from our own bare JID or with no `from`. Every request that
is answered by an iq (admin, configuration, disco, bookmarks, self-ping)
is matched to its id and addressee like any other.

Confirming (XEP-0198 with `ack_after_confirm=True`, for "ack an inbound
stanza only once it is stored"): the events whose class has
`needs_confirm = True` are exactly `ChatReceived`, `ChatSent` (live
messages, received and sent carbons alike) and `GroupchatReceived`. Each
one must be confirmed once, in the order `receive()` returned them, with
`confirm_handled()`, including those the caller decides not to store (a
duplicate, a correction it drops, a message from a blocked contact): an
unconfirmed event holds back the acks of every later stanza, and the
server's unacked queue grows until it gives up on the session. A stanza
yields at most one such event. Everything else counts as handled when
`receive()` returns and needs no confirmation: `ArchiveMessage` (the
archive keeps it: move the catch-up cursor only once the page is stored),
`Receipt`, `Marker`, `ChatState`, `MessageFailed`, presence, roster and
room events other than `GroupchatReceived` (`MessageModerated` too: the
room archive's tombstone brings it again), `Dropped`. Confirm on the
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
    AffiliationList,
    ArchiveDone,
    ArchiveFailed,
    ArchiveGap,
    ArchiveMessage,
    BookmarkChanged,
    BookmarksLoaded,
    ChatMessage,
    ChatReceived,
    ChatSent,
    ChatState,
    DiscoInfoResult,
    DiscoItemsResult,
    Dropped,
    GroupchatMessage,
    GroupchatReceived,
    IqDone,
    IqFailed,
    IqResult,
    JoinedRoom,
    Marker,
    MessageFailed,
    MessageModerated,
    NickChangeFailed,
    Occupant,
    OccupantChanged,
    OmemoDeviceList,
    Online,
    PresenceChanged,
    Receipt,
    Resumed,
    RoomConfigChanged,
    RoomConfigForm,
    RoomInvite,
    RoomJoined,
    RoomJoinFailed,
    RoomLeft,
    RoomSubject,
    RosterChanged,
    RosterItem,
    RosterLoaded,
    SelfPingResult,
    SubscriptionChanged,
    SubscriptionRequest,
)
from roost.xmpp.jid import JID
from roost.xmpp.stamps import parse_datetime
from roost.xmpp.stream import CLOSED, CLOSING, READY, RESUMING, ClientStream, stanza_error
from roost.xmpp.xeps.xep_0198 import ACK_EVERY, is_stanza

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from roost.xmpp.events import Record
    from roost.xmpp.xeps.xep_0313 import ArchivedMessage
    from roost.xmpp.xeps.xep_0402 import Bookmark

    ResponseHandler = Callable[[Element], list[Record]]

SHOWS = ("away", "chat", "dnd", "xa")
# How many sent message ids are remembered (with their addressee) so that a
# bounce can be checked against who we wrote to; older ones are forgotten.
MAX_SENT_IDS = 256
SUBSCRIPTIONS = ("none", "to", "from", "both", "remove")
_MESSAGE_TYPES = ("chat", "normal")
# Rooms whose disco#info features are remembered (to trust occupant ids,
# pick the moderation version); more and the memory starts again.
MAX_ROOM_FEATURES = 256
OCCUPANT_ID = "urn:xmpp:occupant-id:0"  # XEP-0421 (xeps/xep_0421.NS)
_CONFERENCE = "jabber:x:conference"  # XEP-0249 (xeps/xep_0249.NS)
# XEP-0045 §15.6 status codes of a room's message saying its configuration
# changed (104), or its logging or anonymity did (170-174).
_CONFIG_CODES = frozenset((104, 170, 171, 172, 173, 174))
# XEP-0045 §15.6 status codes on our own unavailable presence → RoomLeft.reason
_LEFT_REASONS = ((301, "banned"), (307, "kicked"), (321, "removed"), (322, "removed"),
                 (332, "shutdown"))


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
    """One XMPP session: login, roster, presence, chats, group chats.

    See the module docstring.
    """

    __slots__ = (
        "_account_info_pending",
        "_archive_queries",
        "_bookmark_waiters",
        "_caps",
        "_carbons",
        "_csi_active",
        "_groupchat_sent",
        "_hold_presence",
        "_online",
        "_pending",
        "_presence_due",
        "_room_features",
        "_sent",
        "_stream",
        "bookmarks_pep",
        "carbons_enabled",
        "resume_asked",
        "rooms",
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
        caps: bool = False,
    ) -> None:
        """`secure` says the transport is TLS (or loopback): only then is PLAIN allowed.

        XEP-0198 (used whenever the server offers it): `resume` is a dict from
        an earlier client's `resume_state()`: after SASL the session is resumed
        instead of bound (`Resumed`, or `ResumeFailed` then a fresh `Online`);
        a malformed one raises ValueError. `ack_after_confirm`: a stanza whose
        events need storing (`ChatReceived`, `ChatSent`, `GroupchatReceived`:
        "Confirming" in the module docstring) counts as handled for the
        server only after `confirm_handled()`; by default it counts once
        `receive()` returned.
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

        `caps`: our available presence carries XEP-0115 entity capabilities
        (and disco#info queries about us are answered), which is how the
        server learns to send XEP-0402 bookmark changes (`BookmarkChanged`).
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
        # `<resume/>` went out on this stream (whatever came of it): a stream
        # that ends before its answer may have ended *because* of it.
        self.resume_asked = False
        self.carbons_enabled = False
        self._caps = caps
        # queryid → the archive queried (our own bare JID, or a room's), for
        # each archive query without its <fin/> yet
        self._archive_queries: dict[str, JID] = {}
        # id → (addressee or None for our own account, handler of the response)
        self._pending: dict[str, tuple[JID | None, ResponseHandler]] = {}
        # message id → JID it was sent to (oldest first, MAX_SENT_IDS at most):
        # a bare JID for chats, room/nick for private messages in a room
        self._sent: dict[str, JID] = {}
        # groupchat message id → room, only to recognise bounces: kept apart
        # so an occupant can't confirm "receipt" of a message to the room
        self._groupchat_sent: dict[str, JID] = {}
        self.roster: dict[JID, RosterItem] = {}
        # Rooms joined or being joined (bare JID → state), see `JoinedRoom`.
        self.rooms: dict[JID, JoinedRoom] = {}
        # room → its disco#info features, from answers to `disco_info`
        self._room_features: dict[JID, list[str]] = {}
        # XEP-0402 on our account (urn:xmpp:bookmarks:1#compat on our bare
        # JID's disco#info): True/False once known, None before.
        self.bookmarks_pep: bool | None = None
        self._account_info_pending = False
        # bookmark requests waiting for `bookmarks_pep` to be known
        self._bookmark_waiters: list[Callable[[bool], None]] = []
        if resume is not None:
            self._load_sent(resume.get("sent"))
            self._load_rooms(resume.get("rooms"))

    def _load_sent(self, sent: object) -> None:
        # Bounces for messages of the resumed session are still recognised.
        if not isinstance(sent, list):
            return
        for entry in sent[-MAX_SENT_IDS:]:
            try:
                msg_id, addressee = entry
                self._sent[str(msg_id)] = JID.parse(str(addressee))
            except (TypeError, ValueError, XmppError):
                continue

    def _load_rooms(self, rooms: object) -> None:
        # A resumed session is still in the rooms it was in.
        if not isinstance(rooms, list):
            return
        for entry in rooms:
            try:
                room, nick = entry
                jid = JID.parse(str(room)).bare.with_resource(str(nick))
            except (TypeError, ValueError, XmppError):
                continue
            if jid.local is None:
                continue
            self.rooms[jid.bare] = JoinedRoom(jid.bare, str(jid.resource), joined=True)

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
        if stream.state == RESUMING:
            self.resume_asked = True
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
            self._account_info_pending = False
            del self._bookmark_waiters[:]
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

    @property
    def acks_received(self) -> int:
        """XEP-0198 `<a/>` answers received on this stream so far."""
        return self._stream.acks_received

    def confirm_handled(self, n: int = 1) -> None:
        """With `ack_after_confirm=True`: the `n` oldest events that need it
        (`ChatReceived`, `ChatSent`, `GroupchatReceived`: see "Confirming" in
        the module docstring) are stored; the server may now drop them. Raises ValueError when
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
        ([[message id, addressee JID], ...]), "rooms" ([[room, our nick], ...]
        for the rooms joined, when there are any: a resumed session is still
        in them). Save it after sending and after acks; the copy taken after
        the connection died is the one to use.
        """
        state = self._stream.resume_state()
        if state is not None:
            state["sent"] = [[msg_id, str(to)] for msg_id, to in self._sent.items()]
            rooms = [
                [str(room.jid), room.nick]
                for room in self.rooms.values()
                if room.joined and not room.leaving
            ]
            if rooms:
                state["rooms"] = rooms
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
        self,
        iq_type: str,
        payload: Element,
        handler: ResponseHandler,
        to: JID | None = None,
        iq_id: str | None = None,
    ) -> str:
        iq_id = iq_id or self._stream.new_id()
        iq = Element("iq", ns.CLIENT, {"type": iq_type, "id": iq_id})
        if to is not None:
            iq.attrs["to"] = str(to)
        iq.append(payload)
        self._send(iq)
        self._pending[iq_id] = (to, handler)
        return iq_id

    def _request(
        self,
        iq_type: str,
        payload: Element,
        to: JID | None,
        on_result: ResponseHandler | None = None,
        iq_id: str | None = None,
    ) -> str:
        """An iq whose error answer is `IqFailed(id)` and whose result goes
        to `on_result` (default: `IqDone(id)`); returns the id."""
        query_id = iq_id or self._stream.new_id()

        def handler(iq: Element) -> list[Record]:
            if iq.get("type") == "error":
                return [_iq_failed(query_id, to, iq)]
            if on_result is None:
                return [IqDone(query_id)]
            return on_result(iq)

        return self._iq(iq_type, payload, handler, to, query_id)

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

    def send_encrypted(
        self, to: JID | str, encrypted: object, *, id: str | None = None,
        encrypted2: object = None,
    ) -> str:
        """Send a chat message carrying OMEMO: legacy (`xep_0384.LegacyEncrypted`)
        and/or OMEMO 2 (`encrypted2`, `Omemo2Encrypted`) for the devices that
        speak it, hints and the fixed fallback body, never plaintext.

        `id`: the outbox id (a message) or None (a key-transport message: no
        receipt, marker or chat state). Tracked like `send_chat` for acks.
        """
        from roost.xmpp.xeps import xep_0085, xep_0184, xep_0333

        msg_id = id or self._stream.new_id()
        jid = _as_jid(to)
        message = Element("message", ns.CLIENT, {"type": "chat", "to": str(jid), "id": msg_id})
        for child in _omemo_children(encrypted, encrypted2):
            message.append(child)
        message.add("origin-id", ns.SID, {"id": msg_id})
        payload = getattr(encrypted, "payload", None) or getattr(encrypted2, "payload", None)
        if id is not None and payload is not None:
            message.append(xep_0184.build_request())
            message.append(xep_0333.build_markable())
            message.append(xep_0085.build_chat_state("active"))
        self._send(message)
        self._remember(self._sent, msg_id, jid.bare)
        return msg_id

    def send_encrypted_groupchat(
        self, room: JID | str, encrypted: object, *, id: str, encrypted2: object = None
    ) -> str:
        """Send OMEMO to everyone in `room` (members-only, non-anonymous): like
        `send_groupchat`, with the `<encrypted/>`s and the fixed fallback body."""
        bare = _as_jid(room).bare
        message = Element("message", ns.CLIENT, {"type": "groupchat", "to": str(bare), "id": id})
        for child in _omemo_children(encrypted, encrypted2):
            message.append(child)
        message.add("origin-id", ns.SID, {"id": id})
        self._send(message)
        self._remember(self._groupchat_sent, id, bare)
        return id

    def request(self, iq_type: str, payload: Element, to: JID | str | None = None) -> str:
        """Send an iq with `payload`; the answer is `IqResult(id, iq)` (the caller
        parses it) or `IqFailed(id)`. Returns the id."""
        query_id = self._stream.new_id()

        def on_result(iq: Element) -> list[Record]:
            return [IqResult(query_id, iq)]

        return self._request(
            iq_type, payload, None if to is None else _as_jid(to), on_result, query_id
        )

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
        room: JID | str | None = None,
    ) -> str:
        """Query our own archive, or `room`'s (XEP-0313); returns the query id.

        `after_id`: the page after that archive id (catching up, forward);
        `start`: from that time (epoch seconds); `before_last=True`: the last
        page; `before_id`: the page before that id (paging back); `with_jid`:
        only messages to and from that JID (the `with` field; a bare JID
        covers all its clients: one conversation). Results arrive as
        `ArchiveMessage`, then `ArchiveDone` (or `ArchiveGap` when
        `after_id`/`before_id` is no longer in the archive, `ArchiveFailed`).
        They are checked exactly like any other query's (our queryid, from
        our own bare JID or no `from`), not against `with_jid`.

        `room`: the query goes to that room's bare JID (a MUC archive, whether
        or not we are in it), and its results are accepted only from that
        JID, for this query id; they arrive as `ArchiveMessage` with `room`
        set and a `GroupchatMessage` (moderated messages as
        `MessageModerated`). Its `<fin/>` must come from the room too.
        """
        from roost.xmpp.xeps import xep_0313

        if before_last and before_id is None:
            before_id = ""
        with_text = None if with_jid is None else str(_as_jid(with_jid))
        archive = None if room is None else _as_jid(room).bare
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
            to=archive,
        )
        self._send(iq)
        self._archive_queries[query_id] = self.jid.bare if archive is None else archive

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

        self._pending[iq_id] = (archive, on_fin)
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
        if available and self._caps:
            from roost.xmpp.xeps import xep_0115

            presence.append(xep_0115.build_caps())
        self._send(presence)

    @property
    def presence_held(self) -> bool:
        """A fresh session's initial presence is still held (`hold_presence`):
        until it is sent, the server doesn't route messages to our bare JID
        to this session (they go to our other resources, or offline)."""
        return self._presence_due

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

    # -- group chats (XEP-0045) ---------------------------------------------------
    def _room(self, room: JID | str) -> JoinedRoom:
        entry = self.rooms.get(_as_jid(room).bare)
        if entry is None:
            raise ValueError(f"not in room {room}")
        return entry

    def join_room(
        self,
        room: JID | str,
        nick: str,
        password: str | None = None,
        history_max: int | None = 0,
        history_since: float | None = None,
    ) -> None:
        """Join `room` (its bare JID) as `nick`.

        The room answers with `OccupantChanged` for everyone there, then ours
        and `RoomJoined` (or `RoomJoinFailed`), then `RoomSubject`.
        `history_max`: how many past messages the room sends on join
        (`GroupchatReceived` with `history=True`); the default 0 leaves
        history to the room's archive (`query_archive(room=...)`), None
        takes the room's default. `history_since`: only those after that
        time (epoch seconds). Joining a room we are in again (e.g. after a
        self-ping said "not-joined") starts over: `RoomJoined` comes again.
        A nick that can't be a resourcepart raises `JidError`.
        """
        from roost.xmpp.xeps import xep_0045

        bare = _as_jid(room).bare
        if bare.local is None:
            raise ValueError("a room JID is room@service")
        occupant = bare.with_resource(nick)
        self._send(xep_0045.build_join(occupant, password, history_max, history_since))
        entry = JoinedRoom(bare, nick)
        self._apply_room_features(entry, self._room_features.get(bare))
        self.rooms[bare] = entry

    def leave_room(self, room: JID | str, status: str | None = None) -> None:
        """Leave `room`; `RoomLeft(reason="left")` follows when the room
        confirms. Nothing is sent for a room we are not in."""
        from roost.xmpp.xeps import xep_0045

        entry = self.rooms.get(_as_jid(room).bare)
        if entry is None:
            return
        self._send(xep_0045.build_leave(entry.jid.with_resource(entry.nick), status))
        entry.leaving = True

    def change_nick(self, room: JID | str, nick: str) -> None:
        """Ask for a new nick in a room we are in: `OccupantChanged` (ours,
        303, `new_nick`) then ours under the new nick, or `NickChangeFailed`."""
        from roost.xmpp.xeps import xep_0045

        entry = self._room(room)
        occupant = entry.jid.with_resource(nick)
        self._send(xep_0045.build_nick_change(occupant))
        entry.pending_nick = nick

    def set_subject(self, room: JID | str, subject: str) -> str:
        """Change the room's subject ("" clears it); returns the message id.
        `RoomSubject` follows when the room accepts, `MessageFailed` if not."""
        from roost.xmpp.xeps import xep_0045

        bare = _as_jid(room).bare
        msg_id = self._stream.new_id()
        self._send(xep_0045.build_subject(bare, subject, msg_id))
        self._remember(self._groupchat_sent, msg_id, bare)
        return msg_id

    def send_groupchat(
        self,
        room: JID | str,
        body: str,
        replaces: str | None = None,
        *,
        id: str | None = None,
    ) -> str:
        """Send a message to everyone in `room`; returns its id (also its
        XEP-0359 origin-id: the room reflects it back to us as
        `GroupchatReceived` with `own=True` and this `origin_id`, now with the
        room's stanza-id). `replaces` and `id` as in `send_chat`. No receipt
        or marker is asked for (they make no sense in a group)."""
        if replaces is not None and not replaces:
            raise ValueError("replaces must be the corrected message's id")
        bare = _as_jid(room).bare
        msg_id = id or self._stream.new_id()
        message = Element(
            "message", ns.CLIENT, {"type": "groupchat", "to": str(bare), "id": msg_id}
        )
        message.add("body", text=body)
        message.add("origin-id", ns.SID, {"id": msg_id})
        if replaces is not None:
            from roost.xmpp.xeps import xep_0308

            message.append(xep_0308.build_replace(replaces))
        self._send(message)
        self._remember(self._groupchat_sent, msg_id, bare)
        return msg_id

    def send_private(
        self, room: JID | str, nick: str, body: str, *, id: str | None = None
    ) -> str:
        """Send a private message to occupant `nick` of `room` (XEP-0045
        §7.5, through the room: their real JID stays hidden); returns its id.
        The conversation is the occupant JID room/nick; answers arrive as
        `ChatReceived` with `muc_private=True`."""
        from roost.xmpp.xeps import xep_0045, xep_0184

        occupant = _as_jid(room).bare.with_resource(nick)
        msg_id = id or self._stream.new_id()
        message = Element(
            "message", ns.CLIENT, {"type": "chat", "to": str(occupant), "id": msg_id}
        )
        message.add("body", text=body)
        message.add("origin-id", ns.SID, {"id": msg_id})
        message.append(xep_0045.build_private_marker())
        message.append(xep_0184.build_request())
        self._send(message)
        self._remember(self._sent, msg_id, occupant)
        return msg_id

    def invite(
        self,
        room: JID | str,
        jid: JID | str,
        reason: str | None = None,
        password: str | None = None,
        *,
        mediated: bool = False,
    ) -> str:
        """Invite `jid` into `room`; returns the message id. By default a
        XEP-0249 direct invitation (from us to them); `mediated=True` asks
        the room to relay it (XEP-0045 §7.8.2: in a members-only room that
        is what lets an admin's invitee in; no password is sent then)."""
        bare = _as_jid(room).bare
        invitee = _as_jid(jid)
        msg_id = self._stream.new_id()
        if mediated:
            from roost.xmpp.xeps import xep_0045

            self._send(xep_0045.build_mediated_invite(bare, invitee, msg_id, reason))
        else:
            from roost.xmpp.xeps import xep_0249

            self._send(xep_0249.build_invite(invitee, bare, msg_id, reason, password))
        return msg_id

    def self_ping(self, room: JID | str, nick: str | None = None) -> str:
        """Are we still in `room`? (XEP-0410) A ping to room/our-nick;
        `SelfPingResult(room, state)` follows ("joined", "not-joined":
        join again, "unknown": ask again later). `nick` defaults to ours
        there; a room we don't know without `nick` is a ValueError."""
        from roost.xmpp.xeps import xep_0410

        bare = _as_jid(room).bare
        if nick is None:
            nick = self._room(bare).nick
        occupant = bare.with_resource(nick)
        query_id = self._stream.new_id()

        def on_answer(iq: Element) -> list[Record]:
            state = xep_0410.interpret(iq)
            entry = self.rooms.get(bare)
            if state == xep_0410.NOT_JOINED and entry is not None and entry.nick == nick:
                entry.joined = False  # a join must bring RoomJoined again
            return [SelfPingResult(bare, state, query_id)]

        return self._iq("get", xep_0410.build_ping(), on_answer, occupant, query_id)

    def set_role(
        self, room: JID | str, nick: str, role: str, reason: str | None = None
    ) -> str:
        """Give occupant `nick` `role` (moderator/participant/visitor, or
        "none": kick); `IqDone` or `IqFailed` answers the returned id."""
        from roost.xmpp.xeps import xep_0045

        query = xep_0045.build_role_query(nick, role, reason)
        return self._request("set", query, _as_jid(room).bare)

    def set_affiliation(
        self, room: JID | str, jid: JID | str, affiliation: str, reason: str | None = None
    ) -> str:
        """Give the (bare) `jid` `affiliation` (owner/admin/member/none, or
        "outcast": ban); `IqDone` or `IqFailed` answers the returned id."""
        from roost.xmpp.xeps import xep_0045

        query = xep_0045.build_affiliation_query(_as_jid(jid), affiliation, reason)
        return self._request("set", query, _as_jid(room).bare)

    def get_affiliations(self, room: JID | str, affiliation: str) -> str:
        """Who has `affiliation` in `room`: `AffiliationList` (or `IqFailed`)."""
        from roost.xmpp.xeps import xep_0045

        bare = _as_jid(room).bare

        def on_result(iq: Element) -> list[Record]:
            query = iq.find("query", xep_0045.ADMIN)
            items: list[tuple[JID, str | None]] = []
            for item in [] if query is None else xep_0045.parse_admin_items(query):
                if item.jid is not None and (item.affiliation in (None, affiliation)):
                    items.append((item.jid.bare, item.nick))
            return [AffiliationList(query_id, bare, affiliation, items)]

        query_id = self._request(
            "get", xep_0045.build_affiliation_list_query(affiliation), bare, on_result
        )
        return query_id

    def get_room_config(self, room: JID | str) -> str:
        """The room's configuration form (owners only): `RoomConfigForm`."""
        from roost.xmpp.xeps import xep_0045

        bare = _as_jid(room).bare

        def on_result(iq: Element) -> list[Record]:
            form = xep_0045.parse_config(iq)
            if form is None:
                return [IqFailed(query_id, bare, "bad-request", "no configuration form")]
            return [RoomConfigForm(query_id, bare, form.fields, form)]

        query_id = self._request("get", xep_0045.build_config_query(), bare, on_result)
        return query_id

    def submit_room_config(
        self,
        room: JID | str,
        values: Mapping[str, str | list[str] | tuple[str, ...] | bool] | None,
    ) -> str:
        """Submit configuration `values` (var → value; a bool is "1"/"0",
        a list is several values) for `room`; the fields not given keep
        their value. `values=None` accepts the defaults ("instant room",
        after `RoomJoined.created`). `IqDone` / `IqFailed` answer."""
        from roost.xmpp.xeps import xep_0045

        return self._request("set", xep_0045.build_config_submit(values), _as_jid(room).bare)

    def moderate(self, room: JID | str, archive_id: str, reason: str | None = None) -> str:
        """Ask `room` to retract the message with that room stanza-id
        (XEP-0425; we must be a moderator). `IqDone` / `IqFailed` answer;
        every occupant, us included, then gets `MessageModerated`. Speaks
        XEP-0425 0.2 unless the room's disco#info (seen through
        `disco_info`) offers only 0.3."""
        from roost.xmpp.xeps import xep_0425

        bare = _as_jid(room).bare
        features = self._room_features.get(bare) or []
        version = 1 if xep_0425.NS_1 in features and xep_0425.NS not in features else 0
        payload = xep_0425.build_request(archive_id, reason, version)
        return self._request("set", payload, bare)

    # -- service discovery (XEP-0030) ----------------------------------------------
    def disco_info(self, jid: JID | str, node: str | None = None) -> str:
        """What `jid` is and supports: `DiscoInfoResult` (or `IqFailed`).
        A room's answer is also remembered: its features decide whether its
        occupant ids (XEP-0421) are trusted and which moderation it speaks."""
        from roost.xmpp.xeps import xep_0030

        target = _as_jid(jid)

        def on_result(iq: Element) -> list[Record]:
            query = iq.find("query", xep_0030.INFO)
            if query is None:
                return [IqFailed(query_id, target, "bad-request", "no disco#info query")]
            info = xep_0030.parse_info(query)
            if node is None and target.local is not None and target.resource is None:
                self._remember_room_features(target, info.features)
            return [
                DiscoInfoResult(
                    query_id, target, node, info.identities, info.features,
                    info.form_values(), info.forms,
                )
            ]

        query_id = self._request("get", xep_0030.build_info_query(node), target, on_result)
        return query_id

    def disco_items(self, jid: JID | str, node: str | None = None) -> str:
        """What `jid` lists (a MUC service: its public rooms):
        `DiscoItemsResult` (or `IqFailed`)."""
        from roost.xmpp.xeps import xep_0030

        target = _as_jid(jid)

        def on_result(iq: Element) -> list[Record]:
            query = iq.find("query", xep_0030.ITEMS)
            items = [] if query is None else xep_0030.parse_items(query)
            return [DiscoItemsResult(query_id, target, node, items)]

        query_id = self._request("get", xep_0030.build_items_query(node), target, on_result)
        return query_id

    def _learn_room_features(self, room: JID) -> None:
        """Ask a room we joined what it supports, quietly: whether to trust
        its occupant ids (XEP-0421) and which moderation it speaks depend on it."""

        def on_answer(iq: Element) -> list[Record]:
            query = iq.find("query", ns.DISCO_INFO) if iq.get("type") == "result" else None
            if query is not None:
                from roost.xmpp.xeps import xep_0030

                self._remember_room_features(room, xep_0030.parse_info(query).features)
            return []

        self._iq("get", Element("query", ns.DISCO_INFO), on_answer, room)

    def _remember_room_features(self, room: JID, features: list[str]) -> None:
        if len(self._room_features) >= MAX_ROOM_FEATURES:
            self._room_features.clear()
        self._room_features[room] = features
        entry = self.rooms.get(room)
        if entry is not None:
            self._apply_room_features(entry, features)

    def _apply_room_features(self, entry: JoinedRoom, features: list[str] | None) -> None:
        if features is not None:
            entry.features = list(features)
            entry.occupant_ids = OCCUPANT_ID in features

    # -- bookmarks (XEP-0402, XEP-0048) --------------------------------------------
    def _with_bookmark_store(self, action: Callable[[bool], None]) -> None:
        """Run `action(pep)` once we know where bookmarks live: asks our
        account's disco#info first when that isn't known yet."""
        if self.bookmarks_pep is not None:
            action(self.bookmarks_pep)
            return
        self._bookmark_waiters.append(action)
        if not self._account_info_pending:
            self._ask_account_info()

    def _ask_account_info(self) -> None:
        # Prosody lists account (PEP) features on our bare JID, not the domain.
        self._account_info_pending = True
        self._iq("get", Element("query", ns.DISCO_INFO), self._on_account_info, self.jid.bare)

    def _on_account_info(self, iq: Element) -> list[Record]:
        from roost.xmpp.xeps import xep_0402

        self._account_info_pending = False
        query = iq.find("query", ns.DISCO_INFO) if iq.get("type") == "result" else None
        pep = False
        for feature in [] if query is None else query.find_all("feature", ns.DISCO_INFO):
            pep = pep or feature.get("var") == xep_0402.COMPAT
        self.bookmarks_pep = pep
        waiters = list(self._bookmark_waiters)
        del self._bookmark_waiters[:]
        for action in waiters:
            if self.online:
                action(pep)
        return []

    def get_bookmarks(self) -> str:
        """Read every bookmark: `BookmarksLoaded` (or `IqFailed`) for the
        returned id. XEP-0402 PEP when our account offers
        `urn:xmpp:bookmarks:1#compat` (`bookmarks_pep`), else XEP-0048
        private storage; the first call may ask the account first."""
        query_id = self._stream.new_id()

        def send(pep: bool) -> None:
            if pep:
                from roost.xmpp.xeps import xep_0402

                def on_items(iq: Element) -> list[Record]:
                    if iq.get("type") == "error":
                        if stanza_error(iq).condition == "item-not-found":
                            return [BookmarksLoaded([], query_id, True)]  # no node yet
                        return [_iq_failed(query_id, None, iq)]
                    return [BookmarksLoaded(xep_0402.parse_items(iq), query_id, True)]

                self._iq("get", xep_0402.build_get(), on_items, None, query_id)
            else:
                from roost.xmpp.xeps import xep_0048

                def on_storage(iq: Element) -> list[Record]:
                    return [BookmarksLoaded(xep_0048.parse_storage(iq)[0], query_id, False)]

                self._request("get", xep_0048.build_get(), None, on_storage, query_id)

        self._with_bookmark_store(send)
        return query_id

    def set_bookmark(self, bookmark: Bookmark) -> str:
        """Add or replace the bookmark of `bookmark.jid`: `IqDone` (or
        `IqFailed`) for the returned id, and `BookmarkChanged` (PEP: the
        server's notification; private storage: reported here)."""
        return self._change_bookmark(bookmark.jid.bare, bookmark)

    def remove_bookmark(self, room: JID | str) -> str:
        """Remove the bookmark of `room`; answered like `set_bookmark`
        (`BookmarkChanged(room, None)`)."""
        return self._change_bookmark(_as_jid(room).bare, None)

    def _change_bookmark(self, room: JID, bookmark: Bookmark | None) -> str:
        query_id = self._stream.new_id()

        def send(pep: bool) -> None:
            if pep:
                from roost.xmpp.xeps import xep_0402

                if bookmark is None:
                    payload = xep_0402.build_retract(room)
                else:
                    payload = xep_0402.build_publish(bookmark)
                self._request("set", payload, None, iq_id=query_id)
            else:
                self._change_stored_bookmark(query_id, room, bookmark)

        self._with_bookmark_store(send)
        return query_id

    def _change_stored_bookmark(
        self, query_id: str, room: JID, bookmark: Bookmark | None
    ) -> None:
        """XEP-0048: read the whole storage, change one entry, write it back."""
        from roost.xmpp.xeps import xep_0048

        def on_written(iq: Element) -> list[Record]:
            return [IqDone(query_id), BookmarkChanged(room, bookmark)]

        def on_read(iq: Element) -> list[Record]:
            if iq.get("type") == "error":
                return [_iq_failed(query_id, None, iq)]
            if not self.online:
                return []
            bookmarks, others = xep_0048.parse_storage(iq)
            changed = xep_0048.replace(bookmarks, room, bookmark)
            self._request("set", xep_0048.build_set(changed, others), None, on_written, query_id)
            return []

        self._iq("get", xep_0048.build_get(), on_read)

    @staticmethod
    def _remember(sent: dict[str, JID], msg_id: str, to: JID) -> None:
        sent[msg_id] = to
        if len(sent) > MAX_SENT_IDS:
            del sent[next(iter(sent))]

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
        # A fresh session is in no room (a resumed one keeps them), and what
        # the account supports is asked again.
        self.rooms.clear()
        self.bookmarks_pep = None
        self._account_info_pending = False
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
            own = to is None or to == self.jid.bare
            ok = self._is_own_account(sender) if own else sender == to
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
        if iq_type == "get" and payload.name == "query" and payload.ns == ns.DISCO_INFO:
            return self._on_disco_info_request(iq, payload, sender)
        self._reply_error(iq, "service-unavailable")
        return []

    def _on_disco_info_request(
        self, iq: Element, query: Element, sender: JID | None
    ) -> list[Record]:
        """Say what we support (XEP-0030; XEP-0115 asks with node#ver), but
        only to those who may know we are online: our own account (its PEP
        service learns our +notify this way), contacts that see our
        presence, rooms we are in. To anyone else, as if we were offline."""
        from roost.xmpp.xeps import xep_0030, xep_0115

        allowed = (
            self._is_own_account(sender)
            or (sender is not None and sender.bare in self.rooms)
            or (sender is not None and self._sees_our_presence(sender))
        )
        if not self._caps or not allowed:
            self._reply_error(iq, "service-unavailable")
            return []
        node = query.get("node")
        if not xep_0115.is_our_node(node):
            self._reply_error(iq, "item-not-found")
            return []
        reply = Element("iq", ns.CLIENT, {"type": "result", "id": iq.get("id") or ""})
        if iq.get("from"):
            reply.attrs["to"] = iq.attrs["from"]
        reply.append(xep_0030.build_info_result(xep_0115.IDENTITIES, xep_0115.FEATURES, node))
        self._stream.send(reply)
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
        msg_type = message.get("type") or "normal"
        if msg_type == "groupchat":
            # Never a carbon (XEP-0280 §6), never answered with receipts or markers.
            return self._on_groupchat(message)
        for child in message.children:
            if child.ns == ns.CARBONS:
                return self._on_carbon(message)
        if msg_type == "error":
            return self._on_message_error(message)
        for child in message.children:
            if child.name == "event" and child.ns == ns.PUBSUB_EVENT:
                return self._on_pep_event(message)
            if child.name == "x" and (
                child.ns == _CONFERENCE
                or (child.ns == ns.MUC_USER and child.find("invite", ns.MUC_USER) is not None)
            ):
                # An invitation, not a chat message (its body is a fallback text).
                return self._on_invite(message)
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
        """True when we recently sent `msg_id` to `sender`'s bare JID (to
        exactly `sender` for a private message to room/nick: another
        occupant of that room must not confirm it)."""
        addressee = self._sent.get(msg_id)
        if addressee is None or sender is None:
            return False
        if addressee.resource is not None:
            return sender == addressee
        return sender.bare == addressee

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
        if archived.archive_jid != str(own):
            return self._on_room_archive_result(archived)
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
        omemo = _omemo_parts(message)
        if omemo is None:
            return None  # malformed OMEMO: not something to show
        if omemo[0] is not None or omemo[1] is not None:
            body = body or ""
        if body is None:
            return None  # chat states, receipts, ...: not handled yet
        sender = self._sender(message) or self.jid.bare
        to_text = message.get("to")
        delay = message.find("delay", ns.DELAY)
        stamp_text = None if delay is None else delay.get("stamp")
        from roost.xmpp.xeps import xep_0085, xep_0308, xep_0333, xep_0359

        to_jid = None if to_text is None else JID.parse(to_text)
        # XEP-0045 §7.5: marked with muc#user <x/>; some clients don't mark
        # theirs, so an occupant JID of a room we are in counts too.
        muc_private = message.find("x", ns.MUC_USER) is not None
        for peer in (sender, to_jid):
            if peer is not None and peer.resource is not None and peer.bare in self.rooms:
                muc_private = True
        chat = ChatMessage(
            message.get("id"),
            sender,
            to_jid,
            body,
            msg_type,
            message.find_text("thread", ns.CLIENT) or None,
            None if stamp_text is None else parse_datetime(stamp_text),
            markable=xep_0333.is_markable(message),
            chat_state=xep_0085.parse_chat_state(message),
            origin_id=xep_0359.parse_origin_id(message),
            replaces=xep_0308.parse_replace(message),
            muc_private=muc_private,
        )
        chat.encrypted, chat.encrypted2 = omemo
        return chat

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
        sent = self._sent
        addressee = sent.get(msg_id) if msg_id else None
        if addressee is None and msg_id:
            sent = self._groupchat_sent
            addressee = sent.get(msg_id)
        if addressee is None:
            return [Dropped("message error for an id we didn't send")]
        sender = self._sender(message)
        own_server = JID(None, self.jid.domain)
        # A room answers from its bare JID or the occupant JID we wrote to.
        if not (sender is None or sender.bare == addressee.bare or sender == own_server):
            return [Dropped(f"message error from {sender}, sent to {addressee}")]
        del sent[msg_id]  # type: ignore[arg-type]
        return [MessageFailed(msg_id, stanza_error(message))]

    # -- group chats: receiving ---------------------------------------------------------
    def _on_groupchat(self, message: Element) -> list[Record]:
        """A groupchat message: only from a room we are in (SECURITY.md)."""
        sender = self._sender(message)
        room = None if sender is None else self.rooms.get(sender.bare)
        if sender is None or room is None:
            return [Dropped(f"groupchat message from {sender}, not a room we are in")]
        nick = sender.resource
        if nick is None:
            # Only the room itself announces moderation (XEP-0425 §6).
            from roost.xmpp.xeps import xep_0425

            moderation = xep_0425.parse_announcement(message)
            if moderation is not None:
                if not moderation.retracted:
                    return []
                return [
                    MessageModerated(
                        room.jid, moderation.archive_id, moderation.moderator,
                        moderation.reason, moderation.occupant_id,
                    )
                ]
        from roost.xmpp.xeps import xep_0045

        x = message.find("x", ns.MUC_USER) if nick is None else None
        if x is not None:
            codes = [c for c in xep_0045.status_codes(x) if c in _CONFIG_CODES]
            if codes:
                return [RoomConfigChanged(room.jid, codes)]

        subject = xep_0045.parse_subject(message)
        if subject is not None:
            return [RoomSubject(room.jid, nick, subject)]
        chat = self._groupchat_message(room, message, nick)
        if chat is None:
            return []  # status notices, chat states, markers: nothing to show
        return [GroupchatReceived(chat)]

    def _groupchat_message(
        self, room: JoinedRoom, message: Element, nick: str | None
    ) -> GroupchatMessage | None:
        """The `GroupchatMessage` of a message with a body from `room`."""
        body = message.find_text("body", ns.CLIENT)
        omemo = _omemo_parts(message)
        if omemo is None:
            return None  # malformed OMEMO: nothing to show
        if omemo[0] is not None or omemo[1] is not None:
            body = body or ""
        if body is None:
            return None
        from roost.xmpp.xeps import xep_0308, xep_0359, xep_0421

        delay = message.find("delay", ns.DELAY)
        stamp_text = None if delay is None else delay.get("stamp")
        chat = GroupchatMessage(
            room.jid,
            nick,
            body,
            message.get("id"),
            xep_0359.parse_origin_id(message),
            xep_0359.trusted_stanza_id(message, (room.jid,)),
            None if stamp_text is None else parse_datetime(stamp_text),
            xep_0308.parse_replace(message),
            xep_0421.parse_occupant_id(message, room.occupant_ids),
            nick is not None and nick == room.nick,
            delay is not None,
        )
        chat.encrypted, chat.encrypted2 = omemo
        return chat

    def _on_room_archive_result(self, archived: ArchivedMessage) -> list[Record]:
        """A result of a room's archive: the room's own messages only."""
        room_jid = JID.parse(archived.archive_jid)
        message = archived.message
        sender = self._sender(message)
        if sender is None or sender.bare != room_jid:
            return [Dropped(f"room archive result from {sender}, not in {room_jid}")]
        entry = self.rooms.get(room_jid) or JoinedRoom(room_jid, "")
        if entry.jid not in self.rooms:
            self._apply_room_features(entry, self._room_features.get(room_jid))
        from roost.xmpp.xeps import xep_0425

        if sender.resource is None:
            moderation = xep_0425.parse_announcement(message)
        else:
            moderation = xep_0425.parse_tombstone(message, archived.archive_id)
        if moderation is not None:
            return [
                MessageModerated(
                    room_jid, moderation.archive_id, moderation.moderator,
                    moderation.reason, moderation.occupant_id,
                )
            ]
        if (message.get("type") or "normal") != "groupchat":
            return []  # private messages are in our own archive, not the room's
        chat = self._groupchat_message(entry, message, sender.resource)
        if chat is None:
            return []
        chat.archive_id = archived.archive_id
        chat.history = True
        if archived.stamp is not None:
            chat.stamp = archived.stamp
        if not chat.own:
            # A room that shows real JIDs may archive the sender's.
            from roost.xmpp.xeps import xep_0045

            user = xep_0045.parse_user(message)
            real = None if user is None or user.item is None else user.item.jid
            chat.own = real is not None and real.bare == self.jid.bare
            chat.real_jid = None if real is None else real.bare
        direction = "out" if chat.own else "in"
        return [
            ArchiveMessage(
                archived.query_id, archived.archive_id, chat.stamp, chat, direction, room_jid
            )
        ]

    def _on_room_presence(
        self, room: JoinedRoom, sender: JID, presence: Element
    ) -> list[Record]:
        """Presence from a room we joined or are joining (XEP-0045 §7)."""
        # Not .get(): a missing attribute (every available presence) costs a
        # KeyError raised inside Brython's dict.get, and a join brings hundreds.
        attrs = presence.attrs
        kind = attrs["type"] if "type" in attrs else None  # noqa: SIM401
        if kind == "error":
            error = stanza_error(presence)
            pending = room.pending_nick
            if room.joined and pending is not None and sender.resource in (None, pending):
                room.pending_nick = None
                return [NickChangeFailed(room.jid, pending, error.condition, error.text)]
            del self.rooms[room.jid]
            if room.joined:
                return [RoomLeft(room.jid, "error", None, error.text or error.condition)]
            return [RoomJoinFailed(room.jid, error.condition, error.text)]
        if kind not in (None, "unavailable"):
            return []  # subscriptions and probes make no sense from a room
        nick = sender.resource
        if nick is None:
            return [Dropped(f"presence from the room {sender} itself")]
        from roost.xmpp.xeps import xep_0045, xep_0421

        user = xep_0045.parse_user(presence)
        if user is None:
            return [Dropped(f"occupant presence from {sender} without muc#user")]
        item = user.item or xep_0045.MucItem()
        show = status = occupant_id = None
        if len(presence.children) > 1:
            # More than the muc#user <x/> (nearly every presence of a join
            # is just that): look for the rest.
            show = presence.find_text("show", ns.CLIENT)
            show = show if show in SHOWS else None
            status = presence.find_text("status", ns.CLIENT) or None
            occupant_id = xep_0421.parse_occupant_id(presence, room.occupant_ids)
        occupant = Occupant(
            nick, item.role or "none", item.affiliation or "none", item.jid, show, status,
            occupant_id,
        )
        available = kind is None
        codes = user.codes
        nick_changed = not available and xep_0045.NICK_CHANGED in codes and item.nick
        events: list[Record] = [
            OccupantChanged(
                room.jid, occupant, available, codes, item.nick if nick_changed else None,
                item.actor, item.reason,
            )
        ]
        # 110 says so; a room that omits it still sends ours from room/our-nick.
        # (Never the nick we asked to change to: someone may hold it.)
        is_self = xep_0045.SELF in codes or nick == room.nick
        if not is_self:
            return events
        if available:
            room.nick = nick  # the room may have changed it (210)
            room.pending_nick = None
            if not room.joined:
                room.joined = True
                events.append(RoomJoined(room.jid, nick, xep_0045.CREATED in codes, codes))
                if room.jid not in self._room_features:
                    self._learn_room_features(room.jid)
            return events
        if nick_changed:
            # Our presence under the new nick follows (XEP-0045 §7.6).
            room.nick = str(item.nick)
            room.pending_nick = None
            return events
        del self.rooms[room.jid]
        if user.destroyed:
            events.append(
                RoomLeft(room.jid, "destroyed", None, user.destroy_reason, user.alternate)
            )
        else:
            events.append(RoomLeft(room.jid, _left_reason(codes), item.actor, item.reason))
        return events

    def _on_pep_event(self, message: Element) -> list[Record]:
        """A PEP notification (SECURITY.md: only from our own account, or, for
        OMEMO device lists, from the owner of the list)."""
        from roost.xmpp.xeps import xep_0384, xep_0402

        devices = xep_0384.devicelist_event(message, self.jid)
        if devices is not None:
            return [OmemoDeviceList(devices[0].bare, [d.id for d in devices[1]])]
        devices = xep_0384.omemo2_devices_event(message, self.jid)
        if devices is not None:
            return [OmemoDeviceList(devices[0].bare, [d.id for d in devices[1]], "v2")]
        event = message.find("event", ns.PUBSUB_EVENT)
        items = None if event is None else event.find("items", ns.PUBSUB_EVENT)
        node = None if items is None else items.get("node")
        if node in (xep_0384.DEVICELIST_NODE, xep_0384.OMEMO2_DEVICES_NODE):
            return [Dropped(f"device list notification from {message.get('from')}")]
        changes = xep_0402.parse_event(message)
        if changes is None:
            return []  # another node: nothing here subscribes to it
        sender = self._sender(message)
        if sender is not None and sender != self.jid.bare:
            return [Dropped(f"bookmark notification from {sender}")]
        return [BookmarkChanged(room, bookmark) for room, bookmark in changes]

    def _on_invite(self, message: Element) -> list[Record]:
        """An invitation: direct (XEP-0249, from whoever sent it) or relayed
        by a room (XEP-0045 §7.8.2: only from a bare JID that can be a room)."""
        from roost.xmpp.xeps import xep_0045, xep_0249

        sender = self._sender(message)
        if sender is None or sender.bare == self.jid.bare:
            return [Dropped("invitation from our own account")]
        mediated = xep_0045.parse_mediated_invite(message)
        # A person (or their server) can't relay for a room; a contact isn't one.
        from_room = sender.resource is None and sender.local is not None
        if mediated is not None and from_room and sender not in self.roster:
            # Prosody adds a XEP-0249 element to what it relays: still the room's.
            return [
                RoomInvite(
                    mediated.room, mediated.inviter, mediated.reason, mediated.password, False
                )
            ]
        direct = xep_0249.parse_invite(message)
        if direct is not None and not (from_room and mediated is not None):
            return [RoomInvite(direct.room, sender, direct.reason, direct.password, True)]
        if mediated is not None:
            return [Dropped(f"room invitation relayed by {sender}, not a room")]
        return [Dropped(f"malformed invitation from {sender}")]

    def _on_presence(self, presence: Element) -> list[Record]:
        sender = self._sender(presence)
        if sender is None:
            return []
        room = self.rooms.get(sender.bare)
        if room is not None:
            return self._on_room_presence(room, sender, presence)
        if presence.find("x", ns.MUC_USER) is not None:
            # Occupant presence only for a room we joined: else anybody could
            # make up occupants, kicks and bans (or a room we left lingers).
            return [Dropped(f"room presence from {sender}, not a room we are in")]
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


def _iq_failed(query_id: str, to: JID | None, iq: Element) -> IqFailed:
    error = stanza_error(iq)
    return IqFailed(query_id, to, error.condition, error.text, error.type)


def _left_reason(codes: list[int]) -> str:
    for code, reason in _LEFT_REASONS:
        if code in codes:
            return reason
    return "left"


def _omemo_parts(message: Element) -> tuple[object, object] | None:
    """(legacy, OMEMO 2) content of a message (each None when absent); None
    when one is there but malformed."""
    legacy = v2 = None
    if message.find("encrypted", ns.OMEMO_LEGACY) is not None:
        from roost.xmpp.xeps import xep_0384

        legacy = xep_0384.parse_message(message)
        if legacy is None:
            return None
    if message.find("encrypted", ns.OMEMO_2) is not None:
        from roost.xmpp.xeps import xep_0384

        v2 = xep_0384.parse_omemo2_message(message)
        if v2 is None:
            return None
    return legacy, v2


def _omemo_children(encrypted: object, encrypted2: object) -> list[Element]:
    """The `<encrypted/>`s (legacy, OMEMO 2) with one set of hints and one
    fallback body (XEP-0380 names the first namespace)."""
    from roost.xmpp.xeps import xep_0384

    children: list[Element] = []
    if encrypted2 is not None:
        children = xep_0384.omemo2_message_children(encrypted2)  # type: ignore[arg-type]
    if encrypted is not None:
        legacy = xep_0384.message_children(encrypted)  # type: ignore[arg-type]
        children = legacy if not children else [legacy[0], *children]
    return children
