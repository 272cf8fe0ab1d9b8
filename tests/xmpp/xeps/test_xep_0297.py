"""XEP-0297 forwarding: exactly one message, delay read with stamps.py."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.errors import ProtocolError
from roost.xmpp.xeps.xep_0297 import Forwarded, build_forwarded, parse_forwarded
from roost.xmpp.xmlparse import parse_xml


def test_round_trip() -> None:
    inner = Element("message", "jabber:client", {"from": "bob@example.org/a", "id": "1"})
    inner.add("body", text="hi")
    forwarded = parse_xml(build_forwarded(inner, 1031699305.0).to_xml())
    assert parse_forwarded(forwarded) == Forwarded(inner, 1031699305.0)
    assert parse_forwarded(parse_xml(build_forwarded(inner).to_xml())).stamp is None


@pytest.mark.parametrize(
    "xml",
    [
        '<forwarded xmlns="urn:xmpp:forward:0"/>',
        '<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"/>'
        '<message xmlns="jabber:client"/></forwarded>',
        # A message in another namespace is not a jabber:client message.
        '<forwarded xmlns="urn:xmpp:forward:0"><message xmlns="jabber:server"/></forwarded>',
        '<other xmlns="urn:xmpp:forward:0"><message xmlns="jabber:client"/></other>',
    ],
)
def test_malformed(xml: str) -> None:
    with pytest.raises(ProtocolError):
        parse_forwarded(parse_xml(xml))


def test_bad_stamp_is_none() -> None:
    forwarded = parse_xml(
        '<forwarded xmlns="urn:xmpp:forward:0"><delay xmlns="urn:xmpp:delay" stamp="soon"/>'
        '<message xmlns="jabber:client"/></forwarded>'
    )
    assert parse_forwarded(forwarded).stamp is None
