"""XEP-0030 service discovery, with XEP-0128 extended info."""

from __future__ import annotations

from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0030
from roost.xmpp.xeps.xep_0030 import DiscoInfo
from roost.xmpp.xmlparse import parse_xml

# A room's disco#info as Prosody 0.12 answers it (abridged).
ROOM_INFO = (
    '<query xmlns="http://jabber.org/protocol/disco#info">'
    '<feature var="urn:xmpp:mam:2"/><feature var="http://jabber.org/protocol/muc"/>'
    '<feature var="urn:xmpp:occupant-id:0"/><feature var="muc_public"/>'
    '<feature var="muc_public"/>'
    '<identity category="conference" type="text" name="Chess club"/>'
    '<identity category="broken"/>'
    '<x xmlns="jabber:x:data" type="result">'
    '<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/protocol/muc#roominfo</value>'
    "</field>"
    '<field var="muc#roominfo_description" label="Description"><value>Play chess</value></field>'
    '<field var="muc#roominfo_occupants" label="Number of occupants"><value>2</value></field>'
    "</x></query>"
)


def test_parse_room_info() -> None:
    info = xep_0030.parse_info(parse_xml(ROOM_INFO))
    assert info.identities == [("conference", "text", "Chess club")]
    assert info.features == [
        "urn:xmpp:mam:2", "http://jabber.org/protocol/muc", "urn:xmpp:occupant-id:0",
        "muc_public",
    ]
    values = info.form_values()
    assert values["FORM_TYPE"] == ["http://jabber.org/protocol/muc#roominfo"]
    assert values["muc#roominfo_description"] == ["Play chess"]
    assert values["muc#roominfo_occupants"] == ["2"]
    assert len(info.forms) == 1 and info.node is None


def test_build_queries_and_our_answer() -> None:
    assert xep_0030.build_info_query().to_xml() == (
        '<query xmlns="http://jabber.org/protocol/disco#info"/>'
    )
    assert xep_0030.build_items_query("n").to_xml() == (
        '<query xmlns="http://jabber.org/protocol/disco#items" node="n"/>'
    )
    answer = xep_0030.build_info_result([("client", "web", "Roost")], ["a", "b"], "node#ver")
    assert xep_0030.parse_info(parse_xml(answer.to_xml())) == DiscoInfo(
        [("client", "web", "Roost")], ["a", "b"], [], "node#ver"
    )


def test_parse_items_skips_bad_jids() -> None:
    query = parse_xml(
        '<query xmlns="http://jabber.org/protocol/disco#items">'
        '<item jid="chess@conference.example.org" name="Chess"/>'
        '<item jid="go@conference.example.org"/>'
        '<item jid="pubsub.example.org" node="news" name="News"/>'
        '<item jid="bad@@jid"/><item name="no jid"/></query>'
    )
    assert xep_0030.parse_items(query) == [
        (JID.parse("chess@conference.example.org"), "Chess", None),
        (JID.parse("go@conference.example.org"), None, None),
        (JID.parse("pubsub.example.org"), "News", "news"),
    ]
