"""XEP-0352 client state indication."""

from __future__ import annotations

from roost.xmpp.xeps.xep_0352 import build_active, build_inactive, supports_csi
from roost.xmpp.xmlparse import parse_xml


def test_nonzas() -> None:
    assert build_active().to_xml() == '<active xmlns="urn:xmpp:csi:0"/>'
    assert build_inactive().to_xml() == '<inactive xmlns="urn:xmpp:csi:0"/>'


def test_feature() -> None:
    prosody = parse_xml(
        '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
        '<sm xmlns="urn:xmpp:sm:3"/><csi xmlns="urn:xmpp:csi:0"/></stream:features>'
    )
    assert supports_csi(prosody)
    without = parse_xml(
        '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
        '<sm xmlns="urn:xmpp:sm:3"/></stream:features>'
    )
    assert not supports_csi(without)
