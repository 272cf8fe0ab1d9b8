"""Private messages with room occupants (XEP-0045 §7.5) and moderators
removing messages (XEP-0425), through ChatApp over the fake server's MUC
service (tests/app/fake_muc.py), plus the store's side of a removal."""

from __future__ import annotations

from roost.app.store import RETRACTED_TEXT, MessageStore
from roost.platform.schema import MemoryBackend

from tests.app.fake_muc import MUC_DOMAIN, MUC_USER
from tests.app.fakes import ALICE, BOB, bodies, logged_in, setup

ROOM = f"chess@{MUC_DOMAIN}"
PM = f"{ROOM}/bob"
MARKERS = "urn:xmpp:chat-markers:0"
STATES = "http://jabber.org/protocol/chatstates"
RECEIPTS = "urn:xmpp:receipts"


def joined(trusted: bool = False):  # type: ignore[no-untyped-def]
    """Alice in the Chess club with bob (owner); bob is also her contact."""
    server, platform, app, rec = logged_in(trusted=trusted)
    room = server.muc.room("chess", "Chess club")
    server.muc.enter(room, "bob", "bob@example.org", "moderator", "owner")
    app.join_room(ROOM)
    platform.run()
    assert app.room(ROOM).state == "joined"
    return server, platform, app, rec, room


def owned(trusted: bool = False):  # type: ignore[no-untyped-def]
    """Alice made the room (owner, moderator); bob is a participant."""
    server, platform, app, rec = logged_in(trusted=trusted)
    app.join_room(ROOM)  # a new room: 201, she owns it
    platform.run()
    room = server.muc.rooms[ROOM]
    server.muc.enter(room, "bob", "bob@example.org")
    platform.run()
    assert app.room(ROOM).is_moderator
    return server, platform, app, rec, room


def sent_to(server, to: str) -> list:  # type: ignore[no-untyped-def]
    return [m for m in server.stanzas("message") if m.get("to") == to]


# -- private messages ---------------------------------------------------------------
def test_private_message_is_its_own_conversation_both_ways() -> None:
    server, platform, app, rec, room = joined()
    server.muc.private(room, "bob", "psst, alice")
    platform.run()
    assert bodies(app, PM) == ["psst, alice"]
    assert bodies(app, ROOM) == [] and bodies(app, BOB) == []  # not the room, not bob's chat
    assert PM in app.conversation_list() and ROOM not in app.conversation_list()
    assert app.is_private(PM) and not app.is_private(ROOM) and not app.is_private(BOB)
    assert app.conversation_title(PM) == "bob (in Chess club)"
    assert app.unread(PM) == 1
    assert ("messages", PM, app.messages(PM)) in rec.events

    # The answer goes to room/nick through the room, marked as private.
    app.open_chat(PM)
    mine = app.send_message(PM, "hi bob")
    platform.run()
    assert mine is not None and mine.conversation == PM and mine.state == "sent"
    assert room.privates == [("bob", "hi bob", mine.id, True)]
    out = sent_to(server, PM)[-1]
    assert out.get("type") == "chat" and out.find("x", MUC_USER) is not None
    assert bodies(app, PM) == ["psst, alice", "hi bob"]
    assert bodies(app, ROOM) == [] and bodies(app, BOB) == []

    # Opening the chat from the occupants list gives the same conversation.
    assert app.open_private(ROOM, "bob") == PM
    assert app.open_private(ROOM.upper(), "bob") == PM  # normalised like incoming ones


def test_nothing_of_ours_leaks_through_the_room() -> None:
    """No read marker, receipt or chat state goes to an occupant: only the
    messages the user writes."""
    server, platform, app, rec, room = joined()
    server.send(
        f'<message xmlns="jabber:client" type="chat" from="{PM}" to="{server.full}" id="m1">'
        f'<body>read this</body><x xmlns="{MUC_USER}"/><markable xmlns="{MARKERS}"/>'
        f'<request xmlns="{RECEIPTS}"/><active xmlns="{STATES}"/></message>'
    )
    server.send(
        f'<message xmlns="jabber:client" type="chat" from="{PM}" to="{server.full}">'
        f'<composing xmlns="{STATES}"/><x xmlns="{MUC_USER}"/></message>'
    )
    platform.run()
    assert bodies(app, PM) == ["read this"]
    typing = rec.named("typing")
    assert (PM, True) in typing and all(t[0] == PM for t in typing)  # shown, in its chat
    app.open_chat(PM)
    app.set_visible(True)
    app.typing(PM)
    platform.run()
    assert sent_to(server, PM) == [], [m.to_xml() for m in sent_to(server, PM)]
    assert sent_to(server, ROOM) == []
    app.send_message(PM, "ok")
    platform.run()
    [out] = sent_to(server, PM)
    assert out.find("displayed", MARKERS) is None and out.find("composing", STATES) is None
    assert [p[1] for p in room.privates] == ["ok"]


def test_a_private_message_from_a_room_we_are_not_in_is_not_private() -> None:
    """room@service/nick is only a private message from a room we are in:
    from elsewhere it is an ordinary chat with that address (an unknown
    room), and from a room we left it goes nowhere (never the room's chat)."""
    server, platform, app, _rec, room = joined()
    ghost = f"ghost@{MUC_DOMAIN}"
    server.send(
        f'<message xmlns="jabber:client" type="chat" from="{ghost}/eve" to="{server.full}">'
        f'<body>pretending</body><x xmlns="{MUC_USER}"/></message>'
    )
    platform.run()
    assert bodies(app, f"{ghost}/eve") == [] and f"{ghost}/eve" not in app.conversation_list()
    assert bodies(app, ghost) == ["pretending"]  # an ordinary 1:1 with that address

    app.leave_room(ROOM)  # bookmarked: still known, no longer in it
    platform.run()
    assert app.room(ROOM) is not None and app.room(ROOM).state == "left"
    server.muc.private(room, "bob", "after you left")
    platform.run()
    assert bodies(app, PM) == [] and bodies(app, ROOM) == []
    assert app.send_message(PM, "hello?") is None  # can't write there now either
    assert sent_to(server, PM) == []


def test_private_chat_and_contact_chat_stay_apart() -> None:
    """bob the contact and bob the occupant: two conversations, even when
    the room shows his real address."""
    server, platform, app, _rec, room = joined()
    server.send(
        f'<message xmlns="jabber:client" type="chat" from="{BOB}/phone" to="{server.full}" '
        'id="c1"><body>as a contact</body></message>'
    )
    server.muc.private(room, "bob", "as an occupant")
    platform.run()
    assert bodies(app, BOB) == ["as a contact"]
    assert bodies(app, PM) == ["as an occupant"]
    app.send_message(BOB, "to the contact")
    app.send_message(PM, "to the occupant")
    platform.run()
    assert [m.get("to") for m in server.stanzas("message") if m.find_text("body")] == [
        BOB, PM]
    assert bodies(app, BOB) == ["as a contact", "to the contact"]
    assert bodies(app, PM) == ["as an occupant", "to the occupant"]


def test_a_message_to_someone_who_left_fails_with_a_clear_notice() -> None:
    server, platform, app, rec, room = joined()
    server.muc.private(room, "bob", "brb")
    platform.run()
    server.muc.leave(room, "bob")
    platform.run()
    assert app.private_occupant(PM) is None
    m = app.send_message(PM, "still there?")
    platform.run()
    assert m is not None and m.state == "failed"
    assert ("message", PM, m) in rec.events
    assert rec.named("notice")[-1] == (
        "bob is no longer in Chess club, so your message was not delivered.",)
    assert app.state == "online"


def test_carbons_and_the_archive_put_private_messages_in_their_conversation() -> None:
    """Written from another client of ours (a sent carbon), and brought by
    the archive catch-up (our archive files them under the room)."""
    server, platform, app = setup()[:3]
    own_archived = (
        f'<message xmlns="jabber:client" type="chat" from="{PM}" to="{ALICE}/phone" id="a1">'
        f'<body>archived psst</body><x xmlns="{MUC_USER}"/></message>'
    )
    server.archive = [("A1", 1_699_999_000.0, own_archived)]
    app.login("alice", "s3cret", False)
    platform.run()
    assert app.state == "online"
    assert bodies(app, PM) == ["archived psst"] and bodies(app, ROOM) == []
    room = server.muc.room("chess", "Chess club")
    server.muc.enter(room, "bob", "bob@example.org")
    app.join_room(ROOM)
    platform.run()
    server.send(
        f'<message xmlns="jabber:client" type="chat" from="{ALICE}">'
        '<sent xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        f'<message xmlns="jabber:client" type="chat" from="{ALICE}/phone" to="{PM}" id="p1">'
        f'<body>from my phone</body><x xmlns="{MUC_USER}"/></message>'
        "</forwarded></sent></message>"
    )
    platform.run()
    assert bodies(app, PM) == ["archived psst", "from my phone"]
    assert app.messages(PM)[-1].outgoing
    assert bodies(app, ROOM) == []


def test_queued_private_messages_wait_for_the_room() -> None:
    """Written while joining: sent once the room has us."""
    server, platform, app, _rec, room = joined()
    platform.connections[-1].drop()
    platform.run(timers=False)
    server.muc.drop_user(room)
    m = app.send_message(PM, "written while away")
    assert m is not None and m.state == "queued"
    platform.advance(5)
    platform.run()
    assert app.room(ROOM).state == "joined"
    assert [p[1] for p in room.privates] == ["written while away"]
    assert m.state == "sent"


# -- moderation ---------------------------------------------------------------------
def test_moderator_removes_a_message_for_everyone() -> None:
    server, platform, app, rec, room = owned(trusted=True)
    archive_id = server.muc.say(room, "bob", "buy cheap pills")
    server.muc.say(room, "bob", "sorry")
    platform.run()
    spam, fine = app.messages(ROOM)
    assert spam.archive_id == archive_id
    assert app.can_moderate(ROOM, spam) and app.can_moderate(ROOM, fine)
    assert app.moderate_message(ROOM, spam.key, "  no ads  ")
    platform.run()
    ask = [iq for iq in server.stanzas("iq") if iq.find("apply-to", "urn:xmpp:fasten:0")]
    assert len(ask) == 1 and ask[0].get("to") == ROOM
    assert ask[0].find("apply-to", "urn:xmpp:fasten:0").get("id") == archive_id
    assert room.moderated == {archive_id: "no ads"}
    # The room's announcement removed it: the text is gone, the reason shows.
    assert spam.retracted and spam.body == RETRACTED_TEXT and spam.retract_reason == "no ads"
    assert bodies(app, ROOM) == [RETRACTED_TEXT, "sorry"]
    assert ("message", ROOM, spam) in rec.events
    assert not app.can_moderate(ROOM, spam)  # once is enough
    app.flush_storage()
    platform.run()
    stored = platform.databases[ALICE].messages(ROOM)
    assert "buy cheap pills" not in repr(stored)
    assert any(r.get("retracted") and r.get("retract_reason") == "no ads" for r in stored)
    assert rec.named("notice") == []


def test_removal_by_another_moderator_and_without_reason() -> None:
    server, platform, app, _rec, room = joined()
    archive_id = server.muc.say(room, "bob", "oops, my password is hunter2")
    platform.run()
    assert not app.can_moderate(ROOM, app.messages(ROOM)[0])  # we are a participant
    server.muc.announce_moderation(room, archive_id, "bob")
    platform.run()
    [m] = app.messages(ROOM)
    assert m.retracted and m.retract_reason is None and "hunter2" not in m.body


def test_only_moderators_ask_and_a_refusal_is_a_notice() -> None:
    server, platform, app, rec, room = joined()
    server.muc.say(room, "bob", "hello")
    platform.run()
    [m] = app.messages(ROOM)
    assert not app.moderate_message(ROOM, m.key, None)
    assert rec.named("notice")[-1] == ("Only the room's moderators can remove messages.",)
    assert not [iq for iq in server.stanzas("iq") if iq.find("apply-to", "urn:xmpp:fasten:0")]

    # The room says no (our role changed without us hearing yet): a notice, no change.
    server, platform, app, rec, room = owned()
    server.muc.say(room, "bob", "hello")
    platform.run()
    [m] = app.messages(ROOM)
    room.occupants["alice"] = (ALICE, "participant", "owner")
    assert app.moderate_message(ROOM, m.key, "why not")
    platform.run()
    assert rec.named("notice")[-1] == ("You are not allowed to remove messages in this room.",)
    assert not m.retracted and m.body == "hello"
    # A message the room never archived can't be named: not offered.
    mine = app.send_message(ROOM, "mine")
    assert mine is not None and not app.can_moderate(ROOM, mine)  # no archive id yet
    assert not app.moderate_message(ROOM, (0.0, 0), None)


def test_an_announcement_from_an_occupant_is_not_believed() -> None:
    server, platform, app, _rec, room = joined()
    archive_id = server.muc.say(room, "bob", "keep me")
    platform.run()
    server.send(
        f'<message xmlns="jabber:client" type="groupchat" from="{ROOM}/bob" '
        f'to="{server.full}"><apply-to xmlns="urn:xmpp:fasten:0" id="{archive_id}">'
        f'<moderated xmlns="urn:xmpp:message-moderate:0" by="{ROOM}/bob">'
        '<retract xmlns="urn:xmpp:message-retract:0"/></moderated></apply-to></message>'
    )
    platform.run()
    assert bodies(app, ROOM) == ["keep me"]


# -- the store's side ----------------------------------------------------------------
def _store() -> tuple[MessageStore, list[object]]:
    tasks: list[object] = []
    backend = MemoryBackend(ALICE, tasks.append)
    store = MessageStore(backend, lambda _s, fn: fn, lambda _h: None, persist=False)
    store.load()
    return store, tasks


def test_a_removal_before_its_message_waits_for_it() -> None:
    """The announcement can come before the message (a room archive page
    still on its way, a conversation not read yet): the message comes in
    removed. A correction never brings the text back."""
    store, _tasks = _store()
    assert store.retract(ROOM, "R1", "rude") is None
    m, created = store.add(ROOM, "bob", "rude words", 10.0, id="b1", archive_id="R1")
    assert created and m.retracted and m.body == RETRACTED_TEXT and m.retract_reason == "rude"
    other, _ = store.add(ROOM, "bob", "fine", 11.0, id="b2", origin_id="o2")
    store.add(ROOM, "bob", "fine", 11.0, id="b2", archive_id="R2")  # its archive copy
    assert store.retract(ROOM, "R2") is other and other.retracted
    assert store.retract(ROOM, "R2") is None  # once
    store.add(ROOM, "bob", "fine again", 12.0, id="b3", replaces="b2")
    assert other.body == RETRACTED_TEXT
    # A copy that learns the archive id later (the live one had none) is removed too.
    live, _ = store.add(ROOM, "carol", "later", 13.0, id="c1", origin_id="c1")
    assert store.retract(ROOM, "R3") is None
    store.add(ROOM, "carol", "later", 13.0, id="c1", origin_id="c1", archive_id="R3")
    assert live.retracted
