"""What `XmppClient.receive()` reports, and the records those events carry.

Plain classes with `__slots__` (no dataclasses: Brython import cost). `Record`
gives them value equality and a readable repr, which transcript tests rely on.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.element import Element
    from roost.xmpp.errors import StanzaError, XmppError
    from roost.xmpp.jid import JID
    from roost.xmpp.xeps.xep_0004 import DataForm, Field
    from roost.xmpp.xeps.xep_0402 import Bookmark


class Record:
    """Value equality and repr over `__slots__`.

    `needs_confirm` (a class attribute, not a field): true for events whose
    content the app stores. With `XmppClient(..., ack_after_confirm=True)` the
    stanza behind such an event is acknowledged to the server (XEP-0198) only
    after `XmppClient.confirm_handled()`.
    """

    __slots__: tuple[str, ...] = ()
    needs_confirm = False

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


# -- records ----------------------------------------------------------------


class RosterItem(Record):
    """One roster entry (RFC 6121 §2.1.2). `subscription` is none/to/from/both/remove."""

    __slots__ = ("ask", "groups", "jid", "name", "subscription")

    def __init__(
        self,
        jid: JID,
        name: str | None = None,
        subscription: str = "none",
        ask: str | None = None,
        groups: list[str] | None = None,
    ) -> None:
        self.jid = jid
        self.name = name
        self.subscription = subscription
        self.ask = ask
        self.groups: list[str] = list(groups) if groups else []


class ChatMessage(Record):
    """A received chat/normal message with a body.

    `stamp` is seconds since the epoch from a XEP-0203 `<delay/>`, or None when
    the message was not delayed (the receiver's clock applies). `archive_id`:
    the XEP-0359 stanza-id our own account's archive gave it (only when set
    `by` our own bare JID: trusted), or the XEP-0313 result id of an archived
    message; None otherwise. Deduplicate on it first.

    `origin_id`: the sender's XEP-0359 `<origin-id/>` (only as good as the
    sender: dedup it scoped to the sender's bare JID). `replaces`: the id
    of the message this one corrects (XEP-0308 `<replace id/>`: the
    original's id, also when correcting a correction). Not checked here:
    apply a correction only when it comes from the original's sender
    (`xep_0308.is_valid_correction`; the store does).

    `muc_private`: a private message from (or, in a sent carbon, to) a room
    occupant (XEP-0045 §7.5): `from_jid` is room/nick, which is the
    conversation (not the room's bare JID, and not anybody's real account).

    `encrypted`: the message carries legacy OMEMO (`xep_0384.LegacyEncrypted`);
    `body` is then only the sender's fallback text (or "" without one),
    never to be shown as the message.
    """

    __slots__ = (
        "archive_id", "body", "chat_state", "encrypted", "encrypted2", "from_jid", "id",
        "markable", "muc_private", "origin_id", "replaces", "stamp", "thread", "to_jid", "type",
    )

    def __init__(
        self,
        id: str | None,
        from_jid: JID,
        to_jid: JID | None,
        body: str,
        type: str = "normal",
        thread: str | None = None,
        stamp: float | None = None,
        archive_id: str | None = None,
        markable: bool = False,
        chat_state: str | None = None,
        origin_id: str | None = None,
        replaces: str | None = None,
        muc_private: bool = False,
    ) -> None:
        self.id = id
        self.origin_id = origin_id
        self.replaces = replaces
        self.muc_private = muc_private
        self.archive_id = archive_id
        self.markable = markable
        self.chat_state = chat_state
        self.from_jid = from_jid
        self.to_jid = to_jid
        self.body = body
        self.type = type
        self.thread = thread
        self.stamp = stamp
        self.encrypted: object = None
        self.encrypted2: object = None  # OMEMO 2 (`xep_0384.Omemo2Encrypted`)


# -- events -----------------------------------------------------------------


class NeedSaltedPassword(Record):
    """Compute PBKDF2(hash_name, password_utf8, salt, iterations) and pass it to
    `XmppClient.provide_salted_password()`. `hash_name` is "sha1" or "sha256"."""

    __slots__ = ("hash_name", "iterations", "salt")

    def __init__(self, hash_name: str, salt: bytes, iterations: int) -> None:
        self.hash_name = hash_name
        self.salt = salt
        self.iterations = iterations


class Online(Record):
    """Authenticated and bound as `jid` (a full JID); roster and presence were sent."""

    __slots__ = ("jid",)

    def __init__(self, jid: JID) -> None:
        self.jid = jid


class RosterLoaded(Record):
    """The full roster, answering our roster get."""

    __slots__ = ("items",)

    def __init__(self, items: list[RosterItem]) -> None:
        self.items = items


class RosterChanged(Record):
    """A roster push; `item.subscription == "remove"` for removals."""

    __slots__ = ("item",)

    def __init__(self, item: RosterItem) -> None:
        self.item = item


class PresenceChanged(Record):
    """Presence of one full JID. `show` is None (plain available) or away/chat/dnd/xa."""

    __slots__ = ("available", "jid", "priority", "show", "status")

    def __init__(
        self,
        jid: JID,
        available: bool,
        show: str | None = None,
        status: str | None = None,
        priority: int = 0,
    ) -> None:
        self.jid = jid
        self.available = available
        self.show = show
        self.status = status
        self.priority = priority


class SubscriptionRequest(Record):
    """`jid` (bare) asks to see our presence."""

    __slots__ = ("jid", "status")

    def __init__(self, jid: JID, status: str | None = None) -> None:
        self.jid = jid
        self.status = status


class SubscriptionChanged(Record):
    """`kind` is subscribed, unsubscribe or unsubscribed, from `jid` (bare)."""

    __slots__ = ("jid", "kind")

    def __init__(self, jid: JID, kind: str) -> None:
        self.jid = jid
        self.kind = kind


class ChatReceived(Record):
    """A chat/normal message with a body. Store it, then `confirm_handled()`
    when the client was made with `ack_after_confirm=True`."""

    __slots__ = ("message",)
    needs_confirm = True

    def __init__(self, message: ChatMessage) -> None:
        self.message = message


class ChatSent(Record):
    """A chat/normal message with a body that the user sent from another of
    their clients (a XEP-0280 "sent" carbon): `message.from_jid` is that
    client's full JID (our own account), `message.to_jid` the peer. Stored
    like `ChatReceived`, so it needs confirming the same way."""

    __slots__ = ("message",)
    needs_confirm = True

    def __init__(self, message: ChatMessage) -> None:
        self.message = message


class MessageFailed(Record):
    """A message we sent (by id) bounced with an error."""

    __slots__ = ("error", "id")

    def __init__(self, id: str | None, error: StanzaError) -> None:
        self.id = id
        self.error = error


class Receipt(Record):
    """XEP-0184: `from_jid` received our message `id`. Only for an id we sent
    recently (`MAX_SENT_IDS`) to `from_jid`'s bare JID; anything else is `Dropped`."""

    __slots__ = ("from_jid", "id")

    def __init__(self, from_jid: JID, id: str) -> None:
        self.from_jid = from_jid
        self.id = id


class Marker(Record):
    """XEP-0333: `from_jid` marked our message `id` as `kind` ("received",
    "displayed" or "acknowledged"); checked like `Receipt`."""

    __slots__ = ("from_jid", "id", "kind")

    def __init__(self, from_jid: JID, kind: str, id: str) -> None:
        self.from_jid = from_jid
        self.kind = kind
        self.id = id


class ChatState(Record):
    """XEP-0085: a standalone chat state notification (no body) from `from_jid`:
    `state` is active/composing/paused/inactive/gone. A state inside a message
    with a body is `ChatMessage.chat_state` instead."""

    __slots__ = ("from_jid", "state")

    def __init__(self, from_jid: JID, state: str) -> None:
        self.from_jid = from_jid
        self.state = state


class Dropped(Record):
    """A stanza was refused as forged or malformed; `reason` is for developers."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Closed(Record):
    """The stream is over. `error` is None for an orderly close."""

    __slots__ = ("error",)

    def __init__(self, error: XmppError | None = None) -> None:
        self.error = error


# -- XEP-0313 message archive ---------------------------------------------------


class ArchiveMessage(Record):
    """One archived message, answering `XmppClient.query_archive()`.

    `archive_id`: the archive's id (also `message.archive_id`); `stamp`: when
    the archive got it (epoch seconds, None when it didn't say); `direction`:
    "out" when the archived message is ours, else "in".

    `room`: None for our own archive, where `message` is a `ChatMessage`.
    For a room's archive (`query_archive(room=...)`) it is the room's bare
    JID and `message` a `GroupchatMessage` (its `nick`, and the room's
    stanza-id as `archive_id`); "out" then means it came from our nick
    there (or from our account, when the room shows real JIDs).
    """

    __slots__ = ("archive_id", "direction", "message", "query_id", "room", "stamp")

    def __init__(
        self,
        query_id: str,
        archive_id: str,
        stamp: float | None,
        message: ChatMessage | GroupchatMessage,
        direction: str,
        room: JID | None = None,
    ) -> None:
        self.query_id = query_id
        self.archive_id = archive_id
        self.stamp = stamp
        self.message = message
        self.direction = direction
        self.room = room


class ArchiveDone(Record):
    """The page of query `query_id` is complete (its `<fin/>`): `complete`
    (nothing more in the paging direction), `last` / `first` archive ids of
    the page (None when empty), `count` (the total the archive reported, or
    None)."""

    __slots__ = ("complete", "count", "first", "last", "query_id")

    def __init__(
        self,
        query_id: str,
        complete: bool,
        last: str | None = None,
        count: int | None = None,
        first: str | None = None,
    ) -> None:
        self.query_id = query_id
        self.complete = complete
        self.last = last
        self.count = count
        self.first = first


class ArchiveGap(Record):
    """The id query `query_id` paged from is no longer in the archive
    (`item-not-found`): what came between is lost to this client."""

    __slots__ = ("query_id",)

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id


class ArchiveFailed(Record):
    """Query `query_id` failed otherwise (e.g. no archive on this server)."""

    __slots__ = ("error", "query_id")

    def __init__(self, query_id: str, error: XmppError) -> None:
        self.query_id = query_id
        self.error = error


# -- XEP-0198 stream management ------------------------------------------------


class SmEnabled(Record):
    """The server enabled stream management. `id` is the resumption id (None
    when not `resumable`); `max` the server's resumption window in seconds or
    None; `location` where it prefers resumption (rarely usable over WebSocket)."""

    __slots__ = ("id", "location", "max", "resumable")

    def __init__(
        self,
        id: str | None,
        resumable: bool,
        max: int | None = None,
        location: str | None = None,
    ) -> None:
        self.id = id
        self.resumable = resumable
        self.max = max
        self.location = location


class SmFailed(Record):
    """The server refused `<enable/>`; acks and resumption are off for this stream."""

    __slots__ = ("condition",)

    def __init__(self, condition: str) -> None:
        self.condition = condition


class Acked(Record):
    """The server acknowledged these messages (ids as returned by `send_chat`,
    oldest first): they reached the server."""

    __slots__ = ("ids",)

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids


class Resumed(Record):
    """The previous session (from `resume=`) continues as `jid`: no roster or
    presence was sent, nothing was missed; unacknowledged stanzas were re-sent."""

    __slots__ = ("jid",)

    def __init__(self, jid: JID) -> None:
        self.jid = jid


class ResumeFailed(Record):
    """Resumption was refused (`condition`); a fresh session is being bound
    (`Online` follows). `ids`: messages of the old session the server may not
    have received, oldest first; re-send them with the same ids if wanted."""

    __slots__ = ("condition", "ids")

    def __init__(self, ids: list[str], condition: str = "item-not-found") -> None:
        self.ids = ids
        self.condition = condition


# -- group chats (XEP-0045 and friends) ------------------------------------------


class JoinedRoom(Record):
    """What the client knows of a room it joined or is joining
    (`XmppClient.rooms`): `jid` (bare), our `nick` there, `joined` (our own
    presence came back), `leaving` (we sent unavailable), `pending_nick`
    (a nick change we asked for), `occupant_ids` (the room vouches for
    XEP-0421 ids), `features` (its disco#info features, when seen)."""

    __slots__ = ("features", "jid", "joined", "leaving", "nick", "occupant_ids", "pending_nick")

    def __init__(self, jid: JID, nick: str, joined: bool = False) -> None:
        self.jid = jid
        self.nick = nick
        self.joined = joined
        self.leaving = False
        self.pending_nick: str | None = None
        self.occupant_ids = False
        self.features: list[str] = []


class Occupant(Record):
    """One occupant of a room, from its presence: `nick`, `role`
    (moderator/participant/visitor/none), `affiliation`
    (owner/admin/member/outcast/none), `jid` (the real JID when the room
    shows it to us, else None), `show`/`status` as in `PresenceChanged`,
    `occupant_id` (XEP-0421, only when the room is known to vouch for it)."""

    __slots__ = ("affiliation", "jid", "nick", "occupant_id", "role", "show", "status")

    def __init__(
        self,
        nick: str,
        role: str = "none",
        affiliation: str = "none",
        jid: JID | None = None,
        show: str | None = None,
        status: str | None = None,
        occupant_id: str | None = None,
    ) -> None:
        self.nick = nick
        self.role = role
        self.affiliation = affiliation
        self.jid = jid
        self.show = show
        self.status = status
        self.occupant_id = occupant_id


class GroupchatMessage(Record):
    """A groupchat message with a body in `room` (bare JID) from occupant
    `nick` (None: from the room itself).

    `id`: the sender's message id; `origin_id`: its XEP-0359 origin-id
    (ours: what `send_groupchat` returned, so the reflection of our own
    message can be matched); `archive_id`: the room's stanza-id (only when
    set `by` the room's bare JID), or the room archive's result id: dedup on
    it first. `stamp`: from `<delay/>` (history, archive), None when live.
    `replaces`: XEP-0308 correction of that message id (check it comes from
    the same occupant, better the same `occupant_id`). `own`: sent from our
    nick in that room. `history`: delayed (the room's history on join),
    not live.
    """

    __slots__ = (
        "archive_id", "body", "encrypted", "encrypted2", "history", "id", "nick", "occupant_id",
        "origin_id", "own", "real_jid", "replaces", "room", "stamp",
    )

    def __init__(
        self,
        room: JID,
        nick: str | None,
        body: str,
        id: str | None = None,
        origin_id: str | None = None,
        archive_id: str | None = None,
        stamp: float | None = None,
        replaces: str | None = None,
        occupant_id: str | None = None,
        own: bool = False,
        history: bool = False,
    ) -> None:
        self.room = room
        self.nick = nick
        self.body = body
        self.id = id
        self.origin_id = origin_id
        self.archive_id = archive_id
        self.stamp = stamp
        self.replaces = replaces
        self.occupant_id = occupant_id
        self.own = own
        self.history = history
        # Legacy OMEMO (`xep_0384.LegacyEncrypted`): `body` is then only the
        # fallback text. `real_jid`: the sender's bare JID when the room's
        # archive gave it (non-anonymous rooms); live, the occupant list has it.
        self.encrypted: object = None
        self.encrypted2: object = None  # OMEMO 2 (`xep_0384.Omemo2Encrypted`)
        self.real_jid: JID | None = None


class GroupchatReceived(Record):
    """A groupchat message in a room we are in (ours reflected too: `own`).
    Stored by the app, so it needs confirming like `ChatReceived`."""

    __slots__ = ("message",)
    needs_confirm = True

    def __init__(self, message: GroupchatMessage) -> None:
        self.message = message


class OccupantChanged(Record):
    """One occupant presence in `room` (ours too): `available` False when
    the occupant left. `codes`: its XEP-0045 status codes (110 ours, 303
    nick change with `new_nick`, 307 kicked, 301 banned, ...); `actor` and
    `reason`: who removed them and why, when the room says."""

    __slots__ = ("actor", "available", "codes", "new_nick", "occupant", "reason", "room")

    def __init__(
        self,
        room: JID,
        occupant: Occupant,
        available: bool,
        codes: list[int] | None = None,
        new_nick: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.room = room
        self.occupant = occupant
        self.available = available
        self.codes: list[int] = list(codes) if codes else []
        self.new_nick = new_nick
        self.actor = actor
        self.reason = reason


class RoomJoined(Record):
    """Our own presence in `room` came back: we are in, as `nick` (the
    room may have changed the one we asked for: 210). The other occupants'
    `OccupantChanged` came before. `created`: our join created the room
    (201): configure it or accept the defaults
    (`submit_room_config(room, None)`) so that others can join."""

    __slots__ = ("codes", "created", "nick", "room")

    def __init__(
        self, room: JID, nick: str, created: bool = False, codes: list[int] | None = None
    ) -> None:
        self.room = room
        self.nick = nick
        self.created = created
        self.codes: list[int] = list(codes) if codes else []


class RoomJoinFailed(Record):
    """Joining `room` failed with this RFC 6120 condition: `conflict` (nick
    taken), `not-authorized` (password), `registration-required`
    (members-only), `forbidden` (banned), `item-not-found` (no such room,
    creation refused), `service-unavailable` (full, or no such service),
    `remote-server-not-found` / `remote-server-timeout`, `jid-malformed`
    (bad nick), `not-allowed`, ...; `text` from the room, if any."""

    __slots__ = ("condition", "room", "text")

    def __init__(self, room: JID, condition: str, text: str | None = None) -> None:
        self.room = room
        self.condition = condition
        self.text = text


class NickChangeFailed(Record):
    """`change_nick(room, nick)` was refused (`conflict`: taken,
    `not-acceptable` / `not-allowed`: the room's rules); we keep the old nick."""

    __slots__ = ("condition", "nick", "room", "text")

    def __init__(self, room: JID, nick: str, condition: str, text: str | None = None) -> None:
        self.room = room
        self.nick = nick
        self.condition = condition
        self.text = text


class RoomLeft(Record):
    """We are no longer in `room`. `reason`: "left" (we asked), "kicked"
    (307), "banned" (301), "removed" (321/322: lost membership, or the room
    became members-only), "shutdown" (332: the service went down; joining
    again later may work), "destroyed" (the owner destroyed it; `alternate`
    may name a successor), "error" (an error presence while joined).
    `actor` / `text`: who did it and their reason, when the room says."""

    __slots__ = ("actor", "alternate", "reason", "room", "text")

    def __init__(
        self,
        room: JID,
        reason: str,
        actor: str | None = None,
        text: str | None = None,
        alternate: JID | None = None,
    ) -> None:
        self.room = room
        self.reason = reason
        self.actor = actor
        self.text = text
        self.alternate = alternate


class RoomConfigChanged(Record):
    """The room said its configuration changed (XEP-0045 status 104, or 170-174:
    logging and anonymity): its name and features are worth asking again."""

    __slots__ = ("codes", "room")

    def __init__(self, room: JID, codes: list[int]) -> None:
        self.room = room
        self.codes: list[int] = list(codes)


class RoomSubject(Record):
    """The subject of `room` (on join, then on each change); `nick` who set
    it (None: the room, or unknown); "" when cleared."""

    __slots__ = ("nick", "room", "subject")

    def __init__(self, room: JID, nick: str | None, subject: str) -> None:
        self.room = room
        self.nick = nick
        self.subject = subject


class RoomInvite(Record):
    """An invitation into `room` (bare) from `inviter` (None when the room
    doesn't say), with `reason` and the room `password` if any. `direct`:
    XEP-0249, sent by `inviter` itself (a person: only as good as they
    are); else relayed by the room (XEP-0045 mediated)."""

    __slots__ = ("direct", "inviter", "password", "reason", "room")

    def __init__(
        self,
        room: JID,
        inviter: JID | None,
        reason: str | None = None,
        password: str | None = None,
        direct: bool = False,
    ) -> None:
        self.room = room
        self.inviter = inviter
        self.reason = reason
        self.password = password
        self.direct = direct


class MessageModerated(Record):
    """The room (only it: checked) retracted the message whose room
    stanza-id is `archive_id` (XEP-0425); `moderator`: the `by` the room
    gave (usually room/nick), `reason` if any. Also reported for
    tombstones and announcements in room archive results."""

    __slots__ = ("archive_id", "moderator", "occupant_id", "reason", "room")

    def __init__(
        self,
        room: JID,
        archive_id: str,
        moderator: str | None = None,
        reason: str | None = None,
        occupant_id: str | None = None,
    ) -> None:
        self.room = room
        self.archive_id = archive_id
        self.moderator = moderator
        self.reason = reason
        self.occupant_id = occupant_id


class SelfPingResult(Record):
    """XEP-0410 answer for `room`: `state` "joined", "not-joined" (join
    again) or "unknown" (couldn't tell: ping again later)."""

    __slots__ = ("query_id", "room", "state")

    def __init__(self, room: JID, state: str, query_id: str | None = None) -> None:
        self.room = room
        self.state = state
        self.query_id = query_id


class DiscoInfoResult(Record):
    """Answer to `disco_info(jid, node)`: `identities` (category, type,
    name), `features`, `form`: var → values of its extended info forms
    merged (XEP-0128: muc#roominfo_description, muc#roominfo_occupants, …),
    `forms` the forms themselves."""

    __slots__ = ("features", "form", "forms", "identities", "jid", "node", "query_id")

    def __init__(
        self,
        query_id: str,
        jid: JID,
        node: str | None,
        identities: list[tuple[str, str, str | None]],
        features: list[str],
        form: dict[str, list[str]] | None = None,
        forms: list[DataForm] | None = None,
    ) -> None:
        self.query_id = query_id
        self.jid = jid
        self.node = node
        self.identities = identities
        self.features = features
        self.form: dict[str, list[str]] = dict(form) if form else {}
        self.forms: list[DataForm] = list(forms) if forms else []


class DiscoItemsResult(Record):
    """Answer to `disco_items(jid, node)`: (jid, name, node) per item (a
    MUC service lists its public rooms, a server its components)."""

    __slots__ = ("items", "jid", "node", "query_id")

    def __init__(
        self,
        query_id: str,
        jid: JID,
        node: str | None,
        items: list[tuple[JID, str | None, str | None]],
    ) -> None:
        self.query_id = query_id
        self.jid = jid
        self.node = node
        self.items = items


class BookmarksLoaded(Record):
    """Every bookmark, answering `get_bookmarks()` (`query_id`); `pep`:
    read from XEP-0402 PEP (True) or XEP-0048 private storage (False)."""

    __slots__ = ("bookmarks", "pep", "query_id")

    def __init__(
        self, bookmarks: list[Bookmark], query_id: str | None = None, pep: bool = True
    ) -> None:
        self.bookmarks = bookmarks
        self.query_id = query_id
        self.pep = pep


class BookmarkChanged(Record):
    """The bookmark of `room` was added or changed (`bookmark`), or removed
    (None): a XEP-0402 notification from our own account (from any of our
    clients, this one included), or our own change to XEP-0048 storage."""

    __slots__ = ("bookmark", "room")

    def __init__(self, room: JID, bookmark: Bookmark | None) -> None:
        self.room = room
        self.bookmark = bookmark


class RoomConfigForm(Record):
    """The configuration form of `room` (`get_room_config`): its `fields`
    (XEP-0004); fill some and send `submit_room_config(room, {var: value})`."""

    __slots__ = ("fields", "form", "query_id", "room")

    def __init__(
        self, query_id: str, room: JID, fields: list[Field], form: DataForm | None = None
    ) -> None:
        self.query_id = query_id
        self.room = room
        self.fields = fields
        self.form = form


class AffiliationList(Record):
    """Who has `affiliation` in `room` (`get_affiliations`): (bare JID, nick
    reserved or None) pairs."""

    __slots__ = ("affiliation", "items", "query_id", "room")

    def __init__(
        self,
        query_id: str,
        room: JID,
        affiliation: str,
        items: list[tuple[JID, str | None]],
    ) -> None:
        self.query_id = query_id
        self.room = room
        self.affiliation = affiliation
        self.items = items


class IqFailed(Record):
    """Request `query_id` (as returned by the method that sent it) to `to`
    (None: our own account) came back as an error: RFC 6120 `condition`
    (forbidden, not-allowed, item-not-found, remote-server-not-found, …),
    `text` if any, `error_type` (cancel, auth, modify, wait)."""

    __slots__ = ("condition", "error_type", "query_id", "text", "to")

    def __init__(
        self,
        query_id: str,
        to: JID | None,
        condition: str,
        text: str | None = None,
        error_type: str = "cancel",
    ) -> None:
        self.query_id = query_id
        self.to = to
        self.condition = condition
        self.text = text
        self.error_type = error_type


class IqDone(Record):
    """Request `query_id` (a set: role, affiliation, configuration,
    moderation, bookmark) succeeded."""

    __slots__ = ("query_id",)

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id


class IqResult(Record):
    """Request `query_id` (sent with `XmppClient.request`) came back as a result:
    `iq` is the whole answer, for the caller's own parser."""

    __slots__ = ("iq", "query_id")

    def __init__(self, query_id: str, iq: Element) -> None:
        self.query_id = query_id
        self.iq = iq


class OmemoDeviceList(Record):
    """A PEP notification of `jid`'s legacy OMEMO device list (XEP-0384
    `eu.siacs.conversations.axolotl.devicelist`), from `jid` itself (the
    core drops one from anyone else): its device ids now."""

    __slots__ = ("ids", "jid", "namespace")

    def __init__(self, jid: JID, ids: list[int], namespace: str = "legacy") -> None:
        self.jid = jid
        self.ids = ids
        self.namespace = namespace  # "legacy" or "v2" (`urn:xmpp:omemo:2:devices`)
