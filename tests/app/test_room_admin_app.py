"""Room administration (app/room_admin.py) over the fake server's MUC service
(tests/app/fake_muc.py): creating and configuring rooms, members, invitations
both ways, nickname refusals, autojoin and forgetting a room."""

from __future__ import annotations

from roost.app.room_admin import RoomSettings, form_values, room_local, settings_from_form
from roost.xmpp.xeps.xep_0004 import Field

from tests.app.fake_muc import MUC_DOMAIN, MUC_USER
from tests.app.fakes import Recorder, logged_in

ROOM = f"team@{MUC_DOMAIN}"


def test_room_local_parts_from_names() -> None:
    assert room_local("Board games!") == "board-games"
    assert room_local("  Équipe / Ops  ") == "quipe-ops"
    assert room_local("a@b") == "a-b"
    assert room_local("???") == ""


def test_settings_map_to_the_forms_fields_and_back() -> None:
    fields = [
        Field("FORM_TYPE", "hidden", values=["http://jabber.org/protocol/muc#roomconfig"]),
        Field("muc#roomconfig_roomname", values=["Team"]),
        Field("muc#roomconfig_membersonly", "boolean", values=["1"]),
        Field("muc#roomconfig_whois", "list-single", values=["moderators"],
              options=[("m", "moderators"), ("a", "anyone")]),
        Field("muc#roomconfig_passwordprotectedroom", "boolean", values=["0"]),
        Field("muc#roomconfig_roomsecret", "text-private"),
    ]
    settings = settings_from_form(fields)
    assert settings.name == "Team" and settings.members_only is True
    assert settings.non_anonymous is False and settings.password == ""
    assert settings.public is None  # not in this form: not offered, not sent
    assert "public" not in settings.offered()
    settings.non_anonymous = True
    settings.password = "pw"
    settings.public = True
    values = form_values(settings, fields)
    assert values["muc#roomconfig_whois"] == "anyone"
    assert values["muc#roomconfig_passwordprotectedroom"] is True
    assert values["muc#roomconfig_roomsecret"] == "pw"
    assert "muc#roomconfig_publicroom" not in values
    settings.password = ""
    assert form_values(settings, fields)["muc#roomconfig_passwordprotectedroom"] is False


def test_create_a_room_with_settings_on_the_own_service() -> None:
    server, platform, app, rec = logged_in()
    admin = app.room_admin
    admin.discover_service()
    platform.run()
    assert admin.default_service() == MUC_DOMAIN  # found through disco#items/info
    settings = RoomSettings(name="Team room", members_only=True, public=False,
                            persistent=True, non_anonymous=True, password="")
    assert admin.create("team", settings) == ROOM
    platform.run()
    assert ("team@" + MUC_DOMAIN, "done", None) in rec.named("room_create")
    fake = server.muc.rooms[ROOM]
    assert fake.config["muc#roomconfig_roomname"] == "Team room"
    assert fake.config["muc#roomconfig_membersonly"] in ("1", "true")
    assert fake.config["muc#roomconfig_publicroom"] in ("0", "false")
    assert fake.config["muc#roomconfig_whois"] == "anyone"
    room = app.room(ROOM)
    assert room.state == "joined" and room.is_owner and room.name == "Team room"


def test_creating_a_room_that_exists_is_refused_before_joining() -> None:
    server, platform, app, rec = logged_in()
    server.muc.room("team", "Someone's team")
    assert app.room_admin.create("team", RoomSettings()) == ROOM
    platform.run()
    state, error = rec.named("room_create")[-1][1:]
    assert state == "error" and "already exists" in str(error)
    assert app.room(ROOM) is None  # not joined
    assert not any(p.get("to", "").startswith(ROOM) for p in server.stanzas("presence"))
    for bad in ("two words", "x/y"):
        assert app.room_admin.create(bad, RoomSettings()) is None
    assert "letters, digits" in str(rec.named("room_create")[-1][2])


def test_owner_reads_and_changes_settings() -> None:
    server, platform, app, rec = logged_in()
    app.join_room(ROOM)  # a new room: we own it
    platform.run()
    admin = app.room_admin
    admin.load_settings(ROOM)
    platform.run()
    room_js, state, settings, _error = rec.named("room_settings")[-1]
    assert room_js == ROOM and state == "ready"
    assert isinstance(settings, RoomSettings) and settings.members_only is False
    settings.members_only = True
    settings.password = "hunter2"
    settings.name = "Renamed"
    admin.save_settings(ROOM, settings)
    platform.run()
    assert rec.named("room_settings")[-1][1] == "saved"
    fake = server.muc.rooms[ROOM]
    assert fake.members_only and fake.password == "hunter2"
    assert app.room(ROOM).name == "Renamed"  # disco#info asked again
    assert "muc_membersonly" in admin.features[ROOM]


def test_members_are_listed_added_and_banned() -> None:
    server, platform, app, rec = logged_in()
    app.join_room(ROOM)
    platform.run()
    admin = app.room_admin
    admin.load_members(ROOM)
    platform.run()
    _room, state, members, _error = rec.named("room_members")[-1]
    assert state == "ready" and members["owner"] == ["alice@example.org"]
    assert admin.set_affiliation(ROOM, "carol@example.org", "member") is None
    platform.run()
    assert rec.named("room_members")[-1][2]["member"] == ["carol@example.org"]
    assert admin.set_affiliation(ROOM, "dave@example.org", "outcast", "spam") is None
    platform.run()
    assert "dave@example.org" in server.muc.rooms[ROOM].banned
    assert rec.named("room_members")[-1][2]["outcast"] == ["dave@example.org"]
    assert admin.set_affiliation(ROOM, "not an address", "member") is not None


def test_a_participant_may_not_list_members() -> None:
    server, platform, app, rec = logged_in()
    server.muc.room("chess", "Chess")
    app.join_room(f"chess@{MUC_DOMAIN}")
    platform.run()
    app.room_admin.load_members(f"chess@{MUC_DOMAIN}")
    platform.run()
    _room, state, _members, error = rec.named("room_members")[-1]
    assert state == "error" and "admins and owners" in str(error)


def test_invitations_received_are_listed_and_accepted_with_the_password() -> None:
    server, platform, app, rec = logged_in()
    chess = server.muc.room("chess", "Chess")
    chess.password = "knight"
    server.send(
        f'<message xmlns="jabber:client" from="bob@example.org/phone" to="{server.full}">'
        f'<x xmlns="jabber:x:conference" jid="chess@{MUC_DOMAIN}" reason="game?" '
        'password="knight"/></message>'
    )
    server.send(
        f'<message xmlns="jabber:client" from="go@{MUC_DOMAIN}" to="{server.full}">'
        f'<x xmlns="{MUC_USER}"><invite from="carol@example.org/pc"><reason>go!</reason>'
        "</invite></x></message>"
    )
    platform.run()
    invites = app.room_admin.invites
    assert [(i.room, i.inviter, i.direct) for i in invites] == [
        (f"go@{MUC_DOMAIN}", "carol@example.org", False),
        (f"chess@{MUC_DOMAIN}", "bob@example.org", True),
    ]
    assert rec.named("invites")
    assert app.room_admin.accept(f"chess@{MUC_DOMAIN}") == f"chess@{MUC_DOMAIN}"
    platform.run()
    assert app.room(f"chess@{MUC_DOMAIN}").state == "joined"  # the password worked
    app.room_admin.dismiss(f"go@{MUC_DOMAIN}")
    assert app.room_admin.invites == []


def test_sending_invitations_direct_or_through_a_members_only_room() -> None:
    server, platform, app, rec = logged_in()
    app.join_room(ROOM)
    platform.run()
    admin = app.room_admin
    assert admin.invite(ROOM, "bob@example.org", "join us") is None
    platform.run()
    direct = [m for m in server.stanzas("message") if m.get("to") == "bob@example.org"]
    assert direct and direct[-1].find("x", "jabber:x:conference").get("jid") == ROOM
    assert ("room_invite_sent", ROOM, "bob@example.org") in [
        ("room_invite_sent", *e) for e in rec.named("room_invite_sent")
    ]
    server.muc.rooms[ROOM].members_only = True
    app.rooms._refresh_info(ROOM)  # as after the room's settings change
    platform.run()
    assert admin.invite(ROOM, "xmpp:carol@example.org", None) is None
    platform.run()
    assert server.muc.rooms[ROOM].invited == [("carol@example.org", None)]
    assert "carol@example.org" in server.muc.rooms[ROOM].members
    assert admin.invite(ROOM, "nobody", None) is not None
    assert admin.invite(f"gone@{MUC_DOMAIN}", "bob@example.org") == "Join the room first."


def test_nick_change_refused_is_a_notice_and_autojoin_and_forget_write_bookmarks() -> None:
    server, platform, app, rec = logged_in()
    fake = server.muc.room("chess", "Chess")
    server.muc.enter(fake, "bob", "bob@example.org")
    bare = f"chess@{MUC_DOMAIN}"
    app.join_room(bare)
    platform.run()
    admin = app.room_admin
    assert admin.change_nick(bare, "  ") == "Enter a nickname."
    # The fake answers a presence to a taken nick with a conflict.
    assert admin.change_nick(bare, "bob") is None
    platform.run()
    assert any("already taken" in str(n[0]) for n in rec.named("notice"))
    assert app.room(bare).nick == "alice"
    assert 'autojoin="true"' in server.private["storage"]
    admin.set_autojoin(bare, False)
    platform.run()
    assert 'autojoin="false"' in server.private["storage"]
    admin.forget(bare)
    platform.run()
    assert bare not in server.private["storage"] and app.room(bare) is None
    assert bare not in app.rooms_list()


def test_recorder_knows_the_admin_events() -> None:
    assert {"invites", "room_settings", "room_create", "room_members"} <= set(Recorder.NAMES)


def test_a_configuration_change_renames_the_room() -> None:
    server, platform, app, _rec = logged_in()
    fake = server.muc.room("chess", "Chess")
    bare = f"chess@{MUC_DOMAIN}"
    app.join_room(bare)
    platform.run()
    fake.name = "Chess club"
    server.send(
        f'<message xmlns="jabber:client" type="groupchat" from="{bare}" to="{server.full}">'
        f'<x xmlns="{MUC_USER}"><status code="104"/></x></message>'
    )
    platform.run()
    assert app.room(bare).name == "Chess club"
