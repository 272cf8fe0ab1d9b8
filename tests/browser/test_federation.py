"""Issue 4, federation for real: a Roost user of server A (a.test) joins a
room on server B's MUC service (conference.b.test), talks there and 1:1 with
a user of B, and browses B's room directory. Two Prosody servers linked by
s2s on loopback (tests/support/federation.py), real `roost serve` in front of
A, real Chromium, a slixmpp client for bob@b.test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RoostServer
from tests.support import roost_page as rp
from tests.support.federation import Federation
from tests.support.threaded_peer import ThreadedPeer

# The first stanza to the other domain sets up the s2s link.
S2S_MS = 20_000
MUC = "http://jabber.org/protocol/muc"
OWNER = "http://jabber.org/protocol/muc#owner"


@pytest.fixture(scope="module")
def front_of_a(federation: Federation, dist_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostServer]:
    server = RoostServer(tmp_path_factory.mktemp("roost-a"), dist_dir, federation.a)
    yield server
    server.stop()


class RoomWatcher:
    """bob's groupchat messages, from his slixmpp client's loop."""

    def __init__(self, peer: ThreadedPeer) -> None:
        self.seen: list[tuple[str, str]] = []
        self.cond = threading.Condition()
        peer._call(lambda: peer._client.add_event_handler("message", self._on))

    def _on(self, msg: Any) -> None:
        if msg["type"] == "groupchat" and msg["body"]:
            with self.cond:
                self.seen.append((str(msg["from"]), str(msg["body"])))
                self.cond.notify_all()

    def wait(self, sender: str, body: str, timeout: float = 20) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: (sender, body) in self.seen, timeout)


def bob_makes_room(bob: ThreadedPeer, room: str, name: str) -> RoomWatcher:
    watcher = RoomWatcher(bob)
    bob.send_raw(f'<presence to="{room}/bob"><x xmlns="{MUC}"/></presence>')
    # Name it and make it public (Prosody 0.12 creates rooms unlocked).
    bob.send_raw(
        f'<iq type="set" to="{room}" id="cfg1"><query xmlns="{OWNER}">'
        '<x xmlns="jabber:x:data" type="submit">'
        '<field var="FORM_TYPE"><value>http://jabber.org/protocol/muc#roomconfig</value></field>'
        f'<field var="muc#roomconfig_roomname"><value>{name}</value></field>'
        '<field var="muc#roomconfig_publicroom"><value>1</value></field>'
        "</x></query></iq>"
    )
    bob.sync()
    return watcher


def test_user_of_a_joins_a_room_on_b_chats_there_and_one_to_one(
    federation: Federation, front_of_a: RoostServer, new_page: Any
) -> None:
    b = federation.b
    bob = ThreadedPeer("bob@b.test/pc", "bob", b.c2s_port, host=b.host)
    try:
        room = "lobby@conference.b.test"
        watcher = bob_makes_room(bob, room, "Lobby of B")
        page = new_page()
        rp.login(page, front_of_a.url, "alice@a.test", "alice", trusted=False)
        rp.wait_main(page)

        # Join B's room by its full address.
        page.get_by_role("button", name="Join a room").click()
        page.get_by_label("Room address").fill(room)
        page.get_by_label("Nickname").fill("alice")
        page.get_by_role("button", name="Join", exact=True).click()
        composer = page.get_by_role("textbox", name="Message")
        expect(composer).to_be_enabled(timeout=S2S_MS)
        occupants = page.get_by_role("button", name="Occupants (2)")
        expect(occupants).to_be_visible(timeout=S2S_MS)

        # In the room, both ways.
        composer.fill("hello from a")
        composer.press("Enter")
        assert watcher.wait(f"{room}/alice", "hello from a"), (
            f"bob@b.test never got alice's room message; seen {watcher.seen}; {federation.where()}"
        )
        bob.send_raw(f'<message type="groupchat" to="{room}"><body>hello from b</body></message>')
        log = page.get_by_role("log")
        expect(log.get_by_text("hello from b")).to_be_visible(timeout=S2S_MS)
        _source, rows = rp.read_conversation(page, room)
        bodies = [r.body for r in rows]
        assert bodies.count("hello from a") == 1 and bodies.count("hello from b") == 1, rows
        assert bodies.index("hello from a") < bodies.index("hello from b"), rows

        # 1:1 with bob@b.test (in alice's roster: the fixture's rosters list everyone).
        rp.open_chat(page, "Bob (b.test")  # the roster name is "Bob (b.test)"
        composer.fill("psst, from a")
        composer.press("Enter")
        assert bob.wait_until(
            lambda: "psst, from a" in bob.bodies_from("alice@a.test"), 20
        ), f"bob never got the 1:1 message; {federation.where()}"
        bob.send("alice@a.test", "psst back, from b")
        expect(page.get_by_role("log").get_by_text("psst back, from b")).to_be_visible(
            timeout=S2S_MS
        )
    finally:
        bob.stop()


def test_user_of_a_browses_b_s_room_directory_and_joins_from_it(
    federation: Federation, front_of_a: RoostServer, new_page: Any
) -> None:
    b = federation.b
    bob = ThreadedPeer("bob@b.test/dir", "bob", b.c2s_port, host=b.host)
    try:
        bob_makes_room(bob, "chess@conference.b.test", "Chess on B")
        page = new_page()
        rp.login(page, front_of_a.url, "alice@a.test", "alice", trusted=False)
        rp.wait_main(page)
        page.get_by_role("button", name="Browse rooms").click()
        dialog = page.get_by_role("dialog", name="Browse rooms")
        dialog.get_by_label("Server").fill("b.test")
        dialog.get_by_role("button", name="List rooms").click()
        found = dialog.get_by_role("list", name="Rooms found")
        expect(found.get_by_text("Chess on B")).to_be_visible(timeout=S2S_MS)
        dialog.get_by_role("button", name="Join Chess on B").click()
        expect(page.get_by_role("textbox", name="Message")).to_be_enabled(timeout=S2S_MS)
        expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=S2S_MS)
    finally:
        bob.stop()
