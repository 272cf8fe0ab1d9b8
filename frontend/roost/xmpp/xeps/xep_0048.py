"""XEP-0048: Bookmarks in private XML storage (XEP-0049, `jabber:iq:private`).

The legacy way, for servers without XEP-0402 (`xep_0402`): every bookmark
of the account lives in one `<storage xmlns="storage:bookmarks"/>`
element, read and written whole. Changing one bookmark is therefore a
read, modify, write; what this client doesn't understand (URL bookmarks,
conferences with a bad JID, extensions) is written back unchanged.
Private storage sends no notifications: other clients see changes at
their next read.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.jid import JID
from roost.xmpp.xeps.xep_0402 import Bookmark, bookmark_from

NS = "storage:bookmarks"


def build_get() -> Element:
    """`<query/>` reading the bookmarks (send with no `to`: our account)."""
    query = Element("query", ns.PRIVATE)
    query.add("storage", NS)
    return query


def parse_conference(conference: Element) -> Bookmark | None:
    return bookmark_from(conference.get("jid"), conference, NS)


def parse_storage(iq: Element) -> tuple[list[Bookmark], list[Element]]:
    """(bookmarks, other elements to keep) of a private storage answer.
    An answer without storage (nothing stored yet) is ([], [])."""
    query = iq.find("query", ns.PRIVATE)
    storage = None if query is None else query.find("storage", NS)
    bookmarks: list[Bookmark] = []
    others: list[Element] = []
    for child in [] if storage is None else storage.children:
        bookmark = None
        if child.name == "conference" and child.ns == NS:
            bookmark = parse_conference(child)
        if bookmark is None:
            others.append(child)
        else:
            bookmarks.append(bookmark)
    return bookmarks, others


def build_conference(bookmark: Bookmark) -> Element:
    conference = Element("conference", NS, {"jid": str(bookmark.jid.bare)})
    conference.attrs["autojoin"] = "true" if bookmark.autojoin else "false"
    if bookmark.name:
        conference.attrs["name"] = bookmark.name
    if bookmark.nick:
        conference.add("nick", text=bookmark.nick)
    if bookmark.password:
        conference.add("password", text=bookmark.password)
    return conference


def build_set(bookmarks: list[Bookmark], others: list[Element] | None = None) -> Element:
    """`<query/>` storing exactly `bookmarks` (plus `others`, unchanged)."""
    query = Element("query", ns.PRIVATE)
    storage = query.add("storage", NS)
    for bookmark in bookmarks:
        storage.append(build_conference(bookmark))
    for other in others or ():
        storage.append(other)
    return query


def replace(bookmarks: list[Bookmark], room: JID, bookmark: Bookmark | None) -> list[Bookmark]:
    """`bookmarks` with the one for `room` replaced by `bookmark` (added at
    the end when new; removed when `bookmark` is None)."""
    bare = room.bare
    result: list[Bookmark] = []
    placed = False
    for existing in bookmarks:
        if existing.jid.bare != bare:
            result.append(existing)
        elif bookmark is not None and not placed:
            result.append(bookmark)
            placed = True
    if bookmark is not None and not placed:
        result.append(bookmark)
    return result
