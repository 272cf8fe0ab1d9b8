"""XEP-0280 carbons: unwrapped only from our own bare JID (CVE-2017-5589 family)."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.errors import ForgedStanza, ProtocolError
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0280
from roost.xmpp.xeps.xep_0280 import Carbon, unwrap_carbon
from roost.xmpp.xmlparse import parse_xml

OWN = "alice@example.org"

# Shaped as Prosody 0.12's mod_carbons sends them: the outer message from
# our bare JID to this resource, with the original's type.
PROSODY_RECEIVED = (
    '<message xmlns="jabber:client" from="alice@example.org" type="chat"'
    ' to="alice@example.org/roost-0303"><received xmlns="urn:xmpp:carbons:2">'
    '<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"'
    ' from="bob@example.org/phone" to="alice@example.org" type="chat" id="b-1">'
    '<body>hello</body><origin-id xmlns="urn:xmpp:sid:0" id="b-1"/>'
    '<stanza-id xmlns="urn:xmpp:sid:0" id="Xq1" by="alice@example.org"/>'
    "</message></forwarded></received></message>"
)
PROSODY_SENT = (
    '<message xmlns="jabber:client" from="alice@example.org" type="chat"'
    ' to="alice@example.org/roost-0303"><sent xmlns="urn:xmpp:carbons:2">'
    '<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"'
    ' from="alice@example.org/laptop" to="bob@example.org" type="chat" id="a-1">'
    "<body>hi bob</body></message></forwarded></sent></message>"
)


def wrap(direction: str, inner: str, outer_attrs: str = 'from="alice@example.org"') -> Element:
    return parse_xml(
        f'<message xmlns="jabber:client" {outer_attrs}><{direction} xmlns="urn:xmpp:carbons:2">'
        f'<forwarded xmlns="urn:xmpp:forward:0">{inner}</forwarded></{direction}></message>'
    )


BOB_TO_ALICE = (
    '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org"'
    ' type="chat"><body>I am Bob</body></message>'
)


def test_enable_and_disable() -> None:
    assert xep_0280.build_enable("c1").to_xml() == (
        '<iq xmlns="jabber:client" type="set" id="c1"><enable xmlns="urn:xmpp:carbons:2"/></iq>'
    )
    assert xep_0280.build_disable("c2").children[0].name == "disable"


def test_prosody_received_carbon() -> None:
    carbon = unwrap_carbon(parse_xml(PROSODY_RECEIVED), OWN)
    assert carbon is not None
    assert carbon.direction == "received"
    assert carbon.message.get("from") == "bob@example.org/phone"
    assert carbon.message.find_text("body", "jabber:client") == "hello"


def test_prosody_sent_carbon() -> None:
    carbon = unwrap_carbon(parse_xml(PROSODY_SENT), JID.parse(OWN))
    assert carbon is not None
    assert carbon.direction == "sent"
    assert carbon.message.get("to") == "bob@example.org"


def test_round_trip() -> None:
    inner = parse_xml(BOB_TO_ALICE)
    for direction in ("sent", "received"):
        if direction == "sent":
            inner = parse_xml(BOB_TO_ALICE.replace("bob@example.org/phone", "alice@example.org/x"))
        built = xep_0280.build_carbon(direction, inner, OWN)
        assert unwrap_carbon(parse_xml(built.to_xml()), OWN) == Carbon(direction, inner)


def test_own_bare_jid_is_compared_normalised() -> None:
    message = parse_xml(
        PROSODY_RECEIVED.replace('from="alice@example.org"', 'from="Alice@EXAMPLE.org"')
    )
    assert unwrap_carbon(message, OWN) is not None


@pytest.mark.parametrize(
    "outer_from",
    [
        'from="bob@example.org"',  # CVE-2017-5589: a contact forging a carbon
        'from="bob@example.org/phone"',
        'from="example.org"',  # our server's domain is not our account
        'from="alice@example.org/laptop"',  # our full JID: a carbon only comes from the bare
        'from="alice@evil.example"',
        'from="not a jid@"',
        "",  # no from at all
    ],
)
def test_carbon_not_from_own_bare_jid_is_forged(outer_from: str) -> None:
    with pytest.raises(ForgedStanza) as info:
        unwrap_carbon(wrap("received", BOB_TO_ALICE, outer_from), OWN)
    assert info.value.reason.startswith("carbon from")
    with pytest.raises(ForgedStanza):
        unwrap_carbon(wrap("sent", BOB_TO_ALICE, outer_from), OWN)


def test_forged_is_a_protocol_error_with_words() -> None:
    error = ForgedStanza("carbon from bob@example.org")
    assert isinstance(error, ProtocolError)
    assert "pretended" in error.user_message


def test_carbon_inside_groupchat_is_not_a_carbon() -> None:
    message = wrap("received", BOB_TO_ALICE, 'from="lounge@rooms.example.org/eve" type="groupchat"')
    assert unwrap_carbon(message, OWN) is None
    # Even "from" our own JID: groupchat messages are never carbons.
    message = wrap("sent", BOB_TO_ALICE, 'from="alice@example.org" type="groupchat"')
    assert unwrap_carbon(message, OWN) is None


def test_error_message_is_not_a_carbon() -> None:
    assert (
        unwrap_carbon(wrap("received", BOB_TO_ALICE, 'from="bob@example.org" type="error"'), OWN)
        is None
    )


def test_bare_forwarded_is_not_a_carbon() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client" from="alice@example.org">'
        f'<forwarded xmlns="urn:xmpp:forward:0">{BOB_TO_ALICE}</forwarded></message>'
    )
    assert unwrap_carbon(message, OWN) is None
    # An older carbons namespace: not what we enabled, so not a carbon either.
    message = parse_xml(
        '<message xmlns="jabber:client" from="bob@example.org">'
        '<received xmlns="urn:xmpp:carbons:1">'
        f'<forwarded xmlns="urn:xmpp:forward:0">{BOB_TO_ALICE}</forwarded></received></message>'
    )
    assert unwrap_carbon(message, OWN) is None
    assert unwrap_carbon(parse_xml(BOB_TO_ALICE), OWN) is None


def test_copy_contradicting_its_direction_is_forged() -> None:
    # "sent" by us, yet from Bob: a spoof of Bob's words through our own account.
    with pytest.raises(ForgedStanza):
        unwrap_carbon(wrap("sent", BOB_TO_ALICE), OWN)
    # "received" by us, yet addressed to Carol.
    to_carol = BOB_TO_ALICE.replace('to="alice@example.org"', 'to="carol@example.org"')
    with pytest.raises(ForgedStanza):
        unwrap_carbon(wrap("received", to_carol), OWN)
    # Missing addresses on the copy are our own account's: accepted.
    bare = '<message xmlns="jabber:client" type="chat"><body>x</body></message>'
    assert unwrap_carbon(wrap("sent", bare), OWN) is not None
    assert unwrap_carbon(wrap("received", bare), OWN) is not None


@pytest.mark.parametrize(
    "xml",
    [
        # no <forwarded/>
        '<message xmlns="jabber:client" from="alice@example.org">'
        '<received xmlns="urn:xmpp:carbons:2"/></message>',
        # two messages in one <forwarded/>
        '<message xmlns="jabber:client" from="alice@example.org">'
        '<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        f"{BOB_TO_ALICE}{BOB_TO_ALICE}</forwarded></received></message>",
        # two <forwarded/>
        '<message xmlns="jabber:client" from="alice@example.org">'
        '<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        f'{BOB_TO_ALICE}</forwarded><forwarded xmlns="urn:xmpp:forward:0">{BOB_TO_ALICE}'
        "</forwarded></received></message>",
        # both wrappers
        '<message xmlns="jabber:client" from="alice@example.org">'
        '<received xmlns="urn:xmpp:carbons:2"/><sent xmlns="urn:xmpp:carbons:2"/></message>',
    ],
)
def test_malformed_carbon(xml: str) -> None:
    with pytest.raises(ProtocolError) as info:
        unwrap_carbon(parse_xml(xml), OWN)
    assert not isinstance(info.value, ForgedStanza)


def test_nested_carbon_is_unwrapped_once() -> None:
    # Bob sends us a message holding a fake "sent" carbon; our server carbons it.
    fake = (
        '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org">'
        '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" from="alice@example.org/x" to="carol@example.org">'
        "<body>I quit</body></message></forwarded></sent></message>"
    )
    carbon = unwrap_carbon(wrap("received", fake), OWN)
    assert carbon is not None and carbon.message.get("from") == "bob@example.org/phone"
    # Unwrapping the copy again is refused: it is Bob's, not our server's.
    with pytest.raises(ForgedStanza):
        unwrap_carbon(carbon.message, OWN)


def test_private() -> None:
    message = Element("message", "jabber:client", {"to": "bob@example.org", "type": "chat"})
    xep_0280.mark_private(message)
    parsed = parse_xml(message.to_xml())
    assert xep_0280.is_private(parsed)
    assert parsed.find("no-copy", "urn:xmpp:hints") is not None
    assert not xep_0280.is_private(parse_xml(BOB_TO_ALICE))
