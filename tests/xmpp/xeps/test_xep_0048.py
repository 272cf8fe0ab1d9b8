"""XEP-0048 bookmarks in private storage: read, change one, write all back."""

from __future__ import annotations

from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0048
from roost.xmpp.xeps.xep_0402 import Bookmark
from roost.xmpp.xmlparse import parse_xml

ROOM = JID.parse("chess@conference.example.org")
GO = JID.parse("go@conference.example.org")
NS = "storage:bookmarks"

STORED = (
    '<iq xmlns="jabber:client" type="result"><query xmlns="jabber:iq:private">'
    f'<storage xmlns="{NS}">'
    f'<conference jid="{ROOM}" name="Chess" autojoin="true"><nick>Alice</nick>'
    "<password>pw</password></conference>"
    '<url name="Site" url="https://example.org/"/>'
    f'<conference jid="{GO}" autojoin="0"/>'
    '<conference jid="example.org"/>'
    "</storage></query></iq>"
)


def test_parse_keeps_what_it_does_not_understand() -> None:
    bookmarks, others = xep_0048.parse_storage(parse_xml(STORED))
    assert bookmarks == [Bookmark(ROOM, "Chess", "Alice", "pw", True), Bookmark(GO)]
    assert [o.name for o in others] == ["url", "conference"]


def test_nothing_stored_yet() -> None:
    empty = parse_xml(
        '<iq xmlns="jabber:client" type="result"><query xmlns="jabber:iq:private">'
        f'<storage xmlns="{NS}"/></query></iq>'
    )
    assert xep_0048.parse_storage(empty) == ([], [])
    assert xep_0048.parse_storage(parse_xml('<iq xmlns="jabber:client"/>')) == ([], [])


def test_change_one_and_write_back() -> None:
    bookmarks, others = xep_0048.parse_storage(parse_xml(STORED))
    renamed = Bookmark(GO, "Go", "Al", None, True)
    changed = xep_0048.replace(bookmarks, GO.with_resource("x"), renamed)
    assert changed == [bookmarks[0], renamed]
    added = xep_0048.replace(changed, JID.parse("new@conference.example.org"), Bookmark(
        JID.parse("new@conference.example.org")))
    assert len(added) == 3
    removed = xep_0048.replace(added, ROOM, None)
    assert [b.jid for b in removed] == [GO, JID.parse("new@conference.example.org")]
    query = xep_0048.build_set(changed, others)
    again = parse_xml(f'<iq xmlns="jabber:client">{query.to_xml()}</iq>')
    assert xep_0048.parse_storage(again) == (changed, others)
    assert f'<conference jid="{GO}" autojoin="true" name="Go">' in query.to_xml()


def test_get() -> None:
    assert xep_0048.build_get().to_xml() == (
        f'<query xmlns="jabber:iq:private"><storage xmlns="{NS}"/></query>'
    )
