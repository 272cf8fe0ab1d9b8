"""roost.ui against a small fake app in Chromium: accessible names, rendering
through render.js (text only), composer keys, requests, errors, phone layout.

The fake app records the calls the view makes and lets the test emit app
events; the real ChatApp is covered by its own tests and the end-to-end ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

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
        self.platform = Platform()
        # The real store, in memory: the view pages through it.
        self.store = MessageStore(open_storage("alice@localhost", False), timers.call_later,
                                  timers.cancel)
        self.store.load()
        self.stamp = 1700000000.0
        self.requests = {}
        self.own_jid = None
        self.active = None
        self.can_retry = False
        self.online = True
        self.peers_typing = {}
        self.visible = None
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
        self.emit("state", "offline", "")
    def open_chat(self, bare):
        self._call("open_chat", bare)
        self.active = bare
        self.store.set_unread(bare, 0)
        self.emit("loaded", bare)
    def add(self, bare, sender, body, outgoing, state):
        self.stamp += 1
        m, _ = self.store.add(bare, sender, body, self.stamp, id="m%d" % len(self.calls),
                              outgoing=outgoing, state=state)
        return m
    def send_message(self, bare, text):
        self._call("send_message", bare, text)
        if not self.online:
            self.emit("notice", "You're not connected right now.")
            return None
        m = self.add(bare, "alice@localhost", text, True, "sent")
        self.emit("messages", bare, [m])
        return m
    def unread(self, bare):
        return 0 if bare == self.active else self.store.unread(bare)
    def preview(self, bare):
        return self.store.preview(bare)
    def conversation_list(self):
        return self.store.conversations()
    def load_older(self, bare): return False
    def fill_gap(self, bare, stamp, seq): return False
    def step_aside(self): self._call("step_aside")
    def flush_storage(self): pass
    def set_visible(self, visible): self.visible = visible
    def typing(self, bare): pass
    def add_contact(self, bare, name=None): self._call("add_contact", bare)
    def approve(self, bare):
        self._call("approve", bare)
        self.requests.pop(bare, None)
    def deny(self, bare):
        self._call("deny", bare)
        self.requests.pop(bare, None)
    # Rooms: none here (tests/platform/test_rooms_ui_browser.py has them).
    def is_room(self, bare): return False
    def rooms_list(self): return []
    def room(self, jid): return None
    def is_private(self, key): return "/" in key
    def conversation_title(self, key): return key
    def private_occupant(self, key): return None
    def can_moderate(self, jid, m): return False

app = FakeApp()
view = ChatView(app, TabLock())
boot.set_ready()
window.calls = to_js([])

def go_online():
    app.own_jid = "alice@localhost"
    app.emit("state", "connecting", "")
    app.emit("state", "online", "")
    for c in CONTACTS:
        app.contacts[c[0]] = Contact(*c)
    app.emit("roster")

def receive(bare, body):
    app.calls.append(["receive"])
    m = app.add(bare, bare, body, False, "received")
    if app.active != bare:
        app.store.set_unread(bare, app.store.unread(bare) + 1)
    app.emit("messages", bare, [m])

def request(bare, status=None):
    app.requests[bare] = status
    app.emit("request", bare)

def withdraw(bare):
    app.requests.pop(bare, None)
    app.emit("request", bare)

def emit_state(state, message, can_retry=False):
    app.can_retry = can_retry
    app.online = state == "online"
    app.emit("state", state, message)

window.go_online = go_online
window.receive = receive
window.request = request
window.withdraw = withdraw
window.emit_state = emit_state
window.results = to_js({"ready": True})
"""

XSS = [
    "<img src=x onerror=window.pwned=1>",
    "<svg/onload=window.pwned=1>",
    '"><script>window.pwned=1</script>',
    "javascript:window.pwned=1",
    "<style>body{display:none}</style>",
    "\u202eevil\u202c <b>bold</b> &amp;",
]
CONTACTS = [
    ("bob@localhost", "Bob Builder", "online"),
    ("carol@localhost", None, "away"),
    ("mallory@evil.example", XSS[0], "dnd"),
    ("trent@localhost", XSS[2], "offline"),
]


@pytest.fixture
def ui(make_page: Callable[..., str], page: tuple[Any, PageLog]) -> tuple[Any, PageLog]:
    pg, log = page
    # JSON with "<" escaped is a Python literal that can't close the <script>.
    literal = json.dumps(CONTACTS).replace("<", "\\u003c").replace("null", "None")
    url = make_page("t-ui", f"CONTACTS = {literal}\n" + FAKE_APP)
    pg.goto(url)
    pg.wait_for_function("() => window.results && window.results.ready", timeout=20_000)
    return pg, log


def calls(pg: Any) -> list[list[Any]]:
    result: list[list[Any]] = pg.evaluate("() => window.calls")
    return result


def test_login_form_calls_the_app(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    pg.get_by_label("Address").fill("alice")
    pg.get_by_label("Password").fill("pw")
    pg.get_by_label("This is a trusted device").uncheck()
    pg.get_by_role("button", name="Log in").click()
    # The tab claims the account's lock first (ui/tabs.py): the call comes a task later.
    pg.wait_for_function("() => window.calls.length > 0")
    assert calls(pg) == [["login", "alice", "pw", False]]
    assert pg.locator("#login-status").text_content() == "Connecting…"


def test_wrong_password_shows_the_message_without_retry(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    pg.evaluate("() => window.emit_state('error', 'Wrong address or password.')")
    assert pg.get_by_role("status").first.text_content() == "Wrong address or password."
    assert pg.get_by_role("button", name="Retry").is_hidden()


def test_unreachable_server_offers_retry(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    msg = "Can't reach the server. Check your connection and try again."
    pg.evaluate(f"() => window.emit_state('error', {msg!r}, true)")
    assert pg.locator("#login-status").text_content() == msg
    pg.get_by_role("button", name="Retry").click()
    assert calls(pg) == [["retry"]]


def test_contacts_render_with_accessible_names_and_presence_text(ui: tuple[Any, PageLog]) -> None:
    pg, log = ui
    pg.evaluate("() => window.go_online()")
    contacts = pg.get_by_role("list", name="Contacts")
    contacts.wait_for()
    assert pg.get_by_role("button", name="Log out").is_visible()
    assert pg.locator("#own-address").text_content() == "alice@localhost"
    items = contacts.get_by_role("listitem")
    assert items.count() == 4
    bob = contacts.get_by_role("listitem", name="Bob Builder", exact=True)
    assert bob.count() == 1
    assert "Online" in (bob.text_content() or "")  # presence as text, not colour only
    assert contacts.get_by_role("listitem", name="carol@localhost").count() == 1
    # Hostile names are text: no element, no script.
    assert contacts.get_by_role("listitem", name=XSS[0]).count() == 1
    assert pg.locator("#contacts img, #contacts svg, #contacts script").count() == 0
    assert pg.evaluate("() => window.pwned") is None
    assert log.errors == []


def test_chat_send_receive_and_composer_keys(ui: tuple[Any, PageLog]) -> None:
    pg, log = ui
    pg.evaluate("() => window.go_online()")
    pg.get_by_role("button", name="Bob Builder").click()
    assert calls(pg)[-1] == ["open_chat", "bob@localhost"]
    box = pg.get_by_role("textbox", name="Message")
    box.fill("hello")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "hello\nsecond line"
    box.press("Enter")
    assert calls(pg)[-1] == ["send_message", "bob@localhost", "hello\nsecond line"]
    assert box.input_value() == ""
    box.fill("via button")
    pg.get_by_role("button", name="Send").click()
    assert calls(pg)[-1] == ["send_message", "bob@localhost", "via button"]
    for payload in XSS:
        pg.evaluate("(b) => window.receive('bob@localhost', b)", payload)
    messages = pg.get_by_role("log", name="Messages")
    assert messages.get_attribute("aria-live") == "polite"
    bodies = messages.locator(".body").all_text_contents()
    assert bodies == ["hello\nsecond line", "via button", *XSS]
    assert (
        pg.locator(
            "#messages img, #messages svg, #messages script, #messages style, #messages b"
        ).count()
        == 0
    )
    assert pg.evaluate("() => window.pwned") is None
    # A message for another contact counts as unread there.
    pg.evaluate("() => window.receive('carol@localhost', 'psst')")
    assert "1" in (pg.get_by_role("listitem", name="carol@localhost").text_content() or "")
    assert log.errors == []


def test_subscription_request_card(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    pg.evaluate("() => window.go_online()")
    pg.evaluate("() => window.request('dave@localhost')")
    card = pg.get_by_role("group", name="dave@localhost wants to see your status")
    card.get_by_role("button", name="Approve").click()
    assert calls(pg)[-1] == ["approve", "dave@localhost"]
    assert card.count() == 0
    pg.evaluate("() => window.request('eve@localhost')")
    pg.get_by_role("button", name="Deny").click()
    assert calls(pg)[-1] == ["deny", "eve@localhost"]


def test_logout_returns_to_the_login_form(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    pg.evaluate("() => window.go_online()")
    pg.get_by_role("button", name="Log out").click()
    assert calls(pg)[-1] == ["logout"]
    assert pg.get_by_role("button", name="Log in").is_visible()
    assert pg.locator("#contacts li").count() == 0


def test_phone_layout_has_separate_screens(ui: tuple[Any, PageLog]) -> None:
    pg, _ = ui
    pg.set_viewport_size({"width": 360, "height": 740})
    pg.evaluate("() => window.go_online()")
    assert pg.get_by_role("list", name="Contacts").is_visible()
    assert pg.get_by_role("log", name="Messages").is_hidden()
    pg.get_by_role("button", name="Bob Builder").click()
    assert pg.get_by_role("log", name="Messages").is_visible()
    assert pg.get_by_role("list", name="Contacts").is_hidden()
    pg.get_by_role("button", name="Back").click()
    assert pg.get_by_role("list", name="Contacts").is_visible()
    # Desktop: side by side, no Back button.
    pg.set_viewport_size({"width": 1280, "height": 800})
    assert pg.get_by_role("log", name="Messages").is_visible()
    assert pg.get_by_role("list", name="Contacts").is_visible()
    assert pg.get_by_role("button", name="Back").is_hidden()


def test_send_while_offline_keeps_the_text(ui: tuple[Any, PageLog]) -> None:
    pg, log = ui
    pg.evaluate("() => window.go_online()")
    pg.get_by_role("button", name="Bob Builder").click()
    pg.evaluate("() => window.emit_state('error', 'The connection to the server was lost.', true)")
    box = pg.get_by_role("textbox", name="Message")
    box.fill("don't lose me")
    box.press("Enter")
    assert calls(pg)[-1] == ["send_message", "bob@localhost", "don't lose me"]
    assert box.input_value() == "don't lose me"  # not sent: still there to send again
    assert pg.locator("#notice").text_content() == "You're not connected right now."
    assert pg.get_by_role("log", name="Messages").locator(".body").count() == 0
    assert log.errors == []


def test_main_screen_retry_after_a_drop(ui: tuple[Any, PageLog]) -> None:
    pg, log = ui
    pg.evaluate("() => window.go_online()")
    pg.get_by_role("button", name="Bob Builder").click()
    pg.evaluate("() => window.receive('bob@localhost', 'kept')")
    retry = pg.get_by_role("button", name="Retry")
    assert retry.count() == 0  # online: no Retry anywhere
    lost = "The connection to the server was lost. Try again."
    pg.evaluate(f"() => window.emit_state('error', {lost!r}, true)")
    assert pg.locator("#notice").text_content() == lost
    assert pg.get_by_role("banner").get_by_role("button", name="Retry").is_visible()
    pg.set_viewport_size({"width": 360, "height": 740})  # fits a phone's top bar
    assert pg.evaluate("document.documentElement.scrollWidth") <= 360
    box = pg.get_by_role("banner").bounding_box()
    assert box is not None and box["width"] <= 360
    assert pg.evaluate("document.querySelector('.topbar').scrollWidth") <= 360
    pg.set_viewport_size({"width": 1280, "height": 800})
    retry.click()
    assert calls(pg)[-1] == ["retry"]
    assert retry.count() == 0
    pg.evaluate("() => window.emit_state('connecting', '')")
    assert pg.locator("#conn-state").text_content() == "Connecting…"
    pg.evaluate("() => window.emit_state('online', '')")
    # Still in the same chat, history shown, Log out still there.
    assert pg.get_by_role("log", name="Messages").locator(".body").all_text_contents() == ["kept"]
    assert pg.locator("#chat-title").text_content() == "Bob Builder"
    assert pg.locator("#notice").is_hidden()
    # An error Retry can't fix (e.g. signed in elsewhere): the message, no button.
    pg.evaluate("() => window.emit_state('error', 'You signed in from somewhere else.', false)")
    assert pg.locator("#notice").text_content() == "You signed in from somewhere else."
    assert retry.count() == 0
    assert log.errors == []


def test_request_status_text_is_text_and_withdrawn_cards_go(ui: tuple[Any, PageLog]) -> None:
    pg, log = ui
    pg.evaluate("() => window.go_online()")
    for i, payload in enumerate(XSS):
        pg.evaluate("([b, s]) => window.request(b, s)", [f"s{i}@localhost", payload])
    section = pg.get_by_role("region", name="Contact requests")
    assert section.locator(".request-status").all_text_contents() == XSS
    assert section.locator("img, svg, script, style, b").count() == 0
    assert pg.evaluate("() => window.pwned") is None
    card = pg.get_by_role("group", name="s0@localhost wants to see your status")
    assert card.get_attribute("aria-describedby")
    pg.evaluate("() => window.withdraw('s0@localhost')")
    assert card.count() == 0
    assert section.get_by_role("group").count() == len(XSS) - 1
    assert log.errors == []
