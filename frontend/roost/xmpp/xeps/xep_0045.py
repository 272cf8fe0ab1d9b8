"""XEP-0045: Multi-User Chat.

A room is a bare JID (room@service); each occupant is room/nick. We join by
sending presence to room/our-nick with `<x xmlns="…muc"/>`; the room then
sends every occupant's presence, ours last (status 110), then history,
then the subject. Occupant presence carries `<x xmlns="…muc#user">` with an
`<item/>` (role, affiliation, real JID when the room shows it) and status
codes saying why it was sent (kicked, banned, nick change, ...).

Admin requests (roles, affiliations) go to the room as muc#admin iqs, the
configuration form as muc#owner iqs (XEP-0004 forms).

SECURITY: anybody can send a presence or message that looks like it comes
from a room. The client only treats as a room what it joined
(`XmppClient.rooms`): groupchat messages only from such a room's JIDs,
muc#user presence only for them, a mediated invitation only from a bare
JID that can be a room. These parsers don't decide that; they only read.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import JidError
from roost.xmpp.events import Record
from roost.xmpp.jid import JID
from roost.xmpp.stamps import format_datetime
from roost.xmpp.xeps import xep_0004

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NS = ns.MUC
USER = ns.MUC_USER
ADMIN = ns.MUC_ADMIN
OWNER = ns.MUC_OWNER
ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
ROOMINFO = "http://jabber.org/protocol/muc#roominfo"

ROLES = ("moderator", "participant", "visitor", "none")
AFFILIATIONS = ("owner", "admin", "member", "outcast", "none")

# Status codes (XEP-0045 §15.6) the client acts on.
NON_ANONYMOUS = 100  # everyone sees real JIDs
SELF = 110  # this presence is ours
LOGGED = 170  # the room is archived
CREATED = 201  # our join created the room
NICK_REWRITTEN = 210  # the room changed the nick we asked for
BANNED = 301
NICK_CHANGED = 303  # unavailable for the old nick; item/@nick is the new one
KICKED = 307
REMOVED_AFFILIATION = 321  # removed by an affiliation change (members-only)
REMOVED_MEMBERS_ONLY = 322  # the room became members-only
SHUTDOWN = 332  # the service is going down


class MucItem(Record):
    """An occupant's `<item/>`: `role`, `affiliation`, `jid` (the real JID
    when the room discloses it, else None), `nick` (the new nick in a 303,
    or the nick in an admin list), `actor` (the nick, or failing that the
    JID, of whoever kicked/banned), `reason`."""

    __slots__ = ("actor", "affiliation", "jid", "nick", "reason", "role")

    def __init__(
        self,
        role: str | None = None,
        affiliation: str | None = None,
        jid: JID | None = None,
        nick: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.role = role
        self.affiliation = affiliation
        self.jid = jid
        self.nick = nick
        self.actor = actor
        self.reason = reason


class MucUser(Record):
    """The `<x xmlns="…muc#user"/>` of an occupant presence: its `item`
    (None when absent), status `codes`, and for a destroyed room
    `destroyed`, the `alternate` room and `destroy_reason`."""

    __slots__ = ("alternate", "codes", "destroy_reason", "destroyed", "item")

    def __init__(
        self,
        item: MucItem | None,
        codes: list[int],
        destroyed: bool = False,
        alternate: JID | None = None,
        destroy_reason: str | None = None,
    ) -> None:
        self.item = item
        self.codes = codes
        self.destroyed = destroyed
        self.alternate = alternate
        self.destroy_reason = destroy_reason


class MediatedInvite(Record):
    """A room relaying an invitation (§7.8.2): into `room`, from `inviter`
    (the JID the room names, None when it doesn't), with `reason` and the
    room's `password` if it has one."""

    __slots__ = ("inviter", "password", "reason", "room")

    def __init__(
        self,
        room: JID,
        inviter: JID | None,
        reason: str | None = None,
        password: str | None = None,
    ) -> None:
        self.room = room
        self.inviter = inviter
        self.reason = reason
        self.password = password


def _attr(element: Element, name: str) -> str | None:
    """`element.get(name)` without the KeyError that Brython's dict.get
    raises and catches for a missing attribute (~8 µs): most of an item's
    attributes are missing, and a room sends an item per occupant."""
    attrs = element.attrs
    return attrs[name] if name in attrs else None  # noqa: SIM401


def _jid_or_none(text: str | None) -> JID | None:
    if not text:
        return None
    try:
        return JID.parse(text)
    except JidError:
        return None


# -- joining, leaving, nick ---------------------------------------------------------------


def build_join(
    occupant: JID,
    password: str | None = None,
    history_max: int | None = 0,
    history_since: float | None = None,
) -> Element:
    """Join presence to `occupant` (room/nick). `history_max`: at most that
    many past messages (0: none, the archive brings them; None: the room's
    default); `history_since`: only those after that time (epoch seconds)."""
    if occupant.resource is None:
        raise ValueError("join a room as room@service/nick")
    presence = Element("presence", ns.CLIENT, {"to": str(occupant)})
    x = presence.add("x", NS)
    if history_max is not None or history_since is not None:
        history = x.add("history")
        if history_max is not None:
            history.attrs["maxstanzas"] = str(max(0, int(history_max)))
        if history_since is not None:
            history.attrs["since"] = format_datetime(history_since)
    if password:
        x.add("password", text=password)
    return presence


def build_leave(occupant: JID, status: str | None = None) -> Element:
    presence = Element("presence", ns.CLIENT, {"to": str(occupant), "type": "unavailable"})
    if status:
        presence.add("status", text=status)
    return presence


def build_nick_change(occupant: JID) -> Element:
    """Presence to room/new-nick (no muc `<x/>`: that would be a join)."""
    return Element("presence", ns.CLIENT, {"to": str(occupant)})


# -- occupant presence ----------------------------------------------------------------------


def parse_item(element: Element) -> MucItem:
    actor_element = element.find("actor", element.ns)
    actor = None
    if actor_element is not None:
        actor = _attr(actor_element, "nick") or _attr(actor_element, "jid") or None
    return MucItem(
        _attr(element, "role") or None,
        _attr(element, "affiliation") or None,
        _jid_or_none(_attr(element, "jid")),
        _attr(element, "nick") or None,
        actor,
        element.find_text("reason", element.ns) or None,
    )


def _add_code(codes: list[int], status: Element) -> None:
    text = _attr(status, "code") or ""
    if len(text) == 3 and text.isdigit() and text.isascii():
        codes.append(int(text))


def status_codes(x: Element) -> list[int]:
    codes: list[int] = []
    for status in x.find_all("status", USER):
        _add_code(codes, status)
    return codes


def parse_user(stanza: Element) -> MucUser | None:
    """The muc#user payload of a presence (or message), None without one."""
    x = stanza.find("x", USER)
    if x is None:
        return None
    # One pass over the children (the first item, the first destroy, every
    # status), not one search each: a join brings this per occupant.
    item_element: Element | None = None
    destroy: Element | None = None
    codes: list[int] = []
    for child in x.children:
        if child.ns != USER:
            continue
        name = child.name
        if name == "status":
            _add_code(codes, child)
        elif name == "item":
            if item_element is None:
                item_element = child
        elif name == "destroy" and destroy is None:
            destroy = child
    return MucUser(
        None if item_element is None else parse_item(item_element),
        codes,
        destroy is not None,
        None if destroy is None else _jid_or_none(destroy.get("jid")),
        None if destroy is None else destroy.find_text("reason", USER) or None,
    )


def has_muc_user(stanza: Element) -> bool:
    return stanza.find("x", USER) is not None


def build_private_marker() -> Element:
    """The empty `<x xmlns="…muc#user"/>` that marks a private message to an occupant."""
    return Element("x", USER)


# -- messages: subject, invitations -----------------------------------------------------------


def parse_subject(message: Element) -> str | None:
    """The new subject of a groupchat message that sets it ("" clears it),
    or None. §8.1: a `<subject/>` with a `<body/>` is just a message."""
    if message.get("type") != "groupchat" or message.find("body", ns.CLIENT) is not None:
        return None
    subject = message.find("subject", ns.CLIENT)
    return None if subject is None else subject.text


def build_subject(room: JID, subject: str, msg_id: str) -> Element:
    message = Element(
        "message", ns.CLIENT, {"to": str(room.bare), "type": "groupchat", "id": msg_id}
    )
    message.add("subject", text=subject)
    return message


def parse_mediated_invite(message: Element) -> MediatedInvite | None:
    """A room-relayed invitation in `message` (from the room's bare JID), or
    None. The room is the message's sender: the caller checks it can be one."""
    x = message.find("x", USER)
    invite = None if x is None else x.find("invite", USER)
    room = _jid_or_none(message.get("from"))
    if x is None or invite is None or room is None or room.local is None:
        return None
    return MediatedInvite(
        room.bare,
        _jid_or_none(invite.get("from")),
        invite.find_text("reason", USER) or None,
        x.find_text("password", USER) or None,
    )


def build_mediated_invite(room: JID, invitee: JID, msg_id: str, reason: str | None) -> Element:
    """An invitation the room relays to `invitee` (§7.8.2)."""
    message = Element("message", ns.CLIENT, {"to": str(room.bare), "id": msg_id})
    invite = message.add("x", USER).add("invite", attrs={"to": str(invitee)})
    if reason:
        invite.add("reason", text=reason)
    return message


# -- admin and owner ---------------------------------------------------------------------------


def build_role_query(nick: str, role: str, reason: str | None = None) -> Element:
    """muc#admin `<query/>`: give occupant `nick` `role` ("none" kicks)."""
    if role not in ROLES:
        raise ValueError("role must be one of " + ", ".join(ROLES))
    query = Element("query", ADMIN)
    item = query.add("item", attrs={"nick": nick, "role": role})
    if reason:
        item.add("reason", text=reason)
    return query


def build_affiliation_query(jid: JID, affiliation: str, reason: str | None = None) -> Element:
    """muc#admin `<query/>`: give the bare `jid` `affiliation` ("outcast" bans)."""
    if affiliation not in AFFILIATIONS:
        raise ValueError("affiliation must be one of " + ", ".join(AFFILIATIONS))
    query = Element("query", ADMIN)
    item = query.add("item", attrs={"jid": str(jid.bare), "affiliation": affiliation})
    if reason:
        item.add("reason", text=reason)
    return query


def build_affiliation_list_query(affiliation: str) -> Element:
    if affiliation not in AFFILIATIONS:
        raise ValueError("affiliation must be one of " + ", ".join(AFFILIATIONS))
    query = Element("query", ADMIN)
    query.add("item", attrs={"affiliation": affiliation})
    return query


def parse_admin_items(query: Element) -> list[MucItem]:
    """The items of a muc#admin list answer."""
    return [parse_item(item) for item in query.find_all("item", ADMIN)]


def build_config_query() -> Element:
    """muc#owner `<query/>` asking for the configuration form."""
    return Element("query", OWNER)


def build_config_submit(
    values: Mapping[str, str | list[str] | tuple[str, ...] | bool] | None,
) -> Element:
    """muc#owner `<query/>` with a submitted form; `values` None sends the
    empty form that accepts the defaults (an "instant room", §10.1.2)."""
    query = Element("query", OWNER)
    if values is None:
        query.append(xep_0004.build_submit())
    else:
        query.append(xep_0004.build_submit(values, ROOMCONFIG))
    return query


def build_destroy(alternate: JID | None = None, reason: str | None = None) -> Element:
    query = Element("query", OWNER)
    destroy = query.add("destroy")
    if alternate is not None:
        destroy.attrs["jid"] = str(alternate.bare)
    if reason:
        destroy.add("reason", text=reason)
    return query


def parse_config(iq: Element) -> xep_0004.DataForm | None:
    """The configuration form of a muc#owner answer, or None."""
    query = iq.find("query", OWNER)
    return None if query is None else xep_0004.find_form(query)
