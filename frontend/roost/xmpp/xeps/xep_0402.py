"""XEP-0402: PEP Native Bookmarks (`urn:xmpp:bookmarks:1`).

One PEP item per bookmarked room on our own account: the item id is the
room's JID, the payload a `<conference/>` (name, autojoin, nick,
password, extensions). Published with publish-options that keep the node
private (`access_model` whitelist: only we can read it) and hold every
item. A server that also maps XEP-0048's private storage onto this node
says so with `urn:xmpp:bookmarks:1#compat` on our account's disco#info:
then both kinds of client see the same bookmarks.

Changes (ours, from other clients) arrive as PEP notifications once our
entity capabilities (XEP-0115) list `urn:xmpp:bookmarks:1+notify`.

SECURITY: a PEP notification is believed only from our own bare JID (or
with no `from`); anybody can send a message that looks like one.
`Bookmark` is also what XEP-0048 (`xep_0048`) reads and writes.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import JidError
from roost.xmpp.events import Record
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0004

NS = "urn:xmpp:bookmarks:1"
COMPAT = NS + "#compat"  # account disco#info: XEP-0048 storage maps onto this node
NOTIFY = NS + "+notify"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
# XEP-0402 §5: a private node that holds every bookmark.
NODE_OPTIONS: dict[str, str | list[str] | tuple[str, ...] | bool] = {
    "pubsub#persist_items": "true",
    "pubsub#max_items": "max",
    "pubsub#send_last_published_item": "never",
    "pubsub#access_model": "whitelist",
}


class Bookmark(Record):
    """A bookmarked room: `jid` (bare), display `name`, our `nick` there,
    the room `password`, whether to `autojoin` it at login. `extensions`:
    the XEP-0402 `<extensions/>` element other clients put there, kept
    as is so a rewrite doesn't lose their data."""

    __slots__ = ("autojoin", "extensions", "jid", "name", "nick", "password")

    def __init__(
        self,
        jid: JID,
        name: str | None = None,
        nick: str | None = None,
        password: str | None = None,
        autojoin: bool = False,
        extensions: Element | None = None,
    ) -> None:
        self.jid = jid
        self.name = name
        self.nick = nick
        self.password = password
        self.autojoin = autojoin
        self.extensions = extensions


def _is_true(value: str | None) -> bool:
    return value in ("true", "1")


def build_conference(bookmark: Bookmark) -> Element:
    conference = Element("conference", NS)
    if bookmark.name:
        conference.attrs["name"] = bookmark.name
    if bookmark.autojoin:
        conference.attrs["autojoin"] = "true"
    if bookmark.nick:
        conference.add("nick", text=bookmark.nick)
    if bookmark.password:
        conference.add("password", text=bookmark.password)
    if bookmark.extensions is not None:
        conference.append(bookmark.extensions)
    return conference


def bookmark_from(
    jid_text: str | None, conference: Element, ns: str, extensions: Element | None = None
) -> Bookmark | None:
    """A `Bookmark` from a `<conference/>` in namespace `ns` (this XEP's or
    XEP-0048's); None when `jid_text` is not a room JID."""
    try:
        jid = JID.parse(jid_text or "")
    except JidError:
        return None
    if jid.local is None or jid.resource is not None:
        return None
    return Bookmark(
        jid,
        conference.get("name") or None,
        conference.find_text("nick", ns) or None,
        conference.find_text("password", ns) or None,
        _is_true(conference.get("autojoin")),
        extensions,
    )


def parse_conference(item_id: str | None, conference: Element) -> Bookmark | None:
    """The `Bookmark` of one PEP item; None when its id is not a room JID."""
    return bookmark_from(item_id, conference, NS, conference.find("extensions", NS))


def build_get() -> Element:
    """`<pubsub/>` asking for every bookmark (send with no `to`: our account)."""
    pubsub = Element("pubsub", ns.PUBSUB)
    pubsub.add("items", attrs={"node": NS})
    return pubsub


def build_publish(bookmark: Bookmark) -> Element:
    """`<pubsub/>` adding or replacing one bookmark, with the node options."""
    pubsub = Element("pubsub", ns.PUBSUB)
    publish = pubsub.add("publish", attrs={"node": NS})
    item = publish.add("item", attrs={"id": str(bookmark.jid.bare)})
    item.append(build_conference(bookmark))
    options = pubsub.add("publish-options")
    options.append(xep_0004.build_submit(NODE_OPTIONS, PUBLISH_OPTIONS))
    return pubsub


def build_retract(room: JID) -> Element:
    """`<pubsub/>` removing the bookmark of `room`; `notify` so that our
    other clients hear of it."""
    pubsub = Element("pubsub", ns.PUBSUB)
    retract = pubsub.add("retract", attrs={"node": NS, "notify": "true"})
    retract.add("item", attrs={"id": str(room.bare)})
    return pubsub


def parse_items(iq: Element) -> list[Bookmark]:
    """The bookmarks of a pubsub items result (bad items are skipped)."""
    pubsub = iq.find("pubsub", ns.PUBSUB)
    items = None if pubsub is None else pubsub.find("items", ns.PUBSUB)
    if items is None or items.get("node") != NS:
        return []
    found: list[Bookmark] = []
    for item in items.find_all("item", ns.PUBSUB):
        conference = item.find("conference", NS)
        bookmark = None if conference is None else parse_conference(item.get("id"), conference)
        if bookmark is not None:
            found.append(bookmark)
    return found


def parse_event(message: Element) -> list[tuple[JID, Bookmark | None]] | None:
    """The bookmark changes of a PEP notification: (room, bookmark) for a
    published one, (room, None) for a retracted one. None when `message`
    is not a notification for this node. The caller checks the sender."""
    event = message.find("event", ns.PUBSUB_EVENT)
    items = None if event is None else event.find("items", ns.PUBSUB_EVENT)
    if items is None or items.get("node") != NS:
        return None
    changes: list[tuple[JID, Bookmark | None]] = []
    for child in items.children:
        if child.ns != ns.PUBSUB_EVENT:
            continue
        if child.name == "item":
            conference = child.find("conference", NS)
            bookmark = None if conference is None else parse_conference(child.get("id"), conference)
            if bookmark is not None:
                changes.append((bookmark.jid, bookmark))
        elif child.name == "retract":
            try:
                room = JID.parse(child.get("id") or "")
            except JidError:
                continue
            if room.local is not None and room.resource is None:
                changes.append((room, None))
    return changes
