"""roost.ui's group chats against a small fake app in Chromium: the Rooms list,
joining (form, errors, retries, xmpp: links), the room pane (subject,
occupants, nicks, mentions, kick/ban), the directory, keyboard use and the
phone layout.

The fake app is test_ui_browser.py's, with the room API the view codes
against (docs/architecture.md, "Rooms"); it records the calls the view makes,
and the test emits the app's events.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.platform.conftest import PageLog

FAKE_APP = """
from browser import window
from roost.platform.jsdata import to_js, to_py
from roost.ui.view import ChatView
from roost.platform import boot, errors, timers
from roost.platform.storage import open_storage
from roost.platform.tabs import TabLock
from roost.app.store import MessageStore
errors.install()

class Contact:
    def __init__(self, jid, name=None, show="offline"):
        self.jid, self.name, self.show, self.ask = jid, name, show, None
    @property
    def display_name(self):
        return self.name or self.jid

class Occupant:
    def __init__(self, nick, role="participant", affiliation="none", jid=None, show="online"):
        self.nick, self.role, self.affiliation, self.jid, self.show = (
            nick, role, affiliation, jid, show)

class Room:
    def __init__(self, jid, nick):
        self.jid, self.name, self.nick = jid, jid.split("@")[0], nick
        self.state, self.error, self.error_kind, self.subject = "joining", None, None, ""
        self.occupants, self.mentions = {}, 0
        self.bookmarked = self.autojoin = self.is_moderator = self.is_owner = False

class Info:
    def __init__(self, jid, name, description="", occupants=None):
        self.jid, self.name, self.description, self.occupants = jid, name, description, occupants

class Platform:
    config = {"default_domain": "localhost"}

class FakeE2E:
    state = "untrusted"
    manager = None
    def conversation_opened(self, jid): pass
    def room_encryption_on(self, jid): return False

class FakeApp:
    def __init__(self):
        self.subs = {}
        self.calls = []
        self.contacts = {}
        self.rooms = {}
        self.platform = Platform()
        self.store = MessageStore(open_storage("alice@localhost", False), timers.call_later,
                                  timers.cancel)
        self.store.load()
        self.stamp = 1700000000.0
        self.requests = {}
        self.own_jid = None
        self.active = None
        self.can_retry = False
        self.online = True
        self.state = "offline"
        self.peers_typing = {}
        self.e2e = FakeE2E()  # an untrusted session: no OMEMO (tests/browser/test_omemo.py has it)
    def on(self, name, cb):
        self.subs.setdefault(name, []).append(cb)
    def emit(self, name, *args):
        for cb in self.subs.get(name, []):
            cb(*args)
    def _call(self, *args):
        self.calls.append(list(args))
        window.calls = to_js(self.calls)
    def login(self, address, password, trusted): self._call("login", address, password, trusted)
    def retry(self): self._call("retry")
    def logout(self):
        self._call("logout")
        self.state = "offline"
        self.emit("state", "offline", "")
    def open_chat(self, bare):
        self._call("open_chat", bare)
        self.active = bare
        self.store.set_unread(bare, 0)
        if bare in self.rooms:
            self.rooms[bare].mentions = 0
        self.emit("loaded", bare)
    def add(self, bare, sender, body, outgoing, state):
        self.stamp += 1
        m, _ = self.store.add(bare, sender, body, self.stamp, id="m%d" % self.stamp,
                              outgoing=outgoing, state=state)
        return m
    def send_message(self, bare, text):
        self._call("send_message", bare, text)
        m = self.add(bare, "alice@localhost", text, True, "sent")
        self.emit("messages", bare, [m])
        return m
    def unread(self, bare):
        return 0 if bare == self.active else self.store.unread(bare)
    def preview(self, bare): return self.store.preview(bare)
    def conversation_list(self): return self.store.conversations()
    def load_older(self, bare): return False
    def fill_gap(self, bare, stamp, seq): return False
    def step_aside(self): pass
    def flush_storage(self): pass
    def set_visible(self, visible): pass
    def set_network(self, up): pass
    def typing(self, bare): pass
    # -- rooms ------------------------------------------------------------
    def rooms_list(self): return list(self.rooms)
    def room(self, jid): return self.rooms.get(jid)
    def is_room(self, bare): return bare in self.rooms
    def join_room(self, address, nick=None, password=None):
        self._call("join_room", address, nick, password)
        jid = address[5:].split("?")[0] if address.startswith("xmpp:") else address
        if "@" not in jid or "/" in jid:
            self.emit("notice", "That is not a room address: " + address)
            return None
        room = self.rooms.get(jid) or Room(jid, "alice")
        room.nick = nick or room.nick
        room.state, room.error, room.error_kind = "joining", None, None
        self.rooms[jid] = room
        self.emit("room", jid)
        self.emit("rooms")
        return jid
    def leave_room(self, jid):
        self._call("leave_room", jid)
        self.rooms.pop(jid, None)
        self.emit("rooms")
    def display_sender(self, jid, m):
        return self.rooms[jid].nick if m.outgoing else m.sender
    def is_mention(self, jid, m):
        return not m.outgoing and self.rooms[jid].nick.lower() in m.body.lower()
    def browse_rooms(self, domain=None): self._call("browse_rooms", domain)
    def kick(self, jid, nick, reason=None): self._call("kick", jid, nick, reason)
    def ban(self, jid, nick, reason=None): self._call("ban", jid, nick, reason)
    def set_subject(self, jid, subject): self._call("set_subject", jid, subject)
    # Private chats with occupants and message removal (app/rooms.py).
    def is_private(self, key): return "/" in key
    def open_private(self, jid, nick):
        self._call("open_private", jid, nick)
        return jid + "/" + nick
    def conversation_title(self, key):
        jid, nick = key.split("/", 1)
        return nick + " (in " + (self.rooms[jid].name if jid in self.rooms else jid) + ")"
    def private_occupant(self, key):
        jid, nick = key.split("/", 1)
        return self.rooms[jid].occupants.get(nick) if jid in self.rooms else None
    def can_moderate(self, jid, m):
        room = self.rooms.get(jid)
        return bool(room and room.is_moderator and m.archive_id and not m.retracted)
    def moderate_message(self, jid, key, reason=None):
        self._call("moderate_message", jid, [key[0], key[1]], reason)
        return True

app = FakeApp()
view = ChatView(app, TabLock())
boot.set_ready()
window.calls = to_js([])

def go_online():
    app.own_jid = "alice@localhost"
    app.state = "online"
    app.emit("state", "connecting", "")
    app.emit("state", "online", "")
    app.contacts["bob@localhost"] = Contact("bob@localhost", "Bob Builder", "online")
    app.emit("roster")

def set_room(jid, fields):
    room = app.rooms.get(jid)
    if room is None:
        room = app.rooms[jid] = Room(jid, "alice")
    for key, value in to_py(fields).items():
        setattr(room, key, value)
    app.emit("room", jid)
    app.emit("rooms")

def add_occupant(jid, nick, role="participant", affiliation="none", real=None, show="online"):
    app.rooms[jid].occupants[nick] = Occupant(nick, role, affiliation, real, show)
    app.emit("room", jid)

def room_message(jid, nick, body, outgoing=False):
    m = app.add(jid, "alice@localhost" if outgoing else nick, body, outgoing,
                "sent" if outgoing else "received")
    if app.active != jid and not outgoing:
        app.store.set_unread(jid, app.store.unread(jid) + 1)
        if app.is_mention(jid, m):
            app.rooms[jid].mentions += 1
    app.emit("messages", jid, [m])

def directory(domain, state, rooms, error=None):
    infos = [Info(r["jid"], r["name"], r.get("description", ""), r.get("occupants"))
             for r in to_py(rooms)]
    app.emit("directory", domain, state, infos, error)

window.go_online = go_online
window.set_room = set_room
window.add_occupant = add_occupant
window.room_message = room_message
window.directory = directory
window.results = to_js({"ready": True})
"""

XSS = "<img src=x onerror=window.pwned=1>"
ROOM = "boardgames@muc.xmpp.earth"


@pytest.fixture
def ui(make_page: Callable[..., str], page: tuple[Any, PageLog]) -> tuple[Any, PageLog]:
    pg, log = page
    pg.goto(make_page("t-rooms-ui", FAKE_APP))
    pg.wait_for_function("() => window.results && window.results.ready", timeout=20_000)
    return pg, log


@pytest.fixture
def online(ui: tuple[Any, PageLog]) -> tuple[Any, PageLog]:
    pg, _ = ui
    pg.evaluate("() => window.go_online()")
    pg.get_by_role("list", name="Contacts").wait_for()
    return ui


def calls(pg: Any) -> list[list[Any]]:
    result: list[list[Any]] = pg.evaluate("() => window.calls")
    return result


def set_room(pg: Any, jid: str, **fields: Any) -> None:
    pg.evaluate("([j, f]) => window.set_room(j, f)", [jid, fields])


def occupant(
    pg: Any,
    jid: str,
    nick: str,
    role: str = "participant",
    aff: str = "none",
    real: str | None = None,
    show: str = "online",
) -> None:
    pg.evaluate(
        "([j, n, r, a, x, s]) => window.add_occupant(j, n, r, a, x, s)",
        [jid, nick, role, aff, real, show],
    )


def room_message(pg: Any, jid: str, nick: str, body: str, outgoing: bool = False) -> None:
    pg.evaluate("([j, n, b, o]) => window.room_message(j, n, b, o)", [jid, nick, body, outgoing])


def next_frame(pg: Any) -> None:
    """Lists are redrawn at most once per frame: wait for one (and its redraw)."""
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")


def no_horizontal_overflow(pg: Any, width: int) -> None:
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    overflowing = pg.evaluate(
        """() => Array.from(document.querySelectorAll(
              '.topbar, .contacts-pane, .chat-header, .room-banner, .chat-body, .composer,'
              + ' .occupants-panel, dialog[open], dialog[open] li'))
            .filter(e => e.offsetParent !== null || e.tagName === 'DIALOG')
            .filter(e => e.scrollWidth > e.clientWidth + 1
                         || e.getBoundingClientRect().right > innerWidth + 0.5)
            .map(e => e.className || e.id || e.tagName)"""
    )
    assert overflowing == []


def test_rooms_section_lists_rooms_with_state_and_badges(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    section = pg.get_by_role("region", name="Rooms")
    assert section.get_by_role("button", name="Join a room").is_visible()
    assert section.get_by_role("button", name="Browse rooms").is_visible()
    set_room(pg, ROOM, state="joined", name="Board games")
    set_room(pg, "slow@muc.example", state="joining")
    set_room(
        pg,
        "taken@muc.example",
        state="error",
        error_kind="conflict",
        error="That nickname is already taken in this room.",
    )
    set_room(pg, "evil@muc.example", state="joined", name=XSS)
    for body in ("hi all", "alice, your move", "@Alice?"):
        room_message(pg, ROOM, "bob", body)
    next_frame(pg)
    rooms = pg.get_by_role("list", name="Rooms")
    assert rooms.get_by_role("listitem").count() == 4
    games = rooms.get_by_role("listitem", name="Board games")
    assert ROOM in (games.text_content() or "")
    assert games.get_by_label("2 mentions").text_content() == "@2"
    assert games.get_by_label("3 unread").text_content() == "3"
    # Read out with the row: its address, state and counts.
    expect(games.get_by_role("button")).to_have_accessible_description(
        f"{ROOM} 2 mentions 3 unread"
    )
    assert "Joining…" in (rooms.get_by_role("listitem", name="slow").text_content() or "")
    taken = rooms.get_by_role("button", name="taken")
    assert "Couldn't join" in (taken.text_content() or "")
    # Hostile room names are text.
    assert rooms.get_by_role("listitem", name=XSS).count() == 1
    assert pg.locator("#rooms img").count() == 0
    assert pg.evaluate("() => window.pwned") is None
    # Rooms are not listed again among the contacts.
    assert pg.get_by_role("list", name="Contacts").get_by_role("listitem").count() == 1
    # Opening a room: its badges go, the row is marked current.
    games.get_by_role("button").click()
    assert calls(pg)[-1] == ["open_chat", ROOM]
    next_frame(pg)
    button = rooms.get_by_role("button", name="Board games")
    assert button.get_attribute("aria-current") == "true"
    assert button.locator(".badge").count() == 0
    assert log.errors == []


def test_join_form_calls_join_room_and_opens_the_room(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    pg.get_by_role("button", name="Join a room").click()
    dialog = pg.get_by_role("dialog", name="Join a room")
    address = dialog.get_by_label("Room address")
    assert address.evaluate("e => e === document.activeElement")
    nick = dialog.get_by_label("Nickname")
    assert nick.get_attribute("placeholder") == "alice"  # the account's local part
    assert "alice" in (dialog.locator("#join-nick-hint").text_content() or "")
    # Not a room: the app's reason, in the dialog, which stays open.
    address.fill("just-a-server.example")
    dialog.get_by_role("button", name="Join").click()
    assert calls(pg)[-1] == ["join_room", "just-a-server.example", None, None]
    assert dialog.get_by_role("alert").text_content() == (
        "That is not a room address: just-a-server.example"
    )
    assert pg.locator("#notice").is_hidden()
    # A room, with a nick and a password.
    address.fill(f" {ROOM} ")
    nick.fill("Alice W")
    dialog.get_by_label("Password (if the room has one)").fill("s3cret")
    dialog.get_by_role("button", name="Join").click()
    assert calls(pg)[-2:] == [["join_room", ROOM, "Alice W", "s3cret"], ["open_chat", ROOM]]
    assert dialog.count() == 0  # closed, and out of the page
    assert pg.locator("#chat-title").text_content() == "boardgames"
    assert pg.locator("#room-status").text_content() == "Joining the room…"
    assert pg.get_by_role("textbox", name="Message").is_disabled()
    assert pg.locator("#occupants-toggle").is_hidden()
    set_room(pg, ROOM, state="joined")
    next_frame(pg)
    assert pg.locator("#room-banner").is_hidden()
    composer = pg.get_by_role("textbox", name="Message")
    assert composer.is_enabled()
    assert composer.evaluate("e => e === document.activeElement")  # in: ready to write
    assert pg.get_by_role("button", name="Occupants (0)").is_visible()
    # Empty nickname and password: None, the app's defaults.
    pg.get_by_role("button", name="Join a room").click()
    dialog.get_by_label("Room address").fill("xmpp:chess@muc.example?join")
    dialog.get_by_label("Room address").press("Enter")
    assert calls(pg)[-2] == ["join_room", "xmpp:chess@muc.example?join", None, None]
    # The login form's fields are still the only "Address" and "Password"
    # (once the dialog, closed by that Enter, is out of the page).
    expect(dialog).to_have_count(0)
    assert pg.get_by_label("Address").count() == 1
    assert pg.get_by_label("Password").count() == 1
    assert log.errors == []


def test_failed_join_shows_the_error_and_retries(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    set_room(pg, ROOM, state="joining", nick="alice")
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames").click()
    alert = pg.locator("#room-error")
    assert alert.get_attribute("role") == "alert"
    # Nickname taken: a new one, and "Try again".
    set_room(
        pg,
        ROOM,
        state="error",
        error_kind="conflict",
        error="That nickname is already taken in this room.",
    )
    next_frame(pg)
    assert alert.text_content() == "That nickname is already taken in this room."
    assert pg.get_by_role("textbox", name="Message").is_disabled()
    field = pg.get_by_label("New nickname")
    assert field.input_value() == "alice"
    assert field.evaluate("e => e === document.activeElement")
    field.fill("alice2")
    pg.get_by_role("button", name="Try again").click()
    assert calls(pg)[-1] == ["join_room", ROOM, "alice2", None]
    next_frame(pg)
    assert pg.locator("#room-status").text_content() == "Joining the room…"
    assert alert.text_content() == ""
    assert pg.get_by_label("New nickname").count() == 0
    # Wrong password: the password, and "Try again".
    set_room(
        pg,
        ROOM,
        state="error",
        error_kind="password",
        error="This room needs a password, and that one was wrong.",
    )
    next_frame(pg)
    assert alert.text_content() == "This room needs a password, and that one was wrong."
    password = pg.get_by_label("Room password")
    assert password.get_attribute("type") == "password"
    before = len(calls(pg))
    pg.get_by_role("button", name="Try again").click()  # empty: not sent
    assert len(calls(pg)) == before
    assert password.evaluate("e => e === document.activeElement")
    password.fill("open sesame")
    password.press("Enter")
    assert calls(pg)[-1] == ["join_room", ROOM, "alice2", "open sesame"]
    # Unreachable: just "Try again"; members-only / not found / banned: no retry.
    set_room(
        pg,
        ROOM,
        state="error",
        error_kind="unreachable",
        error="The room's server can't be reached.",
    )
    next_frame(pg)
    assert pg.locator("#room-retry input").count() == 0
    pg.get_by_role("button", name="Try again").click()
    assert calls(pg)[-1] == ["join_room", ROOM, "alice2", None]
    for kind, text in (
        ("members-only", "This room is for members only."),
        ("not-found", "That room does not exist."),
        ("banned", "You are banned from this room."),
    ):
        set_room(pg, ROOM, state="error", error_kind=kind, error=text)
        next_frame(pg)
        assert alert.text_content() == text
        assert pg.get_by_role("button", name="Try again").count() == 0
    banned = pg.get_by_role("list", name="Rooms").get_by_role("listitem", name="boardgames")
    assert "Banned" in (banned.text_content() or "")
    # Kicked: "Join again".
    set_room(pg, ROOM, state="error", error_kind="kicked", error="You were removed: spam.")
    next_frame(pg)
    pg.get_by_role("button", name="Join again").click()
    assert calls(pg)[-1] == ["join_room", ROOM, "alice2", None]
    # A bookmarked room not joined: "Join".
    set_room(pg, ROOM, state="left", bookmarked=True)
    next_frame(pg)
    assert pg.locator("#room-status").text_content() == "You are not in this room."
    assert alert.text_content() == ""
    pg.get_by_role("button", name="Join", exact=True).click()
    assert calls(pg)[-1] == ["join_room", ROOM, "alice2", None]
    assert log.errors == []


def test_room_pane_header_subject_and_occupants(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    subject = "Tonight: Carcassonne at 8. " * 10
    set_room(pg, ROOM, state="joined", name="Board games", subject=subject)
    occupant(pg, ROOM, "alice", "participant", "member", None, "online")
    occupant(pg, ROOM, "Olga", "moderator", "owner", "olga@xmpp.earth/phone", "online")
    occupant(pg, ROOM, "zed", "participant", "none", None, "away")
    occupant(pg, ROOM, XSS, "visitor", "none", None, "dnd")
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="Board games").click()
    assert pg.locator("#chat-title").text_content() == "Board games"
    shown = pg.locator("#room-subject")
    assert shown.text_content() == subject.strip()
    assert shown.get_attribute("title") == subject.strip()
    box = shown.bounding_box()
    assert box is not None and box["height"] < 30  # one line, cut short
    toggle = pg.get_by_role("button", name="Occupants (4)")
    assert toggle.get_attribute("aria-expanded") == "false"
    panel = pg.get_by_role("complementary", name="Occupants")
    assert panel.is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert panel.is_visible()
    groups = panel.locator(".occupant-group-title").all_text_contents()
    assert groups == ["Moderators (1)", "Participants (2)", "Visitors (1)"]
    olga = panel.get_by_role("list", name="Moderators (1)").get_by_role("listitem", name="Olga")
    text = olga.text_content() or ""
    assert "Owner" in text and "Online" in text and "olga@xmpp.earth" in text
    assert "phone" not in text  # the person's address, not the device's
    me = panel.get_by_role("listitem", name="alice", exact=True)
    assert "(you)" in (me.text_content() or "") and "Member" in (me.text_content() or "")
    assert "Away" in (panel.get_by_role("listitem", name="zed").text_content() or "")
    assert panel.get_by_role("listitem", name=XSS).count() == 1
    assert panel.locator("img, script").count() == 0
    assert panel.get_by_role("button", name="Kick").count() == 0  # not a moderator
    assert pg.locator("#subject-form").is_hidden()
    # A new occupant shows up (redrawn once per frame), the count too.
    occupant(pg, ROOM, "newbie")
    next_frame(pg)
    assert pg.get_by_role("button", name="Occupants (5)").is_visible()
    assert panel.get_by_role("listitem", name="newbie").count() == 1
    # Escape closes the list and gives the focus back to the toggle.
    panel.get_by_role("button", name="Close").focus()
    pg.keyboard.press("Escape")
    assert panel.is_hidden()
    assert pg.locator("#occupants-toggle").evaluate("e => e === document.activeElement")
    # Leave: the app is told, and no conversation is open any more.
    pg.get_by_role("button", name="Leave").click()
    assert calls(pg)[-1] == ["leave_room", ROOM]
    assert pg.locator("#chat-title").text_content() == "No conversation open"
    assert pg.locator("#room-actions").is_hidden()
    next_frame(pg)
    assert pg.get_by_role("list", name="Rooms").get_by_role("listitem").count() == 0
    assert log.errors == []


def test_room_messages_show_nicks_as_text_and_mark_mentions(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    set_room(pg, ROOM, state="joined", nick="alice")
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames").click()
    room_message(pg, ROOM, XSS, "hello everyone")
    room_message(pg, ROOM, "bob", "Alice: your turn")
    room_message(pg, ROOM, "alice", "coming", outgoing=True)
    messages = pg.get_by_role("log", name="Messages")
    rows = messages.locator(".msg")
    assert rows.count() == 3
    assert messages.locator(".nick").all_text_contents() == [XSS, "bob", "alice"]
    assert messages.locator("img, script, svg").count() == 0
    assert pg.evaluate("() => window.pwned") is None
    mention = rows.nth(1)
    assert "mention" in (mention.get_attribute("class") or "")
    assert mention.locator(".mention-tag").text_content() == "Mentions you"
    assert messages.locator(".msg.mention").count() == 1
    # A 1:1 chat's rows are as before: no nick, no mention.
    pg.get_by_role("button", name="Bob Builder").click()
    pg.get_by_role("textbox", name="Message").fill("alice here")
    pg.get_by_role("textbox", name="Message").press("Enter")
    assert messages.locator(".msg").count() == 1
    assert messages.locator(".nick, .mention, .mention-tag").count() == 0
    assert pg.locator("#room-actions").is_hidden()
    assert pg.locator("#chat-title").text_content() == "Bob Builder"
    assert log.errors == []


def test_moderators_kick_and_ban_after_confirming(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    set_room(pg, ROOM, state="joined", nick="alice", is_moderator=True, subject="old")
    occupant(pg, ROOM, "alice", "moderator", "admin")
    occupant(pg, ROOM, "mallory", "participant", "none")
    occupant(pg, ROOM, "Olga", "moderator", "owner")
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames").click()
    pg.get_by_role("button", name="Occupants (3)").click()
    panel = pg.get_by_role("complementary", name="Occupants")
    # Nobody kicks themselves, and an owner can't be kicked.
    assert panel.get_by_role("button", name="Kick").count() == 1
    olga = panel.get_by_role("listitem", name="Olga")
    assert olga.get_by_role("button", name=re.compile("^(Kick|Ban)")).count() == 0
    assert olga.get_by_role("button", name="Message Olga").count() == 1  # a private chat
    panel.get_by_role("listitem", name="mallory").locator(".occupant-nick").click()
    assert pg.get_by_role("dialog").count() == 0  # only the buttons act
    kick = panel.get_by_role("button", name="Kick mallory")
    kick.click()
    dialog = pg.get_by_role("dialog", name="Kick mallory?")
    assert dialog.is_visible()
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.count() == 0
    assert calls(pg)[-1] == ["open_chat", ROOM]  # nothing sent
    assert kick.evaluate("e => e === document.activeElement")  # focus back where it was
    kick.click()
    dialog.get_by_label("Reason (optional)").fill("spam")
    dialog.get_by_role("button", name="Kick", exact=True).click()
    assert calls(pg)[-1] == ["kick", ROOM, "mallory", "spam"]
    panel.get_by_role("button", name="Ban mallory").click()
    ban = pg.get_by_role("dialog", name="Ban mallory?")
    assert "can't come back" in (ban.text_content() or "")
    ban.get_by_role("button", name="Ban", exact=True).click()
    assert calls(pg)[-1] == ["ban", ROOM, "mallory", None]
    # Moderators may set the subject.
    field = panel.get_by_label("Room subject")
    assert field.input_value() == "old"
    field.fill("Game night")
    panel.get_by_role("button", name="Set subject").click()
    assert calls(pg)[-1] == ["set_subject", ROOM, "Game night"]
    assert log.errors == []


def test_directory_lists_progressively_filters_and_joins(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    pg.get_by_role("button", name="Browse rooms").click()
    dialog = pg.get_by_role("dialog", name="Browse rooms")
    assert calls(pg)[-1] == ["browse_rooms", None]  # one's own server, at once
    assert dialog.get_by_label("Server").evaluate("e => e === document.activeElement")
    status = dialog.get_by_role("status")
    assert status.text_content() == "Looking for rooms on your server…"
    assert "busy" in (status.get_attribute("class") or "")
    found = dialog.get_by_role("list", name="Rooms found")
    assert found.get_attribute("aria-busy") == "true"
    rooms = [
        {
            "jid": "boardgames@conference.localhost",
            "name": "Board games",
            "description": "Carcassonne, Catan and friends",
            "occupants": 12,
        },
        {"jid": "chess@conference.localhost", "name": "Chess", "description": "", "occupants": 1},
    ]
    pg.evaluate("(r) => window.directory('localhost', 'loading', r)", rooms)
    next_frame(pg)
    assert found.get_by_role("listitem").count() == 2
    assert status.text_content() == "Looking for rooms on localhost…"
    games = found.get_by_role("listitem", name="Board games")
    text = games.text_content() or ""
    assert "boardgames@conference.localhost" in text and "12 people" in text
    assert "Carcassonne" in text
    rooms.append(
        {
            "jid": "x@conference.localhost",
            "name": XSS,
            "description": "<script>window.pwned=1</script>",
            "occupants": None,
        }
    )
    pg.evaluate("(r) => window.directory('localhost', 'done', r)", rooms)
    next_frame(pg)
    assert found.get_by_role("listitem").count() == 3
    assert status.text_content() == "3 rooms on localhost."
    assert "busy" not in (status.get_attribute("class") or "")
    assert found.get_attribute("aria-busy") == "false"
    assert found.locator("img, script").count() == 0
    assert pg.evaluate("() => window.pwned") is None
    # The filter: name, address or description, as one types.
    search = dialog.get_by_label("Filter")
    search.fill("CATAN")
    assert found.get_by_role("listitem").count() == 1
    assert status.text_content() == "3 rooms on localhost. 1 matches the filter."
    search.fill("chess@")
    assert [r.get_attribute("data-room") for r in found.get_by_role("listitem").all()] == [
        "chess@conference.localhost"
    ]
    search.fill("")
    assert found.get_by_role("listitem").count() == 3
    # Join from the list: the room opens, the directory closes.
    found.get_by_role("button", name="Join Board games").click()
    assert calls(pg)[-2:] == [
        ["join_room", "boardgames@conference.localhost", None, None],
        ["open_chat", "boardgames@conference.localhost"],
    ]
    assert dialog.count() == 0
    assert pg.locator("#chat-title").text_content() == "boardgames"
    # Another server, which fails; the last results stay until then.
    pg.get_by_role("button", name="Browse rooms").click()
    assert found.get_by_role("listitem").count() == 3
    dialog.get_by_label("Server").fill("example.org")
    dialog.get_by_role("button", name="List rooms").click()
    assert calls(pg)[-1] == ["browse_rooms", "example.org"]
    assert status.text_content() == "Looking for rooms on example.org…"
    assert found.get_by_role("listitem").count() == 0
    # A late answer about the previous server is not mixed in.
    pg.evaluate("(r) => window.directory('localhost', 'done', r)", rooms)
    pg.evaluate("() => window.directory('example.org', 'error', [], \"Can't reach example.org.\")")
    next_frame(pg)
    assert dialog.get_by_role("alert").text_content() == "Can't reach example.org."
    assert found.get_by_role("listitem").count() == 0
    dialog.get_by_role("button", name="Close").click()
    assert dialog.count() == 0
    assert log.errors == []


def test_keyboard_reaches_and_uses_the_room_controls(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    set_room(pg, ROOM, state="joined", is_moderator=True)
    occupant(pg, ROOM, "alice", "moderator", "owner")
    occupant(pg, ROOM, "mallory")
    next_frame(pg)
    join = pg.get_by_role("button", name="Join a room")
    join.focus()
    pg.keyboard.press("Tab")
    assert pg.get_by_role("button", name="Browse rooms").evaluate(
        "e => e === document.activeElement"
    )
    pg.keyboard.press("Tab")
    assert pg.get_by_role("button", name="New room").evaluate(
        "e => e === document.activeElement"
    )
    pg.keyboard.press("Tab")  # past the (empty) invitations
    room_button = pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames")
    assert room_button.evaluate("e => e === document.activeElement")
    # The join dialog by keyboard: opens on Enter, Escape closes it, focus comes back.
    join.focus()
    pg.keyboard.press("Enter")
    dialog = pg.get_by_role("dialog", name="Join a room")
    assert dialog.get_by_label("Room address").evaluate("e => e === document.activeElement")
    pg.keyboard.press("Escape")
    assert dialog.count() == 0
    assert join.evaluate("e => e === document.activeElement")
    # A room, its occupants, a kick: all by keyboard.
    room_button.focus()
    pg.keyboard.press("Enter")
    assert calls(pg)[-1] == ["open_chat", ROOM]
    toggle = pg.get_by_role("button", name="Occupants (2)")
    toggle.focus()
    pg.keyboard.press("Space")
    assert toggle.get_attribute("aria-expanded") == "true"
    kick = pg.get_by_role("button", name="Kick mallory")
    kick.focus()
    pg.keyboard.press("Enter")
    reason = pg.get_by_role("dialog", name="Kick mallory?").get_by_label("Reason (optional)")
    assert reason.evaluate("e => e === document.activeElement")
    pg.keyboard.type("flooding")
    pg.keyboard.press("Enter")
    assert calls(pg)[-1] == ["kick", ROOM, "mallory", "flooding"]
    assert log.errors == []


def test_phone_width_nothing_overflows(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    pg.set_viewport_size({"width": 375, "height": 740})
    long = "averyveryverylongroomnamewithoutanyspacesatall" * 3
    jid = f"{long}@muc.averyverylongdomainname.example"
    set_room(pg, jid, state="joined", name=long, subject="A subject " * 30, mentions=3)
    set_room(pg, ROOM, state="error", error_kind="conflict", error="That nickname is taken.")
    occupant(pg, jid, "alice", "moderator", "owner")
    occupant(pg, jid, long, "participant", "member", f"{long}@example.org", "away")
    set_room(pg, jid, is_moderator=True)
    next_frame(pg)
    no_horizontal_overflow(pg, 375)
    pg.get_by_role("list", name="Rooms").get_by_role("button", name=long[:40]).click()
    assert pg.get_by_role("log", name="Messages").is_visible()
    room_message(pg, jid, long, "x" * 300)
    no_horizontal_overflow(pg, 375)
    assert pg.get_by_role("button", name="Leave").is_visible()
    pg.get_by_role("button", name="Occupants (2)").click()
    # The occupants cover the messages on a phone.
    panel = pg.get_by_role("complementary", name="Occupants").bounding_box()
    log_box = pg.get_by_role("log", name="Messages").bounding_box()
    assert panel is not None and log_box is not None
    assert panel["x"] <= log_box["x"] + 1 and panel["width"] >= log_box["width"] - 1
    assert pg.get_by_role("button", name=f"Kick {long}").is_visible()
    no_horizontal_overflow(pg, 375)
    pg.get_by_role("button", name="Back").click()
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames").click()
    assert pg.get_by_label("New nickname").is_visible()
    no_horizontal_overflow(pg, 375)
    pg.get_by_role("button", name="Back").click()
    pg.get_by_role("button", name="Browse rooms").click()
    pg.evaluate(
        "(r) => window.directory('localhost', 'done', r)",
        [{"jid": jid, "name": long, "description": long + " " + long, "occupants": 3}],
    )
    next_frame(pg)
    assert pg.get_by_role("dialog", name="Browse rooms").get_by_role("listitem").count() == 1
    no_horizontal_overflow(pg, 375)
    pg.keyboard.press("Escape")
    pg.get_by_role("button", name="Join a room").click()
    no_horizontal_overflow(pg, 375)
    assert log.errors == []


def test_join_link_in_the_location_hash(
    make_page: Callable[..., str], page: tuple[Any, PageLog]
) -> None:
    pg, log = page
    pg.goto(make_page("t-rooms-link", FAKE_APP) + "#xmpp:games@muc.example?join")
    pg.wait_for_function("() => window.results && window.results.ready", timeout=20_000)
    assert calls(pg) == []  # not before login
    pg.evaluate("() => window.go_online()")
    assert calls(pg)[:2] == [
        ["join_room", "xmpp:games@muc.example?join", None, None],
        ["open_chat", "games@muc.example"],
    ]
    assert pg.evaluate("location.hash") == ""  # a reload won't join again
    assert pg.locator("#chat-title").text_content() == "games"
    # A link followed later, percent-encoded (registerProtocolHandler's %s).
    pg.evaluate("location.hash = '#' + encodeURIComponent('xmpp:chess@muc.example?join')")
    pg.wait_for_function("() => window.calls.length >= 4")
    assert calls(pg)[2:4] == [
        ["join_room", "xmpp:chess@muc.example?join", None, None],
        ["open_chat", "chess@muc.example"],
    ]
    # Not a join link: the chat opens instead (ui/links.py).
    pg.evaluate("location.hash = '#xmpp:bob@localhost?message'")
    next_frame(pg)
    assert calls(pg)[4:] == [["open_chat", "bob@localhost"]]
    assert log.errors == []


def test_logout_clears_rooms_and_dialogs(online: tuple[Any, PageLog]) -> None:
    pg, log = online
    set_room(pg, ROOM, state="joined")
    next_frame(pg)
    pg.get_by_role("list", name="Rooms").get_by_role("button", name="boardgames").click()
    pg.get_by_role("button", name="Browse rooms").click()
    pg.evaluate(
        "(r) => window.directory('localhost', 'done', r)",
        [{"jid": ROOM, "name": "Games", "description": "", "occupants": 2}],
    )
    next_frame(pg)
    pg.keyboard.press("Escape")
    pg.get_by_role("button", name="Log out").click()
    assert pg.get_by_role("button", name="Log in").is_visible()
    assert pg.locator("#rooms li").count() == 0
    assert pg.locator("dialog").count() == 0
    assert pg.locator("#room-actions").is_hidden()
    assert pg.get_by_label("Address").count() == 1
    assert log.errors == []
