"""XEP-0184 receipts: parse, build, and when never to answer."""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.xeps.xep_0184 import build_receipt, build_request, parse_receipt, receipt_for
from roost.xmpp.xmlparse import parse_xml

REQUEST = (
    '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org"'
    ' type="chat" id="b-1"><body>hi</body><request xmlns="urn:xmpp:receipts"/></message>'
)


def test_round_trip() -> None:
    message = Element("message", "jabber:client", {"to": "bob@example.org", "id": "a-1"})
    message.append(build_request())
    assert parse_receipt(parse_xml(message.to_xml())) == ("request", "a-1")
    receipt = build_receipt("bob@example.org/phone", "a-2", "b-1")
    assert receipt.to_xml() == (
        '<message xmlns="jabber:client" to="bob@example.org/phone" id="a-2">'
        '<received xmlns="urn:xmpp:receipts" id="b-1"/></message>'
    )
    assert parse_receipt(parse_xml(receipt.to_xml())) == ("received", "b-1")


def test_receipt_for_a_request() -> None:
    receipt = receipt_for(parse_xml(REQUEST), "a-9")
    assert receipt == build_receipt("bob@example.org/phone", "a-9", "b-1")
    normal = parse_xml(REQUEST.replace(' type="chat"', ""))
    assert receipt_for(normal, "a-9") is not None


def test_never_answered() -> None:
    cases = [
        REQUEST.replace('type="chat"', 'type="groupchat"'),
        REQUEST.replace('type="chat"', 'type="error"'),
        REQUEST.replace('type="chat"', 'type="headline"'),
        REQUEST.replace('<request xmlns="urn:xmpp:receipts"/>', ""),  # not asked
        REQUEST.replace(' id="b-1"', ""),  # nothing to acknowledge
        REQUEST.replace(' from="bob@example.org/phone"', ""),
        # A receipt asking for a receipt: answer nothing (no loops).
        '<message xmlns="jabber:client" from="bob@example.org/a" id="x">'
        '<received xmlns="urn:xmpp:receipts" id="a-1"/><request xmlns="urn:xmpp:receipts"/>'
        "</message>",
    ]
    for xml in cases:
        assert receipt_for(parse_xml(xml), "a-9") is None, xml


def test_parse_variants() -> None:
    assert parse_receipt(parse_xml(REQUEST.replace(' id="b-1"', ""))) is None
    # XEP-0184 < 1.1: the receipt reused the message id instead of an attribute.
    old = parse_xml(
        '<message xmlns="jabber:client" id="a-1"><received xmlns="urn:xmpp:receipts"/></message>'
    )
    assert parse_receipt(old) == ("received", "a-1")
    assert (
        parse_receipt(
            parse_xml(
                '<message xmlns="jabber:client"><received xmlns="urn:xmpp:receipts"/></message>'
            )
        )
        is None
    )
    assert (
        parse_receipt(parse_xml('<message xmlns="jabber:client" id="x"><body>x</body></message>'))
        is None
    )
