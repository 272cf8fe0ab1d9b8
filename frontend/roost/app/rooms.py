"""Group chats (XEP-0045) for `ChatApp`: joining, occupants, room history,
bookmarks, the room directory, moderation. See docs/architecture.md.

`RoomManager` is owned by `ChatApp`, which hands it the room events of the
XMPP core and asks it whether a conversation is a room. Room messages live
in the same `MessageStore` as 1:1 ones, under the room's bare JID: other
occupants' messages with their nick as sender, ours with our own bare JID
(so the room's reflection of a message we sent, same origin-id, merges with
the outbox copy instead of doubling it).

After a fresh session every room we were in is joined again (history
off: `history_max=0`), then the room's archive (XEP-0313 on the room) is
paged forward from the last archive id seen there (a room cursor in the
store), so the time we were away is filled in without duplicates. After a
resumed session the rooms are self-pinged (XEP-0410) instead: a server that
dropped us meanwhile answers "not joined" and we join again.
"""

from __future__ import annotations

from roost.app.room_admin import RoomAdmin
from roost.app.store import SERVER, StoredMessage
from roost.xmpp.errors import JidError
from roost.xmpp.events import (
    AffiliationList,
    ArchiveDone,
    ArchiveFailed,
    ArchiveGap,
    ArchiveMessage,
    BookmarkChanged,
    BookmarksLoaded,
    DiscoInfoResult,
    DiscoItemsResult,
    GroupchatMessage,
    GroupchatReceived,
    IqDone,
    IqFailed,
    MessageModerated,
    NickChangeFailed,
    OccupantChanged,
    RoomConfigChanged,
    RoomConfigForm,
    RoomInvite,
    RoomJoined,
    RoomJoinFailed,
    RoomLeft,
    RoomSubject,
    SelfPingResult,
)
from roost.xmpp.jid import JID

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from roost.app.store import MessageStore
    from roost.xmpp.client import XmppClient
    from roost.xmpp.events import Occupant, Record

# Every event class the manager handles (ChatApp dispatches these here).
ROOM_EVENTS = (
    AffiliationList, BookmarkChanged, BookmarksLoaded, DiscoInfoResult, DiscoItemsResult,
    GroupchatReceived, IqDone, IqFailed, MessageModerated, OccupantChanged, RoomConfigForm,
    NickChangeFailed, RoomConfigChanged, RoomInvite, RoomJoined, RoomJoinFailed, RoomLeft,
    RoomSubject, SelfPingResult,
)

# Room archive paging: the newest HISTORY_PAGE on a first join, then forward
# pages of CATCHUP_PAGE from the room's cursor.
HISTORY_PAGE = 50
CATCHUP_PAGE = 100
# XEP-0410: a joined room with no traffic for this long is self-pinged.
SELF_PING_IDLE = 300.0
# The directory asks at most this many rooms' details (disco#info).
DIRECTORY_DETAILS = 100
# ... and at most this many of a domain's items whether they are a MUC service.
DIRECTORY_SERVICES = 20

JOINING = "joining"
JOINED = "joined"
LEFT = "left"
ERROR = "error"

# Join failures and removals → (error_kind, what the user reads).
_JOIN_ERRORS = {
    "conflict": ("conflict", "That nickname is already taken in this room. Pick another one."),
    "not-authorized": ("password", "This room needs a password, or the one given is wrong."),
    "registration-required": (
        "members-only", "This room is for members only. Ask its owner to add you."
    ),
    "forbidden": ("banned", "You are banned from this room."),
    "item-not-found": ("not-found", "This room does not exist."),
    "remote-server-not-found": (
        "unreachable", "The room's server can't be reached. Check the address."
    ),
    "remote-server-timeout": (
        "unreachable", "The room's server did not answer. Try again later."
    ),
    "service-unavailable": ("unreachable", "This room can't be joined right now."),
    "not-allowed": ("not-found", "This room does not exist, and you may not create it."),
    "jid-malformed": ("other", "That is not a valid nickname."),
    "not-acceptable": ("conflict", "That nickname is not allowed in this room."),
}
_LEFT_TEXT = {
    "kicked": ("kicked", "You were removed from this room."),
    "banned": ("banned", "You were banned from this room."),
    "removed": ("members-only", "You are no longer a member of this room."),
    "shutdown": ("other", "The room's service shut down."),
    "destroyed": ("other", "The room's owner closed this room."),
    "error": ("other", "You left this room because of an error."),
}


class RoomOccupant:
    """What the UI shows of an occupant (a copy of the core's `Occupant`)."""

    __slots__ = ("affiliation", "jid", "nick", "occupant_id", "role", "show", "status")

    def __init__(self, occupant: Occupant) -> None:
        self.nick = occupant.nick
        self.role = occupant.role or "participant"
        self.affiliation = occupant.affiliation or "none"
        self.jid = None if occupant.jid is None else str(occupant.jid)
        self.show = occupant.show or "online"
        self.status = occupant.status
        self.occupant_id = occupant.occupant_id


class Room:
    """One group chat as the UI sees it (docs/architecture.md, "Rooms")."""

    __slots__ = (
        "_catchup", "_newest", "autojoin", "bookmarked", "error", "error_kind", "jid",
        "last_traffic", "mentions", "name", "nick", "occupants", "password", "state",
        "subject", "want",
    )

    def __init__(self, jid: str, nick: str) -> None:
        self.jid = jid
        self.name = jid.split("@", 1)[0]
        self.nick = nick
        self.state = LEFT
        self.error: str | None = None
        self.error_kind: str | None = None
        self.subject = ""
        self.occupants: dict[str, RoomOccupant] = {}
        self.mentions = 0
        self.bookmarked = False
        self.autojoin = False
        self.password: str | None = None
        # The user wants to be in it: joined again after a reconnect.
        self.want = False
        self.last_traffic = 0.0
        self._catchup: str | None = None  # query id of the room archive page asked for
        self._newest: tuple[str, float] | None = None  # newest archive id seen, its stamp

    def _me(self) -> RoomOccupant | None:
        return self.occupants.get(self.nick)

    @property
    def is_moderator(self) -> bool:
        me = self._me()
        return me is not None and me.role == "moderator"

    @property
    def is_owner(self) -> bool:
        me = self._me()
        return me is not None and me.affiliation == "owner"


class RoomInfo:
    """A directory entry."""

    __slots__ = ("description", "jid", "name", "occupants")

    def __init__(self, jid: str, name: str | None) -> None:
        self.jid = jid
        self.name = name or jid.split("@", 1)[0]
        self.description = ""
        self.occupants: int | None = None


class _Directory:
    """One directory listing: the queries out, the rooms found so far."""

    __slots__ = ("domain", "pending", "rooms", "services")

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.pending: dict[str, str] = {}  # query id → what it asks ("domain", "service", ...)
        self.rooms: dict[str, RoomInfo] = {}
        self.services: list[str] = []


def room_address(text: str) -> str | None:
    """The bare room JID in `text` ("room@server" or "xmpp:room@server?join"),
    or None when it isn't one (no local part, a resource, not a JID)."""
    text = text.strip()
    if text.startswith("xmpp:"):
        text = text[5:].split("?", 1)[0]
        if text.startswith("//"):
            return None  # an authority part: not a plain room link
        text = _percent_decode(text)
    if not text or "/" in text:
        return None
    try:
        jid = JID.parse(text)
    except JidError:
        return None
    if jid.local is None:
        return None
    return str(jid)


def _percent_decode(text: str) -> str:
    # RFC 5122 IRIs: %XX escapes (no urllib at run time: import cost).
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw):
            try:
                out.append(int(raw[i + 1 : i + 3].decode("ascii"), 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", "replace")


def names_nick(body: str, nick: str) -> bool:
    """`body` mentions `nick`: the nick as a whole word, any case."""
    if not nick:
        return False
    low, target = body.lower(), nick.lower()
    start = low.find(target)
    while start >= 0:
        end = start + len(target)
        before = low[start - 1] if start > 0 else " "
        after = low[end] if end < len(low) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = low.find(target, start + 1)
    return False


class RoomManager:
    """The rooms of one account (owned by `ChatApp`; see the module docstring)."""

    __slots__ = ("_app", "_directory", "_ping_timer", "_queries", "admin", "rooms")

    def __init__(self, app: object) -> None:
        self._app = app
        self.rooms: dict[str, Room] = {}
        # Query ids of our IQs → (room, what) for the answers' errors.
        self._queries: dict[str, tuple[str, str]] = {}
        self._directory: _Directory | None = None
        self._ping_timer: object = None
        self.admin = RoomAdmin(self)

    # -- helpers over the app ------------------------------------------------------
    @property
    def _client(self) -> XmppClient | None:
        client = getattr(self._app, "_client", None)
        return client if client is not None and client.online else None

    @property
    def _store(self) -> MessageStore | None:
        return getattr(self._app, "store", None)  # type: ignore[no-any-return]

    def _emit(self, name: str, *args: object) -> None:
        self._app._emit(name, *args)  # type: ignore[attr-defined]

    def _flush(self) -> None:
        self._app._flush()  # type: ignore[attr-defined]

    def _now(self) -> float:
        return float(self._app.platform.now())  # type: ignore[attr-defined]

    def _changed(self, room: Room) -> None:
        self._emit("room", room.jid)
        self._emit("rooms")

    def reset(self) -> None:
        """Another account, or logged out: forget everything."""
        self.rooms = {}
        self._queries = {}
        self._directory = None
        self._cancel_ping()
        self.admin.reset()

    def _default_nick(self) -> str:
        own = getattr(self._app, "own_jid", None) or str(getattr(self._app, "_address", "") or "")
        return own.split("@", 1)[0] if "@" in own else (own or "me")

    # -- the API ChatApp exposes -----------------------------------------------------
    def join(
        self, address: str, nick: str | None = None, password: str | None = None
    ) -> str | None:
        bare = room_address(address)
        if bare is None:
            self._emit(
                "notice",
                "That is not a room address. "
                "A room address looks like room@conference.example.org.",
            )
            return None
        nick = (nick or "").strip() or self._default_nick()
        room = self.rooms.get(bare)
        if room is None:
            room = self.rooms[bare] = Room(bare, nick)
        room.nick = nick
        room.password = password or room.password
        room.want = True
        room.error = room.error_kind = None
        room.state = JOINING
        self._send_join(room)
        self._changed(room)
        return bare

    def _send_join(self, room: Room) -> None:
        client = self._client
        if client is None:
            return  # joined once online (on_online)
        room.occupants = {}
        client.join_room(room.jid, room.nick, room.password, history_max=0)
        self._flush()

    def leave(self, bare: str) -> None:
        room = self.rooms.get(bare)
        if room is None:
            return
        room.want = False
        client = self._client
        if client is not None and room.state in (JOINING, JOINED):
            client.leave_room(room.jid)
        room.state = LEFT
        room.occupants = {}
        if room.bookmarked and client is not None:
            room.autojoin = False
            self._save_bookmark(room)
        if not room.bookmarked:
            del self.rooms[bare]
        self._flush()
        self._changed(room)

    def room_list(self) -> list[str]:
        return sorted(self.rooms, key=lambda j: (self.rooms[j].name.lower(), j))

    def is_room(self, bare: str) -> bool:
        return bare in self.rooms

    def can_send(self, bare: str) -> bool:
        room = self.rooms.get(bare)
        return room is not None and room.state == JOINED

    def display_sender(self, bare: str, m: StoredMessage) -> str:
        room = self.rooms.get(bare)
        if m.outgoing:
            return room.nick if room is not None else "me"
        return m.sender

    def is_mention(self, bare: str, m: StoredMessage) -> bool:
        room = self.rooms.get(bare)
        return room is not None and not m.outgoing and names_nick(m.body, room.nick)

    def opened(self, bare: str) -> None:
        room = self.rooms.get(bare)
        if room is not None and room.mentions:
            room.mentions = 0
            self._changed(room)

    def send(self, m: StoredMessage) -> bool:
        """Hand an outbox message for a room to the connection; False when
        it must wait (not joined yet)."""
        client = self._client
        room = self.rooms.get(m.conversation)
        if client is None or room is None or room.state != JOINED or m.id is None:
            return False
        client.send_groupchat(room.jid, m.body, id=m.id)
        return True

    def send_encrypted(
        self, m: StoredMessage, encrypted: object, encrypted2: object = None
    ) -> bool:
        """An outbox message for a room, OMEMO-encrypted (app/e2e.py); False
        when it must wait (not joined)."""
        client = self._client
        room = self.rooms.get(m.conversation)
        if client is None or room is None or room.state != JOINED or m.id is None:
            return False
        client.send_encrypted_groupchat(room.jid, encrypted, id=m.id, encrypted2=encrypted2)
        return True

    def omemo_ready(self, bare: str) -> bool:
        """A room where OMEMO can work: members-only and non-anonymous (every
        member's address is known, so every member's devices can be found)."""
        features = self.admin.features.get(bare) or []
        return "muc_membersonly" in features and "muc_nonanonymous" in features

    def member_jids(self, bare: str) -> list[str]:
        """The real bare JIDs of the room's other occupants (non-anonymous rooms)."""
        room = self.rooms.get(bare)
        own = str(getattr(self._app, "own_jid", None) or "")
        found: list[str] = []
        if room is None:
            return found
        for occupant in room.occupants.values():
            if occupant.jid is None:
                continue
            real = occupant.jid.partition("/")[0]
            if real != own and real not in found:
                found.append(real)
        return found

    def real_jid_of(self, bare: str, nick: str | None) -> str | None:
        room = self.rooms.get(bare)
        occupant = None if room is None or nick is None else room.occupants.get(nick)
        if occupant is None or occupant.jid is None:
            return None
        return occupant.jid.partition("/")[0]

    def kick(self, bare: str, nick: str, reason: str | None = None) -> None:
        client, room = self._client, self.rooms.get(bare)
        if client is None or room is None:
            return
        qid = client.set_role(room.jid, nick, "none", reason)
        self._queries[qid] = (bare, "kick")
        self._flush()

    def ban(self, bare: str, nick: str, reason: str | None = None) -> None:
        client, room = self._client, self.rooms.get(bare)
        if client is None or room is None:
            return
        occupant = room.occupants.get(nick)
        if occupant is None or occupant.jid is None:
            self._emit("notice", "This room doesn't show that person's address, so they "
                                 "can't be banned from here.")
            return
        qid = client.set_affiliation(room.jid, JID.parse(occupant.jid).bare, "outcast", reason)
        self._queries[qid] = (bare, "ban")
        self._flush()

    def set_subject(self, bare: str, subject: str) -> None:
        client, room = self._client, self.rooms.get(bare)
        if client is None or room is None:
            return
        client.set_subject(room.jid, subject)
        self._flush()

    # -- connection lifecycle --------------------------------------------------------
    def on_online(self, resumed: bool) -> None:
        client = self._client
        if client is None:
            return
        if resumed:
            for room in self.rooms.values():
                if room.state == JOINED:
                    qid = client.self_ping(room.jid)
                    self._queries[qid] = (room.jid, "self-ping")
        else:
            for room in self.rooms.values():
                if room.want:
                    room.state = JOINING
                    self._send_join(room)
                    self._changed(room)
        qid = client.get_bookmarks()
        self._queries[qid] = ("", "bookmarks")
        self._flush()

    def on_offline(self) -> None:
        """The connection is gone: a resumed session self-pings the rooms,
        a fresh one joins them again (`on_online`)."""
        for room in self.rooms.values():
            room._catchup = None
        self._cancel_ping()

    # -- events ----------------------------------------------------------------------
    def handle(self, event: Record) -> None:
        if not isinstance(event, (GroupchatReceived, OccupantChanged)) and self.admin.handle(event):
            return  # the answer to an administration request
        if isinstance(event, (IqDone, IqFailed)) and self._moderation_answer(event):
            return  # the answer to a message removal
        if isinstance(event, GroupchatReceived):
            self._on_groupchat(event)
        elif isinstance(event, OccupantChanged):
            self._on_occupant(event)
        elif isinstance(event, RoomJoined):
            self._on_joined(event)
        elif isinstance(event, RoomJoinFailed):
            self._on_join_failed(event)
        elif isinstance(event, RoomLeft):
            self._on_left(event)
        elif isinstance(event, RoomSubject):
            room = self.rooms.get(str(event.room.bare))
            if room is not None:
                room.subject = event.subject or ""
                self._changed(room)
        elif isinstance(event, RoomInvite):
            inviter = str(event.inviter.bare) if event.inviter is not None else None
            self.admin.received(
                str(event.room.bare), inviter, event.reason, event.password, event.direct
            )
        elif isinstance(event, RoomConfigChanged):
            self._refresh_info(str(event.room.bare))  # a new name, members-only, ...
        elif isinstance(event, SelfPingResult):
            self._on_self_ping(event)
        elif isinstance(event, BookmarksLoaded):
            self._on_bookmarks(event.bookmarks)
        elif isinstance(event, BookmarkChanged):
            self._on_bookmark_changed(event)
        elif isinstance(event, MessageModerated):
            self._on_moderated(event)
        elif isinstance(event, (DiscoInfoResult, DiscoItemsResult)):
            self._on_disco(event)
        elif isinstance(event, IqFailed):
            self._on_iq_failed(event)
        elif isinstance(event, IqDone):
            self._queries.pop(event.query_id, None)

    def _on_occupant(self, event: OccupantChanged) -> None:
        room = self.rooms.get(str(event.room.bare))
        if room is None:
            return
        occupant = event.occupant
        if event.available:
            room.occupants[occupant.nick] = RoomOccupant(occupant)
        else:
            room.occupants.pop(occupant.nick, None)
            if event.new_nick and occupant.nick == room.nick:
                room.nick = event.new_nick  # 303: our nick change; the new presence follows
        # While joining, the room sends everyone's presence (hundreds in a big
        # room) and nothing shows occupants yet: RoomJoined (or the failure)
        # sets the traffic time and emits one "room" event for the burst.
        if room.state != JOINING:
            room.last_traffic = self._now()
            self._emit("room", room.jid)

    def _on_joined(self, event: RoomJoined) -> None:
        room = self.rooms.get(str(event.room.bare))
        client = self._client
        if room is None or client is None:
            return
        room.nick = event.nick
        room.state = JOINED
        if self._ping_timer is None:
            self._arm_ping()
        room.error = room.error_kind = None
        room.last_traffic = self._now()
        if not self.admin.joined(room, event.created) and event.created:
            # A new room (201) we didn't make through the create dialog: accept
            # the default configuration so others can join.
            qid = client.submit_room_config(room.jid, None)
            self._queries[qid] = (room.jid, "create")
        if not room.bookmarked or not room.autojoin:
            room.autojoin = True
            self._save_bookmark(room)
        self._refresh_info(room.jid)
        self._start_catchup(room)
        self._app._send_outbox()  # type: ignore[attr-defined]
        self._flush()
        self._changed(room)

    def _on_join_failed(self, event: RoomJoinFailed) -> None:
        room = self.rooms.get(str(event.room.bare))
        if room is None:
            return
        kind, text = _JOIN_ERRORS.get(
            event.condition, ("other", "This room can't be joined right now.")
        )
        room.state = ERROR
        room.error_kind = kind
        room.error = text if not event.text else f"{text} ({event.text})"
        room.occupants = {}
        room.want = kind == "unreachable"  # else the user decides (retry, other nick)
        self._changed(room)

    def _on_left(self, event: RoomLeft) -> None:
        room = self.rooms.get(str(event.room.bare))
        if room is None:
            return
        room.occupants = {}
        if event.reason == "left":
            room.state = LEFT
        else:
            kind, text = _LEFT_TEXT.get(event.reason, ("other", "You are no longer in this room."))
            room.state = ERROR
            room.error_kind = kind
            room.error = text if not event.text else f"{text} ({event.text})"
            room.want = event.reason in ("shutdown", "error")
        self._changed(room)

    def _sender(self, room: Room, nick: str | None, own: bool) -> str:
        """The store's sender: our bare JID for ours (the reflection then
        merges with the outbox copy), the nick for others ("" the room)."""
        if own:
            return str(getattr(self._app, "own_jid", None) or room.nick)
        return nick or ""

    def _on_groupchat(self, event: GroupchatReceived) -> None:
        chat = event.message
        bare = str(chat.room.bare)
        room = self.rooms.get(bare)
        app = self._app
        store = self._store
        if room is None or store is None or not chat.body:
            return
        room.last_traffic = self._now()
        if _omemo_without_text(chat):
            return  # an OMEMO key-transport message: nothing to show in a room
        own = chat.own or chat.nick == room.nick
        sender = self._sender(room, chat.nick, own)
        stamp = app._live_stamp(bare, chat.stamp)  # type: ignore[attr-defined]
        # OMEMO: stored without text (never the fallback), decrypted after.
        text = "" if (chat.encrypted or chat.encrypted2) is not None else chat.body
        m, created = store.add(
            bare, sender, text, stamp, id=chat.id, outgoing=own,
            state=SERVER if own else "received", archive_id=chat.archive_id,
            origin_id=chat.origin_id, replaces=chat.replaces,
        )
        if (chat.encrypted or chat.encrypted2) is not None and created and m.kind == "message":
            app.e2e.received_in_room(room, chat, m, own)  # type: ignore[attr-defined]
        if chat.archive_id and room._catchup is None:
            store.set_cursor(bare, chat.archive_id, stamp)
        if not created or m.kind != "message":
            if created or own:
                app._emit("message", bare, m)  # type: ignore[attr-defined]
            return
        if not own and app.active != bare:  # type: ignore[attr-defined]
            store.set_unread(bare, store.unread(bare) + 1)
            if text and names_nick(text, room.nick):
                room.mentions += 1
                self._emit("rooms")
        app._read_stored(store, bare)  # type: ignore[attr-defined]
        app._emit("messages", bare, [m])  # type: ignore[attr-defined]

    # -- room history (XEP-0313 on the room) -----------------------------------------
    def _start_catchup(self, room: Room) -> None:
        client, store = self._client, self._store
        if client is None or store is None:
            return
        cursor = store.cursor(room.jid)
        room._newest = None
        if cursor is not None and cursor.archive_id:
            room._catchup = client.query_archive(
                room=room.jid, after_id=cursor.archive_id, max=CATCHUP_PAGE
            )
        else:
            room._catchup = client.query_archive(
                room=room.jid, before_last=True, max=HISTORY_PAGE
            )

    def _insert_page(
        self, room: Room, page: list[ArchiveMessage], unread: bool, older: bool = False
    ) -> None:
        """Archived room messages into the store (deduplicated by the room's
        archive id, then origin-id); `unread`: they count as missed."""
        store = self._store
        if store is None:
            return
        created: list[object] = []
        mentions = room.mentions
        for event in reversed(page) if older else page:
            chat = event.message
            if not isinstance(chat, GroupchatMessage) or not chat.body or _omemo_without_text(chat):
                continue
            own = chat.nick == room.nick
            sender = self._sender(room, chat.nick, own)
            stamp = event.stamp if event.stamp is not None else self._now()
            text = "" if (chat.encrypted or chat.encrypted2) is not None else chat.body
            m, is_new = store.add(
                room.jid, sender, text, stamp, id=chat.id, outgoing=own,
                state=SERVER if own else "received", archive_id=event.archive_id,
                origin_id=chat.origin_id, replaces=chat.replaces, older=older,
            )
            if (chat.encrypted or chat.encrypted2) is not None and is_new and m.kind == "message":
                self._app.e2e.received_in_room(room, chat, m, own)  # type: ignore[attr-defined]
            if is_new and m.kind == "message":
                created.append(m)
                if unread and not own:
                    store.set_unread(room.jid, store.unread(room.jid) + 1)
                    if text and names_nick(text, room.nick):
                        room.mentions += 1  # missed while away: as if it came live
            if event.archive_id and (room._newest is None or stamp >= room._newest[1]):
                room._newest = (event.archive_id, stamp)
        if older:
            created.reverse()
        if created:
            self._emit("messages", room.jid, created)
        if room.mentions != mentions:
            self._emit("rooms")

    def insert_history(self, bare: str, page: list[ArchiveMessage]) -> None:
        """An older page of a room's archive (scrolling up): history, not news."""
        room = self.rooms.get(bare)
        if room is not None:
            newest = room._newest
            self._insert_page(room, page, unread=False, older=True)
            room._newest = newest  # paging back never moves the catch-up cursor

    def owns_query(self, query_id: str | None) -> Room | None:
        if query_id is None:
            return None
        for room in self.rooms.values():
            if room._catchup == query_id:
                return room
        return None

    def on_archive_page(
        self, room: Room, page: list[ArchiveMessage], done: ArchiveDone | ArchiveGap | ArchiveFailed
    ) -> None:
        """A page of the room's archive (after its conversation was read from
        storage, so dedup sees what is stored)."""
        store, client, app = self._store, self._client, self._app
        if store is None:
            return
        forward = store.cursor(room.jid) is not None
        self._insert_page(room, page, unread=forward and app.active != room.jid)  # type: ignore[attr-defined]
        more = (
            isinstance(done, ArchiveDone) and forward and not done.complete
            and done.last is not None and client is not None
        )
        if more and client is not None and isinstance(done, ArchiveDone):
            room._catchup = client.query_archive(
                room=room.jid, after_id=done.last, max=CATCHUP_PAGE
            )
            self._flush()
            return
        room._catchup = None
        if isinstance(done, ArchiveGap):
            # The cursor fell out of the room's archive: say so, then take its newest.
            stamp = store.last_stamp(room.jid)
            if stamp:
                gap = store.add_gap(room.jid, stamp, None, None)
                self._emit("messages", room.jid, [gap])
            store.set_cursor(room.jid, None, 0.0)
            if client is not None:
                room._catchup = client.query_archive(
                    room=room.jid, before_last=True, max=HISTORY_PAGE
                )
                self._flush()
            return
        if room._newest is not None:
            store.set_cursor(room.jid, room._newest[0], room._newest[1])
        if not forward and page == []:
            store.set_cursor(room.jid, None, self._now())

    # -- self-ping (XEP-0410) --------------------------------------------------------
    def _arm_ping(self) -> None:
        self._cancel_ping()
        platform = self._app.platform  # type: ignore[attr-defined]
        self._ping_timer = platform.call_later(SELF_PING_IDLE / 2, self._ping_idle_rooms)

    def _cancel_ping(self) -> None:
        if self._ping_timer is not None:
            self._app.platform.cancel(self._ping_timer)  # type: ignore[attr-defined]
            self._ping_timer = None

    def _ping_idle_rooms(self) -> None:
        self._ping_timer = None
        client = self._client
        if client is None or not any(r.state == JOINED for r in self.rooms.values()):
            return  # armed again by the next join
        now = self._now()
        for room in self.rooms.values():
            if room.state == JOINED and now - room.last_traffic >= SELF_PING_IDLE:
                room.last_traffic = now
                qid = client.self_ping(room.jid)
                self._queries[qid] = (room.jid, "self-ping")
        self._flush()
        self._arm_ping()

    def _on_self_ping(self, event: SelfPingResult) -> None:
        room = self.rooms.get(str(event.room.bare))
        if room is None:
            return
        if event.state == "not-joined" and room.want:
            room.state = JOINING
            self._send_join(room)
            self._changed(room)

    # -- bookmarks (XEP-0402 / XEP-0048) ---------------------------------------------
    def _on_bookmarks(self, bookmarks: Iterable[object]) -> None:
        for bookmark in bookmarks:
            self._apply_bookmark(bookmark)
        self._emit("rooms")

    def _on_bookmark_changed(self, event: BookmarkChanged) -> None:
        bare = str(event.room.bare)
        if event.bookmark is None:
            room = self.rooms.get(bare)
            if room is not None:
                room.bookmarked = False
                if room.state not in (JOINING, JOINED):
                    del self.rooms[bare]
            self._emit("rooms")
            return
        self._apply_bookmark(event.bookmark)
        self._emit("rooms")

    def _apply_bookmark(self, bookmark: object) -> None:
        jid = getattr(bookmark, "jid", None)
        if jid is None:
            return
        bare = str(jid.bare) if isinstance(jid, JID) else str(jid)
        room = self.rooms.get(bare)
        nick = getattr(bookmark, "nick", None) or self._default_nick()
        if room is None:
            room = self.rooms[bare] = Room(bare, nick)
        room.bookmarked = True
        room.autojoin = bool(getattr(bookmark, "autojoin", False))
        name = getattr(bookmark, "name", None)
        if name:
            room.name = name
        if getattr(bookmark, "password", None):
            room.password = bookmark.password  # type: ignore[attr-defined]
        if room.autojoin and room.state in (LEFT,) and not room.error:
            room.nick = nick
            room.want = True
            room.state = JOINING
            self._send_join(room)
        self._emit("room", bare)

    def _save_bookmark(self, room: Room) -> None:
        client = self._client
        if client is None:
            return
        from roost.xmpp.xeps.xep_0402 import Bookmark

        name = room.name if room.name != room.jid.split("@", 1)[0] else None
        qid = client.set_bookmark(
            Bookmark(JID.parse(room.jid), name, room.nick, room.password, room.autojoin)
        )
        room.bookmarked = True
        self._queries[qid] = (room.jid, "bookmark")

    # -- private messages (XEP-0045 §7.5) --------------------------------------------
    # A private message with an occupant is its own conversation, keyed by the
    # occupant JID room@service/nick: never the room's (its bare JID), never a
    # contact's (a bare JID too). Conversation keys with a "/" are exactly these.
    @staticmethod
    def is_private(key: str) -> bool:
        return "/" in key

    def private_key(self, peer: JID | None, marked: bool, live: bool) -> str | None:
        """The private conversation a chat message with `peer` belongs to, or
        None when it is no private message. `marked`: the core's
        `ChatMessage.muc_private`. `live`: it came from `peer` itself, so it
        counts only from a room we are in (joining or joined); otherwise (a
        carbon of one we sent, our own archive: our account vouches for it)
        a marked one to or from anyone but a contact counts too, as other
        clients of ours may be in rooms this one doesn't know (yet)."""
        if peer is None or peer.resource is None:
            return None
        bare = str(peer.bare)
        if bare in self.rooms:
            if live and self.rooms[bare].state not in (JOINING, JOINED):
                return None
            return str(peer)
        if live or not marked:
            return None
        app = self._app
        if bare in getattr(app, "contacts", {}) or bare == getattr(app, "own_jid", None):
            return None  # a person (or we), not a room
        return str(peer)

    def private_jid(self, key: str) -> JID | None:
        """The occupant JID of a private conversation (normalised), or None."""
        slash = key.find("/")
        if slash <= 0:
            return None
        try:
            jid = JID.parse(key[:slash]).with_resource(key[slash + 1 :])
        except JidError:
            return None
        return jid if jid.local is not None else None

    def open_private(self, room: str, nick: str) -> str | None:
        """The conversation key for a private chat with `nick` in `room`."""
        jid = self.private_jid(f"{room}/{nick}")
        return None if jid is None else str(jid)

    def private_title(self, key: str) -> str:
        """How a private conversation is named: "nick (in Room Name)"."""
        slash = key.find("/")
        bare, nick = key[:slash], key[slash + 1 :]
        room = self.rooms.get(bare)
        name = room.name if room is not None else bare.split("@", 1)[0]
        return f"{nick} (in {name})"

    def private_occupant(self, key: str) -> RoomOccupant | None:
        """The occupant a private conversation is with, while both of us are
        in the room; None when they (or we) are not."""
        slash = key.find("/")
        room = self.rooms.get(key[:slash])
        if room is None or room.state != JOINED:
            return None
        return room.occupants.get(key[slash + 1 :])

    def private_refusal(self, key: str) -> str | None:
        """Why nothing can be written in this private conversation now, or None.
        A room we don't know yet (its bookmark not loaded) lets it wait."""
        room = self.rooms.get(key[: key.find("/")])
        if room is not None and not room.want:
            return (f"You're not in {room.name} any more. "
                    "Join it again to write to the people in it.")
        return None

    def send_private(self, m: StoredMessage) -> str:
        """Hand an outbox message of a private conversation to the connection
        (through the room): "sent"; "wait" until the room is joined; "failed"
        when we left the room (it can't be delivered)."""
        client = self._client
        jid = self.private_jid(m.conversation)
        room = None if jid is None else self.rooms.get(str(jid.bare))
        if jid is None or (room is not None and not room.want):
            return "failed"
        if client is None or room is None or room.state != JOINED or m.id is None:
            return "wait"
        client.send_private(room.jid, jid.resource or "", m.body, id=m.id)
        return "sent"

    def private_failed(self, key: str, condition: str) -> str:
        """What to tell the user when the room bounced a private message."""
        slash = key.find("/")
        nick = key[slash + 1 :]
        room = self.rooms.get(key[:slash])
        name = room.name if room is not None else key[:slash].split("@", 1)[0]
        if condition == "item-not-found":
            return f"{nick} is no longer in {name}, so your message was not delivered."
        if condition == "not-acceptable":
            return f"You're not in {name} right now, so your message was not delivered."
        if condition in ("forbidden", "not-allowed"):
            return f"{name} doesn't allow private messages, so your message was not delivered."
        return f"Your message to {nick} was not delivered."

    # -- moderation (XEP-0425) -------------------------------------------------------
    def can_moderate(self, bare: str, m: object) -> bool:
        """We may remove `m` from room `bare`: we're a moderator there and the
        room gave it an archive id (what XEP-0425 names a message by)."""
        room = self.rooms.get(bare)
        return (
            room is not None and room.state == JOINED and room.is_moderator
            and isinstance(m, StoredMessage) and m.kind == "message"
            and bool(m.archive_id) and not m.retracted
        )

    def moderate(self, bare: str, key: tuple[float, int], reason: str | None = None) -> bool:
        """Ask room `bare` to remove the message at `key` (its `(stamp, seq)`)
        for everyone; True when asked. The room's announcement
        (`MessageModerated`) changes the row; a refusal is a notice."""
        client, store = self._client, self._store
        if client is None or store is None:
            self._emit("notice", "You're not connected right now.")
            return False
        found = store.before(bare, (key[0], key[1] + 1), 1)
        m = found[0] if found and found[0].key == (key[0], key[1]) else None
        if not self.can_moderate(bare, m) or not isinstance(m, StoredMessage):
            room = self.rooms.get(bare)
            self._emit("notice", "Only the room's moderators can remove messages."
                       if room is None or not room.is_moderator
                       else "That message can't be removed.")
            return False
        qid = client.moderate(bare, m.archive_id or "", (reason or "").strip() or None)
        self._queries[qid] = (bare, "moderate")
        self._flush()
        return True

    def _moderation_answer(self, event: IqDone | IqFailed) -> bool:
        """The room's answer to `moderate`; True when it was one (handled here)."""
        asked = self._queries.get(event.query_id)
        if asked is None or asked[1] != "moderate":
            return False
        del self._queries[event.query_id]
        if isinstance(event, IqFailed):
            if event.condition in ("forbidden", "not-allowed"):
                text = "You are not allowed to remove messages in this room."
            elif event.condition == "item-not-found":
                text = "The room no longer has that message, so it can't be removed."
            else:
                text = "The message could not be removed. Try again later."
            self._emit("notice", text)
        return True

    def _on_moderated(self, event: MessageModerated) -> None:
        store = self._store
        bare = str(event.room.bare)
        if store is None or bare not in self.rooms:
            return
        m = store.retract(bare, event.archive_id, event.reason)
        if m is not None:
            self._emit("message", bare, m)
            return
        if not store.is_loaded(bare):
            # Stored but not read yet: the store removes it as it reads it
            # (the removal waits there); then the row, if drawn, changes.
            def loaded() -> None:
                if self._store is store:
                    known = store.known(bare, "", event.archive_id, None, None)
                    if known is not None and known.retracted:
                        self._emit("message", bare, known)

            store.load_conversation(bare, on_done=loaded)

    # -- the room directory ----------------------------------------------------------
    def browse(self, domain: str | None) -> None:
        client = self._client
        own = getattr(self._app, "own_jid", None) or ""
        domain = (domain or "").strip() or (own.split("@", 1)[-1] if own else "")
        if client is None:
            self._emit("directory", domain, "error", [], "You're not connected right now.")
            return
        try:
            target = JID.parse(domain)
        except JidError:
            self._emit("directory", domain, "error", [], "That is not a server name.")
            return
        directory = self._directory = _Directory(str(target))
        qid = client.disco_info(target)
        directory.pending[qid] = "domain-info"
        self._emit("directory", directory.domain, "loading", [], None)
        self._flush()

    def _directory_rooms(self, directory: _Directory) -> list[RoomInfo]:
        return sorted(directory.rooms.values(), key=lambda r: (r.name.lower(), r.jid))

    def _on_disco(self, event: DiscoInfoResult | DiscoItemsResult) -> None:
        mine = self._queries.get(event.query_id)
        if mine is not None and mine[1] == "name" and isinstance(event, DiscoInfoResult):
            del self._queries[event.query_id]
            self._on_room_name(mine[0], event)
            return
        directory, client = self._directory, self._client
        what = None if directory is None else directory.pending.pop(event.query_id, None)
        if directory is None or what is None or client is None:
            return
        if isinstance(event, DiscoInfoResult):
            is_muc = any(cat == "conference" for cat, _t, _n in event.identities)
            if what == "domain-info":
                if is_muc:
                    self._list_service(directory, str(event.jid))
                else:
                    qid = client.disco_items(event.jid)
                    directory.pending[qid] = "domain-items"
            elif what == "service-info":
                if is_muc:
                    self._list_service(directory, str(event.jid))
            elif what == "room-info":
                info = directory.rooms.get(str(event.jid))
                if info is not None:
                    self._fill_room_info(info, event)
        elif what == "domain-items":
            for jid, _name, _node in event.items[:DIRECTORY_SERVICES]:
                qid = client.disco_info(jid)
                directory.pending[qid] = "service-info"
        elif what == "service-items":
            asked = sum(1 for w in directory.pending.values() if w == "room-info")
            for jid, name, _node in event.items:
                bare = str(jid.bare)
                if bare in directory.rooms or jid.local is None:
                    continue
                directory.rooms[bare] = RoomInfo(bare, name)
                if asked < DIRECTORY_DETAILS:
                    qid = client.disco_info(jid)
                    directory.pending[qid] = "room-info"
                    asked += 1
        self._flush()
        self._directory_progress(directory)

    def _refresh_info(self, bare: str) -> None:
        """Ask the room's disco#info: its name (the title, instead of the
        address's local part) and features (members-only, ...)."""
        client = self._client
        if client is not None:
            qid = client.disco_info(JID.parse(bare))
            self._queries[qid] = (bare, "name")
            self._flush()

    def _on_room_name(self, bare: str, event: DiscoInfoResult) -> None:
        room = self.rooms.get(bare)
        if room is None or str(event.jid.bare) != bare:
            return
        was_ready = self.omemo_ready(bare)
        self.admin.features[bare] = list(event.features)
        changed = was_ready != self.omemo_ready(bare)  # the padlock shows or goes
        for category, _type, name in event.identities:
            text = (name or "").strip()
            if category == "conference" and text and text != room.name:
                room.name = text
                changed = True
            if category == "conference":
                break
        if changed:
            self._changed(room)  # the title, and whether OMEMO can work there

    def _list_service(self, directory: _Directory, service: str) -> None:
        client = self._client
        if client is None or service in directory.services:
            return
        directory.services.append(service)
        qid = client.disco_items(JID.parse(service))
        directory.pending[qid] = "service-items"

    @staticmethod
    def _fill_room_info(info: RoomInfo, event: DiscoInfoResult) -> None:
        for _cat, _type, name in event.identities:
            if name:
                info.name = name
                break
        form = event.form
        description = form.get("muc#roominfo_description")
        if description and description[0]:
            info.description = description[0]
        occupants = form.get("muc#roominfo_occupants")
        if occupants and occupants[0].isdigit():
            info.occupants = int(occupants[0])

    def _directory_progress(self, directory: _Directory) -> None:
        rooms = self._directory_rooms(directory)
        if directory.pending:
            self._emit("directory", directory.domain, "loading", rooms, None)
        elif not directory.services:
            self._emit("directory", directory.domain, "error", [],
                       f"{directory.domain} has no public room directory.")
        else:
            self._emit("directory", directory.domain, "done", rooms, None)

    def _on_iq_failed(self, event: IqFailed) -> None:
        directory = self._directory
        what = None if directory is None else directory.pending.pop(event.query_id, None)
        if directory is not None and what is not None:
            if what in ("domain-info", "domain-items"):
                text = (
                    f"Couldn't reach {directory.domain}."
                    if event.condition.startswith("remote-server")
                    else f"{directory.domain} has no public room directory."
                )
                directory.pending.clear()
                self._emit("directory", directory.domain, "error", [], text)
            else:
                self._directory_progress(directory)
            return
        asked = self._queries.pop(event.query_id, None)
        if asked is None:
            return
        bare, what = asked
        room = self.rooms.get(bare)
        if what == "self-ping":
            return
        if what in ("kick", "ban"):
            self._emit("notice", "You are not allowed to do that in this room."
                       if event.condition in ("forbidden", "not-allowed")
                       else "That didn't work. Try again later.")
        elif what == "bookmark" and room is not None:
            pass  # the room works without: bookmarks are a convenience
        elif what == "create" and room is not None:
            self._emit("notice", "The new room could not be set up.")



def _omemo_without_text(chat: GroupchatMessage) -> bool:
    parts = [p for p in (chat.encrypted, chat.encrypted2) if p is not None]
    return bool(parts) and all(p.payload is None for p in parts)  # type: ignore[attr-defined]
