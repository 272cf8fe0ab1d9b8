"""XEP-0421 occupant ids: believed only where the room vouches for them."""

from __future__ import annotations

from roost.xmpp.xeps import xep_0421
from roost.xmpp.xmlparse import parse_xml

NS = "urn:xmpp:occupant-id:0"


def test_parse() -> None:
    # As Prosody 0.12 stamps a groupchat message.
    message = parse_xml(
        '<message xmlns="jabber:client" type="groupchat" from="r@muc.example.org/Alice">'
        f'<body>hi</body><occupant-id xmlns="{NS}" id="vVGx7Gejgy="/></message>'
    )
    assert xep_0421.parse_occupant_id(message) == "vVGx7Gejgy="
    # A room that doesn't advertise the feature passes on whatever the sender wrote.
    assert xep_0421.parse_occupant_id(message, trusted=False) is None


def test_ambiguous_or_missing() -> None:
    two = parse_xml(
        f'<presence xmlns="jabber:client"><occupant-id xmlns="{NS}" id="a"/>'
        f'<occupant-id xmlns="{NS}" id="b"/></presence>'
    )
    assert xep_0421.parse_occupant_id(two) is None
    same = parse_xml(
        f'<presence xmlns="jabber:client"><occupant-id xmlns="{NS}" id="a"/>'
        f'<occupant-id xmlns="{NS}" id="a"/><occupant-id xmlns="{NS}"/></presence>'
    )
    assert xep_0421.parse_occupant_id(same) == "a"
    assert xep_0421.parse_occupant_id(parse_xml('<presence xmlns="jabber:client"/>')) is None
    assert xep_0421.build_occupant_id("x").to_xml() == f'<occupant-id xmlns="{NS}" id="x"/>'
