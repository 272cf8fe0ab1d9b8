"""End to end: the built bundle in Chromium, `roost serve`, real Prosody, slixmpp peers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from backend.devserver.prosody import ProsodyServer
from tests.browser.conftest import RoostServer
from tests.support.threaded_peer import ThreadedPeer

TIMEOUT = 20_000


def login(page: Any, url: str, address: str, password: str, trusted: bool = True) -> None:
    page.goto(url)
    page.get_by_label("Address").fill(address)
    page.get_by_label("Password").fill(password)
    box = page.get_by_label("This is a trusted device")
    if box.is_checked() != trusted:
        box.click()
    page.get_by_role("button", name="Log in").click()


def contacts(page: Any) -> Any:
    return page.get_by_role("list", name="Contacts")


def contact(page: Any, name: str) -> Any:
    return contacts(page).get_by_role("listitem", name=re.compile(rf"^{re.escape(name)}\b"))


def open_chat(page: Any, name: str) -> None:
    contact(page, name).click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=TIMEOUT)


def send(page: Any, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def log(page: Any) -> Any:
    return page.get_by_role("log", name="Messages")


def test_alice_and_bob_chat_both_ways(roost: RoostServer, new_page: Any) -> None:
    alice, bob = new_page(), new_page()
    login(alice, roost.url, "alice@localhost", "alice")
    login(bob, roost.url, "bob", "bob")  # bare name gets the default domain
    expect(contact(alice, "Bob")).to_be_visible(timeout=TIMEOUT)
    expect(contact(bob, "Alice")).to_be_visible(timeout=TIMEOUT)
    # Presence: each sees the other online once both are logged in.
    expect(contact(alice, "Bob")).to_contain_text(re.compile("online", re.I), timeout=TIMEOUT)

    open_chat(alice, "Bob")
    send(alice, "Hi Bob <b>not bold</b>")
    open_chat(bob, "Alice")
    expect(log(bob)).to_contain_text("Hi Bob <b>not bold</b>", timeout=TIMEOUT)
    assert bob.locator("[role=log] b").count() == 0  # text, never markup
    send(bob, "Hello Alice\nsecond line")
    expect(log(alice)).to_contain_text("Hello Alice", timeout=TIMEOUT)
    expect(log(alice)).to_contain_text("second line")
    # Shift+Enter makes a newline instead of sending.
    box = alice.get_by_role("textbox", name="Message")
    box.fill("line one")
    box.press("Shift+Enter")
    box.type("line two")
    assert box.input_value() == "line one\nline two"
    box.press("Enter")
    expect(log(bob)).to_contain_text("line two", timeout=TIMEOUT)
    assert alice.errors.errors == [] and bob.errors.errors == []


def test_browser_and_slixmpp_bot(roost: RoostServer, new_page: Any, peer_factory: Any) -> None:
    carol = peer_factory("carol")
    page = new_page()
    login(page, roost.url, "dave@localhost", "dave")
    # dave has no roster entry for carol: the message arrives from a stranger.
    login_done = page.get_by_role("button", name="Log out")
    expect(login_done).to_be_visible(timeout=TIMEOUT)
    carol.send("dave@localhost", "ping from a bot")
    expect(page.get_by_text("ping from a bot")).to_be_visible(timeout=TIMEOUT)

    page2 = new_page()
    login(page2, roost.url, "alice@localhost", "alice")
    open_chat(page2, "Carol")
    send(page2, "hello bot")
    assert carol.wait_message() == ("alice@localhost", "hello bot")
    carol.send("alice@localhost", "hello browser")
    expect(log(page2)).to_contain_text("hello browser", timeout=TIMEOUT)


def test_wrong_password_then_right_one(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    login(page, roost.url, "alice@localhost", "not-her-password")
    expect(page.get_by_role("status")).to_contain_text(
        re.compile("wrong address or password", re.I), timeout=TIMEOUT
    )
    expect(page.get_by_label("Password")).to_be_visible()
    # Nothing else broke: the same page logs in with the right password.
    page.get_by_label("Password").fill("alice")
    page.get_by_role("button", name="Log in").click()
    expect(contact(page, "Bob")).to_be_visible(timeout=TIMEOUT)
    assert page.errors.errors == []


def test_server_unreachable_then_retry(private: Any, new_page: Any) -> None:
    srv = private()
    server, roost = srv.prosody, srv.roost
    server.stop()  # the XMPP server is down
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice")
    expect(page.get_by_role("status")).to_contain_text(
        re.compile("can.t reach the server", re.I), timeout=TIMEOUT
    )
    retry = page.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    server.restart()
    retry.click()
    expect(contact(page, "Bob")).to_be_visible(timeout=TIMEOUT)


def test_untrusted_session_leaves_nothing_behind(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    send(page, "this must not be stored")
    expect(log(page)).to_contain_text("this must not be stored", timeout=TIMEOUT)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
    leftovers = page.evaluate(
        """async () => {
            const dbs = (await indexedDB.databases()).map(d => d.name)
                .filter(n => !n.startsWith('brython'));
            const cacheKeys = await caches.keys();
            return {dbs, local: localStorage.length, session: sessionStorage.length,
                    caches: cacheKeys.filter(k => !k.startsWith('roost-shell'))};
        }"""
    )
    assert leftovers == {"dbs": [], "local": 0, "session": 0, "caches": []}


def test_trusted_session_keeps_history_in_indexeddb(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    login(page, roost.url, "carol@localhost", "carol", trusted=True)
    open_chat(page, "Alice")
    send(page, "kept on this device")
    expect(log(page)).to_contain_text("kept on this device", timeout=TIMEOUT)
    page.wait_for_timeout(500)
    names = page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert any(n.startswith("roost-") for n in names), names


def test_phone_layout_360x740(roost: RoostServer, new_page: Any) -> None:
    page = new_page(viewport={"width": 360, "height": 740})
    login(page, roost.url, "bob@localhost", "bob")
    expect(contact(page, "Alice")).to_be_visible(timeout=TIMEOUT)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page scrolls sideways on a phone: {width}px"
    open_chat(page, "Alice")
    send(page, "from a phone")
    expect(log(page)).to_contain_text("from a phone", timeout=TIMEOUT)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name=re.compile("back", re.I)).click()
    expect(contact(page, "Alice")).to_be_visible()


def test_static_bundle_straight_at_prosody_websocket(
    tmp_path: Path, dist_dir: Path, prosody: ProsodyServer, new_page: Any, peer_factory: Any
) -> None:
    """The bundle alone, configured to use Prosody's own mod_websocket (no Roost proxy)."""
    direct = {"websocket_url": prosody.websocket_url}
    roost = RoostServer(tmp_path, dist_dir, prosody, client=direct)
    try:
        echo = peer_factory("echo")
        page = new_page()
        login(page, roost.url, "alice@localhost", "alice")
        open_chat(page, "Echo bot")
        send(page, "direct path")
        assert echo.wait_message() == ("alice@localhost", "direct path")
        echo.send("alice@localhost", "echo: direct path")
        expect(log(page)).to_contain_text("echo: direct path", timeout=TIMEOUT)
    finally:
        roost.stop()


def test_subscription_request_approve(
    roost: RoostServer, new_page: Any, peer_factory: Any
) -> None:
    page = new_page()
    login(page, roost.url, "carol@localhost", "carol")
    expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=TIMEOUT)
    stranger = peer_factory("stranger")
    stranger._call(lambda: stranger._client.send_presence(pto="carol@localhost", ptype="subscribe"))
    card = page.get_by_text(re.compile("wants to see your status", re.I))
    expect(card).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Approve").click()
    expect(card).to_be_hidden(timeout=TIMEOUT)
    expect(contact(page, "stranger@localhost")).to_be_visible(timeout=TIMEOUT)


def test_characters_xml_forbids_keep_the_session_alive(
    roost: RoostServer, new_page: Any, peer_factory: Any
) -> None:
    """A body with \\x0b or \\x00 used to get `not-well-formed` and end the session
    while the screen said "sent". They go out as U+FFFD (roost.xmpp.element)."""
    bob = peer_factory("bob", "ctl")
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    box = page.get_by_role("textbox", name="Message")
    # Set the value directly: typing can't produce these characters.
    box.evaluate("(el) => { el.value = 'hi\\x0b there\\x00!'; }")
    assert box.input_value() == "hi\x0b there\x00!"
    box.press("Enter")
    assert bob.wait_message() == ("alice@localhost", "hi\ufffd there\ufffd!")
    expect(log(page)).to_contain_text("hi\ufffd there\ufffd!", timeout=TIMEOUT)
    send(page, "still connected")
    assert bob.wait_message() == ("alice@localhost", "still connected")
    expect(page.locator("#conn-state")).to_have_text("")
    assert page.locator("#notice").is_hidden()
    assert page.errors.errors == []


def test_connection_drop_in_chat_then_retry_keeps_the_conversation(
    private: Any, new_page: Any
) -> None:
    """After a drop the main screen says it is reconnecting and offers Retry; Log
    out would wipe this untrusted session."""
    srv = private()
    server, roost = srv.prosody, srv.roost
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    send(page, "before the outage")
    expect(log(page)).to_contain_text("before the outage", timeout=TIMEOUT)

    server.stop()  # the XMPP server goes away under the open chat
    notice = page.locator("#notice")
    expect(page.locator("#reconnect-banner")).to_have_text("Reconnecting…", timeout=TIMEOUT)
    retry = page.get_by_role("banner").get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    expect(log(page)).to_contain_text("before the outage")  # nothing was wiped
    retry.click()  # the server is still down: Retry fails and stays on offer
    expect(page.locator("#reconnect-banner")).to_be_visible()
    expect(retry).to_be_visible(timeout=TIMEOUT)

    server.restart()
    bob_after = srv.peer("bob", "after")
    # Retry at once (unless the automatic attempt got there first: no race).
    page.locator("#main-retry").evaluate("b => { if (!b.hidden) { b.click(); } }")
    expect(retry).to_be_hidden(timeout=TIMEOUT)
    expect(page.locator("#conn-state")).to_have_text("", timeout=TIMEOUT)  # online
    expect(notice).to_be_hidden()
    send(page, "after the outage")
    bodies = set()
    while "after the outage" not in bodies:  # an offline copy of the first may come first
        bodies.add(bob_after.wait_message()[1])
    messages = log(page).locator(".body")
    expect(messages).to_have_text(["before the outage", "after the outage"])
    assert page.locator("#chat-title").text_content() == "Bob"
    assert page.errors.errors == []


def test_carbons_show_messages_of_my_other_client(
    roost: RoostServer, new_page: Any, peer_factory: Any
) -> None:
    """XEP-0280: what alice sends from her phone shows as hers; replies to the
    phone show too; a forged carbon from someone else never shows."""
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    bob = peer_factory("bob", "carbons")
    phone = peer_factory("alice", "phone")
    page.wait_for_timeout(300)  # disco#info + <enable/> round trips after login
    phone.send("bob@localhost", "from my phone")
    assert bob.wait_message() == ("alice@localhost", "from my phone")
    mine = log(page).locator(".msg.out", has_text="from my phone")
    expect(mine).to_have_count(1, timeout=TIMEOUT)
    bob.send("alice@localhost/phone", "reply to your phone")  # a "received" carbon here
    theirs = log(page).locator(".msg.in", has_text="reply to your phone")
    expect(theirs).to_have_count(1, timeout=TIMEOUT)

    carol = peer_factory("carol", "forger")
    forged = (
        '<message xmlns="jabber:client" to="alice@localhost" type="chat">'
        '<received xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">'
        '<message xmlns="jabber:client" from="bob@localhost/x" to="alice@localhost" '
        'type="chat"><body>FORGED</body></message></forwarded></received></message>'
    )
    carol._call(lambda: carol._client.send_raw(forged))
    carol.send("alice@localhost", "after the forgery")  # same route, so it comes after
    expect(contact(page, "Carol")).to_contain_text("after the forgery", timeout=TIMEOUT)
    assert "FORGED" not in page.locator("body").inner_text()
    open_chat(page, "Carol")
    expect(log(page)).to_contain_text("after the forgery")
    assert "FORGED" not in log(page).inner_text()
    assert page.errors.errors == []


def test_own_message_shows_it_reached_the_server(roost: RoostServer, new_page: Any) -> None:
    """XEP-0198: the server's ack turns "Sent" into "On server", in words."""
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    send(page, "did the server get this?")
    row = log(page).locator(".msg.out", has_text="did the server get this?")
    expect(row).to_have_count(1, timeout=TIMEOUT)
    expect(row.locator(".state")).to_have_text("Status: On server", timeout=5_000)
    assert page.errors.errors == []


def _bodies(page: Any) -> list[str]:
    return [t.strip() for t in log(page).locator(".body").all_inner_texts()]


def test_archive_catch_up_shows_what_came_while_logged_out(
    private: Any, new_page: Any
) -> None:
    """XEP-0313: 30 messages bob sent to alice's phone show in the browser
    after login, once each, in order; the sync indicator goes away."""
    srv = private()
    roost = srv.roost
    phone = srv.peer("alice", "phone")
    bob = srv.peer("bob", "pc")
    wanted = [f"archived message {n:02d}" for n in range(30)]
    bob.send_many("alice@localhost", wanted)
    got = [phone.wait_message()[1] for _ in wanted]  # reached alice: archived
    assert got == wanted
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    expect(log(page)).to_contain_text(wanted[-1], timeout=TIMEOUT)
    expect(page.locator("#sync-state")).to_be_hidden(timeout=TIMEOUT)
    bodies = _bodies(page)
    assert [b for b in bodies if b in wanted] == wanted  # each once, in order
    assert page.errors.errors == []


def test_offline_copies_and_archive_show_each_message_once(
    private: Any, new_page: Any
) -> None:
    srv = private()
    roost = srv.roost
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=True)
    expect(contact(page, "Bob")).to_be_visible(timeout=TIMEOUT)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
    bob = srv.peer("bob", "pc")
    wanted = [f"while you were away {n}" for n in range(5)]
    bob.send_many("alice@localhost", wanted)
    page.wait_for_timeout(1500)  # stored offline and archived by Prosody
    login(page, roost.url, "alice@localhost", "alice", trusted=True)
    open_chat(page, "Bob")
    expect(log(page)).to_contain_text(wanted[-1], timeout=TIMEOUT)
    expect(page.locator("#sync-state")).to_be_hidden(timeout=TIMEOUT)
    page.wait_for_timeout(500)  # anything late (a second copy) would show by now
    bodies = _bodies(page)
    assert [b for b in bodies if b in wanted] == wanted
    assert page.errors.errors == []


def test_outage_reconnects_by_itself_and_sends_the_waiting_messages_once(
    private: Any, new_page: Any
) -> None:
    """The server goes away under an open chat: "Reconnecting…", messages written
    meanwhile wait ("Waiting"); when it is back, without a click, they reach
    bob once each, in order, and show "On server"."""
    srv = private()
    server, roost = srv.prosody, srv.roost
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    open_chat(page, "Bob")
    expect(page.locator("#sync-state")).to_be_hidden(timeout=TIMEOUT)

    server.stop()
    banner = page.get_by_role("status").filter(has_text="Reconnecting…")
    expect(banner).to_be_visible(timeout=TIMEOUT)
    wanted = [f"written offline {n}" for n in range(5)]
    for text in wanted:
        send(page, text)
    rows = log(page).locator(".msg.out")
    expect(rows).to_have_count(5)
    expect(rows.locator(".state")).to_have_text(["Status: Waiting"] * 5)
    assert page.get_by_role("textbox", name="Message").input_value() == ""

    server.restart()
    # Bob may come back after alice: what she sent then reaches him as offline copies.
    bob = srv.peer("bob", "pc", accept_delayed=True)
    expect(banner).to_be_hidden(timeout=45_000)  # backoff: 1 + 2 + 4 + 8 … s
    expect(page.locator("#conn-state")).to_have_text("")
    got = [bob.wait_message(timeout=TIMEOUT) for _ in wanted]
    assert got == [("alice@localhost", text) for text in wanted]
    assert_no_more_messages(bob)
    expect(rows.locator(".state")).to_have_text(
        ["Status: On server"] * 5, timeout=TIMEOUT
    )
    assert _bodies(page) == wanted  # the catch-up showed none of them twice
    assert page.errors.errors == []


def assert_no_more_messages(peer: ThreadedPeer) -> None:
    """Nothing more arrives (a second copy would by now)."""
    try:
        extra = peer.wait_message(timeout=1.5)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected extra message {extra!r}")


def test_read_marker_and_typing_between_two_browsers(roost: RoostServer, new_page: Any) -> None:
    """XEP-0184/0333: bob opening the chat turns alice's message into "Read";
    XEP-0085: while bob types (without sending) alice sees "Bob is typing…"."""
    alice, bob = new_page(), new_page()
    login(alice, roost.url, "alice@localhost", "alice", trusted=False)
    login(bob, roost.url, "bob@localhost", "bob", trusted=False)
    expect(contact(alice, "Bob")).to_contain_text(re.compile("online", re.I), timeout=TIMEOUT)
    expect(contact(bob, "Alice")).to_contain_text(re.compile("online", re.I), timeout=TIMEOUT)
    open_chat(alice, "Bob")
    send(alice, "will you read this?")
    row = log(alice).locator(".msg.out", has_text="will you read this?")
    expect(row).to_have_count(1, timeout=TIMEOUT)
    # Delivered as soon as bob's client has it (a receipt), read once he looks.
    expect(row.locator(".state")).to_have_text("Status: Delivered", timeout=TIMEOUT)
    open_chat(bob, "Alice")
    expect(log(bob)).to_contain_text("will you read this?", timeout=TIMEOUT)
    expect(row.locator(".state")).to_have_text("Status: Read", timeout=TIMEOUT)

    typing = alice.locator(".chat-header").get_by_role("status")
    expect(typing).to_be_hidden()
    bob.get_by_role("textbox", name="Message").fill("I am wri")
    expect(typing).to_have_text("Bob is typing…", timeout=TIMEOUT)
    send(bob, "I am writing back")
    expect(log(alice)).to_contain_text("I am writing back", timeout=TIMEOUT)
    expect(typing).to_be_hidden()
    assert alice.errors.errors == [] and bob.errors.errors == []


def test_browser_answers_a_receipt_request(
    roost: RoostServer, new_page: Any, peer_factory: Any
) -> None:
    carol = peer_factory("carol", "receipts")
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice", trusted=False)
    expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=TIMEOUT)
    carol.send_requesting_receipt("alice@localhost", "did you get this?", "carol-r1")
    expect(page.get_by_text("did you get this?")).to_be_visible(timeout=TIMEOUT)
    sender, acked = carol.wait_receipt()
    assert (sender.split("/")[0], acked) == ("alice@localhost", "carol-r1")
    assert page.errors.errors == []
