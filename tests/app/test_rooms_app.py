"""ChatApp's group chats (app/rooms.py) over the fake server's MUC service
(tests/app/fake_muc.py): join, occupants, subject, messages and their
reflection, mentions, errors, rejoin with archive catch-up, self-ping,
bookmarks, the directory, kick."""

from __future__ import annotations

from roost.app.rooms import names_nick, room_address

from tests.app.fake_muc import MUC, MUC_DOMAIN
from tests.app.fakes import ALICE, FakePlatform, FakeServer, Recorder, bodies, logged_in

ROOM = f"chess@{MUC_DOMAIN}"


def joined(trusted: bool = False, sm: bool = False,
           ) -> tuple[FakeServer, FakePlatform, object, Recorder]:
    server, platform, app, rec = logged_in(trusted=trusted, sm=sm)
    room = server.muc.room("chess", "Chess club", "Openings today")
    server.muc.enter(room, "bob", "bob@example.org", "moderator", "owner")
    assert app.join_room(ROOM) == ROOM
    platform.run()
    return server, platform, app, rec


def test_room_addresses_and_mentions() -> None:
    assert room_address("Chess@Conference.Example.org") == "chess@conference.example.org"
    assert room_address("xmpp:boardgames@muc.xmpp.earth?join") == "boardgames@muc.xmpp.earth"
    assert room_address("xmpp:caf%C3%A9@muc.example?join") == "café@muc.example"
    for bad in ("", "muc.example", "room@muc.example/nick", "xmpp://x@y", "not a jid@"):
        assert room_address(bad) is None, bad
    assert names_nick("hey Alice, look", "alice")
    assert names_nick("alice: hi", "Alice")
    assert not names_nick("malice aforethought", "alice")
    assert not names_nick("", "alice")


def test_join_shows_occupants_subject_and_saves_a_bookmark() -> None:
    server, _platform, app, rec = joined()
    room = app.room(ROOM)
    assert room is not None
    assert room.state == "joined" and room.nick == "alice"
    assert sorted(room.occupants) == ["alice", "bob"]
    assert room.occupants["bob"].role == "moderator"
    assert room.subject == "Openings today"
    assert app.rooms_list() == [ROOM] and app.is_room(ROOM)
    join = next(p for p in server.stanzas("presence") if p.get("to") == f"{ROOM}/alice")
    x = join.find("x", MUC)
    assert x is not None and x.find("history", MUC) is not None
    # Bookmarked with autojoin (XEP-0048 private storage: no PEP compat here).
    assert "chess@conference.example.org" in server.private.get("storage", "")
    assert 'autojoin="true"' in server.private["storage"]
    assert ("rooms",) in rec.named("rooms") or rec.named("rooms")
    # Not a contact, not a 1:1 conversation.
    assert ROOM not in app.contacts and ROOM not in app.conversation_list()


def test_a_joined_room_is_titled_by_its_name() -> None:
    """The room's name (its disco#info identity) replaces the address's local
    part once joined; a room without one keeps the local part."""
    _server, _platform, app, _rec = joined()
    assert app.room(ROOM).name == "Chess club"
    server, platform, app, _rec = logged_in()
    server.muc.room("plain")
    app.join_room(f"plain@{MUC_DOMAIN}")
    platform.run()
    room = app.room(f"plain@{MUC_DOMAIN}")
    assert room.state == "joined" and room.name == "plain"


def test_messages_reflection_unread_and_mentions() -> None:
    server, platform, app, _rec = joined()
    room = server.muc.rooms[ROOM]
    mine = app.send_message(ROOM, "e4!")
    platform.run()
    assert mine is not None and mine.state == "server"
    assert bodies(app, ROOM) == ["e4!"]  # the reflection merged, not doubled
    assert next(a for a in room.archive if a[3] == "e4!")[4] == mine.id  # origin-id kept
    server.muc.say(room, "bob", "nice one alice")
    server.muc.say(room, "bob", "c5")
    platform.run()
    assert bodies(app, ROOM) == ["e4!", "nice one alice", "c5"]
    r = app.room(ROOM)
    assert app.unread(ROOM) == 2 and r.mentions == 1
    ms = app.messages(ROOM)
    assert [app.display_sender(ROOM, m) for m in ms] == ["alice", "bob", "bob"]
    assert [app.is_mention(ROOM, m) for m in ms] == [False, True, False]
    app.open_chat(ROOM)
    platform.run()
    assert app.unread(ROOM) == 0 and app.room(ROOM).mentions == 0


def test_join_errors_and_retries() -> None:
    server, platform, app, _rec = logged_in()
    taken = server.muc.room("taken")
    server.muc.enter(taken, "alice", "mallory@example.org")
    locked = server.muc.room("locked")
    locked.password = "secret"
    members = server.muc.room("members")
    members.members_only = True
    banned = server.muc.room("banned")
    banned.banned.add(ALICE)
    for local in ("taken", "locked", "members", "banned"):
        app.join_room(f"{local}@{MUC_DOMAIN}")
    platform.run()
    kinds = {local: app.room(f"{local}@{MUC_DOMAIN}").error_kind
             for local in ("taken", "locked", "members", "banned")}
    assert kinds == {"taken": "conflict", "locked": "password", "members": "members-only",
                     "banned": "banned"}
    assert "nickname" in app.room(f"taken@{MUC_DOMAIN}").error
    assert app.send_message(f"banned@{MUC_DOMAIN}", "let me in") is None
    app.join_room(f"taken@{MUC_DOMAIN}", "alice2")
    app.join_room(f"locked@{MUC_DOMAIN}", None, "secret")
    platform.run()
    assert app.room(f"taken@{MUC_DOMAIN}").state == "joined"
    assert app.room(f"taken@{MUC_DOMAIN}").nick == "alice2"
    assert app.room(f"locked@{MUC_DOMAIN}").state == "joined"


def test_not_a_room_address_is_a_notice() -> None:
    _server, _platform, app, rec = logged_in()
    assert app.join_room("conference.example.org") is None
    assert rec.named("notice")


def test_rejoin_after_a_drop_fills_the_gap_from_the_room_archive_once() -> None:
    server, platform, app, _rec = joined(trusted=True)
    room = server.muc.rooms[ROOM]
    server.muc.say(room, "bob", "before")
    platform.run()
    platform.connections[-1].drop()
    platform.run(timers=False)
    server.muc.drop_user(room)
    server.muc.say(room, "bob", "while away 1")
    server.muc.say(room, "bob", "while away 2")
    platform.advance(5)
    platform.run()
    assert app.state == "online"
    assert app.room(ROOM).state == "joined"
    assert bodies(app, ROOM) == ["before", "while away 1", "while away 2"]
    server.muc.say(room, "bob", "after")
    platform.run()
    assert bodies(app, ROOM) == ["before", "while away 1", "while away 2", "after"]


def test_missed_messages_naming_us_count_as_mentions() -> None:
    """Caught up from the room's archive after time away, a message naming us
    is a mention on the room's row, as it would have been live."""
    server, platform, app, rec = joined(trusted=True)
    room = server.muc.rooms[ROOM]
    server.muc.say(room, "bob", "before")
    platform.run()
    platform.connections[-1].drop()
    platform.run(timers=False)
    server.muc.drop_user(room)
    server.muc.say(room, "bob", "while away")
    server.muc.say(room, "bob", "alice, are you there?")
    rooms_events = len(rec.named("rooms"))
    platform.advance(5)
    platform.run()
    assert bodies(app, ROOM) == ["before", "while away", "alice, are you there?"]
    assert app.unread(ROOM) == 3  # the room is not open
    assert app.room(ROOM).mentions == 1
    assert len(rec.named("rooms")) > rooms_events
    app.open_chat(ROOM)
    assert app.room(ROOM).mentions == 0


def test_self_ping_after_resume_rejoins_a_dropped_room() -> None:
    server, platform, app, _rec = joined(sm=True)
    room = server.muc.rooms[ROOM]
    platform.connections[-1].drop()
    server.muc.drop_user(room)
    platform.advance(5)
    platform.run()
    assert app.state == "online" and [r[0] for r in server.resumes] == ["resumed"]
    assert app.room(ROOM).state == "joined"
    assert server.muc.joined.get(ROOM) == "alice"


def test_directory_lists_rooms_with_names_and_occupants() -> None:
    server, platform, app, rec = logged_in()
    server.muc.room("chess", "Chess club")
    go = server.muc.room("go", "Go")
    server.muc.enter(go, "bob", "bob@example.org")
    app.browse_rooms()
    platform.run()
    last = rec.named("directory")[-1]
    domain, state, rooms, error = last
    assert (domain, state, error) == ("example.org", "done", None)
    assert [(r.jid, r.name, r.occupants) for r in rooms] == [
        (f"chess@{MUC_DOMAIN}", "Chess club", 0), (f"go@{MUC_DOMAIN}", "Go", 1)
    ]
    app.browse_rooms("nowhere.invalid")
    platform.run()
    assert rec.named("directory")[-1][1] == "error"


def test_moderator_kicks_an_occupant() -> None:
    server, platform, app, _rec = logged_in()
    app.join_room(f"new@{MUC_DOMAIN}")  # a new room: we own it
    platform.run()
    room = server.muc.rooms[f"new@{MUC_DOMAIN}"]
    assert app.room(room.jid).is_owner and app.room(room.jid).is_moderator
    server.muc.enter(room, "troll", "troll@example.org")
    platform.run()
    assert "troll" in app.room(room.jid).occupants
    app.kick(room.jid, "troll", "bye")
    platform.run()
    assert "troll" not in app.room(room.jid).occupants


def test_a_big_room_is_one_room_event_when_joined_then_one_per_change() -> None:
    """The join burst (everyone's presence) emits no "room" event per
    occupant; joining emits one with all of them in. Later changes do."""
    server, platform, app, rec = logged_in()
    room = server.muc.room("big")
    for i in range(50):
        server.muc.enter(room, f"m{i:02d}", f"m{i}@example.org")
    app.join_room(room.jid)
    seen: list[tuple[str, int]] = []
    app.on("room", lambda bare: seen.append((app.room(bare).state, len(app.room(bare).occupants))))
    platform.run()
    assert app.room(room.jid).state == "joined" and len(app.room(room.jid).occupants) == 51
    assert seen and all(state != "joining" for state, _n in seen), seen
    assert len(seen) <= 3 and seen[-1] == ("joined", 51), seen
    before = len(seen)
    server.muc.enter(room, "late", "late@example.org")
    platform.run()
    assert seen[before:] == [("joined", 52)]
    server.muc.leave(room, "m00")
    platform.run()
    assert seen[-1] == ("joined", 51) and "m00" not in app.room(room.jid).occupants
    assert rec.named("room")


def test_leave_room() -> None:
    server, platform, app, _rec = joined()
    app.leave_room(ROOM)
    platform.run()
    assert server.muc.joined.get(ROOM) is None
    r = app.room(ROOM)
    assert r is None or r.state == "left"


def test_scrolling_up_pages_back_through_the_room_archive() -> None:
    server, platform, app, rec = logged_in()
    room = server.muc.room("big", "Big room")
    for i in range(80):
        server.muc.say(room, "bob", f"old {i:02d}")
    app.join_room(room.jid)
    platform.run()
    assert bodies(app, room.jid) == [f"old {i:02d}" for i in range(30, 80)]  # the newest 50
    app.open_chat(room.jid)
    platform.run()
    assert app.load_older(room.jid)
    platform.run()
    assert bodies(app, room.jid) == [f"old {i:02d}" for i in range(80)]
    asked = server.received[-1] if server.received else None
    assert asked is not None
    assert app.unread(room.jid) == 0  # history, not news
    assert rec.named("history")[-1] == (room.jid, False)  # nothing older
    assert not app.load_older(room.jid)
