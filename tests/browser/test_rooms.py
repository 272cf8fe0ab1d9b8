"""Group chats (issue 4) end to end: the built bundle in Chromium, a real
`roost serve`, a private Prosody (conference.localhost: mod_muc with
muc_mam), slixmpp occupants (tests/support/threaded_peer.py) and a crowd of
lean ones (tests/support/muc_crowd.py)."""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.muc_crowd import Crowd
from tests.support.roost_page import (
    describe,
    login,
    poll,
    read_conversation,
    send_texts,
    sequence_problems,
    wait_main,
    wait_state,
)
from tests.support.threaded_peer import RoomError

pytestmark = pytest.mark.browser

TIMEOUT = 20_000
MUC = "conference.localhost"
ALICE = "alice@localhost"
XSS = "<img src=x onerror=window.__pwned=1>"


# -- reading and driving the page ------------------------------------------------
def rooms(page: Any) -> Any:
    return page.get_by_role("list", name="Rooms")


def room_row(page: Any, name: str) -> Any:
    return rooms(page).get_by_role("listitem", name=re.compile(rf"^{re.escape(name)}"))


def join_dialog(page: Any, address: str, nick: str | None = None,
                password: str | None = None) -> None:
    """Join through "Join a room": the dialog closes and the room opens."""
    page.get_by_role("button", name="Join a room").click()
    dialog = page.get_by_role("dialog", name="Join a room")
    dialog.get_by_label("Room address").fill(address)
    if nick is not None:
        dialog.get_by_label("Nickname").fill(nick)
    if password is not None:
        dialog.get_by_label("Password (if the room has one)").fill(password)
    dialog.get_by_role("button", name="Join", exact=True).click()
    expect(dialog).to_have_count(0, timeout=TIMEOUT)


def wait_joined(page: Any, room: str, timeout_ms: int = TIMEOUT) -> None:
    """Until the open room is joined: the composer takes text, no banner."""
    try:
        expect(page.get_by_role("textbox", name="Message")).to_be_enabled(timeout=timeout_ms)
        expect(page.locator("#room-banner")).to_be_hidden(timeout=timeout_ms)
    except AssertionError:
        raise AssertionError(
            f"{room} not joined after {timeout_ms / 1000:.0f} s: banner "
            f"{page.locator('#room-banner').text_content()!r}, title "
            f"{page.locator('#chat-title').text_content()!r}; {describe(page)}") from None


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


_ROWS_JS = """() => Array.from(document.querySelectorAll('#messages .msg')).map(r => {
  const nick = r.querySelector('.nick');
  const body = r.querySelector('.body');
  return {nick: nick ? nick.textContent : null, body: body ? body.textContent : '',
          out: r.classList.contains('out'), mention: r.classList.contains('mention')};
})"""


def rows(page: Any) -> list[dict[str, Any]]:
    """The message rows drawn in the open chat: nick, body, out, mention."""
    got: list[dict[str, Any]] = page.evaluate(_ROWS_JS)
    return got


def bodies(page: Any) -> list[str]:
    return [r["body"] for r in rows(page)]


def _mismatch(what: str, got: list[str], want: list[str]) -> str:
    doubled = sorted({b for b in got if got.count(b) > 1})
    missing = [b for b in want if b not in got]
    extra = [b for b in got if b not in want]
    return (f"{what}: expected {len(want)} {want[:3]}…{want[-3:]}, got {len(got)}: "
            f"missing {missing[:5]}, doubled {doubled[:5]}, unexpected {extra[:5]}, "
            f"first/last {got[:3]}…{got[-3:]}")


def wait_bodies(page: Any, want: list[str], timeout: float = 20.0, what: str = "",
                room: str | None = None) -> None:
    """Until the rows drawn are exactly `want` (in order, each once); with
    `room`, the app's whole conversation too (window.RoostDebug), where own
    messages must have reached the server (the room's reflection merged)."""
    if not poll(lambda: bodies(page) == want, timeout, page=page):
        raise AssertionError(
            f"{_mismatch(what or 'rows drawn', bodies(page), want)}; {describe(page)}")
    if room is None:
        return

    def held() -> list[Any]:
        source, got = read_conversation(page, room)
        assert source == "hook", source
        return got

    def app_ok() -> bool:
        got = held()
        return [r.body for r in got] == want and all(
            r.state == "server" for r in got if r.outgoing)

    if not poll(app_ok, 10, page=page):
        got = held()
        assert [r.body for r in got] == want, _mismatch(
            f"{what or 'room'} (the app's whole conversation)", [r.body for r in got], want)
        raise AssertionError(f"{what or 'room'}: own messages not confirmed by the room: "
                             f"{[r for r in got if r.outgoing and r.state != 'server']}")


def occupants(page: Any) -> dict[str, list[str]]:
    """The open room's occupants panel: group title → nicks (opens the panel)."""
    panel = page.get_by_role("complementary", name="Occupants")
    if panel.is_hidden():
        page.locator("#occupants-toggle").click()
    expect(panel).to_be_visible()
    got: dict[str, list[str]] = page.evaluate(
        """() => Object.fromEntries(Array.from(
              document.querySelectorAll('#occupants .occupant-group')).map(g => [
                g.querySelector('.occupant-group-title').textContent.replace(/ \\(\\d+\\)$/, ''),
                Array.from(g.querySelectorAll('.occupant-nick')).map(n => n.textContent)]))"""
    )
    return got


def close_occupants(page: Any) -> None:
    panel = page.get_by_role("complementary", name="Occupants")
    if panel.is_visible():
        panel.get_by_role("button", name="Close").click()


def new_alice(srv: Any, new_page: Any, trusted: bool = True) -> Any:
    page = new_page()
    login(page, srv.roost.url, ALICE, "alice", trusted=trusted)
    wait_main(page)
    return page


def no_errors(page: Any) -> None:
    assert page.errors.errors == [], f"page errors: {page.errors.errors}"


# -- 1. join by address; occupants, subject, messages both ways, mentions -----------
def test_join_by_address_chat_both_ways_and_mentions(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"lounge@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")  # makes the room: bob is its owner
    bob.set_subject(room, "Tonight: chess at 8")
    page = new_alice(srv, new_page)
    join_dialog(page, room)  # no nickname: the account's name, "alice"
    wait_joined(page, room)
    expect(page.locator("#chat-title")).to_have_text("lounge")
    expect(page.locator("#room-subject")).to_have_text("Tonight: chess at 8", timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    groups = occupants(page)
    assert groups.get("Moderators") == ["bob"] and groups.get("Participants") == ["alice"], groups
    panel = page.get_by_role("complementary", name="Occupants")
    assert "Owner" in (panel.get_by_role("listitem", name="bob").text_content() or "")
    assert "(you)" in (panel.get_by_role("listitem", name="alice").text_content() or "")
    assert panel.get_by_role("button", name=re.compile("^(Kick|Ban)")).count() == 0  # no moderator
    close_occupants(page)
    assert bob.wait_until(lambda: "alice" in bob.occupants(room), 10), bob.presences(room)
    assert bob.occupants(room)["alice"].role == "participant"

    # Both ways, each message once, in order; bob's under his nick.
    send(page, "hello room")
    assert bob.wait_until(lambda: bob.room_bodies(room, "alice") == ["hello room"], 10), (
        bob.room_bodies(room))
    bob.say(room, "evening all")
    wait_bodies(page, ["hello room", "evening all"])  # in this order, before she answers
    send(page, "how are you?")
    bob.say(room, "alice: your move")  # names her: a mention
    want = ["hello room", "evening all", "how are you?", "alice: your move"]
    wait_bodies(page, want, room=room)
    assert bob.wait_until(
        lambda: bob.room_bodies(room, "alice") == ["hello room", "how are you?"], 10
    ), bob.room_bodies(room)
    got = rows(page)
    assert [(r["nick"], r["out"]) for r in got] == [
        ("alice", True), ("bob", False), ("alice", True), ("bob", False)], got
    assert [r["mention"] for r in got] == [False, False, False, True], got
    expect(page.locator("#messages .msg.mention .mention-tag")).to_have_text("Mentions you")

    # With another chat open, a mention is counted on the room's row.
    page.get_by_role("list", name="Contacts").get_by_role(
        "listitem", name=re.compile(r"^Bob\b")).click()
    expect(page.locator("#chat-title")).to_have_text("Bob")
    bob.say(room, "just chatting")
    bob.say(room, "Alice, are you there?")
    row = room_row(page, "lounge")
    expect(row.get_by_label("1 mention")).to_have_text("@1", timeout=TIMEOUT)
    expect(row.get_by_label("2 unread")).to_have_text("2")
    row.get_by_role("button").click()
    wait_bodies(page, [*want, "just chatting", "Alice, are you there?"], room=room)
    assert [r["mention"] for r in rows(page)][-2:] == [False, True]
    expect(room_row(page, "lounge").locator(".badge")).to_have_count(0)

    # Occupants come, change nick and go; the subject changes.
    carol = srv.peer("carol", "pc")
    carol.join_room(room, "carol")
    expect(page.get_by_role("button", name="Occupants (3)")).to_be_visible(timeout=TIMEOUT)
    carol.change_nick(room, "caroline")
    occupants(page)
    expect(page.locator("#occupants .occupant-nick", has_text="caroline")).to_have_count(
        1, timeout=TIMEOUT)
    groups = occupants(page)
    assert sorted(groups.get("Participants", [])) == ["alice", "caroline"], groups
    close_occupants(page)
    carol.leave_room(room, "caroline")
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    bob.set_subject(room, "Tomorrow: go")
    expect(page.locator("#room-subject")).to_have_text("Tomorrow: go", timeout=TIMEOUT)

    # bob (owner) removes her: she reads why, and can join again.
    bob.set_role(room, "alice", "none", "take a break")
    expect(page.locator("#room-error")).to_have_text(
        "You were removed from this room. (take a break)", timeout=TIMEOUT)
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(room_row(page, "lounge")).to_contain_text("Removed")
    page.get_by_role("button", name="Join again").click()
    wait_joined(page, room)
    assert bob.wait_until(lambda: "alice" in bob.occupants(room), 10), bob.presences(room)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    no_errors(page)


# -- 2. nickname taken: the error, then another nickname ----------------------------
def test_nickname_taken_then_another_one(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"nicks@{MUC}"
    carol = srv.peer("carol", "pc")
    carol.join_room(room, "alice")  # carol took the nick alice would use
    page = new_alice(srv, new_page)
    join_dialog(page, room)
    error = page.locator("#room-error")
    expect(error).to_have_text(re.compile("nickname is already taken", re.I), timeout=TIMEOUT)
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(room_row(page, "nicks")).to_contain_text("Couldn't join")
    field = page.get_by_label("New nickname")
    expect(field).to_have_value("alice")
    field.fill("alice_w")
    page.get_by_role("button", name="Try again").click()
    wait_joined(page, room)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    groups = occupants(page)
    everyone = sorted(n for nicks in groups.values() for n in nicks)
    assert everyone == ["alice", "alice_w"], groups
    me = page.get_by_role("complementary", name="Occupants").get_by_role(
        "listitem", name="alice_w")
    assert "(you)" in (me.text_content() or "")
    close_occupants(page)
    send(page, "it's me, the other alice")
    assert carol.wait_until(
        lambda: carol.room_bodies(room, "alice_w") == ["it's me, the other alice"], 10
    ), carol.room_said

    # Leaving: out of the room, and not joined again at the next login.
    page.get_by_role("button", name="Leave").click()
    assert carol.wait_until(lambda: "alice_w" not in carol.occupants(room), 10), (
        carol.presences(room)[-3:])
    expect(page.locator("#chat-title")).to_have_text("No conversation open")
    page.get_by_role("button", name="Log out").click()
    login(page, srv.roost.url, ALICE, "alice", trusted=True)
    wait_main(page)
    page.wait_for_timeout(1500)  # an autojoin would have happened by now
    assert "alice_w" not in carol.occupants(room), carol.presences(room)[-3:]
    row = room_row(page, "nicks")
    if row.count():
        expect(row).to_contain_text("Not joined")
    no_errors(page)


# -- 3. password-protected and members-only rooms ------------------------------------
def test_password_and_members_only_rooms(private: Any, new_page: Any) -> None:
    srv = private()
    secret, club = f"secret@{MUC}", f"club@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(secret, "bob")
    bob.configure_room(secret, {"muc#roomconfig_roomsecret": "s3same"})
    bob.join_room(club, "bob")
    bob.configure_room(club, {"muc#roomconfig_membersonly": True})
    # The rooms are set up as meant: another client is refused too.
    carol = srv.peer("carol", "pc")
    for where, condition in ((secret, "not-authorized"), (club, "registration-required")):
        with pytest.raises(RoomError) as refused:
            carol.join_room(where, "carol")
        assert refused.value.condition == condition, (where, refused.value)
    page = new_alice(srv, new_page)

    join_dialog(page, secret)  # no password
    error = page.locator("#room-error")
    expect(error).to_have_text(re.compile("needs a password", re.I), timeout=TIMEOUT)
    password = page.get_by_label("Room password")
    expect(password).to_have_attribute("type", "password")
    password.fill("wrong")
    page.get_by_role("button", name="Try again").click()
    expect(error).to_have_text(re.compile("needs a password", re.I), timeout=TIMEOUT)
    page.get_by_label("Room password").fill("s3same")
    page.get_by_role("button", name="Try again").click()
    wait_joined(page, secret)
    assert bob.wait_until(lambda: "alice" in bob.occupants(secret), 10), bob.presences(secret)

    join_dialog(page, club)
    expect(page.locator("#chat-title")).to_have_text("club")
    expect(error).to_have_text(re.compile("for members only", re.I), timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    assert "alice" not in bob.occupants(club)
    # Once bob makes her a member, joining works.
    bob.set_affiliation(club, ALICE, "member")
    join_dialog(page, club)
    wait_joined(page, club)
    assert bob.wait_until(lambda: "alice" in bob.occupants(club), 10), bob.presences(club)

    # Logged out (she leaves both) and in again: both are joined again by
    # themselves (bookmarks), the password room with the password she gave.
    page.get_by_role("button", name="Log out").click()
    assert bob.wait_until(lambda: "alice" not in bob.occupants(secret)
                          and "alice" not in bob.occupants(club), 10), bob.presences(secret)
    login(page, srv.roost.url, ALICE, "alice", trusted=True)
    wait_main(page)
    assert bob.wait_until(lambda: "alice" in bob.occupants(secret)
                          and "alice" in bob.occupants(club), 20), (
        f"not back in both rooms: {bob.presences(secret)[-2:]} {bob.presences(club)[-2:]}; "
        f"rooms {rooms(page).text_content()!r}")
    no_errors(page)


# -- 4. room history: the archive on join, after a reload, and time away ---------------
def test_room_history_once_across_reload_and_time_away(private: Any, new_page: Any) -> None:
    """30 messages before alice joins come from the room's archive; a reload
    (trusted device, XEP-0198 session resumed) and a longer absence (the
    session gone: she left the room, a fresh one joins again) each bring what
    bob wrote meanwhile, once. A short hibernation keeps the absence short."""
    srv = private(smacks_hibernation_time=4)
    room = f"history@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    before = [f"before {i:02d}" for i in range(30)]
    bob.say_many(room, before)
    assert bob.wait_until(lambda: len(bob.room_bodies(room)) == 30, 15), bob.room_bodies(room)
    page = new_alice(srv, new_page)
    join_dialog(page, room)
    wait_joined(page, room)
    wait_bodies(page, before, what="history on joining", room=room)
    assert {r["nick"] for r in rows(page)} == {"bob"}
    send(page, "read it all")
    bob.say(room, "welcome back")
    want = [*before, "read it all", "welcome back"]
    wait_bodies(page, want, what="after chatting", room=room)
    page.wait_for_timeout(600)  # the store's batched write

    # A reload, bob writing meanwhile: logged in again, the room is joined
    # again by itself (bookmark autojoin).
    page.reload()
    during = ["during the reload 1", "during the reload 2"]
    bob.say_many(room, during)
    login(page, None, ALICE, "alice", trusted=True)
    wait_main(page)
    expect(room_row(page, "history")).to_be_visible(timeout=TIMEOUT)
    expect(room_row(page, "history").get_by_label("2 unread")).to_be_visible(timeout=TIMEOUT)
    # Its stored conversation is listed as a room, not among the contacts
    # (before the bookmarks come it can't be told from a stranger's chat).
    contacts = page.get_by_role("list", name="Contacts")
    expect(contacts).not_to_contain_text(room, timeout=5_000)
    room_row(page, "history").get_by_role("button").click()
    wait_joined(page, room)
    want += during
    page.wait_for_timeout(1000)  # a late copy (archive, resumed stream) would show by now
    wait_bodies(page, want, what="after a reload", room=room)
    assert bob.wait_until(lambda: "alice" in bob.occupants(room), 10), bob.presences(room)

    # Away: the page is closed until her session ends (she leaves the room);
    # bob writes; back, each of them once.
    page.wait_for_timeout(600)
    page.goto("about:blank")
    assert bob.wait_until(lambda: "alice" not in bob.occupants(room), 30), (
        "alice still in the room after her page closed", bob.presences(room)[-3:])
    away = [*(f"while away {i}" for i in range(4)), "alice, call me when you're back"]
    bob.say_many(room, away)
    assert bob.wait_until(lambda: bob.room_bodies(room)[-5:] == away, 10)
    login(page, srv.roost.url, ALICE, "alice", trusted=True)
    wait_main(page)
    expect(room_row(page, "history").get_by_label("5 unread")).to_be_visible(timeout=TIMEOUT)
    # The one naming her, written while she was away, counts as a mention too.
    expect(room_row(page, "history").get_by_label("1 mention")).to_be_visible()
    expect(contacts).not_to_contain_text(room, timeout=5_000)
    room_row(page, "history").get_by_role("button").click()
    wait_joined(page, room)
    page.wait_for_timeout(1000)
    wait_bodies(page, [*want, *away], what="after time away", room=room)
    assert [r["mention"] for r in rows(page)][-5:] == [False] * 4 + [True]
    # The reload resumed her session (no leave); the absence ended it.
    alice_seen = [p.type for p in bob.presences(room) if p.nick == "alice"]
    assert alice_seen.count("unavailable") == 1, alice_seen
    no_errors(page)


# -- 5. the room directory -----------------------------------------------------------
def test_browse_filter_and_join_from_the_directory(private: Any, new_page: Any) -> None:
    srv = private()
    bob, carol = srv.peer("bob", "pc"), srv.peer("carol", "pc")
    games, chess, hidden = f"boardgames@{MUC}", f"chess@{MUC}", f"hidden@{MUC}"
    bob.join_room(games, "bob")
    bob.configure_room(games, {"muc#roomconfig_roomname": "Board games",
                               "muc#roomconfig_roomdesc": "Carcassonne, Catan and friends"})
    carol.join_room(games, "carol")
    bob.join_room(chess, "bob")
    bob.configure_room(chess, {"muc#roomconfig_roomname": "Chess club"})
    bob.join_room(hidden, "bob")
    bob.configure_room(hidden, {"muc#roomconfig_publicroom": False})
    page = new_alice(srv, new_page)
    page.get_by_role("button", name="Browse rooms").click()
    dialog = page.get_by_role("dialog", name="Browse rooms")
    found = dialog.get_by_role("list", name="Rooms found")
    status = dialog.get_by_role("status")
    expect(status).to_have_text("2 rooms on localhost.", timeout=TIMEOUT)
    expect(found.get_by_role("listitem")).to_have_count(2)
    assert [it.get_attribute("data-room") for it in found.get_by_role("listitem").all()] == [
        games, chess]  # by name; the hidden room is not listed
    board = found.get_by_role("listitem", name="Board games")
    text = board.text_content() or ""
    assert games in text and "2 people" in text and "Catan" in text, text
    assert "1 person" in (found.get_by_role("listitem", name="Chess club").text_content() or "")
    filter_box = dialog.get_by_label("Filter")
    filter_box.fill("CHESS")
    expect(found.get_by_role("listitem")).to_have_count(1)
    expect(found.get_by_role("listitem", name="Chess club")).to_be_visible()
    expect(status).to_have_text("2 rooms on localhost. 1 matches the filter.")
    filter_box.fill("catan")  # the description counts too
    expect(found.get_by_role("listitem")).to_have_count(1)
    filter_box.fill("")
    expect(found.get_by_role("listitem")).to_have_count(2)
    found.get_by_role("button", name="Join Board games").click()
    expect(dialog).to_have_count(0)
    wait_joined(page, games)
    expect(page.locator("#chat-title")).to_have_text("Board games", timeout=TIMEOUT)
    expect(page.locator("#room-subject")).to_be_hidden()
    expect(page.get_by_role("button", name="Occupants (3)")).to_be_visible(timeout=TIMEOUT)
    assert bob.wait_until(lambda: "alice" in bob.occupants(games), 10), bob.presences(games)
    # An xmpp: join link (the location hash) joins and opens the room too.
    page.evaluate(f"() => {{ location.hash = '#xmpp:{chess}?join'; }}")
    expect(page.locator("#chat-title")).to_have_text("Chess club", timeout=TIMEOUT)
    wait_joined(page, chess)
    assert bob.wait_until(lambda: "alice" in bob.occupants(chess), 10), bob.presences(chess)
    assert page.evaluate("location.hash") == ""
    no_errors(page)


# -- 6. a moderator kicks -----------------------------------------------------------
def test_owner_kicks_an_occupant(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"newroom@{MUC}"
    page = new_alice(srv, new_page)
    join_dialog(page, room)  # no such room: she makes it and owns it
    wait_joined(page, room)
    groups = occupants(page)
    assert groups.get("Moderators") == ["alice"], groups
    panel = page.get_by_role("complementary", name="Occupants")
    assert "Owner" in (panel.get_by_role("listitem", name="alice").text_content() or "")
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")  # the room was set up for others to join
    expect(panel.get_by_role("listitem", name="bob")).to_be_visible(timeout=TIMEOUT)
    panel.get_by_role("button", name="Kick bob").click()
    confirm = page.get_by_role("dialog", name="Kick bob?")
    confirm.get_by_label("Reason (optional)").fill("too loud")
    confirm.get_by_role("button", name="Kick", exact=True).click()
    expect(confirm).to_have_count(0)

    def kicked() -> bool:
        return any(p.nick == "bob" and p.type == "unavailable" and {"110", "307"} <= p.codes
                   for p in bob.presences(room))

    assert bob.wait_until(kicked, 10), f"bob was not kicked: {bob.presences(room)}"
    assert [p.reason for p in bob.presences(room) if "307" in p.codes] == ["too loud"]
    expect(panel.get_by_role("listitem", name="bob")).to_have_count(0, timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Occupants (1)")).to_be_visible()

    # He comes back; she sets the subject, then bans him: he can't come back.
    bob.join_room(room, "bob")
    expect(panel.get_by_role("listitem", name="bob")).to_be_visible(timeout=TIMEOUT)
    panel.get_by_label("Room subject").fill("No shouting")
    panel.get_by_role("button", name="Set subject").click()
    assert bob.wait_until(lambda: any(m.subject == "No shouting" for m in bob.room_said), 10), (
        bob.room_said)
    expect(page.locator("#room-subject")).to_have_text("No shouting", timeout=TIMEOUT)
    panel.get_by_role("button", name="Ban bob").click()
    page.get_by_role("dialog", name="Ban bob?").get_by_role(
        "button", name="Ban", exact=True).click()

    def banned() -> bool:
        return any(p.nick == "bob" and p.type == "unavailable" and "301" in p.codes
                   for p in bob.presences(room))

    assert bob.wait_until(banned, 10), f"bob was not banned: {bob.presences(room)[-3:]}"
    expect(panel.get_by_role("listitem", name="bob")).to_have_count(0, timeout=TIMEOUT)
    with pytest.raises(RoomError) as refused:
        bob.join_room(room, "bob")
    assert refused.value.condition == "forbidden"
    no_errors(page)


# -- 7. staying joined across a server restart --------------------------------------
def test_back_in_the_room_after_a_server_restart(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"sturdy@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    page = new_alice(srv, new_page)
    join_dialog(page, room)
    wait_joined(page, room)
    bob.say(room, "before the restart")
    wait_bodies(page, ["before the restart"], room=room)
    # The composer is disabled while the room isn't joined; the app may be back
    # within a fraction of a second, so the page itself records that moment.
    page.evaluate("""() => {
        const box = document.getElementById('composer-text');
        window.__composerDisabled = false;
        new MutationObserver(() => { if (box.disabled) window.__composerDisabled = true; })
            .observe(box, {attributes: true, attributeFilter: ['disabled']});
    }""")
    srv.prosody.restart()  # every session is gone; the room stays (persistent)
    bob.stop()
    page.wait_for_function("() => window.__composerDisabled === true", timeout=TIMEOUT)
    bob2 = srv.peer("bob", "pc2")
    bob2.join_room(room, "bob")
    # The app logs in again by itself and joins the room again.
    assert bob2.wait_until(lambda: "alice" in bob2.occupants(room), 45), (
        f"alice did not come back to the room: {bob2.presences(room)}; {describe(page)}")
    wait_joined(page, room)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    bob2.say(room, "after the restart")
    send(page, "still here")
    wait_bodies(page, ["before the restart", "after the restart", "still here"],
                what="after the restart", room=room)
    assert bob2.wait_until(lambda: bob2.room_bodies(room, "alice") == ["still here"], 10)
    no_errors(page)


# -- 8. a big room ----------------------------------------------------------------
CROWD = 500
HISTORY = 500


def test_a_room_of_500_occupants_and_500_messages(private: Any, new_page: Any) -> None:
    """500 occupants (lean connections of carol's, tests/support/muc_crowd.py;
    joining them costs Prosody O(n²) presences: ~15 s here) and 500 messages
    of history: alice joins, sees the newest history (the room archive's
    last page) and everyone in the occupants list; scrolling up brings the
    older history."""
    srv = private()
    room = f"crowded@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    history = [f"history {i:03d}" for i in range(HISTORY)]
    bob.say_many(room, history)
    assert bob.wait_until(lambda: len(bob.room_bodies(room)) == HISTORY, 30)
    crowd = Crowd(srv.prosody.c2s_port, "carol", "carol", srv.prosody.domain)
    try:
        took = crowd.join(room, [f"guest{i:03d}" for i in range(CROWD)])
        assert bob.wait_until(lambda: len(bob.occupants(room)) == CROWD + 1, 30), (
            len(bob.occupants(room)))
        page = new_alice(srv, new_page)
        t0 = time.monotonic()
        join_dialog(page, room)
        wait_joined(page, room, timeout_ms=30_000)
        expect(page.get_by_role("button", name=f"Occupants ({CROWD + 2})")).to_be_visible(
            timeout=30_000)
        wait_bodies(page, history[-50:], timeout=30, what="the newest history")
        joined_in = time.monotonic() - t0
        groups = occupants(page)
        nicks = [n for g in groups.values() for n in g]
        assert len(nicks) == CROWD + 2 and len(set(nicks)) == CROWD + 2, len(nicks)
        assert {f"guest{i:03d}" for i in range(CROWD)} <= set(nicks)
        close_occupants(page)
        # Scrolling up pages the room's archive back to its first message.
        log = page.locator("#messages")
        for _ in range(80):
            if page.get_by_text("history 000", exact=True).count():
                break
            log.evaluate("el => { el.scrollTop = 0; }")
            page.wait_for_timeout(150)
        shown = bodies(page)
        assert "history 000" in shown, (
            f"scrolling up did not reach the first message; oldest shown {shown[:3]}, "
            f"{len(shown)} rows; {describe(page)}")
        numbers = [int(b.split()[1]) for b in shown if b.startswith("history ")]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers[:20]
        print(f"crowd of {CROWD} joined in {took:.1f} s; alice in, history and occupants "
              f"shown in {joined_in:.1f} s")
        no_errors(page)
    finally:
        crowd.close()


# -- 9. hostile nicks, bodies, subjects and room names are text ---------------------
def test_markup_in_nicks_bodies_subject_and_name_stays_text(
    private: Any, new_page: Any
) -> None:
    srv = private()
    room = f"evil@{MUC}"
    mallory = srv.peer("bob", "pc")
    mallory.join_room(room, XSS)
    mallory.configure_room(room, {"muc#roomconfig_roomname": XSS})
    mallory.set_subject(room, XSS)
    mallory.say(room, XSS)
    page = new_alice(srv, new_page, trusted=False)  # memory only: the same rows
    join_dialog(page, room)
    wait_joined(page, room)
    wait_bodies(page, [XSS])
    mallory.say(room, f"alice {XSS}")
    wait_bodies(page, [XSS, f"alice {XSS}"], room=room)
    assert [r["nick"] for r in rows(page)] == [XSS, XSS]
    expect(page.locator("#chat-title")).to_have_text(XSS)
    expect(page.locator("#room-subject")).to_have_text(XSS)
    groups = occupants(page)
    assert XSS in [n for g in groups.values() for n in g], groups
    expect(room_row(page, XSS)).to_have_count(1)
    page.get_by_role("button", name="Browse rooms").click()
    found = page.get_by_role("dialog", name="Browse rooms").get_by_role("list", name="Rooms found")
    expect(found.get_by_role("listitem", name=XSS)).to_have_count(1, timeout=TIMEOUT)
    page.wait_for_timeout(300)  # an injected image would have failed to load by now
    injected = page.locator("#main-screen img, dialog img, #rooms img")
    assert injected.count() == 0, injected.evaluate_all("els => els.map(e => e.outerHTML)")
    assert page.evaluate("() => window.__pwned") is None
    no_errors(page)


# -- beyond the list: history racing live messages, and connection drops -------------
def test_messages_during_the_join_are_neither_lost_nor_doubled(
    private: Any, new_page: Any
) -> None:
    """bob keeps writing while alice joins: the room archive's last page and
    the live messages overlap; each shows once, in the room's order."""
    srv = private()
    room = f"busy@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    old = [f"old {i:02d}" for i in range(60)]
    bob.say_many(room, old)
    assert bob.wait_until(lambda: len(bob.room_bodies(room)) == 60, 15)
    page = new_alice(srv, new_page)
    live = [f"live {i:03d}" for i in range(80)]

    def talk() -> None:
        for body in live:
            bob.say(room, body)
            time.sleep(0.025)

    talker = threading.Thread(target=talk)
    talker.start()
    try:
        time.sleep(0.3)
        join_dialog(page, room)
        wait_joined(page, room)
    finally:
        talker.join()
    assert bob.wait_until(lambda: bob.room_bodies(room)[-1:] == live[-1:], 10)
    page.wait_for_timeout(1000)  # a late copy would show by now
    shown = bodies(page)
    # The newest 50 of the archive when it was asked, then everything live.
    start = next((i for i, b in enumerate(old) if b in shown), len(old))
    first_live = next((i for i, b in enumerate(live) if b in shown), 0)
    assert old[start:] and start >= 60 - 50, shown[:5]
    wait_bodies(page, [*old[start:], *live[first_live:]], what="history and live", room=room)
    assert first_live == 0 or old[start:] == [], (first_live, shown[:3])
    no_errors(page)


def test_room_messages_across_connection_drops(private: Any, new_page: Any) -> None:
    """12 cuts of the browser's XMPP connection (chaos proxy) while both
    write, some of alice's while she is cut off (the outbox): bob gets each
    of hers once, in order; she has each of his and hers once, in order."""
    srv = private(chaos=True)
    chaos = srv.chaos
    assert chaos is not None
    room = f"lossy@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    page = new_alice(srv, new_page)
    join_dialog(page, room)
    wait_joined(page, room)
    rng = random.Random(7)
    mine: list[str] = []
    his: list[str] = []
    for k in range(12):
        assert wait_state(page, "online", 45), f"not back online after cut {k}: {describe(page)}"
        page.wait_for_timeout(rng.uniform(0, 300))
        texts = [f"a{k}-{i}" for i in range(5)]
        mine += texts[:send_texts(page, texts)]
        his += [f"b{k}-{i}" for i in range(5)]
        bob.say_many(room, his[-5:])
        page.wait_for_timeout(rng.uniform(0, 200))
        chaos.drop_all()
        if rng.random() < 0.5:
            texts = [f"a{k}-cut{i}" for i in range(3)]
            mine += texts[:send_texts(page, texts)]
    assert wait_state(page, "online", 45), describe(page)
    assert bob.wait_until(lambda: bob.room_bodies(room, "alice")[-1:] == mine[-1:], 30), (
        f"bob did not get alice's last message; {srv.evidence()}")
    page.wait_for_timeout(2000)  # late copies would show by now
    at_bob = [(b, "") for b in bob.room_bodies(room, "alice")]
    problems = sequence_problems("bob, alice's messages", at_bob, mine)
    _source, held = read_conversation(page, room)
    got = [(r.body, r.id) for r in held]
    problems += sequence_problems("alice, bob's messages",
                                  [g for g in got if g[0].startswith("b")], his)
    problems += sequence_problems("alice, her own messages",
                                  [g for g in got if g[0].startswith("a")], mine)
    unconfirmed = [r for r in held if r.outgoing and r.state != "server"]
    if unconfirmed:
        problems.append(f"own messages not confirmed by the room: {unconfirmed[:5]}")
    assert not problems, "\n".join([*problems, srv.evidence()])
    no_errors(page)
