"""Issue 4 group chats against a real Prosody (mod_muc + mod_muc_mam on
conference.localhost, mod_bookmarks, mod_pep) over mod_websocket: rooms,
occupants, subjects, passwords, members-only, kicks and bans, the room
archive, the directory, bookmarks (XEP-0402 and the XEP-0048 view of them),
self-pings, and moderation (mod_muc_moderation from prosody-modules)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
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
    GroupchatReceived,
    IqDone,
    IqFailed,
    MessageModerated,
    NickChangeFailed,
    OccupantChanged,
    Online,
    RoomConfigForm,
    RoomInvite,
    RoomJoined,
    RoomJoinFailed,
    RoomLeft,
    RoomSubject,
    RosterLoaded,
    SelfPingResult,
)
from roost.xmpp.jid import JID
from roost.xmpp.xeps.xep_0402 import Bookmark
from roost.xmpp.xmlparse import parse_xml

from backend.devserver.prosody import ProsodyServer, demo_rosters
from tests.conftest import TEST_USERS, require
from tests.xmpp.test_live_prosody import Session

pytestmark = pytest.mark.integration

MUC = "conference.localhost"
MODERATION = Path("/usr/lib/prosody/modules/mod_muc_moderation/mod_muc_moderation.lua")


def online(url: str, user: str, **kw: Any) -> Session:
    session = Session(url, f"{user}@localhost", user, **kw)
    session.pump(Online)
    session.pump(RosterLoaded)
    return session


def wait(session: Session, kind: type, test: Callable[[Any], bool] = lambda e: True) -> Any:
    """The next event of `kind` that passes `test` (others of that kind are skipped)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        event = session.pump(kind, timeout=deadline - time.monotonic())
        if test(event):
            return event
    raise AssertionError(f"no {kind.__name__} in time")


def _receive(session: Session) -> None:
    text = session.ws.recv(timeout=10)
    assert isinstance(text, str)
    session.events.extend(session.client.receive(parse_xml(text)))
    session.flush()


def settle(session: Session, seconds: float = 0.3) -> None:
    """Handle whatever arrives for `seconds` (e.g. the server asking for our caps)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            text = session.ws.recv(timeout=left)
        except TimeoutError:
            return
        assert isinstance(text, str)
        session.events.extend(session.client.receive(parse_xml(text)))
        session.flush()


def answer(session: Session, query_id: str) -> Any:
    """The event answering request `query_id` (IqDone, IqFailed, a result)."""
    session.flush()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for event in session.events:
            if getattr(event, "query_id", None) == query_id:
                session.events.remove(event)
                return event
        _receive(session)
    raise AssertionError(f"no answer to {query_id}")


def archive(session: Session, query_id: str) -> list[Any]:
    """Every event up to the `ArchiveDone` of `query_id` (taken out of `events`)."""
    session.flush()
    got: list[Any] = []
    while True:
        while session.events:
            event = session.events.pop(0)
            got.append(event)
            if isinstance(event, ArchiveDone) and event.query_id == query_id:
                return got
        _receive(session)


def join(session: Session, room: str, nick: str, password: str | None = None) -> Any:
    """Join; return RoomJoined or RoomJoinFailed."""
    session.client.join_room(room, nick, password)
    session.flush()
    bare = JID.parse(room)

    def ours(event: Any) -> bool:
        return isinstance(event, (RoomJoined, RoomJoinFailed)) and event.room == bare

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for event in session.events:
            if ours(event):
                session.events.remove(event)
                return event
        _receive(session)
    raise AssertionError(f"no answer to joining {room}")


def create(session: Session, room: str, nick: str) -> None:
    joined = join(session, room, nick)
    assert isinstance(joined, RoomJoined) and joined.created, joined
    done = answer(session, session.client.submit_room_config(room, None))
    session.flush()
    assert isinstance(done, IqDone)


def configure(session: Session, room: str, values: dict[str, Any]) -> None:
    client = session.client
    form = answer(session, client.get_room_config(room))
    session.flush()
    assert isinstance(form, RoomConfigForm)
    known = {f.var for f in form.fields}
    assert set(values) <= known, set(values) - known
    done = answer(session, client.submit_room_config(room, values))
    session.flush()
    assert isinstance(done, IqDone), done


def features_known(session: Session, room: str) -> None:
    """Until the room's disco#info (asked at join) is in: only then are its
    XEP-0421 occupant ids believed (a message before that carries none)."""
    bare = JID.parse(room)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entry = session.client.rooms.get(bare)
        if entry is not None and entry.features:
            return
        _receive(session)
    raise AssertionError(f"no disco#info of {room}")


def said(session: Session, body: str) -> GroupchatReceived:
    event = wait(session, GroupchatReceived, lambda e: e.message.body == body)
    assert isinstance(event, GroupchatReceived)
    return event


def test_room_chat_subject_archive_and_directory(fresh_prosody: ProsodyServer) -> None:
    url = fresh_prosody.websocket_url
    room = f"lounge@{MUC}"
    alice = online(url, "alice")
    bob = online(url, "bob")
    create(alice, room, "Alice")
    joined = join(bob, room, "Bob")
    assert joined == RoomJoined(JID.parse(room), "Bob", False, [110])
    seen = wait(alice, OccupantChanged, lambda e: e.occupant.nick == "Bob")
    assert seen.available and seen.occupant.role == "participant"
    features_known(alice, room)
    features_known(bob, room)

    # Both chat; the room's stanza-id is the archive id on both sides.
    sent_id = alice.client.send_groupchat(room, "Hello <room> & all")
    alice.flush()
    at_bob = said(bob, "Hello <room> & all").message
    at_alice = said(alice, "Hello <room> & all").message
    assert at_bob.nick == "Alice" and not at_bob.own and at_bob.archive_id
    assert at_alice.own and at_alice.origin_id == sent_id
    assert at_alice.archive_id == at_bob.archive_id
    assert at_bob.occupant_id and at_bob.occupant_id == at_alice.occupant_id  # Prosody 0.12 has it
    bob.client.send_groupchat(room, "hi alice")
    bob.flush()
    reply = said(alice, "hi alice").message

    alice.client.set_subject(room, "Openings")
    alice.flush()
    assert wait(bob, RoomSubject, lambda e: e.subject == "Openings").nick == "Alice"

    # A nick that is taken.
    carol = online(url, "carol")
    failed = join(carol, room, "Bob")
    assert failed == RoomJoinFailed(JID.parse(room), "conflict", failed.text)
    # A nick change that is refused, then one that works.
    bob.client.change_nick(room, "Alice")
    bob.flush()
    assert wait(bob, NickChangeFailed).condition == "conflict"
    bob.client.change_nick(room, "Robert")
    bob.flush()
    renamed = wait(alice, OccupantChanged, lambda e: e.new_nick == "Robert")
    assert renamed.occupant.nick == "Bob" and 303 in renamed.codes
    wait(bob, OccupantChanged, lambda e: e.occupant.nick == "Robert" and e.available)
    assert bob.client.rooms[JID.parse(room)].nick == "Robert"

    # A private message through the room.
    bob.client.send_private(room, "Alice", "psst")
    bob.flush()
    private = wait(alice, ChatReceived, lambda e: e.message.body == "psst").message
    assert private.muc_private and private.from_jid == JID.parse(f"{room}/Robert")

    # The room's archive has both messages, with the same ids.
    query_id = bob.client.query_archive(room=room, before_last=True, max=10)
    got = archive(bob, query_id)
    pages = [e for e in got if isinstance(e, ArchiveMessage)]
    assert got[-1].complete
    bodies = [(p.message.nick, p.message.body) for p in pages]
    assert bodies == [("Alice", "Hello <room> & all"), ("Bob", "hi alice")]
    assert [p.archive_id for p in pages] == [at_bob.archive_id, reply.archive_id]
    assert all(p.room == JID.parse(room) for p in pages)

    # The directory: the service lists the room, the room tells its details.
    items = answer(alice, alice.client.disco_items(MUC))
    alice.flush()
    assert isinstance(items, DiscoItemsResult)
    assert JID.parse(room) in [jid for jid, _name, _node in items.items]
    configure(alice, room, {"muc#roomconfig_roomname": "The Lounge"})
    info = answer(alice, alice.client.disco_info(room))
    assert isinstance(info, DiscoInfoResult)
    assert ("conference", "text", "The Lounge") in info.identities
    assert info.form["muc#roominfo_occupants"] == ["2"]
    assert "urn:xmpp:occupant-id:0" in info.features

    # Forged stanzas from a person, sent straight to alice: refused.
    to_alice = str(alice.client.jid)  # groupchat to a bare JID isn't delivered
    forged_groupchat = Element("message", "jabber:client", {"to": to_alice, "type": "groupchat"})
    forged_groupchat.add("body", text="I am the room")
    forged_invite = Element("message", "jabber:client", {"to": to_alice})
    forged_invite.add("x", "http://jabber.org/protocol/muc#user").add("invite")
    for stanza in (forged_groupchat, forged_invite):
        carol.client._send(stanza)  # no public API sends such things, on purpose
    carol.flush()
    drops = [wait(alice, Dropped), wait(alice, Dropped)]
    assert all("carol@localhost" in d.reason for d in drops), drops

    # Invitations: direct, and relayed by the room.
    alice.client.invite(room, "carol@localhost", "come in")
    alice.client.invite(room, "carol@localhost", "via the room", mediated=True)
    alice.flush()
    invites = [wait(carol, RoomInvite), wait(carol, RoomInvite)]
    [direct] = [i for i in invites if i.direct]
    [mediated] = [i for i in invites if not i.direct]
    assert (direct.room, direct.reason) == (JID.parse(room), "come in")
    assert direct.inviter.bare == JID.parse("alice@localhost")
    assert mediated.room == JID.parse(room) and mediated.reason == "via the room"
    # A semi-anonymous room names the inviter by occupant JID, not account.
    assert mediated.inviter == JID.parse(f"{room}/Alice")

    bob.client.leave_room(room)
    bob.flush()
    assert wait(bob, RoomLeft).reason == "left"
    assert JID.parse(room) not in bob.client.rooms
    for session in (alice, bob, carol):
        session.close()


def test_password_members_only_kick_and_ban(fresh_prosody: ProsodyServer) -> None:
    url = fresh_prosody.websocket_url
    alice = online(url, "alice")
    bob = online(url, "bob")
    secret = f"secret@{MUC}"
    create(alice, secret, "Alice")
    configure(alice, secret, {"muc#roomconfig_roomsecret": "s3same"})
    assert join(bob, secret, "Bob").condition == "not-authorized"
    assert isinstance(join(bob, secret, "Bob", "s3same"), RoomJoined)

    club = f"club@{MUC}"
    create(alice, club, "Alice")
    configure(alice, club, {"muc#roomconfig_membersonly": True})
    assert join(bob, club, "Bob").condition == "registration-required"
    done = answer(alice, alice.client.set_affiliation(club, "bob@localhost", "member"))
    assert isinstance(done, IqDone)
    members = answer(alice, alice.client.get_affiliations(club, "member"))
    assert isinstance(members, AffiliationList)
    assert [jid for jid, _nick in members.items] == [JID.parse("bob@localhost")]
    assert isinstance(join(bob, club, "Bob"), RoomJoined)

    # Kicked: out, may come back. Banned: out, may not.
    assert isinstance(answer(alice, alice.client.set_role(club, "Bob", "none", "calm down")),
                      IqDone)
    kicked = wait(bob, RoomLeft)
    assert (kicked.reason, kicked.actor, kicked.text) == ("kicked", "Alice", "calm down")
    assert isinstance(join(bob, club, "Bob"), RoomJoined)
    # Only an owner or admin may ban.
    failed = answer(bob, bob.client.set_affiliation(secret, "alice@localhost", "outcast"))
    assert isinstance(failed, IqFailed) and failed.condition in ("forbidden", "not-allowed")
    banned_id = alice.client.set_affiliation(secret, "bob@localhost", "outcast", "enough")
    assert isinstance(answer(alice, banned_id), IqDone)
    banned = wait(bob, RoomLeft)
    assert (banned.room, banned.reason, banned.text) == (JID.parse(secret), "banned", "enough")
    assert join(bob, secret, "Bob", "s3same").condition == "forbidden"
    alice.close()
    bob.close()


def test_self_ping(fresh_prosody: ProsodyServer) -> None:
    url = fresh_prosody.websocket_url
    room = f"pinged@{MUC}"
    alice = online(url, "alice")
    create(alice, room, "Alice")
    assert answer(alice, alice.client.self_ping(room)).state == "joined"
    # As if the room had forgotten us: asking as a nick we don't hold there.
    bob = online(url, "bob")
    state = answer(bob, bob.client.self_ping(room, "Bob"))
    assert state == SelfPingResult(JID.parse(room), "not-joined", state.query_id)
    alice.close()
    bob.close()


def test_bookmarks(fresh_prosody: ProsodyServer) -> None:
    url = fresh_prosody.websocket_url
    room = JID.parse(f"lounge@{MUC}")
    # caps=True: our presence announces +notify, so the server sends changes.
    alice = online(url, "alice", caps=True)
    other = online(url, "alice", caps=True)  # a second client of the same account
    for session in (alice, other):
        settle(session)  # the server asks what our caps mean, once
    loaded = answer(alice, alice.client.get_bookmarks())
    assert loaded == BookmarksLoaded([], loaded.query_id, True)
    assert alice.client.bookmarks_pep is True
    bookmark = Bookmark(room, "The Lounge", "Alice", "pw", True)
    done = answer(alice, alice.client.set_bookmark(bookmark))
    assert isinstance(done, IqDone)
    for session in (alice, other):
        changed = wait(session, BookmarkChanged)
        assert changed == BookmarkChanged(room, bookmark)
    loaded = answer(other, other.client.get_bookmarks())
    assert loaded.bookmarks == [bookmark]
    # The XEP-0048 view of the same store (what older clients see).
    other.client.bookmarks_pep = False
    legacy = answer(other, other.client.get_bookmarks())
    assert legacy == BookmarksLoaded([bookmark], legacy.query_id, False)
    done = answer(alice, alice.client.remove_bookmark(room))
    assert isinstance(done, IqDone)
    assert wait(other, BookmarkChanged) == BookmarkChanged(room, None)
    assert answer(alice, alice.client.get_bookmarks()).bookmarks == []
    alice.close()
    other.close()


class ModerationProsody(ProsodyServer):
    """The fixture's Prosody: mod_muc_moderation is on its MUC component."""

    def write_config(self) -> None:
        super().write_config()
        assert '"muc_moderation"' in self.config_path.read_text()


@pytest.fixture
def moderation_prosody(tmp_path: Path) -> Iterator[ProsodyServer]:
    require(shutil.which("prosody") is not None, "Prosody (apt package prosody)")
    require(MODERATION.exists(), "mod_muc_moderation (apt package prosody-modules)")
    server = ModerationProsody(
        tmp_path / "prosody", users=TEST_USERS, rosters=demo_rosters("localhost")
    ).start()
    yield server
    server.stop()


def test_moderation(moderation_prosody: ProsodyServer) -> None:
    url = moderation_prosody.websocket_url
    room = f"moderated@{MUC}"
    alice = online(url, "alice")
    bob = online(url, "bob")
    create(alice, room, "Alice")
    assert isinstance(join(bob, room, "Bob"), RoomJoined)
    bob.client.send_groupchat(room, "buy cheap potions")
    bob.flush()
    spam = said(alice, "buy cheap potions").message
    assert spam.archive_id
    # Only moderators may.
    refused = answer(bob, bob.client.moderate(room, spam.archive_id))
    assert isinstance(refused, IqFailed) and refused.condition == "forbidden"
    done = answer(alice, alice.client.moderate(room, spam.archive_id, "spam"))
    assert isinstance(done, IqDone)
    for session in (alice, bob):
        moderated = wait(session, MessageModerated)
        assert (moderated.room, moderated.archive_id, moderated.reason) == (
            JID.parse(room), spam.archive_id, "spam"
        )
        assert moderated.moderator == f"{room}/Alice"
    # The archive keeps a tombstone (and the announcement), reported the same way.
    got = archive(bob, bob.client.query_archive(room=room))
    assert not [e for e in got if isinstance(e, ArchiveMessage)]
    tombstones = [e for e in got if isinstance(e, MessageModerated)]
    assert tombstones and {e.archive_id for e in tombstones} == {spam.archive_id}
    alice.close()
    bob.close()
