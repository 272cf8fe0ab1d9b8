"""XEP-0085 chat states."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.xeps.xep_0085 import (
    STATES,
    build_chat_state,
    build_chat_state_message,
    parse_chat_state,
)
from roost.xmpp.xmlparse import parse_xml


def test_round_trip() -> None:
    for state in STATES:
        message = build_chat_state_message("bob@example.org", state)
        parsed = parse_xml(message.to_xml())
        assert parse_chat_state(parsed) == state
        assert parsed.find("body") is None
        assert "id" not in parsed.attrs
    with_id = build_chat_state_message("bob@example.org", "paused", "a-1", "groupchat")
    assert with_id.attrs == {"to": "bob@example.org", "type": "groupchat", "id": "a-1"}


def test_with_a_body() -> None:
    message = Element("message", "jabber:client", {"type": "chat"})
    message.add("body", text="hi")
    message.append(build_chat_state("active"))
    assert parse_chat_state(parse_xml(message.to_xml())) == "active"


def test_not_believed() -> None:
    for xml in (
        '<message xmlns="jabber:client"><body>x</body></message>',
        '<message xmlns="jabber:client"><composing xmlns="http://jabber.org/protocol/chatstates"/>'
        '<paused xmlns="http://jabber.org/protocol/chatstates"/></message>',
        '<message xmlns="jabber:client" type="error"><composing'
        ' xmlns="http://jabber.org/protocol/chatstates"/></message>',
        '<message xmlns="jabber:client"><typing xmlns="http://jabber.org/protocol/chatstates"/>'
        "</message>",
    ):
        assert parse_chat_state(parse_xml(xml)) is None
    with pytest.raises(ValueError):
        build_chat_state("typing")
