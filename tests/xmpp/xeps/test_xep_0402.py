"""XEP-0402 PEP bookmarks: items, publish with node options, notifications."""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0004, xep_0402
from roost.xmpp.xeps.xep_0402 import Bookmark
from roost.xmpp.xmlparse import parse_xml

ROOM = JID.parse("chess@conference.example.org")
PUBSUB = "http://jabber.org/protocol/pubsub"
EVENT = "http://jabber.org/protocol/pubsub#event"
NS = "urn:xmpp:bookmarks:1"


def test_publish_carries_the_node_options() -> None:
    bookmark = Bookmark(ROOM, "Chess <club>", "Alice", "pw", True)
    pubsub = parse_xml(xep_0402.build_publish(bookmark).to_xml())
    publish = pubsub.find("publish", PUBSUB)
    assert publish is not None and publish.get("node") == NS
    item = publish.find("item", PUBSUB)
    assert item is not None and item.get("id") == "chess@conference.example.org"
    assert item.children[0].to_xml() == (
        f'<conference xmlns="{NS}" name="Chess &lt;club&gt;" autojoin="true">'
        "<nick>Alice</nick><password>pw</password></conference>"
    )
    options = pubsub.find("publish-options", PUBSUB)
    assert options is not None
    form = xep_0004.find_form(options, xep_0402.PUBLISH_OPTIONS)
    assert form is not None and form.type == "submit"
    assert form.values() == {
        "FORM_TYPE": [xep_0402.PUBLISH_OPTIONS],
        "pubsub#persist_items": ["true"],
        "pubsub#max_items": ["max"],
        "pubsub#send_last_published_item": ["never"],
        "pubsub#access_model": ["whitelist"],
    }


def test_items_result_round_trip_keeps_extensions() -> None:
    extensions = Element("extensions", NS)
    extensions.add("state", "urn:example:other-client", {"pinned": "1"})
    first = Bookmark(ROOM, "Chess", "Alice", None, True, extensions)
    second = Bookmark(JID.parse("go@conference.example.org"))
    iq = parse_xml(
        f'<iq xmlns="jabber:client" type="result"><pubsub xmlns="{PUBSUB}">'
        f'<items node="{NS}">'
        f'<item id="{ROOM}">{xep_0402.build_conference(first).to_xml()}</item>'
        f'<item id="go@conference.example.org">{xep_0402.build_conference(second).to_xml()}'
        "</item>"
        f'<item id="not a jid@"><conference xmlns="{NS}"/></item>'
        f'<item id="conference.example.org"><conference xmlns="{NS}"/></item>'
        '<item id="x@example.org"><conference xmlns="urn:other"/></item>'
        "</items></pubsub></iq>"
    )
    assert xep_0402.parse_items(iq) == [first, second]
    # Written back, the other client's extension is still there.
    again = xep_0402.build_conference(xep_0402.parse_items(iq)[0]).to_xml()
    assert 'pinned="1"' in again
    autojoin_one = parse_xml(f'<conference xmlns="{NS}" autojoin="1"/>')
    parsed = xep_0402.parse_conference(str(ROOM), autojoin_one)
    assert parsed is not None and parsed.autojoin


def test_other_nodes_and_empty_results() -> None:
    assert xep_0402.parse_items(parse_xml('<iq xmlns="jabber:client" type="result"/>')) == []
    other = parse_xml(
        f'<iq xmlns="jabber:client"><pubsub xmlns="{PUBSUB}"><items node="urn:other">'
        f'<item id="{ROOM}"><conference xmlns="{NS}"/></item></items></pubsub></iq>'
    )
    assert xep_0402.parse_items(other) == []


def test_get_and_retract() -> None:
    assert xep_0402.build_get().to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><items node="{NS}"/></pubsub>'
    )
    assert xep_0402.build_retract(ROOM.with_resource("x")).to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><retract node="{NS}" notify="true">'
        f'<item id="{ROOM}"/></retract></pubsub>'
    )


def test_notifications() -> None:
    # As Prosody 0.12 sends them.
    published = parse_xml(
        '<message xmlns="jabber:client" from="alice@example.org" type="headline">'
        f'<event xmlns="{EVENT}"><items node="{NS}"><item id="{ROOM}" '
        'publisher="alice@example.org"><conference autojoin="true" '
        f'xmlns="{NS}" name="Chess"><nick>Alice</nick></conference></item></items></event>'
        "</message>"
    )
    assert xep_0402.parse_event(published) == [(ROOM, Bookmark(ROOM, "Chess", "Alice", None, True))]
    retracted = parse_xml(
        f'<message xmlns="jabber:client"><event xmlns="{EVENT}"><items node="{NS}">'
        f'<retract id="{ROOM}"/><retract id="bad jid@"/><retract id="example.org"/>'
        "</items></event></message>"
    )
    assert xep_0402.parse_event(retracted) == [(ROOM, None)]
    other = parse_xml(
        f'<message xmlns="jabber:client"><event xmlns="{EVENT}"><items node="urn:xmpp:avatar:0">'
        "</items></event></message>"
    )
    assert xep_0402.parse_event(other) is None
    assert xep_0402.parse_event(parse_xml('<message xmlns="jabber:client"/>')) is None
