"""Room administration for `RoomManager`: invitations (sent and received),
creating and configuring rooms, members and moderators, nickname changes,
autojoin. See docs/architecture.md ("Rooms").

The XMPP side is XEP-0045 (configuration form, admin lists, roles,
mediated invitations) and XEP-0249 (direct invitations). The UI never sees
a data form: it reads and writes `RoomSettings`, a few named settings that
map to the standard `muc#roomconfig_*` fields; only the fields the room's
form offers are shown and sent (servers differ).

App events (see ChatApp.on):
- "invites" (): the pending invitations changed (`RoomAdmin.invites`).
- "room_settings" (room, state, settings, error): state "loading", "ready"
  (settings: a `RoomSettings`), "saved", "error".
- "room_create" (room, state, error): "checking", "creating", "done", "error".
- "room_members" (room, state, members, error): members: affiliation → bare
  JIDs, for "owner", "admin", "member", "outcast"; state "loading", "ready",
  "error".
- "room_invite_sent" (room, invitee).
"""

from __future__ import annotations

from roost.xmpp.errors import JidError
from roost.xmpp.events import (
    AffiliationList,
    DiscoInfoResult,
    DiscoItemsResult,
    IqFailed,
    NickChangeFailed,
    RoomConfigForm,
)
from roost.xmpp.jid import JID

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.app.rooms import Room, RoomManager
    from roost.xmpp.client import XmppClient
    from roost.xmpp.events import Record
    from roost.xmpp.xeps.xep_0004 import Field

# The affiliations the members dialog lists, in its order.
AFFILIATIONS = ("owner", "admin", "member", "outcast")

# RoomSettings attribute → the standard configuration field (XEP-0045 §15.5.3).
_FIELDS = {
    "name": "muc#roomconfig_roomname",
    "description": "muc#roomconfig_roomdesc",
    "public": "muc#roomconfig_publicroom",
    "members_only": "muc#roomconfig_membersonly",
    "persistent": "muc#roomconfig_persistentroom",
    "moderated": "muc#roomconfig_moderatedroom",
    "non_anonymous": "muc#roomconfig_whois",
    "password": "muc#roomconfig_roomsecret",
}
_PROTECTED = "muc#roomconfig_passwordprotectedroom"
_TEXT = ("name", "description", "password")

# Refusals of our requests → what the user reads.
_REFUSED = {
    "forbidden": "You are not allowed to do that in this room.",
    "not-allowed": "You are not allowed to do that in this room.",
    "not-authorized": "You are not allowed to do that in this room.",
    "conflict": "That can't be done: it conflicts with the room's rules.",
    "item-not-found": "The room doesn't know that.",
    "remote-server-not-found": "The room's server can't be reached.",
    "remote-server-timeout": "The room's server did not answer. Try again later.",
}
_NICK_REFUSED = {
    "conflict": "That nickname is already taken in this room.",
    "not-acceptable": "That nickname is not allowed in this room.",
    "not-allowed": "You may not change your nickname in this room.",
}

# What a room's local part may hold (a conservative subset of nodeprep: the
# address must also be easy to read aloud and type).
_LOCAL_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class RoomSettings:
    """What the settings dialog shows; None for what the room doesn't offer."""

    __slots__ = (
        "description", "members_only", "moderated", "name", "non_anonymous", "password",
        "persistent", "public",
    )

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        public: bool | None = None,
        members_only: bool | None = None,
        persistent: bool | None = None,
        moderated: bool | None = None,
        non_anonymous: bool | None = None,
        password: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.public = public
        self.members_only = members_only
        self.persistent = persistent
        self.moderated = moderated
        self.non_anonymous = non_anonymous
        self.password = password  # "" for none

    def offered(self) -> list[str]:
        return [slot for slot in self.__slots__ if getattr(self, slot) is not None]


def settings_from_form(fields: list[Field]) -> RoomSettings:
    """A room configuration form → the settings it offers, with their values."""
    by_var = {f.var: f for f in fields if f.var}
    values: dict[str, str | bool] = {}
    for name, var in _FIELDS.items():
        field = by_var.get(var)
        if field is None:
            continue
        value = field.value or ""
        if name == "non_anonymous":
            if not any(v == "anyone" for _l, v in field.options) and field.options:
                continue  # the room can't be made non-anonymous
            values[name] = value == "anyone"
        elif name in _TEXT:
            values[name] = value
        else:
            values[name] = value in ("1", "true")
    return RoomSettings(**values)  # type: ignore[arg-type]


def form_values(settings: RoomSettings, fields: list[Field]) -> dict[str, str | bool]:
    """Settings → the values to submit, only for fields the form has."""
    present = {f.var for f in fields if f.var}
    out: dict[str, str | bool] = {}
    for name, var in _FIELDS.items():
        value = getattr(settings, name)
        if value is None or var not in present:
            continue
        if name == "non_anonymous":
            out[var] = "anyone" if value else "moderators"
        elif name in _TEXT:
            out[var] = str(value)
        else:
            out[var] = bool(value)
    if settings.password is not None and _PROTECTED in present:
        out[_PROTECTED] = bool(settings.password)
    return out


def room_local(text: str) -> str:
    """A suggested local part for a room named `text`: "Board games!" → "board-games"."""
    out: list[str] = []
    for ch in text.strip().lower():
        if ch in _LOCAL_OK:
            out.append(ch)
        elif (ch.isspace() or ch in "/@:'\"") and out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-._")[:64]


class _Invite:
    __slots__ = ("direct", "inviter", "password", "reason", "room")

    def __init__(
        self, room: str, inviter: str | None, reason: str | None, password: str | None,
        direct: bool,
    ) -> None:
        self.room = room
        self.inviter = inviter
        self.reason = reason
        self.password = password
        self.direct = direct


class RoomAdmin:
    """The administration side of the rooms of one account."""

    __slots__ = ("_asked", "_creating_settings", "_forms", "_members", "_pending_create",
                 "_service_pending", "features", "invites", "manager", "service")

    def __init__(self, manager: RoomManager) -> None:
        self.manager = manager
        # Pending invitations, newest first (one per room).
        self.invites: list[_Invite] = []
        # Room → its disco#info features (members-only, password, ...).
        self.features: dict[str, list[str]] = {}
        # The own server's MUC service (found at login), e.g. conference.example.org.
        self.service: str | None = None
        self._service_pending: set[str] = set()
        # Our IQs: query id → (room, what).
        self._asked: dict[str, tuple[str, str]] = {}
        # Room → the last configuration form (submitted against its fields).
        self._forms: dict[str, list[Field]] = {}
        # Room → affiliation → JIDs, filled as the lists come in.
        self._members: dict[str, dict[str, list[str]]] = {}
        # Rooms being made: their settings (and nick) until the check answers,
        # then the settings until the configuration form is filled in.
        self._pending_create: dict[str, tuple[RoomSettings, str | None]] = {}
        self._creating_settings: dict[str, RoomSettings] = {}

    # -- helpers ----------------------------------------------------------------------
    @property
    def _client(self) -> XmppClient | None:
        return self.manager._client

    def _emit(self, name: str, *args: object) -> None:
        self.manager._emit(name, *args)

    def _flush(self) -> None:
        self.manager._flush()

    def reset(self) -> None:
        self.invites = []
        self.features = {}
        self.service = None
        self._service_pending = set()
        self._asked = {}
        self._forms = {}
        self._members = {}
        self._pending_create = {}
        self._creating_settings = {}

    def _offline(self, room: str, event: str) -> bool:
        if self._client is None:
            self._emit(event, room, "error", None, "You're not connected right now.")
            return True
        return False

    # -- the own MUC service ----------------------------------------------------------
    def discover_service(self) -> None:
        """Find the own server's MUC service (disco#items, then each item's
        disco#info); asked when the user is about to make a room, not at
        login (two IQs fewer on every connect)."""
        client = self._client
        own = str(getattr(self.manager._app, "own_jid", None) or "")
        if client is None or self.service is not None or "@" not in own:
            return
        if self._service_pending or ("", "service-items") in self._asked.values():
            return  # already looking
        qid = client.disco_items(JID.parse(own.split("@", 1)[1]))
        self._asked[qid] = ("", "service-items")

    def default_service(self) -> str:
        """Where a new room is made: the service found, else conference.<domain>."""
        if self.service:
            return self.service
        own = str(getattr(self.manager._app, "own_jid", None) or "")
        return "conference." + own.split("@", 1)[1] if "@" in own else ""

    # -- invitations ------------------------------------------------------------------
    def received(self, room: str, inviter: str | None, reason: str | None,
                 password: str | None, direct: bool) -> None:
        if room in self.manager.rooms and self.manager.rooms[room].state == "joined":
            return  # already in: nothing to accept
        self.invites = [i for i in self.invites if i.room != room]
        self.invites.insert(0, _Invite(room, inviter, reason, password, direct))
        self._emit("invites")

    def accept(self, room: str) -> str | None:
        invite = next((i for i in self.invites if i.room == room), None)
        self.dismiss(room)
        if invite is None:
            return None
        return self.manager.join(room, None, invite.password)

    def dismiss(self, room: str) -> None:
        before = len(self.invites)
        self.invites = [i for i in self.invites if i.room != room]
        if len(self.invites) != before:
            self._emit("invites")

    def invite(self, bare: str, address: str, reason: str | None = None) -> str | None:
        """Invite `address` into room `bare`; None when sent, else why not."""
        client, room = self._client, self.manager.rooms.get(bare)
        if client is None:
            return "You're not connected right now."
        if room is None or room.state != "joined":
            return "Join the room first."
        text = address.strip()
        if text.lower().startswith("xmpp:"):
            text = text[5:].split("?", 1)[0]
        try:
            jid = JID.parse(text)
        except JidError:
            jid = None
        if jid is None or jid.local is None or jid.resource is not None:
            return "That is not an address. An address looks like name@example.org."
        features = self.features.get(bare, [])
        # A members-only room lets the invitee in only if the room relays the
        # invitation (XEP-0045 §7.8.2: an admin's invitee becomes a member).
        mediated = "muc_membersonly" in features
        client.invite(JID.parse(bare), jid.bare, (reason or "").strip() or None,
                      None if mediated else room.password, mediated=mediated)
        self._flush()
        self._emit("room_invite_sent", bare, str(jid.bare))
        return None

    # -- nickname, autojoin -------------------------------------------------------------
    def change_nick(self, bare: str, nick: str) -> str | None:
        client, room = self._client, self.manager.rooms.get(bare)
        nick = nick.strip()
        if not nick:
            return "Enter a nickname."
        if client is None:
            return "You're not connected right now."
        if room is None or room.state != "joined":
            return "Join the room first."
        if nick == room.nick:
            return None
        client.change_nick(JID.parse(bare), nick)
        self._flush()
        return None

    def set_autojoin(self, bare: str, on: bool) -> None:
        room = self.manager.rooms.get(bare)
        if room is None or room.autojoin == on:
            return
        room.autojoin = on
        self.manager._save_bookmark(room)
        self._flush()
        self.manager._changed(room)

    def forget(self, bare: str) -> None:
        """Leave the room and drop its bookmark: it leaves the Rooms list."""
        room = self.manager.rooms.get(bare)
        if room is None:
            return
        bookmarked, room.bookmarked = room.bookmarked, False
        self.manager.leave(bare)  # unbookmarked: no autojoin=false write before the removal
        client = self._client
        if client is not None and bookmarked:
            client.remove_bookmark(JID.parse(bare))
            self._flush()
        self.manager.rooms.pop(bare, None)
        self._emit("rooms")

    # -- creating a room ----------------------------------------------------------------
    def create(self, address: str, settings: RoomSettings, nick: str | None = None) -> str | None:
        """Make a new room at `address` (room@service, or a local part on the
        own service) with `settings`. Returns the room's JID, or None (an
        "room_create" error event says why)."""
        text = address.strip().lower()
        if "@" not in text:
            if not text or any(ch not in _LOCAL_OK for ch in text):
                self._emit("room_create", text, "error",
                           "Use only letters, digits, - _ and . in a room address.")
                return None
            text = f"{text}@{self.default_service()}"
        try:
            jid = JID.parse(text)
        except JidError:
            jid = None
        if jid is None or jid.local is None or jid.resource is not None:
            self._emit("room_create", text, "error",
                       "That is not a room address. It looks like room@conference.example.org.")
            return None
        bare = str(jid.bare)
        client = self._client
        if client is None:
            self._emit("room_create", bare, "error", "You're not connected right now.")
            return None
        existing = self.manager.rooms.get(bare)
        if existing is not None and existing.state in ("joining", "joined"):
            self._emit("room_create", bare, "error", "You are already in that room.")
            return None
        # Ask first: a room that exists answers, one that doesn't is
        # item-not-found. Joining blindly would put the user in someone
        # else's room, thinking it their own.
        qid = client.disco_info(jid.bare)
        self._asked[qid] = (bare, "create-check")
        self._pending_create[bare] = (settings, nick)
        self._emit("room_create", bare, "checking", None)
        self._flush()
        return bare

    def _create_join(self, bare: str) -> None:
        asked = self._pending_create.get(bare)
        if asked is None:
            return
        settings, nick = asked
        self.manager.join(bare, nick)
        room = self.manager.rooms.get(bare)
        if room is not None and settings.name:
            room.name = str(settings.name)
        self._emit("room_create", bare, "creating", None)

    def joined(self, room: Room, created: bool) -> bool:
        """RoomManager's `_on_joined`: True when we configure the new room
        (else the manager accepts the defaults of a room it created)."""
        asked = self._pending_create.pop(room.jid, None)
        client = self._client
        if asked is None or client is None:
            return False
        if not created:
            # Someone made it between our check and our join.
            self._emit("room_create", room.jid, "error",
                       "A room with this address was just made by someone else; you "
                       "joined it.")
            return True
        qid = client.get_room_config(JID.parse(room.jid))
        self._asked[qid] = (room.jid, "create-form")
        self._creating_settings[room.jid] = asked[0]
        return True

    # -- configuring a room -------------------------------------------------------------
    def load_settings(self, bare: str) -> None:
        if self._offline(bare, "room_settings"):
            return
        client = self._client
        assert client is not None
        qid = client.get_room_config(JID.parse(bare))
        self._asked[qid] = (bare, "settings-form")
        self._emit("room_settings", bare, "loading", None, None)
        self._flush()

    def save_settings(self, bare: str, settings: RoomSettings) -> None:
        if self._offline(bare, "room_settings"):
            return
        client = self._client
        assert client is not None
        fields = self._forms.get(bare)
        if fields is None:
            self._emit("room_settings", bare, "error", None,
                       "The room's settings are not loaded yet.")
            return
        qid = client.submit_room_config(JID.parse(bare), form_values(settings, fields))
        self._asked[qid] = (bare, "settings-save")
        room = self.manager.rooms.get(bare)
        if room is not None and settings.password is not None:
            room.password = settings.password or None
        self._flush()

    # -- members and moderators ---------------------------------------------------------
    def load_members(self, bare: str) -> None:
        if self._offline(bare, "room_members"):
            return
        client = self._client
        assert client is not None
        self._members[bare] = {}
        for affiliation in AFFILIATIONS:
            qid = client.get_affiliations(JID.parse(bare), affiliation)
            self._asked[qid] = (bare, "members:" + affiliation)
        self._emit("room_members", bare, "loading", {}, None)
        self._flush()

    def set_affiliation(self, bare: str, address: str, affiliation: str,
                        reason: str | None = None) -> str | None:
        """Make `address` a member/admin/owner, ban ("outcast") or remove
        ("none"); None when asked, else why not."""
        client = self._client
        if client is None:
            return "You're not connected right now."
        if affiliation != "none" and affiliation not in AFFILIATIONS:
            return "Pick what they should be."
        text = address.strip()
        try:
            jid = JID.parse(text)
        except JidError:
            jid = None
        if jid is None or jid.local is None:
            return "That is not an address. An address looks like name@example.org."
        qid = client.set_affiliation(JID.parse(bare), jid.bare, affiliation,
                                     (reason or "").strip() or None)
        self._asked[qid] = (bare, "affiliation")
        self._flush()
        return None

    def set_role(self, bare: str, nick: str, role: str) -> None:
        """Moderator rights for this visit ("moderator") or not ("participant")."""
        client = self._client
        if client is None:
            self._emit("notice", "You're not connected right now.")
            return
        qid = client.set_role(JID.parse(bare), nick, role)
        self._asked[qid] = (bare, "role")
        self._flush()

    # -- events -------------------------------------------------------------------------
    def handle(self, event: Record) -> bool:
        """Take the answers to our own requests; False for the manager's."""
        if isinstance(event, NickChangeFailed):
            text = _NICK_REFUSED.get(event.condition, "That nickname can't be used here.")
            self._emit("notice", text)
            return True
        query_id = getattr(event, "query_id", None)
        asked = self._asked.pop(query_id, None) if query_id is not None else None
        if asked is None:
            if isinstance(event, DiscoInfoResult) and event.query_id in self._service_pending:
                self._service_pending.discard(event.query_id)
                if self.service is None and any(
                    c == "conference" for c, _t, _n in event.identities
                ):
                    self.service = str(event.jid)
                return True
            if isinstance(event, IqFailed) and event.query_id in self._service_pending:
                self._service_pending.discard(event.query_id)
                return True
            return False
        bare, what = asked
        if isinstance(event, IqFailed):
            self._failed(bare, what, event)
        elif what == "service-items" and isinstance(event, DiscoItemsResult):
            client = self._client
            for jid, _name, _node in event.items[:20]:
                if client is not None and jid.local is None:
                    self._service_pending.add(client.disco_info(jid))
            self._flush()
        elif what == "create-check":
            # It answered: the room exists already.
            self._pending_create.pop(bare, None)
            self._emit("room_create", bare, "error",
                       "A room with this address already exists. Pick another address, "
                       "or join that room.")
        elif what == "create-form" and isinstance(event, RoomConfigForm):
            self._forms[bare] = event.fields
            settings = self._creating_settings.get(bare) or RoomSettings()
            qid = self._client.submit_room_config(  # type: ignore[union-attr]
                JID.parse(bare), form_values(settings, event.fields)
            )
            self._asked[qid] = (bare, "create-save")
            self._flush()
        elif what == "create-save":
            self._creating_settings.pop(bare, None)
            self.manager._refresh_info(bare)
            self._emit("room_create", bare, "done", None)
        elif what == "settings-form" and isinstance(event, RoomConfigForm):
            self._forms[bare] = event.fields
            self._emit("room_settings", bare, "ready", settings_from_form(event.fields), None)
        elif what == "settings-save":
            self.manager._refresh_info(bare)
            self._emit("room_settings", bare, "saved", None, None)
        elif what.startswith("members:") and isinstance(event, AffiliationList):
            members = self._members.setdefault(bare, {})
            members[event.affiliation] = sorted(str(j) for j, _nick in event.items)
            done = all(a in members for a in AFFILIATIONS)
            self._emit("room_members", bare, "ready" if done else "loading", dict(members), None)
        elif what == "affiliation":
            self.load_members(bare)
        return True

    def _failed(self, bare: str, what: str, event: IqFailed) -> None:
        text = _REFUSED.get(event.condition, "That didn't work. Try again later.")
        if what == "create-check":
            if event.condition == "item-not-found":
                self._create_join(bare)  # free: make it
            else:
                self._pending_create.pop(bare, None)
                self._emit("room_create", bare, "error",
                           "The room's server can't be reached. Check the address."
                           if event.condition.startswith("remote-server") else text)
        elif what in ("create-form", "create-save"):
            self._creating_settings.pop(bare, None)
            self._emit("room_create", bare, "error",
                       "The room was made, but its settings could not be saved.")
            client = self._client
            if client is not None and what == "create-form":
                client.submit_room_config(JID.parse(bare), None)  # at least unlock it
                self._flush()
        elif what in ("settings-form", "settings-save"):
            if what == "settings-form" and event.condition in ("forbidden", "not-allowed"):
                text = "Only the room's owners can change its settings."
            self._emit("room_settings", bare, "error", None, text)
        elif what.startswith("members:"):
            # An admin may not read the owner and admin lists: show what can be read.
            members = self._members.setdefault(bare, {})
            members[what.split(":", 1)[1]] = []
            done = all(a in members for a in AFFILIATIONS)
            if done and not any(members.values()) and event.condition == "forbidden":
                self._emit("room_members", bare, "error", members,
                           "Only the room's admins and owners can see its members.")
            else:
                self._emit("room_members", bare, "ready" if done else "loading",
                           dict(members), None)
        elif what in ("affiliation", "role"):
            self._emit("notice", text)
