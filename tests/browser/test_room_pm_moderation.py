"""Private messages with room occupants (XEP-0045 §7.5) and moderators
removing messages (XEP-0425), end to end: the built bundle in Chromium, a
real `roost serve`, the session's Prosody (conference.localhost: mod_muc
with muc_mam and mod_muc_moderation) and slixmpp occupants
(tests/support/threaded_peer.py)."""

from __future__ import annotations

import re
import secrets
import threading
from typing import Any

import pytest
from playwright.sync_api import expect
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from tests.support.roost_page import describe, login, poll, read_conversation, wait_main
from tests.support.threaded_peer import MUC_USER_NS, ThreadedPeer

pytestmark = pytest.mark.browser

TIMEOUT = 20_000
MUC = "conference.localhost"
REMOVED = "This message was removed by a moderator."
FASTEN_NS = "urn:xmpp:fasten:0"
MODERATE_NS = "urn:xmpp:message-moderate:0"


# -- the page -----------------------------------------------------------------------
def new_room() -> tuple[str, str]:
    """A room of this test's own on the shared server: (JID, name)."""
    name = "pm" + secrets.token_hex(4)
    return f"{name}@{MUC}", name


def open_as(roost: Any, new_page: Any, user: str) -> Any:
    page = new_page()
    login(page, roost.url, f"{user}@localhost", user, trusted=True)
    wait_main(page)
    return page


def join(page: Any, room: str) -> None:
    """Join through "Join a room" (no nickname: the account's name), until joined."""
    page.get_by_role("button", name="Join a room").click()
    dialog = page.get_by_role("dialog", name="Join a room")
    dialog.get_by_label("Room address").fill(room)
    dialog.get_by_role("button", name="Join", exact=True).click()
    expect(dialog).to_have_count(0, timeout=TIMEOUT)
    wait_joined(page)


def wait_joined(page: Any) -> None:
    try:
        expect(page.get_by_role("textbox", name="Message")).to_be_enabled(timeout=TIMEOUT)
        expect(page.locator("#room-banner")).to_be_hidden(timeout=TIMEOUT)
    except AssertionError:
        raise AssertionError(f"room not joined: {describe(page)}") from None


def open_room(page: Any, name: str) -> None:
    page.get_by_role("list", name="Rooms").get_by_role(
        "button", name=re.compile(rf"^{re.escape(name)}")).click()
    expect(page.locator("#chat-title")).to_have_text(name)


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def bodies(page: Any) -> list[str]:
    got: list[str] = page.evaluate(
        "() => Array.from(document.querySelectorAll('#messages .msg .body'), b => b.textContent)")
    return got


def wait_bodies(page: Any, want: list[str], what: str) -> None:
    if not poll(lambda: bodies(page) == want, 20, page=page):
        raise AssertionError(f"{what}: rows {bodies(page)}, want {want}; {describe(page)}")


def occupants_panel(page: Any) -> Any:
    panel = page.get_by_role("complementary", name="Occupants")
    if panel.is_hidden():
        page.locator("#occupants-toggle").click()
    expect(panel).to_be_visible()
    return panel


def stored_bodies(page: Any, account: str, conversation: str) -> list[dict[str, Any]]:
    """The message records of `conversation` in the trusted device's IndexedDB."""
    got: list[dict[str, Any]] = page.evaluate(
        """async ([name, conv]) => {
          const db = await new Promise((ok, fail) => {
            const req = indexedDB.open(name);
            req.onsuccess = () => ok(req.result);
            req.onerror = () => fail(req.error);
          });
          try {
            const index = db.transaction('messages').objectStore('messages').index('conv_stamp');
            const all = await new Promise((ok, fail) => {
              const req = index.getAll(IDBKeyRange.bound([conv], [conv, []]));
              req.onsuccess = () => ok(req.result);
              req.onerror = () => fail(req.error);
            });
            return all.map(m => ({body: String(m.body || ''), retracted: !!m.retracted,
                                  reason: m.retract_reason || null}));
          } finally { db.close(); }
        }""",
        ["roost-" + account, conversation],
    )
    return got


def no_errors(page: Any) -> None:
    assert page.errors.errors == [], f"page errors: {page.errors.errors}"


# -- the peers ---------------------------------------------------------------------
class Watch:
    """Messages of one kind a slixmpp peer receives, as (from, text): its
    private messages (type chat with the muc#user mark) or the moderation
    announcements rooms send (archive id, reason). Registered on the
    peer's own loop (slixmpp isn't thread-safe)."""

    def __init__(self, peer: ThreadedPeer, kind: str) -> None:
        self.got: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self.kind = kind
        done = threading.Event()

        def register() -> None:
            peer._client.register_handler(Callback(
                f"watch-{kind}-{id(self)}", MatchXPath("{jabber:client}message"), self._on))
            done.set()

        peer._call(register)
        assert done.wait(5), "the peer's loop did not register the handler"

    def _on(self, msg: Any) -> None:
        xml = msg.xml
        frm = xml.get("from") or ""
        if self.kind == "private":
            body = xml.find("{jabber:client}body")
            if xml.get("type") == "chat" and xml.find(f"{{{MUC_USER_NS}}}x") is not None \
                    and body is not None:
                with self._lock:
                    self.got.append((frm, body.text or "", ""))
        else:
            apply_to = xml.find(f"{{{FASTEN_NS}}}apply-to")
            moderated = None if apply_to is None else apply_to.find(f"{{{MODERATE_NS}}}moderated")
            if xml.get("type") == "groupchat" and moderated is not None:
                reason = moderated.find(f"{{{MODERATE_NS}}}reason")
                with self._lock:
                    self.got.append((frm, apply_to.get("id") or "",  # type: ignore[union-attr]
                                     "" if reason is None else reason.text or ""))

    def wait(self, predicate: Any, timeout: float = 15.0) -> bool:
        def seen() -> bool:
            with self._lock:
                return bool(predicate(list(self.got)))

        return poll(seen, timeout)


# -- (a) private messages ------------------------------------------------------------
def test_private_messages_with_occupants(roost: Any, new_page: Any,
                                         peer_factory: Any) -> None:
    room, name = new_room()
    bob = peer_factory("bob", "pm")
    bob.join_room(room, "bob")  # makes the room: bob owns it
    bob_private = Watch(bob, "private")
    page = open_as(roost, new_page, "alice")
    join(page, room)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)

    # bob writes to her privately: its own conversation, named after him and the room.
    bob.send(f"{room}/alice", "psst, alice")
    contacts = page.get_by_role("list", name="Contacts")
    pm = contacts.get_by_role("button", name=f"bob (in {name})")
    expect(pm).to_be_visible(timeout=TIMEOUT)
    expect(pm).to_contain_text("psst, alice")  # its preview
    assert bodies(page) == [], bodies(page)  # the room (still open) doesn't show it
    pm.click()
    expect(page.locator("#chat-title")).to_have_text(f"bob (in {name})")
    wait_bodies(page, ["psst, alice"], "the private chat")
    expect(page.locator("#room-actions")).to_be_hidden()

    # Her answer goes to bob through the room, as a private message from her nick.
    send(page, "hi bob, just between us")
    assert bob_private.wait(lambda got: (f"{room}/alice", "hi bob, just between us", "")
                            in got), bob_private.got
    wait_bodies(page, ["psst, alice", "hi bob, just between us"], "the private chat")
    assert bob.room_bodies(room) == [], bob.room_bodies(room)  # not said in the room
    source, held = read_conversation(page, f"{room}/bob")
    assert source == "hook" and [r.body for r in held] == [
        "psst, alice", "hi bob, just between us"], held
    for elsewhere in (room, "bob@localhost"):  # never the room's, never bob the contact's
        _source, rows = read_conversation(page, elsewhere)
        assert not {r.body for r in rows} & {"psst, alice", "hi bob, just between us"}, rows

    # From the occupants list: "Message carol" starts a private chat; none with oneself.
    carol = peer_factory("carol", "pm")
    carol.join_room(room, "carol")
    carol_private = Watch(carol, "private")
    open_room(page, name)
    expect(page.get_by_role("button", name="Occupants (3)")).to_be_visible(timeout=TIMEOUT)
    panel = occupants_panel(page)
    assert panel.get_by_role("button", name="Message alice").count() == 0
    panel.get_by_role("button", name="Message carol").click()
    expect(page.locator("#chat-title")).to_have_text(f"carol (in {name})")
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    page.keyboard.type("hello carol")
    page.keyboard.press("Enter")
    assert carol_private.wait(lambda got: (f"{room}/alice", "hello carol", "") in got), (
        carol_private.got)
    expect(contacts.get_by_role("button", name=f"carol (in {name})")).to_be_visible()

    # carol leaves: the room bounces the next one, which shows as not delivered.
    carol.leave_room(room, "carol")
    open_room(page, name)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    contacts.get_by_role("button", name=f"carol (in {name})").click()
    expect(page.locator("#chat-title")).to_have_text(f"carol (in {name})")
    send(page, "are you still there?")
    expect(contacts.get_by_role("button", name=f"carol (in {name})")).to_contain_text(
        "Not in the room", timeout=TIMEOUT)
    failed = page.locator("#messages .msg.failed")
    expect(failed).to_have_count(1, timeout=TIMEOUT)
    expect(failed.locator(".body")).to_have_text("are you still there?")
    expect(failed.locator(".meta")).to_contain_text("Not delivered")
    expect(page.locator("#notice")).to_have_text(
        f"carol is no longer in {name}, so your message was not delivered.")
    assert page.evaluate("() => window.RoostDebug.state()") == "online"

    # Nicks are the sender's own text: shown as text, never markup.
    nick = "<img src=x onerror=window.__pwned=1>"
    mallory = peer_factory("carol", "xss")
    mallory.join_room(room, nick)
    mallory.send(f"{room}/alice", "<b>hi</b>")
    title = f"{nick} (in {name})"
    contacts.get_by_role("button", name=title).click(timeout=TIMEOUT)
    expect(page.locator("#chat-title")).to_have_text(title)
    wait_bodies(page, ["<b>hi</b>"], "a private chat with a markup nick")
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#app img[src='x'], #messages b").count() == 0
    no_errors(page)


# -- (b) a moderator removes a message ---------------------------------------------
def test_moderator_removes_a_message_for_everyone(roost: Any, new_page: Any,
                                                  peer_factory: Any) -> None:
    room, name = new_room()
    alice = open_as(roost, new_page, "alice")
    join(alice, room)  # a new room: alice owns it, a moderator
    panel = occupants_panel(alice)
    expect(panel.get_by_role("listitem", name="alice")).to_contain_text("Owner",
                                                                        timeout=TIMEOUT)
    bob = peer_factory("bob", "mod")
    bob.join_room(room, "bob")
    announcements = Watch(bob, "moderation")
    carol = open_as(roost, new_page, "carol")
    join(carol, room)
    expect(alice.get_by_role("button", name="Occupants (3)")).to_be_visible(timeout=TIMEOUT)

    bob.say(room, "buy cheap pills at spam.example")
    bob.say(room, "sorry, wrong room")
    want = ["buy cheap pills at spam.example", "sorry, wrong room"]
    wait_bodies(alice, want, "alice's room")
    wait_bodies(carol, want, "carol's room")
    assert carol.get_by_role("button", name=re.compile("^Remove")).count() == 0  # no moderator
    spam_row = alice.locator("#messages .msg", has_text="buy cheap pills")
    remove = spam_row.get_by_role("button", name="Remove message from bob")
    expect(remove).to_be_visible(timeout=TIMEOUT)

    # Keyboard: the button takes focus; Enter opens the confirmation.
    remove.focus()
    alice.keyboard.press("Enter")
    dialog = alice.get_by_role("dialog", name="Remove this message?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("bob wrote: “buy cheap pills at spam.example”")
    reason = dialog.get_by_label("Reason (optional)")
    expect(reason).to_be_focused()
    alice.keyboard.press("Escape")  # cancel: nothing asked
    expect(dialog).to_have_count(0)
    assert announcements.got == []
    remove.click()
    reason.fill("advertising")
    dialog.get_by_role("button", name="Remove", exact=True).click()
    expect(dialog).to_have_count(0)

    # Everyone sees it removed, with the reason; the text is gone.
    for page, who in ((alice, "alice"), (carol, "carol")):
        wait_bodies(page, [REMOVED, "sorry, wrong room"], f"{who}'s room after the removal")
        row = page.locator("#messages .msg.retracted")
        expect(row).to_have_count(1)
        expect(row.locator(".retract-reason")).to_have_text("Reason: advertising")
        expect(page.locator("#messages")).not_to_contain_text("cheap pills")
        _source, held = read_conversation(page, room)
        assert [r.body for r in held] == [REMOVED, "sorry, wrong room"], held
    # Only the row left as it was keeps a "Remove" button.
    expect(alice.get_by_role("button", name="Remove message from bob")).to_have_count(1)
    assert announcements.wait(lambda got: len(got) == 1), announcements.got
    spam_id = next(m.stanza_id for m in bob.room_said
                   if m.body == "buy cheap pills at spam.example")
    assert announcements.got == [(room, spam_id, "advertising")], announcements.got

    # Stored that way on her trusted device: the text is not in IndexedDB.
    def stored_removed() -> bool:
        records = stored_bodies(alice, "alice@localhost", room)
        return any(r["retracted"] and r["reason"] == "advertising" for r in records) and not any(
            "cheap pills" in r["body"] for r in records)

    assert poll(stored_removed, 10, page=alice), stored_bodies(alice, "alice@localhost", room)
    # And after a reload: still removed (the store, and the room archive's tombstone).
    alice.reload()
    login(alice, None, "alice@localhost", "alice", trusted=True)
    wait_main(alice)
    open_room(alice, name)
    wait_bodies(alice, [REMOVED, "sorry, wrong room"], "alice's room after a reload")
    no_errors(alice)
    no_errors(carol)
