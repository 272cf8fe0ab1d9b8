"""XEP-0249 direct invitations."""

from __future__ import annotations

from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0249
from roost.xmpp.xeps.xep_0249 import DirectInvite
from roost.xmpp.xmlparse import parse_xml

ROOM = JID.parse("chess@conference.example.org")


def test_round_trip() -> None:
    built = xep_0249.build_invite(
        JID.parse("bob@example.org"), ROOM.with_resource("nick"), "m1", "Come", "pw"
    )
    assert built.to_xml() == (
        '<message xmlns="jabber:client" to="bob@example.org" id="m1">'
        '<x xmlns="jabber:x:conference" jid="chess@conference.example.org" reason="Come" '
        'password="pw"/></message>'
    )
    assert xep_0249.parse_invite(parse_xml(built.to_xml())) == DirectInvite(ROOM, "pw", "Come")


def test_continue_thread() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client"><x xmlns="jabber:x:conference" '
        'jid="chess@conference.example.org" continue="true" thread="t1"/></message>'
    )
    assert xep_0249.parse_invite(message) == DirectInvite(ROOM, thread="t1")


def test_not_invitations() -> None:
    for xml in (
        '<message xmlns="jabber:client"><body>hi</body></message>',
        # No room, or something that isn't a room JID.
        '<message xmlns="jabber:client"><x xmlns="jabber:x:conference"/></message>',
        '<message xmlns="jabber:client"><x xmlns="jabber:x:conference" jid="example.org"/>'
        "</message>",
        '<message xmlns="jabber:client"><x xmlns="jabber:x:conference" jid="@@"/></message>',
        # Bounces and groupchat messages don't invite.
        '<message xmlns="jabber:client" type="error"><x xmlns="jabber:x:conference" '
        'jid="chess@conference.example.org"/></message>',
        '<message xmlns="jabber:client" type="groupchat"><x xmlns="jabber:x:conference" '
        'jid="chess@conference.example.org"/></message>',
    ):
        assert xep_0249.parse_invite(parse_xml(xml)) is None
