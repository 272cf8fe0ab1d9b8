"""XEP-0333 chat markers."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.xeps.xep_0333 import (
    MARKERS,
    Marker,
    build_markable,
    build_marker,
    build_marker_message,
    is_markable,
    parse_marker,
)
from roost.xmpp.xmlparse import parse_xml


def test_round_trip() -> None:
    for kind in MARKERS:
        message = build_marker_message("bob@example.org", "a-2", kind, "b-1")
        parsed = parse_xml(message.to_xml())
        assert parse_marker(parsed) == Marker(kind, "b-1")
        assert parsed.get("type") == "chat"
        assert parsed.find("store", "urn:xmpp:hints") is not None
    room = build_marker_message("lounge@rooms.example.org", "a-3", "displayed", "r-9", "groupchat")
    assert parse_xml(room.to_xml()).get("type") == "groupchat"


def test_markable() -> None:
    message = Element("message", "jabber:client", {"type": "chat", "id": "a-1"})
    message.append(build_markable())
    assert is_markable(parse_xml(message.to_xml()))
    message.attrs["type"] = "error"
    assert not is_markable(message)
    assert not is_markable(Element("message", "jabber:client"))


def test_conversations_displayed_marker() -> None:
    # As Conversations sends it.
    message = parse_xml(
        '<message xmlns="jabber:client" from="bob@example.org/Conversations.x1" '
        'to="alice@example.org" type="chat" id="c-5"><displayed xmlns="urn:xmpp:chat-markers:0"'
        ' id="a-1"/><store xmlns="urn:xmpp:hints"/></message>'
    )
    assert parse_marker(message) == Marker("displayed", "a-1")


def test_not_markers() -> None:
    for xml in (
        '<message xmlns="jabber:client"><displayed xmlns="urn:xmpp:chat-markers:0"/></message>',
        '<message xmlns="jabber:client" type="error"><displayed xmlns="urn:xmpp:chat-markers:0"'
        ' id="a"/></message>',
        '<message xmlns="jabber:client"><markable xmlns="urn:xmpp:chat-markers:0"/></message>',
        '<message xmlns="jabber:client"><received xmlns="urn:xmpp:receipts" id="a"/></message>',
    ):
        assert parse_marker(parse_xml(xml)) is None
    with pytest.raises(ValueError):
        build_marker("read", "x")
