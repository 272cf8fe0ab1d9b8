"""Group chat transcripts: XmppClient fed room stanzas (XEP-0045 and friends),
checking the events and the exact frames sent, and that forged stanzas are
dropped rather than reported as what they pretend to be."""

from __future__ import annotations

import pytest
from roost.xmpp.client import XmppClient
from roost.xmpp.element import Element
from roost.xmpp.events import (
    AffiliationList,
    ArchiveDone,
    ArchiveMessage,
    BookmarkChanged,
    BookmarksLoaded,
    ChatReceived,
    DiscoInfoResult,
    DiscoItemsResult,
    Dropped,
    GroupchatMessage,
    GroupchatReceived,
    IqDone,
    IqFailed,
    MessageFailed,
    MessageModerated,
    NickChangeFailed,
    Occupant,
    OccupantChanged,
    Online,
    PresenceChanged,
    Receipt,
    RoomConfigChanged,
    RoomConfigForm,
    RoomInvite,
    RoomJoined,
    RoomJoinFailed,
    RoomLeft,
    RoomSubject,
    SelfPingResult,
)
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0115
from roost.xmpp.xeps.xep_0402 import Bookmark
from roost.xmpp.xmlparse import parse_xml

from tests.xmpp.support import CountingRandom, ScramServer
from tests.xmpp.test_stream_management import fresh_bind, resumed_client, sm_login
from tests.xmpp.test_stream_transcript import (
    BIND_FEATURES,
    BIND_ID,
    FULL,
    authenticate,
    feed,
    login,
)

ROOM = "chess@conference.example.org"
ROOM_JID = JID.parse(ROOM)
OWN = "alice@example.org"
MUC = "http://jabber.org/protocol/muc"
USER = "http://jabber.org/protocol/muc#user"
ADMIN = "http://jabber.org/protocol/muc#admin"
OWNER = "http://jabber.org/protocol/muc#owner"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
SID = "urn:xmpp:sid:0"
PUBSUB = "http://jabber.org/protocol/pubsub"
EVENT = "http://jabber.org/protocol/pubsub#event"
BOOKMARKS = "urn:xmpp:bookmarks:1"
MAM = "urn:xmpp:mam:2"
FORWARD = "urn:xmpp:forward:0"


def sent(client: XmppClient) -> list[Element]:
    return [parse_xml(frame) for frame in client.take_output()]


def occupant_presence(
    nick: str,
    role: str = "participant",
    affiliation: str = "none",
    codes: tuple[int, ...] = (),
    unavailable: bool = False,
    room: str = ROOM,
    extra: str = "",
    item_extra: str = "",
    jid: str | None = None,
) -> str:
    kind = ' type="unavailable"' if unavailable else ""
    status = "".join(f'<status code="{c}"/>' for c in codes)
    jid_attr = f' jid="{jid}"' if jid else ""
    return (
        f'<presence xmlns="jabber:client" from="{room}/{nick}" to="{FULL}"{kind}>{extra}'
        f'<x xmlns="{USER}"><item affiliation="{affiliation}" role="{role}"{jid_attr}>'
        f"{item_extra}</item>{status}</x></presence>"
    )


def error_presence(condition: str, nick: str = "Alice", kind: str = "cancel") -> str:
    return (
        f'<presence xmlns="jabber:client" from="{ROOM}/{nick}" to="{FULL}" type="error">'
        f'<x xmlns="{MUC}"/><error type="{kind}"><{condition} xmlns="{STANZAS}"/>'
        f'<text xmlns="{STANZAS}">says the room</text></error></presence>'
    )


def groupchat(nick: str | None, body: str, extra: str = "", room: str = ROOM) -> str:
    sender = room if nick is None else f"{room}/{nick}"
    return (
        f'<message xmlns="jabber:client" type="groupchat" from="{sender}" to="{FULL}" id="g1">'
        f"<body>{body}</body>{extra}</message>"
    )


def result(iq: Element, payload: str = "", sender: str | None = None) -> str:
    to = iq.get("to") if sender is None else sender
    from_attr = f' from="{to}"' if to else ""
    return (
        f'<iq xmlns="jabber:client" type="result" id="{iq.get("id")}"{from_attr} to="{FULL}">'
        f"{payload}</iq>"
    )


def error(iq: Element, condition: str, sender: str | None = None) -> str:
    to = iq.get("to") if sender is None else sender
    from_attr = f' from="{to}"' if to else ""
    return (
        f'<iq xmlns="jabber:client" type="error" id="{iq.get("id")}"{from_attr} to="{FULL}">'
        f'<error type="cancel"><{condition} xmlns="{STANZAS}"/></error></iq>'
    )


def joined(features: tuple[str, ...] = ("urn:xmpp:occupant-id:0",)) -> XmppClient:
    """Logged in, in ROOM as Alice (owner) with Bob there; the room's
    automatic disco#info answered with `features`."""
    client = login()
    client.join_room(ROOM, "Alice")
    sent(client)
    feed(client, occupant_presence("Bob", jid="bob@example.org/phone"))
    feed(client, occupant_presence("Alice", "moderator", "owner", (110,)))
    [disco] = sent(client)
    found = "".join(f'<feature var="{f}"/>' for f in features)
    assert feed(client, result(disco, f'<query xmlns="{DISCO_INFO}">{found}</query>')) == []
    return client


# -- joining ---------------------------------------------------------------------------------


def test_join_reports_occupants_then_joined_then_subject() -> None:
    client = login()
    client.join_room(ROOM, "Alice", history_max=0)
    assert client.take_output() == [
        f'<presence xmlns="jabber:client" to="{ROOM}/Alice">'
        f'<x xmlns="{MUC}"><history maxstanzas="0"/></x></presence>'
    ]
    assert ROOM_JID in client.rooms and not client.rooms[ROOM_JID].joined
    bob = feed(client, occupant_presence("Bob", jid="bob@example.org/phone",
                                         extra="<show>away</show><status>out</status>"))
    assert bob == [
        OccupantChanged(
            ROOM_JID,
            Occupant("Bob", "participant", "none", JID.parse("bob@example.org/phone"), "away",
                     "out"),
            True,
        )
    ]
    own = feed(client, occupant_presence("Alice", "moderator", "owner", (201, 110)))
    assert own == [
        OccupantChanged(ROOM_JID, Occupant("Alice", "moderator", "owner"), True, [201, 110]),
        RoomJoined(ROOM_JID, "Alice", True, [201, 110]),
    ]
    assert client.rooms[ROOM_JID].joined
    # The client asks the room what it supports (occupant ids, moderation), quietly.
    [disco] = sent(client)
    assert disco.get("to") == ROOM and disco.find("query", DISCO_INFO) is not None
    subject = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob" to="{FULL}">'
        "<subject>Openings</subject></message>"
    )
    assert feed(client, subject) == [RoomSubject(ROOM_JID, "Bob", "Openings")]
    empty = f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}"><subject/></message>'
    assert feed(client, empty) == [RoomSubject(ROOM_JID, None, "")]


def test_join_with_password_and_history() -> None:
    client = login()
    client.join_room(JID.parse(f"{ROOM}/ignored"), "Alice", "pw", history_max=None)
    assert client.take_output() == [
        f'<presence xmlns="jabber:client" to="{ROOM}/Alice">'
        f'<x xmlns="{MUC}"><password>pw</password></x></presence>'
    ]
    with pytest.raises(ValueError):
        client.join_room("conference.example.org", "Alice")


def test_nick_rewritten_by_the_room() -> None:
    client = login()
    client.join_room(ROOM, "alice")
    sent(client)
    events = feed(client, occupant_presence("Alice (2)", codes=(110, 210)))
    assert events[-1] == RoomJoined(ROOM_JID, "Alice (2)", False, [110, 210])
    assert client.rooms[ROOM_JID].nick == "Alice (2)"


@pytest.mark.parametrize(
    "condition",
    ["conflict", "not-authorized", "registration-required", "forbidden", "item-not-found",
     "remote-server-not-found", "service-unavailable"],
)
def test_join_failures(condition: str) -> None:
    client = login()
    client.join_room(ROOM, "Alice")
    sent(client)
    assert feed(client, error_presence(condition)) == [
        RoomJoinFailed(ROOM_JID, condition, "says the room")
    ]
    assert ROOM_JID not in client.rooms
    # Later stanzas from that room are no longer accepted.
    assert isinstance(feed(client, groupchat("Bob", "hi"))[0], Dropped)


def test_joining_again_reports_joined_again() -> None:
    client = joined()
    client.join_room(ROOM, "Alice")
    sent(client)
    events = feed(client, occupant_presence("Alice", "moderator", "owner", (110,)))
    assert events[-1] == RoomJoined(ROOM_JID, "Alice", False, [110])
    assert client.take_output() == []  # its features are known: no second disco


# -- messages -------------------------------------------------------------------------------


def test_groupchat_messages() -> None:
    client = joined()
    msg_id = client.send_groupchat(ROOM, "e4 <e5>")
    assert client.take_output() == [
        f'<message xmlns="jabber:client" type="groupchat" to="{ROOM}" id="{msg_id}">'
        f'<body>e4 &lt;e5&gt;</body><origin-id xmlns="{SID}" id="{msg_id}"/></message>'
    ]
    reflection = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Alice" to="{FULL}" '
        f'id="{msg_id}"><body>e4 &lt;e5&gt;</body><origin-id xmlns="{SID}" id="{msg_id}"/>'
        '<occupant-id xmlns="urn:xmpp:occupant-id:0" id="occ-alice"/>'
        f'<stanza-id xmlns="{SID}" id="room-1" by="{ROOM}"/></message>'
    )
    [event] = feed(client, reflection)
    assert event == GroupchatReceived(
        GroupchatMessage(ROOM_JID, "Alice", "e4 <e5>", msg_id, msg_id, "room-1", None, None,
                         "occ-alice", own=True)
    )
    assert event.needs_confirm
    from_bob = groupchat(
        "Bob", "c5",
        f'<stanza-id xmlns="{SID}" id="forged" by="{OWN}"/>'  # not by the room: not trusted
        '<replace xmlns="urn:xmpp:message-correct:0" id="b0"/>',
    )
    [event] = feed(client, from_bob)
    assert isinstance(event, GroupchatReceived)
    assert event.message.archive_id is None and event.message.replaces == "b0"
    assert not event.message.own and event.message.nick == "Bob"
    history = groupchat("Bob", "old", '<delay xmlns="urn:xmpp:delay" stamp="2024-01-01T00:00:00Z" '
                        f'from="{ROOM}"/>')
    [event] = feed(client, history)
    assert isinstance(event, GroupchatReceived)
    assert event.message.history and event.message.stamp == 1704067200.0
    # Notices without a body (status codes, chat states) report nothing
    # (but a configuration change: test_configuration_change_is_reported_…).
    notice = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}"><x xmlns="{USER}">'
        '<status code="100"/></x></message>'
    )
    assert feed(client, notice) == []
    # Never a receipt or marker for groupchat, even when asked.
    asks = groupchat("Bob", "ack?", '<request xmlns="urn:xmpp:receipts"/>'
                     '<markable xmlns="urn:xmpp:chat-markers:0"/>')
    assert isinstance(feed(client, asks)[0], GroupchatReceived)
    assert client.take_output() == []


def test_occupant_ids_only_from_a_room_that_advertises_them() -> None:
    client = joined(features=("http://jabber.org/protocol/muc",))
    stamped = groupchat("Bob", "hi", '<occupant-id xmlns="urn:xmpp:occupant-id:0" id="forged"/>')
    [event] = feed(client, stamped)
    assert isinstance(event, GroupchatReceived) and event.message.occupant_id is None


def test_forged_groupchat_is_dropped() -> None:
    client = joined()
    for xml in (
        groupchat("Bob", "hi", room="other@conference.example.org"),  # a room we're not in
        groupchat(None, "hi", room="bob@example.org"),
        '<message xmlns="jabber:client" type="groupchat"><body>no from</body></message>',
        # A subject from a room we're not in.
        '<message xmlns="jabber:client" type="groupchat" from="other@conference.example.org/x">'
        "<subject>pwned</subject></message>",
    ):
        [event] = feed(client, xml)
        assert isinstance(event, Dropped), xml
    # A groupchat message wrapping a carbon is still just that occupant's message.
    inner = '<message xmlns="jabber:client" from="bob@example.org/x"><body>FORGED</body></message>'
    wrapped = groupchat(
        "Mallory", "outer",
        f'<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="{FORWARD}">{inner}'
        "</forwarded></received>",
    )
    [event] = feed(client, wrapped)
    assert isinstance(event, GroupchatReceived) and event.message.body == "outer"


def test_groupchat_bounce_and_no_receipts_from_occupants() -> None:
    client = joined()
    msg_id = client.send_groupchat(ROOM, "hi")
    sent(client)
    receipt = (
        f'<message xmlns="jabber:client" type="chat" from="{ROOM}/Bob">'
        f'<received xmlns="urn:xmpp:receipts" id="{msg_id}"/></message>'
    )
    [event] = feed(client, receipt)
    assert isinstance(event, Dropped)
    bounce = (
        f'<message xmlns="jabber:client" type="error" from="{ROOM}" id="{msg_id}">'
        f'<error type="modify"><not-acceptable xmlns="{STANZAS}"/></error></message>'
    )
    [event] = feed(client, bounce)
    assert isinstance(event, MessageFailed) and event.id == msg_id
    assert event.error.condition == "not-acceptable"


def test_set_subject() -> None:
    client = joined()
    msg_id = client.set_subject(ROOM, "Endgames")
    assert client.take_output() == [
        f'<message xmlns="jabber:client" to="{ROOM}" type="groupchat" id="{msg_id}">'
        "<subject>Endgames</subject></message>"
    ]


def test_configuration_change_is_reported_only_from_the_room() -> None:
    client = joined()
    notice = (f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}" to="{FULL}">'
              f'<x xmlns="{USER}"><status code="104"/></x></message>')
    [changed] = feed(client, notice)
    assert isinstance(changed, RoomConfigChanged) and changed.codes == [104]
    assert str(changed.room) == ROOM
    # An occupant can't say it for the room; other status codes are no change.
    forged = notice.replace(f'from="{ROOM}"', f'from="{ROOM}/Bob"')
    assert not any(isinstance(e, RoomConfigChanged) for e in feed(client, forged))
    other = notice.replace('code="104"', 'code="100"')
    assert feed(client, other) == []


# -- private messages -------------------------------------------------------------------------


def test_private_messages() -> None:
    client = joined()
    msg_id = client.send_private(ROOM, "Bob", "psst")
    assert client.take_output() == [
        f'<message xmlns="jabber:client" type="chat" to="{ROOM}/Bob" id="{msg_id}">'
        f'<body>psst</body><origin-id xmlns="{SID}" id="{msg_id}"/><x xmlns="{USER}"/>'
        '<request xmlns="urn:xmpp:receipts"/></message>'
    ]
    incoming = (
        f'<message xmlns="jabber:client" type="chat" from="{ROOM}/Bob" to="{FULL}" id="p1">'
        f'<body>hey</body><x xmlns="{USER}"/><request xmlns="urn:xmpp:receipts"/></message>'
    )
    [event] = feed(client, incoming)
    assert isinstance(event, ChatReceived)
    assert event.message.muc_private and event.message.from_jid == JID.parse(f"{ROOM}/Bob")
    assert client.take_output() == []  # no receipt: a room occupant is no contact
    unmarked = (
        f'<message xmlns="jabber:client" type="chat" from="{ROOM}/Bob"><body>x</body></message>'
    )
    [event] = feed(client, unmarked)
    assert isinstance(event, ChatReceived) and event.message.muc_private
    # Only the occupant written to confirms receipt; another occupant can't.
    for nick, expected in (("Mallory", Dropped), ("Bob", Receipt)):
        receipt = (
            f'<message xmlns="jabber:client" type="chat" from="{ROOM}/{nick}">'
            f'<received xmlns="urn:xmpp:receipts" id="{msg_id}"/></message>'
        )
        [event] = feed(client, receipt)
        assert isinstance(event, expected)
    plain = '<message xmlns="jabber:client" type="chat" from="bob@example.org/x"><body>a</body>'
    [event] = feed(client, plain + "</message>")
    assert isinstance(event, ChatReceived) and not event.message.muc_private


# -- presence changes, leaving ----------------------------------------------------------------


def test_others_leave_get_kicked_and_change_nick() -> None:
    client = joined()
    assert feed(client, occupant_presence("Bob", unavailable=True, role="none")) == [
        OccupantChanged(ROOM_JID, Occupant("Bob"), False)
    ]
    kicked = occupant_presence("Carol", role="none", unavailable=True, codes=(307,),
                               item_extra='<actor nick="Alice"/><reason>spam</reason>')
    assert feed(client, kicked) == [
        OccupantChanged(ROOM_JID, Occupant("Carol"), False, [307], None, "Alice", "spam")
    ]
    renamed = occupant_presence("Dave", unavailable=True, codes=(303,),
                                item_extra="").replace('role="participant"',
                                                       'role="participant" nick="David"')
    [event] = feed(client, renamed)
    assert isinstance(event, OccupantChanged) and event.new_nick == "David"
    assert ROOM_JID in client.rooms


@pytest.mark.parametrize(
    ("codes", "reason"),
    [((110,), "left"), ((307, 110), "kicked"), ((301, 110), "banned"),
     ((321, 110), "removed"), ((322, 110), "removed"), ((332, 110), "shutdown")],
)
def test_we_leave_or_are_removed(codes: tuple[int, ...], reason: str) -> None:
    client = joined()
    if reason == "left":
        client.leave_room(ROOM, "bye")
        assert client.take_output() == [
            f'<presence xmlns="jabber:client" to="{ROOM}/Alice" type="unavailable">'
            "<status>bye</status></presence>"
        ]
    presence = occupant_presence(
        "Alice", "none", "outcast" if 301 in codes else "none", codes, unavailable=True,
        item_extra='<actor nick="Bob"/><reason>why</reason>' if reason != "left" else "",
    )
    events = feed(client, presence)
    assert isinstance(events[0], OccupantChanged) and not events[0].available
    left = events[1]
    assert isinstance(left, RoomLeft) and left.reason == reason
    if reason != "left":
        assert (left.actor, left.text) == ("Bob", "why")
    assert ROOM_JID not in client.rooms
    assert isinstance(feed(client, groupchat("Bob", "after"))[0], Dropped)


def test_room_destroyed() -> None:
    client = joined()
    presence = (
        f'<presence xmlns="jabber:client" from="{ROOM}/Alice" type="unavailable">'
        f'<x xmlns="{USER}"><item affiliation="none" role="none"/>'
        '<destroy jid="new@conference.example.org"><reason>moved</reason></destroy>'
        '<status code="110"/></x></presence>'
    )
    left = feed(client, presence)[-1]
    assert left == RoomLeft(ROOM_JID, "destroyed", None, "moved",
                            JID.parse("new@conference.example.org"))


def test_leaving_a_room_we_are_not_in_sends_nothing() -> None:
    client = login()
    client.leave_room(ROOM)
    assert client.take_output() == []


def test_change_nick() -> None:
    client = joined()
    client.change_nick(ROOM, "Alicia")
    assert client.take_output() == [f'<presence xmlns="jabber:client" to="{ROOM}/Alicia"/>']
    old = occupant_presence("Alice", "moderator", "owner", (303, 110), unavailable=True)
    old = old.replace('role="moderator"', 'role="moderator" nick="Alicia"')
    [event] = feed(client, old)
    assert isinstance(event, OccupantChanged) and event.new_nick == "Alicia"
    assert ROOM_JID in client.rooms and client.rooms[ROOM_JID].nick == "Alicia"
    new = feed(client, occupant_presence("Alicia", "moderator", "owner", (110,)))
    assert len(new) == 1 and isinstance(new[0], OccupantChanged)  # no second RoomJoined
    [event] = feed(client, groupchat("Alicia", "me"))
    assert isinstance(event, GroupchatReceived) and event.message.own


def test_change_nick_refused() -> None:
    client = joined()
    client.change_nick(ROOM, "Bob")
    sent(client)
    assert feed(client, error_presence("conflict", "Bob")) == [
        NickChangeFailed(ROOM_JID, "Bob", "conflict", "says the room")
    ]
    assert client.rooms[ROOM_JID].nick == "Alice"
    with pytest.raises(ValueError):
        client.change_nick("other@conference.example.org", "x")


def test_forged_room_presence_is_dropped() -> None:
    client = joined()
    # Occupants, kicks and bans of a room we never joined.
    other = occupant_presence("Alice", codes=(307, 110), unavailable=True,
                              room="other@conference.example.org")
    [event] = feed(client, other)
    assert isinstance(event, Dropped)
    # A contact's presence carrying muc#user is not a room's either.
    contact = occupant_presence("x", room="bob@example.org")
    [event] = feed(client, contact)
    assert isinstance(event, Dropped)
    # From the room's bare JID, or without muc#user: not an occupant.
    bare = f'<presence xmlns="jabber:client" from="{ROOM}"><x xmlns="{USER}"/></presence>'
    assert isinstance(feed(client, bare)[0], Dropped)
    plain = f'<presence xmlns="jabber:client" from="{ROOM}/Bob"/>'
    assert isinstance(feed(client, plain)[0], Dropped)
    # Ordinary contacts still work.
    contact_presence = '<presence xmlns="jabber:client" from="bob@example.org/phone"/>'
    assert feed(client, contact_presence) == [
        PresenceChanged(JID.parse("bob@example.org/phone"), True)
    ]


# -- invitations --------------------------------------------------------------------------------


def test_invitations() -> None:
    client = login()
    msg_id = client.invite(ROOM, "bob@example.org", "chess?", "pw")
    assert client.take_output() == [
        f'<message xmlns="jabber:client" to="bob@example.org" id="{msg_id}">'
        f'<x xmlns="jabber:x:conference" jid="{ROOM}" reason="chess?" password="pw"/></message>'
    ]
    msg_id = client.invite(ROOM, "bob@example.org", "chess?", mediated=True)
    assert client.take_output() == [
        f'<message xmlns="jabber:client" to="{ROOM}" id="{msg_id}"><x xmlns="{USER}">'
        '<invite to="bob@example.org"><reason>chess?</reason></invite></x></message>'
    ]
    direct = (
        '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org">'
        f'<body>xmpp:{ROOM}?join</body>'
        f'<x xmlns="jabber:x:conference" jid="{ROOM}" reason="come"/></message>'
    )
    assert feed(client, direct) == [
        RoomInvite(ROOM_JID, JID.parse("bob@example.org/phone"), "come", None, True)
    ]
    mediated = (
        f'<message xmlns="jabber:client" from="{ROOM}" to="alice@example.org">'
        f'<x xmlns="{USER}"><invite from="carol@example.org/pc"><reason>hi</reason></invite>'
        "<password>pw</password></x></message>"
    )
    assert feed(client, mediated) == [
        RoomInvite(ROOM_JID, JID.parse("carol@example.org/pc"), "hi", "pw", False)
    ]


@pytest.mark.parametrize("sender", ["mallory@evil.example/res", "bob@example.org", "", OWN])
def test_mediated_invitations_only_from_a_room(sender: str) -> None:
    client = login()
    feed(client, '<iq xmlns="jabber:client" type="set" id="push"><query xmlns="jabber:iq:roster">'
                 '<item jid="bob@example.org" subscription="both"/></query></iq>')
    client.take_output()
    from_attr = f' from="{sender}"' if sender else ""
    forged = (
        f'<message xmlns="jabber:client"{from_attr} to="alice@example.org">'
        f'<x xmlns="{USER}"><invite from="{ROOM}"/></x></message>'
    )
    [event] = feed(client, forged)
    assert isinstance(event, Dropped)


# -- self-ping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "state"),
    [(None, "joined"), ("service-unavailable", "joined"), ("not-acceptable", "not-joined"),
     ("item-not-found", "unknown"), ("remote-server-timeout", "unknown")],
)
def test_self_ping(answer: str | None, state: str) -> None:
    client = joined()
    query_id = client.self_ping(ROOM)
    [ping] = sent(client)
    assert ping.to_xml() == (
        f'<iq xmlns="jabber:client" type="get" id="{query_id}" to="{ROOM}/Alice">'
        '<ping xmlns="urn:xmpp:ping"/></iq>'
    )
    # An answer from anyone else is not the room's.
    forged = result(ping, sender=f"{ROOM}/Bob")
    assert isinstance(feed(client, forged)[0], Dropped)
    reply = result(ping) if answer is None else error(ping, answer)
    assert feed(client, reply) == [SelfPingResult(ROOM_JID, state, query_id)]
    assert client.rooms[ROOM_JID].joined is (state != "not-joined")


def test_self_ping_needs_a_nick() -> None:
    client = login()
    with pytest.raises(ValueError):
        client.self_ping(ROOM)
    client.self_ping(ROOM, "Alice")
    [ping] = sent(client)
    assert ping.get("to") == f"{ROOM}/Alice"


# -- admin and owner ------------------------------------------------------------------------------


def test_kick_and_ban() -> None:
    client = joined()
    kick = client.set_role(ROOM, "Bob", "none", "spam")
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="set" id="{kick}" to="{ROOM}">'
        f'<query xmlns="{ADMIN}"><item nick="Bob" role="none"><reason>spam</reason></item>'
        "</query></iq>"
    )
    assert feed(client, result(iq)) == [IqDone(kick)]
    ban = client.set_affiliation(ROOM, "bob@example.org/phone", "outcast")
    [iq] = sent(client)
    assert '<item jid="bob@example.org" affiliation="outcast"/>' in iq.to_xml()
    assert isinstance(feed(client, result(iq, sender="evil@example.org"))[0], Dropped)
    assert feed(client, error(iq, "forbidden")) == [
        IqFailed(ban, ROOM_JID, "forbidden", None, "cancel")
    ]


def test_affiliation_list() -> None:
    client = joined()
    query_id = client.get_affiliations(ROOM, "member")
    [iq] = sent(client)
    assert iq.find("query", ADMIN) is not None
    answer = (
        f'<query xmlns="{ADMIN}"><item affiliation="member" jid="bob@example.org" nick="Bob"/>'
        '<item affiliation="member" jid="carol@example.org/x"/><item affiliation="member"/>'
        '<item affiliation="admin" jid="dave@example.org"/></query>'
    )
    assert feed(client, result(iq, answer)) == [
        AffiliationList(query_id, ROOM_JID, "member", [
            (JID.parse("bob@example.org"), "Bob"), (JID.parse("carol@example.org"), None),
        ])
    ]


def test_room_configuration() -> None:
    client = joined()
    query_id = client.get_room_config(ROOM)
    [iq] = sent(client)
    form = (
        f'<query xmlns="{OWNER}"><x xmlns="jabber:x:data" type="form">'
        '<field var="FORM_TYPE" type="hidden">'
        "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        '<field var="muc#roomconfig_passwordprotectedroom" type="boolean"><value>0</value>'
        "</field></x></query>"
    )
    [event] = feed(client, result(iq, form))
    assert isinstance(event, RoomConfigForm) and event.query_id == query_id
    assert [f.var for f in event.fields] == [
        "FORM_TYPE", "muc#roomconfig_passwordprotectedroom"
    ]
    query_id = client.submit_room_config(ROOM, {
        "muc#roomconfig_passwordprotectedroom": True, "muc#roomconfig_roomsecret": "pw",
    })
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="set" id="{query_id}" to="{ROOM}">'
        f'<query xmlns="{OWNER}"><x xmlns="jabber:x:data" type="submit">'
        '<field var="FORM_TYPE" type="hidden">'
        "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        '<field var="muc#roomconfig_passwordprotectedroom"><value>1</value></field>'
        '<field var="muc#roomconfig_roomsecret"><value>pw</value></field></x></query></iq>'
    )
    assert feed(client, result(iq)) == [IqDone(query_id)]
    instant = client.submit_room_config(ROOM, None)
    assert client.take_output() == [
        f'<iq xmlns="jabber:client" type="set" id="{instant}" to="{ROOM}">'
        f'<query xmlns="{OWNER}"><x xmlns="jabber:x:data" type="submit"/></query></iq>'
    ]


# -- moderation --------------------------------------------------------------------------------


def announcement(sender: str, archive_id: str = "room-7") -> str:
    return (
        f'<message xmlns="jabber:client" type="groupchat" from="{sender}" id="m9">'
        f'<apply-to xmlns="urn:xmpp:fasten:0" id="{archive_id}">'
        f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{ROOM}/Alice">'
        '<retract xmlns="urn:xmpp:message-retract:0"/><reason>spam</reason></moderated>'
        "</apply-to></message>"
    )


def test_moderation() -> None:
    client = joined()
    query_id = client.moderate(ROOM, "room-7", "spam")
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="set" id="{query_id}" to="{ROOM}">'
        '<apply-to xmlns="urn:xmpp:fasten:0" id="room-7">'
        '<moderate xmlns="urn:xmpp:message-moderate:0">'
        '<retract xmlns="urn:xmpp:message-retract:0"/><reason>spam</reason></moderate>'
        "</apply-to></iq>"
    )
    assert feed(client, result(iq)) == [IqDone(query_id)]
    assert feed(client, announcement(ROOM)) == [
        MessageModerated(ROOM_JID, "room-7", f"{ROOM}/Alice", "spam")
    ]


def test_moderation_speaks_0_3_to_a_room_that_only_knows_it() -> None:
    client = joined(features=("urn:xmpp:message-moderate:1",))
    client.moderate(ROOM, "room-7")
    [iq] = sent(client)
    assert iq.find("moderate", "urn:xmpp:message-moderate:1") is not None


@pytest.mark.parametrize(
    "sender", [f"{ROOM}/Bob", "other@conference.example.org", "bob@example.org/x"]
)
def test_forged_moderation_is_not_reported(sender: str) -> None:
    client = joined()
    for event in feed(client, announcement(sender)):
        assert not isinstance(event, MessageModerated)


# -- room archive ---------------------------------------------------------------------------------


def archived(query_id: str, sender: str, inner: str, archive_id: str = "room-1") -> str:
    return (
        f'<message xmlns="jabber:client" from="{sender}" to="{FULL}">'
        f'<result xmlns="{MAM}" queryid="{query_id}" id="{archive_id}">'
        f'<forwarded xmlns="{FORWARD}"><delay xmlns="urn:xmpp:delay" '
        f'stamp="2024-01-01T00:00:00Z"/>{inner}</forwarded></result></message>'
    )


def test_room_archive() -> None:
    client = joined()
    query_id = client.query_archive(room=ROOM, before_last=True, max=20)
    [iq] = sent(client)
    assert iq.get("to") == ROOM and iq.get("type") == "set"
    query = iq.find("query", MAM)
    assert query is not None and query.get("queryid") == query_id
    bob = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob" id="b1">'
        f'<body>old move</body><origin-id xmlns="{SID}" id="o1"/></message>'
    )
    assert feed(client, archived(query_id, ROOM, bob)) == [
        ArchiveMessage(
            query_id, "room-1", 1704067200.0,
            GroupchatMessage(ROOM_JID, "Bob", "old move", "b1", "o1", "room-1", 1704067200.0,
                             history=True),
            "in", ROOM_JID,
        )
    ]
    # Ours: by nick, or by the real JID a non-anonymous room archives.
    mine = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/OldNick">'
        f'<body>me</body><x xmlns="{USER}"><item jid="alice@example.org/web"/></x></message>'
    )
    [event] = feed(client, archived(query_id, ROOM, mine, "room-2"))
    assert isinstance(event, ArchiveMessage) and event.direction == "out"
    tombstone = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob">'
        f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{ROOM}/Alice">'
        '<retracted xmlns="urn:xmpp:message-retract:0" stamp="2024-01-01T00:00:00Z"/>'
        "</moderated></message>"
    )
    assert feed(client, archived(query_id, ROOM, tombstone, "room-3")) == [
        MessageModerated(ROOM_JID, "room-3", f"{ROOM}/Alice")
    ]
    fin = (
        f'<fin xmlns="{MAM}" complete="true"><set xmlns="http://jabber.org/protocol/rsm">'
        "<first>room-1</first><last>room-3</last></set></fin>"
    )
    # The fin must come from the room too.
    assert isinstance(feed(client, result(iq, fin, sender=OWN))[0], Dropped)
    assert feed(client, result(iq, fin)) == [
        ArchiveDone(query_id, True, "room-3", None, "room-1")
    ]


def test_forged_room_archive_results_are_dropped() -> None:
    client = joined()
    room_query = client.query_archive(room=ROOM)
    own_query = client.query_archive()
    sent(client)
    bob = (
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/Bob"><body>x</body>'
        "</message>"
    )
    for xml in (
        archived(room_query, "bob@example.org/x", bob),  # not from the room queried
        archived(room_query, OWN, bob),
        archived(own_query, ROOM, bob),  # the room answering our own archive's query
        archived("not-ours", ROOM, bob),
        # From the room, but a message of another room.
        archived(room_query, ROOM, bob.replace(ROOM, "other@conference.example.org")),
    ):
        [event] = feed(client, xml)
        assert isinstance(event, Dropped), xml


# -- disco ------------------------------------------------------------------------------------


def test_disco_info_and_items() -> None:
    client = login()
    query_id = client.disco_info("conference.example.org")
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="get" id="{query_id}" to="conference.example.org">'
        f'<query xmlns="{DISCO_INFO}"/></iq>'
    )
    answer = (
        f'<query xmlns="{DISCO_INFO}"><identity category="conference" type="text" '
        f'name="Rooms"/><feature var="{MUC}"/></query>'
    )
    assert feed(client, result(iq, answer)) == [
        DiscoInfoResult(query_id, JID.parse("conference.example.org"), None,
                        [("conference", "text", "Rooms")], [MUC], {}, [])
    ]
    query_id = client.disco_items("conference.example.org")
    [iq] = sent(client)
    items = (
        f'<query xmlns="{DISCO_ITEMS}"><item jid="{ROOM}" name="Chess (2)"/></query>'
    )
    assert feed(client, result(iq, items)) == [
        DiscoItemsResult(query_id, JID.parse("conference.example.org"), None,
                         [(ROOM_JID, "Chess (2)", None)])
    ]
    query_id = client.disco_info("nowhere.example")
    [iq] = sent(client)
    assert feed(client, error(iq, "remote-server-not-found")) == [
        IqFailed(query_id, JID.parse("nowhere.example"), "remote-server-not-found")
    ]


def test_a_room_disco_answer_decides_trust_in_occupant_ids() -> None:
    client = login()
    client.disco_info(ROOM)
    [iq] = sent(client)
    feed(client, result(iq, f'<query xmlns="{DISCO_INFO}">'
                            '<feature var="urn:xmpp:occupant-id:0"/></query>'))
    client.join_room(ROOM, "Alice")
    sent(client)
    feed(client, occupant_presence("Alice", codes=(110,)))
    assert client.take_output() == []  # known already
    stamped = groupchat("Bob", "hi", '<occupant-id xmlns="urn:xmpp:occupant-id:0" id="occ"/>')
    [event] = feed(client, stamped)
    assert isinstance(event, GroupchatReceived) and event.message.occupant_id == "occ"


# -- bookmarks --------------------------------------------------------------------------------


def account_info(client: XmppClient, *features: str) -> None:
    """Answer the disco#info the client sends to our bare JID."""
    [iq] = sent(client)
    assert iq.get("to") == OWN and iq.find("query", DISCO_INFO) is not None
    found = "".join(f'<feature var="{f}"/>' for f in features)
    feed(client, result(iq, f'<query xmlns="{DISCO_INFO}">{found}</query>'))


def test_pep_bookmarks() -> None:
    client = login()
    query_id = client.get_bookmarks()
    account_info(client, "urn:xmpp:bookmarks:1#compat")
    assert client.bookmarks_pep is True
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="get" id="{query_id}">'
        f'<pubsub xmlns="{PUBSUB}"><items node="{BOOKMARKS}"/></pubsub></iq>'
    )
    items = (
        f'<pubsub xmlns="{PUBSUB}"><items node="{BOOKMARKS}"><item id="{ROOM}">'
        f'<conference xmlns="{BOOKMARKS}" name="Chess" autojoin="true"><nick>Alice</nick>'
        "</conference></item></items></pubsub>"
    )
    chess = Bookmark(ROOM_JID, "Chess", "Alice", None, True)
    assert feed(client, result(iq, items, sender="")) == [
        BookmarksLoaded([chess], query_id, True)
    ]
    # Known now: no second disco.
    second = client.get_bookmarks()
    [iq] = sent(client)
    assert iq.get("id") == second
    assert feed(client, error(iq, "item-not-found", sender=OWN)) == [
        BookmarksLoaded([], second, True)  # no node yet: no bookmarks
    ]
    query_id = client.set_bookmark(chess)
    [iq] = sent(client)
    assert iq.get("id") == query_id and iq.find("pubsub", PUBSUB) is not None
    assert feed(client, result(iq, sender=OWN)) == [IqDone(query_id)]
    query_id = client.remove_bookmark(ROOM)
    [iq] = sent(client)
    assert '<retract node="urn:xmpp:bookmarks:1" notify="true">' in iq.to_xml()


@pytest.mark.parametrize("sender", [None, OWN])
def test_bookmark_notifications_from_our_account(sender: str | None) -> None:
    client = login()
    from_attr = f' from="{sender}"' if sender else ""
    notification = (
        f'<message xmlns="jabber:client"{from_attr} type="headline">'
        f'<event xmlns="{EVENT}"><items node="{BOOKMARKS}"><item id="{ROOM}">'
        f'<conference xmlns="{BOOKMARKS}" name="Chess"/></item>'
        f'<retract id="go@conference.example.org"/></items></event></message>'
    )
    assert feed(client, notification) == [
        BookmarkChanged(ROOM_JID, Bookmark(ROOM_JID, "Chess")),
        BookmarkChanged(JID.parse("go@conference.example.org"), None),
    ]


@pytest.mark.parametrize("sender", ["bob@example.org", f"{OWN}/phone", "example.org", ROOM])
def test_forged_bookmark_notifications_are_dropped(sender: str) -> None:
    client = login()
    notification = (
        f'<message xmlns="jabber:client" from="{sender}" type="headline">'
        f'<event xmlns="{EVENT}"><items node="{BOOKMARKS}"><item id="{ROOM}">'
        f'<conference xmlns="{BOOKMARKS}" autojoin="true"/></item></items></event></message>'
    )
    [event] = feed(client, notification)
    assert isinstance(event, Dropped)


def test_other_pep_nodes_are_ignored() -> None:
    client = login()
    avatar = (
        '<message xmlns="jabber:client" from="bob@example.org" type="headline">'
        f'<event xmlns="{EVENT}"><items node="urn:xmpp:avatar:metadata"/></event></message>'
    )
    assert feed(client, avatar) == []


def test_private_storage_bookmarks() -> None:
    client = login()
    query_id = client.get_bookmarks()
    [iq] = sent(client)
    feed(client, error(iq, "service-unavailable", sender=OWN))  # no account disco: legacy
    assert client.bookmarks_pep is False
    [iq] = sent(client)
    assert iq.to_xml() == (
        f'<iq xmlns="jabber:client" type="get" id="{query_id}">'
        '<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks"/></query></iq>'
    )
    stored = (
        '<query xmlns="jabber:iq:private"><storage xmlns="storage:bookmarks">'
        f'<conference jid="{ROOM}" autojoin="true"><nick>Alice</nick></conference>'
        '<url name="Site" url="https://example.org/"/></storage></query>'
    )
    assert feed(client, result(iq, stored, sender="")) == [
        BookmarksLoaded([Bookmark(ROOM_JID, None, "Alice", None, True)], query_id, False)
    ]
    # Changing one is read, modify, write (the URL kept).
    go = Bookmark(JID.parse("go@conference.example.org"), "Go", "Al")
    query_id = client.set_bookmark(go)
    [read] = sent(client)
    assert read.find("query", "jabber:iq:private") is not None and read.get("type") == "get"
    assert feed(client, result(read, stored, sender="")) == []
    [write] = sent(client)
    assert write.get("id") == query_id and write.get("type") == "set"
    assert write.to_xml().count("<conference") == 2 and "<url" in write.to_xml()
    assert feed(client, result(write, sender="")) == [
        IqDone(query_id), BookmarkChanged(go.jid, go)
    ]
    query_id = client.remove_bookmark(ROOM)
    [read] = sent(client)
    feed(client, error(read, "internal-server-error", sender=""))
    assert client.take_output() == []


def test_bookmark_request_fails_when_the_read_fails() -> None:
    client = login()
    client.get_bookmarks()
    [iq] = sent(client)
    feed(client, error(iq, "service-unavailable", sender=OWN))
    sent(client)
    query_id = client.remove_bookmark(ROOM)
    [read] = sent(client)
    assert feed(client, error(read, "internal-server-error", sender="")) == [
        IqFailed(query_id, None, "internal-server-error")
    ]


# -- entity capabilities ---------------------------------------------------------------------


def caps_login() -> XmppClient:
    client = XmppClient("alice@example.org", "s3cret", False, random_bytes=CountingRandom(),
                        caps=True)
    authenticate(client, ScramServer("alice", "s3cret"))
    feed(client, BIND_FEATURES)
    client.take_output()
    events = feed(
        client,
        f'<iq xmlns="jabber:client" type="result" id="{BIND_ID}">'
        f'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"><jid>{FULL}</jid></bind></iq>',
    )
    assert events == [Online(JID.parse(FULL))]
    return client


def test_caps_in_presence_and_disco_answers() -> None:
    client = caps_login()
    presence = client.take_output()[1]
    assert presence == (
        f'<presence xmlns="jabber:client">{xep_0115.build_caps().to_xml("jabber:client")}'
        "</presence>"
    )
    # Prosody's PEP service asks us, from our bare JID, with node#ver.
    node = f"{xep_0115.NODE}#{xep_0115.VER}"
    ask = (
        f'<iq xmlns="jabber:client" type="get" id="disco" from="{OWN}" to="{FULL}">'
        f'<query xmlns="{DISCO_INFO}" node="{node}"/></iq>'
    )
    assert feed(client, ask) == []
    [answer] = sent(client)
    query = answer.find("query", DISCO_INFO)
    assert answer.get("type") == "result" and answer.get("to") == OWN
    assert query is not None and query.get("node") == node
    features = [f.get("var") for f in query.find_all("feature", DISCO_INFO)]
    assert features == xep_0115.FEATURES
    assert "urn:xmpp:bookmarks:1+notify" in features
    # Not to strangers (it would tell them we are online), and no other node.
    stranger = ask.replace(f'from="{OWN}"', 'from="eve@evil.example/x"')
    feed(client, stranger)
    [answer] = sent(client)
    assert answer.get("type") == "error" and "service-unavailable" in answer.to_xml()
    other_node = ask.replace(node, "urn:other")
    feed(client, other_node)
    [answer] = sent(client)
    assert "item-not-found" in answer.to_xml()
    client.send_presence(available=False)
    assert client.take_output() == ['<presence xmlns="jabber:client" type="unavailable"/>']


def test_without_caps_nobody_gets_an_answer() -> None:
    client = login()
    feed(client, f'<iq xmlns="jabber:client" type="get" id="d" from="{OWN}">'
                 f'<query xmlns="{DISCO_INFO}"/></iq>')
    [answer] = sent(client)
    assert answer.get("type") == "error"


# -- resumption -----------------------------------------------------------------------------------


def test_sessions_keep_rooms_across_resumption_only() -> None:
    client = sm_login()
    client.join_room(ROOM, "Alice")
    feed(client, occupant_presence("Alice", codes=(110,)))
    client.join_room("go@conference.example.org", "Al")  # still joining: not kept
    state = client.resume_state()
    assert state is not None and state["rooms"] == [[ROOM, "Alice"]]
    state["rooms"] = [[ROOM, "Alice"], ["bad", 3], "junk", ["@", "x"]]
    resumed = resumed_client(state)
    assert list(resumed.rooms) == [ROOM_JID]
    assert resumed.rooms[ROOM_JID].nick == "Alice" and resumed.rooms[ROOM_JID].joined
    events = feed(resumed, f'<resumed xmlns="urn:xmpp:sm:3" previd="sm-1" h="{state["out"]}"/>')
    assert events and ROOM_JID in resumed.rooms
    resumed.take_output()
    resumed.self_ping(ROOM)  # our nick is still known
    [ping] = sent(resumed)
    assert ping.get("to") == f"{ROOM}/Alice"
    # A fresh session (after a failed resumption, too) is in no room.
    again = resumed_client(state)
    feed(again, '<failed xmlns="urn:xmpp:sm:3"/>')
    assert ROOM_JID in again.rooms
    fresh_bind(again)
    assert again.rooms == {}


def test_someone_holding_the_nick_we_ask_for_is_not_us() -> None:
    client = joined()
    client.change_nick(ROOM, "Bob")
    sent(client)
    events = feed(client, occupant_presence("Bob", extra="<show>away</show>"))
    assert len(events) == 1 and client.rooms[ROOM_JID].nick == "Alice"


def test_a_join_burst_of_plain_presences_and_richer_ones_in_any_order() -> None:
    """The presences of a big room's join are mostly just the muc#user <x/>;
    show, status and occupant-id are still read when present, before or after it."""
    client = login()
    client.join_room(ROOM, "Alice")
    sent(client)
    for i in range(300):
        [event] = feed(client, occupant_presence(f"m{i:03d}"))
        assert event == OccupantChanged(ROOM_JID, Occupant(f"m{i:03d}", "participant"), True)
    after = (
        f'<presence xmlns="jabber:client" from="{ROOM}/late" to="{FULL}">'
        f'<x xmlns="{USER}"><item affiliation="member" role="visitor"/></x>'
        "<status>back soon</status><show>xa</show><show>ignored</show></presence>"
    )
    [event] = feed(client, after)
    assert event.occupant == Occupant("late", "visitor", "member", None, "xa", "back soon")
    [event] = feed(client, occupant_presence("odd", extra="<show>sleeping</show>"))
    assert event.occupant.show is None and event.occupant.status is None
    [left] = feed(client, occupant_presence("m007", unavailable=True))
    assert left == OccupantChanged(ROOM_JID, Occupant("m007", "participant"), False)
    events = feed(client, occupant_presence("Alice", "moderator", "owner", (110,)))
    assert isinstance(events[-1], RoomJoined)


def test_prosody_relays_an_invitation_with_both_elements() -> None:
    # Prosody adds a XEP-0249 element to the invitations it relays: still mediated.
    client = login()
    relayed = (
        f'<message xmlns="jabber:client" from="{ROOM}" to="alice@example.org">'
        f'<x xmlns="{USER}"><invite from="{ROOM}/Bob"><reason>hi</reason></invite></x>'
        f'<x xmlns="jabber:x:conference" jid="{ROOM}"/></message>'
    )
    assert feed(client, relayed) == [
        RoomInvite(ROOM_JID, JID.parse(f"{ROOM}/Bob"), "hi", None, False)
    ]
    # The same from a person is that person's direct invitation, nothing more.
    from_person = relayed.replace(f'from="{ROOM}"', 'from="mallory@evil.example/x"', 1)
    assert feed(client, from_person) == [
        RoomInvite(ROOM_JID, JID.parse("mallory@evil.example/x"), None, None, True)
    ]


def test_groupchat_messages_wait_for_confirmation_and_nothing_else_does() -> None:
    client = sm_login(ack_after_confirm=True)
    client.join_room(ROOM, "Alice")
    client.take_output()
    feed(client, occupant_presence("Alice", codes=(110,)))  # h 1, handled at once
    client.take_output()
    [event] = feed(client, groupchat("Bob", "store me"))  # h 2, waits
    assert isinstance(event, GroupchatReceived)
    feed(client, f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}">'
                 "<subject>s</subject></message>")  # h 3, handled but behind h 2
    feed(client, '<r xmlns="urn:xmpp:sm:3"/>')
    assert client.take_output() == ['<a xmlns="urn:xmpp:sm:3" h="1"/>']
    client.confirm_handled()
    assert client.take_output() == ['<a xmlns="urn:xmpp:sm:3" h="3"/>']


def test_bookmark_requests_wait_for_one_account_query() -> None:
    client = login()
    first = client.get_bookmarks()
    second = client.remove_bookmark(ROOM)
    [disco] = sent(client)  # one query for both
    feed(client, result(disco, f'<query xmlns="{DISCO_INFO}">'
                               '<feature var="urn:xmpp:bookmarks:1#compat"/></query>', OWN))
    get, retract = sent(client)
    assert get.get("id") == first and retract.get("id") == second
    assert retract.find("pubsub", PUBSUB) is not None
