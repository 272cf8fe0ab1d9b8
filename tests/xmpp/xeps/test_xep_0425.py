"""XEP-0425 moderation: both wire versions, announcements and tombstones."""

from __future__ import annotations

import pytest
from roost.xmpp.xeps import xep_0425
from roost.xmpp.xeps.xep_0425 import Moderation
from roost.xmpp.xmlparse import parse_xml

ROOM = "chess@conference.example.org"


def test_requests() -> None:
    assert xep_0425.build_request("sid-1", "spam").to_xml() == (
        '<apply-to xmlns="urn:xmpp:fasten:0" id="sid-1">'
        '<moderate xmlns="urn:xmpp:message-moderate:0">'
        '<retract xmlns="urn:xmpp:message-retract:0"/><reason>spam</reason></moderate>'
        "</apply-to>"
    )
    assert xep_0425.build_request("sid-1", None, version=1).to_xml() == (
        '<moderate xmlns="urn:xmpp:message-moderate:1" id="sid-1">'
        '<retract xmlns="urn:xmpp:message-retract:1"/></moderate>'
    )
    with pytest.raises(ValueError):
        xep_0425.build_request("")
    with pytest.raises(ValueError):
        xep_0425.build_request("x", version=2)


def test_announcement_as_prosody_sends_it() -> None:
    # mod_muc_moderation (prosody-modules, Debian 12): XEP-0425 0.2.
    message = parse_xml(
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}" id="m1">'
        '<apply-to xmlns="urn:xmpp:fasten:0" id="sid-1">'
        f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{ROOM}/Alice">'
        '<retract xmlns="urn:xmpp:message-retract:0"/><reason>spam</reason></moderated>'
        "</apply-to></message>"
    )
    assert xep_0425.parse_announcement(message) == Moderation("sid-1", f"{ROOM}/Alice", "spam")


def test_announcement_0_3() -> None:
    message = parse_xml(
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}">'
        '<retract xmlns="urn:xmpp:message-retract:1" id="sid-2">'
        f'<moderated xmlns="urn:xmpp:message-moderate:1" by="{ROOM}/Alice">'
        '<occupant-id xmlns="urn:xmpp:occupant-id:0" id="occ-a"/></moderated>'
        "<reason>off topic</reason></retract><body>fallback</body></message>"
    )
    assert xep_0425.parse_announcement(message) == Moderation(
        "sid-2", f"{ROOM}/Alice", "off topic", True, "occ-a"
    )


def test_not_announcements() -> None:
    for xml in (
        '<message xmlns="jabber:client" type="groupchat"><body>hi</body></message>',
        # A fastening without a moderation, or without the id it applies to.
        '<message xmlns="jabber:client"><apply-to xmlns="urn:xmpp:fasten:0" id="x"/></message>',
        '<message xmlns="jabber:client"><apply-to xmlns="urn:xmpp:fasten:0">'
        '<moderated xmlns="urn:xmpp:message-moderate:0"/></apply-to></message>',
        # A sender's own retraction (XEP-0424) is not a moderation.
        '<message xmlns="jabber:client"><retract xmlns="urn:xmpp:message-retract:1" id="x"/>'
        "</message>",
    ):
        assert xep_0425.parse_announcement(parse_xml(xml)) is None
    flagged = parse_xml(
        '<message xmlns="jabber:client"><apply-to xmlns="urn:xmpp:fasten:0" id="x">'
        '<moderated xmlns="urn:xmpp:message-moderate:0" by="r/a"/></apply-to></message>'
    )
    moderation = xep_0425.parse_announcement(flagged)
    assert moderation is not None and not moderation.retracted


def test_tombstones() -> None:
    # What mod_muc_moderation writes into the room archive in place of the message.
    v0 = parse_xml(
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob" id="b1">'
        f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{ROOM}/Alice">'
        '<retracted xmlns="urn:xmpp:message-retract:0" stamp="2024-01-01T00:00:00Z"/>'
        "<reason>spam</reason></moderated></message>"
    )
    assert xep_0425.parse_tombstone(v0, "sid-1") == Moderation("sid-1", f"{ROOM}/Alice", "spam")
    v1 = parse_xml(
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob">'
        '<retracted xmlns="urn:xmpp:message-retract:1" stamp="2024-01-01T00:00:00Z">'
        f'<moderated xmlns="urn:xmpp:message-moderate:1" by="{ROOM}/Alice"/></retracted>'
        "</message>"
    )
    assert xep_0425.parse_tombstone(v1, "sid-2") == Moderation("sid-2", f"{ROOM}/Alice")
    plain = parse_xml('<message xmlns="jabber:client"><body>hi</body></message>')
    assert xep_0425.parse_tombstone(plain, "x") is None
