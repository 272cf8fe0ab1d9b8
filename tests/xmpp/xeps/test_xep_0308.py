"""XEP-0308 corrections: only from the original sender."""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.jid import JID
from roost.xmpp.xeps.xep_0308 import build_replace, is_valid_correction, parse_replace
from roost.xmpp.xmlparse import parse_xml


def test_round_trip() -> None:
    message = Element("message", "jabber:client", {"type": "chat", "id": "a-2"})
    message.add("body", text="fixed")
    message.append(build_replace("a-1"))
    assert parse_replace(parse_xml(message.to_xml())) == "a-1"


def test_not_corrections() -> None:
    for xml in (
        '<message xmlns="jabber:client"><body>x</body></message>',
        '<message xmlns="jabber:client"><replace xmlns="urn:xmpp:message-correct:0"/></message>',
        '<message xmlns="jabber:client" type="error"><replace'
        ' xmlns="urn:xmpp:message-correct:0" id="a"/></message>',
    ):
        assert parse_replace(parse_xml(xml)) is None


def test_only_the_original_sender_may_correct() -> None:
    assert is_valid_correction("bob@example.org", "bob@example.org")
    assert is_valid_correction(JID.parse("bob@example.org"), "Bob@Example.org")
    # A different sender rewriting Bob's words.
    assert not is_valid_correction("bob@example.org", "eve@example.org")
    assert not is_valid_correction("bob@example.org", "bob@example.org.evil.example")
    # Groupchat: occupants, resource included.
    room = "lounge@rooms.example.org"
    assert is_valid_correction(f"{room}/bob", f"{room}/bob")
    assert not is_valid_correction(f"{room}/bob", f"{room}/eve")
    assert not is_valid_correction(f"{room}/bob", room)
    # Unknown or invalid senders never match, not even each other.
    assert not is_valid_correction(None, None)
    assert not is_valid_correction("not a jid@", "not a jid@")
    assert not is_valid_correction("bob@example.org", None)
