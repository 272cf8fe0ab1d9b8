"""XEP-0357 enable/disable and the `urn:roost:push:0` registration: exact
wire form (PROSODY.md B.4), round trips, and refusals of malformed input."""

from __future__ import annotations

import pytest
from roost.xmpp.errors import ProtocolError
from roost.xmpp.xeps import xep_0357
from roost.xmpp.xmlparse import parse_xml

FORM = "http://jabber.org/protocol/pubsub#publish-options"


def test_enable_carries_the_secret_in_publish_options() -> None:
    enable = xep_0357.build_enable("push.localhost", "node-1", {"secret": "s3cret"})
    assert enable.to_xml() == (
        '<enable xmlns="urn:xmpp:push:0" jid="push.localhost" node="node-1">'
        '<x xmlns="jabber:x:data" type="submit">'
        f'<field var="FORM_TYPE" type="hidden"><value>{FORM}</value></field>'
        '<field var="secret"><value>s3cret</value></field></x></enable>'
    )
    parsed = xep_0357.parse_enable(parse_xml(enable.to_xml()))
    assert parsed == xep_0357.Enable("push.localhost", "node-1", {"secret": "s3cret"})


def test_enable_without_options_and_disable() -> None:
    bare = xep_0357.build_enable("push.localhost", "n")
    assert bare.to_xml() == '<enable xmlns="urn:xmpp:push:0" jid="push.localhost" node="n"/>'
    assert xep_0357.parse_enable(bare).options == {}
    disable = xep_0357.build_disable("push.localhost", "n")
    assert disable.to_xml() == '<disable xmlns="urn:xmpp:push:0" jid="push.localhost" node="n"/>'
    assert xep_0357.parse_disable(parse_xml(disable.to_xml())) == ("push.localhost", "n")
    every = xep_0357.build_disable("push.localhost")
    assert xep_0357.parse_disable(every) == ("push.localhost", None)


@pytest.mark.parametrize("xml", [
    '<enable xmlns="urn:xmpp:push:0" node="n"/>',
    '<enable xmlns="urn:xmpp:push:0" jid="push.localhost"/>',
    '<enable xmlns="urn:xmpp:push:1" jid="push.localhost" node="n"/>',
])
def test_enable_without_jid_or_node_is_refused(xml: str) -> None:
    with pytest.raises(ProtocolError):
        xep_0357.parse_enable(parse_xml(xml))


def test_disable_without_jid_is_refused() -> None:
    with pytest.raises(ProtocolError):
        xep_0357.parse_disable(parse_xml('<disable xmlns="urn:xmpp:push:0" node="n"/>'))


def test_register_round_trip() -> None:
    element = xep_0357.build_register(
        "dev1", "https://push.example.net/send/abc?x=1&y=2", "BPk", "au", "sender"
    )
    assert element.to_xml() == (
        '<register xmlns="urn:roost:push:0" device="dev1" '
        'endpoint="https://push.example.net/send/abc?x=1&amp;y=2" p256dh="BPk" auth="au" '
        'privacy="sender"/>'
    )
    assert xep_0357.parse_register(parse_xml(element.to_xml())) == xep_0357.Registration(
        "dev1", "https://push.example.net/send/abc?x=1&y=2", "BPk", "au", "sender"
    )


def test_register_refuses_unknown_privacy() -> None:
    with pytest.raises(ValueError):
        xep_0357.build_register("d", "https://e", "k", "a", "everything")
    bad = ('<register xmlns="urn:roost:push:0" device="d" endpoint="e" p256dh="k" auth="a"'
           ' privacy="x"/>')
    with pytest.raises(ProtocolError):
        xep_0357.parse_register(parse_xml(bad))


@pytest.mark.parametrize("missing", ["device", "endpoint", "p256dh", "auth", "privacy"])
def test_register_needs_every_attribute(missing: str) -> None:
    attrs = {"device": "d", "endpoint": "https://e", "p256dh": "k", "auth": "a", "privacy": "none"}
    attrs[missing] = ""
    text = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    with pytest.raises(ProtocolError, match=missing):
        xep_0357.parse_register(parse_xml(f'<register xmlns="urn:roost:push:0" {text}/>'))


def test_registered_answer() -> None:
    payload = xep_0357.build_registered("node-x", "sec")
    assert payload.to_xml() == '<registered xmlns="urn:roost:push:0" node="node-x" secret="sec"/>'
    iq = parse_xml(
        '<iq xmlns="jabber:client" type="result" id="1" from="push.localhost">'
        f"{payload.to_xml()}</iq>"
    )
    assert xep_0357.parse_registered(iq) == xep_0357.Registered("node-x", "sec")
    for bad in (
        '<iq xmlns="jabber:client" type="result" id="1"/>',
        '<iq xmlns="jabber:client" type="result" id="1">'
        '<registered xmlns="urn:roost:push:0" node="n"/></iq>',
    ):
        with pytest.raises(ProtocolError):
            xep_0357.parse_registered(parse_xml(bad))


def test_unregister_round_trip() -> None:
    element = xep_0357.build_unregister("node-x")
    assert element.to_xml() == '<unregister xmlns="urn:roost:push:0" node="node-x"/>'
    assert xep_0357.parse_unregister(parse_xml(element.to_xml())) == "node-x"
    with pytest.raises(ProtocolError):
        xep_0357.parse_unregister(parse_xml('<unregister xmlns="urn:roost:push:0"/>'))


def test_supports_push() -> None:
    assert xep_0357.supports_push(["urn:xmpp:push:0", "urn:xmpp:mam:2"])
    assert not xep_0357.supports_push(["urn:xmpp:mam:2"])


def test_rooms_round_trip() -> None:
    element = xep_0357.build_rooms("node-1", {"b@muc.example": "Al", "a@muc.example": "Alice"})
    assert [c.get("jid") for c in element.children] == ["a@muc.example", "b@muc.example"]
    node, rooms = xep_0357.parse_rooms(parse_xml(element.to_xml()))
    assert node == "node-1" and rooms == {"a@muc.example": "Alice", "b@muc.example": "Al"}
    with pytest.raises(ProtocolError):
        xep_0357.parse_rooms(parse_xml(f'<rooms xmlns="{xep_0357.REGISTER_NS}"/>'))
