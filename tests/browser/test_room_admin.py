"""Room administration (issue 4) end to end against a private Prosody
(conference.localhost, mod_muc): making a room with "New room", its members
and moderators, invitations both ways, the owner's settings, nickname,
autojoin and forgetting a room. Everything the room says is checked from a
slixmpp occupant as well, not only from the page."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any
from xml.etree import ElementTree

import pytest
from playwright.sync_api import expect

from tests.browser.test_rooms import (
    ALICE,
    MUC,
    TIMEOUT,
    XSS,
    join_dialog,
    new_alice,
    no_errors,
    room_row,
    rooms,
    wait_joined,
)
from tests.support.roost_page import login, wait_main
from tests.support.threaded_peer import RoomError, ThreadedPeer

pytestmark = pytest.mark.browser

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DATA = "jabber:x:data"
MUC_USER = "http://jabber.org/protocol/muc#user"


# -- what a slixmpp peer sees of a room ------------------------------------------
def disco(peer: ThreadedPeer, jid: str) -> tuple[str, set[str], dict[str, str]]:
    """A room's disco#info: (name, features, roominfo fields)."""

    async def go() -> Any:
        iq = peer._client.make_iq_get(ito=jid)
        iq.xml.append(ElementTree.Element(f"{{{DISCO_INFO}}}query"))
        return (await iq.send(timeout=10)).xml

    xml = asyncio.run_coroutine_threadsafe(go(), peer._loop).result(12)
    query = xml.find(f"{{{DISCO_INFO}}}query")
    identity = query.find(f"{{{DISCO_INFO}}}identity")
    features = {f.get("var") for f in query.findall(f"{{{DISCO_INFO}}}feature")}
    fields = {
        f.get("var"): (f.findtext(f"{{{DATA}}}value") or "")
        for f in query.iter(f"{{{DATA}}}field")
    }
    return (identity.get("name") or "" if identity is not None else ""), features, fields


class Invitations:
    """Every invitation message a peer receives (XEP-0249 or mediated)."""

    def __init__(self, peer: ThreadedPeer) -> None:
        self.got: list[tuple[str, str]] = []  # (kind, room)
        self._lock = threading.Lock()

        def on_message(msg: Any) -> None:
            x = msg.xml.find(f"{{{MUC_USER}}}x")
            if x is not None and x.find(f"{{{MUC_USER}}}invite") is not None:
                with self._lock:
                    self.got.append(("mediated", (msg.xml.get("from") or "").split("/")[0]))
            direct = msg.xml.find("{jabber:x:conference}x")
            if direct is not None:
                with self._lock:
                    self.got.append(("direct", direct.get("jid") or ""))

        peer._call(lambda: peer._client.add_event_handler("message", on_message))


def options(page: Any) -> Any:
    page.get_by_role("button", name="Room options").click()
    dialog = page.get_by_role("dialog", name=re.compile("."))
    expect(dialog).to_be_visible()
    return dialog


# -- 1. a new members-only room; members, an invitation, a moderator, a ban ----------
def test_new_room_members_invitation_moderator_and_ban(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"project-x@{MUC}"
    bob = srv.peer("bob", "pc")
    carol = srv.peer("carol", "pc")
    carol_invites = Invitations(carol)
    page = new_alice(srv, new_page)

    page.get_by_role("button", name="New room").click()
    dialog = page.get_by_role("dialog", name="New room")
    dialog.get_by_label("Name", exact=True).fill("Project X")
    expect(dialog.get_by_label("Address", exact=True)).to_have_value("project-x")  # suggested
    expect(dialog.get_by_label("Members only (others need an invitation)")).to_be_checked()
    expect(dialog.get_by_label("Listed in the room directory")).not_to_be_checked()
    dialog.get_by_role("button", name="Create room").click()
    expect(dialog).to_have_count(0, timeout=TIMEOUT)
    wait_joined(page, room)
    expect(page.locator("#chat-title")).to_have_text("Project X", timeout=TIMEOUT)
    name, features, _fields = disco(bob, room)
    assert name == "Project X", name
    assert {"muc_membersonly", "muc_persistent", "muc_nonanonymous", "muc_hidden"} <= features, (
        features)

    # Members only: bob can't come in until alice adds him.
    with pytest.raises(RoomError) as refused:
        bob.join_room(room, "bob")
    assert refused.value.condition == "registration-required"
    members = options(page)
    members.get_by_role("button", name="Members").click()
    members = page.get_by_role("dialog", name="Members of Project X")
    owners = members.get_by_role("region", name=re.compile(r"^Owners"))
    expect(owners).to_contain_text(ALICE, timeout=TIMEOUT)
    members.get_by_label("Address", exact=True).fill("bob@localhost")
    members.get_by_label("Make them").select_option("member")
    members.get_by_role("button", name="Apply").click()
    expect(members.get_by_role("region", name="Members (1)")).to_contain_text(
        "bob@localhost", timeout=TIMEOUT)
    bob.join_room(room, "bob")
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)

    # bob becomes a moderator for this visit.
    members.get_by_label("Person in the room").select_option("bob")
    members.get_by_role("button", name="Make moderator").click()
    assert bob.wait_until(lambda: bob.occupants(room)["bob"].role == "moderator", 10), (
        bob.presences(room))
    members.get_by_role("button", name="Close").click()

    # An invitation: through the room (members only), which makes carol a member.
    dialog = options(page)
    dialog.get_by_label("Their address").fill("carol@localhost")
    dialog.get_by_label("Message (optional)").fill("come see")
    dialog.get_by_role("button", name="Send invitation").click()
    expect(dialog.locator("#invite-status")).to_have_text(
        "Invitation sent to carol@localhost.", timeout=TIMEOUT)
    assert carol.wait_until(lambda: ("mediated", room) in carol_invites.got, 10), (
        carol_invites.got)
    carol.join_room(room, "carol")
    # A bad address is said, not sent.
    dialog.get_by_label("Their address").fill("not an address")
    dialog.get_by_role("button", name="Send invitation").click()
    expect(dialog.locator("#invite-status")).to_contain_text("not an address")
    dialog.get_by_role("button", name="Close").click()

    # Ban carol: she is out, and listed as banned.
    dialog = options(page)
    dialog.get_by_role("button", name="Members").click()
    members = page.get_by_role("dialog", name="Members of Project X")
    expect(members.get_by_role("region", name="Members (2)")).to_contain_text(
        "carol@localhost", timeout=TIMEOUT)
    members.get_by_label("Address", exact=True).fill("carol@localhost")
    members.get_by_label("Make them").select_option("outcast")
    members.get_by_label("Reason (optional)").fill("spam")
    members.get_by_role("button", name="Apply").click()
    expect(members.get_by_role("region", name="Banned (1)")).to_contain_text(
        "carol@localhost", timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Occupants (2)")).to_be_visible(timeout=TIMEOUT)
    with pytest.raises(RoomError) as banned:
        carol.join_room(room, "carol")
    # Prosody checks membership first: an outcast is no member either.
    assert banned.value.condition in ("forbidden", "registration-required")
    # Lift it again from the list.
    members.get_by_role("button", name="Remove carol@localhost from banned").click()
    expect(members.get_by_role("region", name="Banned (0)")).to_be_visible(timeout=TIMEOUT)
    members.get_by_role("button", name="Close").click()
    no_errors(page)


# -- 2. the owner's settings: name, description, public, password ----------------------
def test_owner_changes_the_rooms_settings(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"cafe@{MUC}"
    bob = srv.peer("bob", "pc")
    page = new_alice(srv, new_page)
    join_dialog(page, room)  # a new room through "Join a room": alice owns it
    wait_joined(page, room)
    dialog = options(page)
    dialog.get_by_role("button", name="Room settings").click()
    settings = page.get_by_role("dialog", name="Settings of cafe")
    name = settings.get_by_label("Name", exact=True)
    expect(name).to_be_enabled(timeout=TIMEOUT)
    expect(settings.get_by_role("button", name="Save")).to_be_enabled()
    name.fill("Café Society")
    settings.get_by_label("Description").fill(XSS)
    settings.get_by_label("Listed in the room directory").check()
    settings.get_by_label("Keep the room when everyone has left").check()
    settings.get_by_label("Password (empty: none)").fill("beans")
    settings.get_by_role("button", name="Save").click()
    expect(settings).to_have_count(0, timeout=TIMEOUT)
    expect(page.locator("#notice")).to_have_text("The room's settings are saved.")
    expect(page.locator("#chat-title")).to_have_text("Café Society", timeout=TIMEOUT)
    got_name, features, fields = disco(bob, room)
    assert got_name == "Café Society"
    assert {"muc_public", "muc_persistent", "muc_passwordprotected"} <= features, features
    assert fields.get("muc#roominfo_description") == XSS, fields
    with pytest.raises(RoomError) as refused:
        bob.join_room(room, "bob")
    assert refused.value.condition == "not-authorized"
    bob.join_room(room, "bob", password="beans")

    # Opened again: the form shows what the room now is.
    options(page).get_by_role("button", name="Room settings").click()
    settings = page.get_by_role("dialog", name="Settings of Café Society")
    expect(settings.get_by_label("Description")).to_have_value(XSS, timeout=TIMEOUT)
    expect(settings.get_by_label("Listed in the room directory")).to_be_checked()
    settings.get_by_role("button", name="Cancel").click()
    # A participant (bob) has no settings or members buttons in Roost either:
    # checked from alice's side, the buttons are there for the owner.
    dialog = options(page)
    expect(dialog.get_by_role("button", name="Room settings")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    assert page.evaluate("window.__pwned") is None
    no_errors(page)


# -- 3. invitations received: a card each, join with the password, dismiss -----------
def test_invitations_received(private: Any, new_page: Any) -> None:
    srv = private()
    party, other = f"party@{MUC}", f"other@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(party, "bob")
    bob.configure_room(party, {"muc#roomconfig_roomsecret": "cake"})
    bob.join_room(other, "bob")
    page = new_alice(srv, new_page)
    bob.send_raw(
        f"<message to='{ALICE}'><x xmlns='jabber:x:conference' jid='{party}' "
        f"password='cake' reason='bring &lt;b&gt;snacks&lt;/b&gt;'/></message>")
    bob.send_raw(
        f"<message to='{other}'><x xmlns='{MUC_USER}'><invite to='{ALICE}'>"
        "<reason>the other one</reason></invite></x></message>")
    cards = page.get_by_role("region", name="Room invitations").get_by_role("group")
    expect(cards).to_have_count(2, timeout=TIMEOUT)
    card = cards.filter(has_text=party)
    expect(card).to_contain_text("bob@localhost invites you to the room " + party)
    expect(card).to_contain_text("bring <b>snacks</b>")  # as text
    cards.filter(has_text=other).get_by_role("button", name="Dismiss").click()
    expect(cards).to_have_count(1)
    card.get_by_role("button", name="Join").click()
    wait_joined(page, party)  # the invitation's password was used
    expect(cards).to_have_count(0)
    assert bob.wait_until(lambda: "alice" in bob.occupants(party), 10), bob.presences(party)
    expect(room_row(page, "party")).to_be_visible()
    # The owner renames it while she is in: the title follows (status 104).
    bob.configure_room(party, {"muc#roomconfig_roomname": "Party time"})
    expect(page.locator("#chat-title")).to_have_text("Party time", timeout=TIMEOUT)
    no_errors(page)


# -- 4. nickname, autojoin and forgetting a room, across reloads ---------------------
def test_nickname_autojoin_and_forget(private: Any, new_page: Any) -> None:
    srv = private()
    room = f"nicks@{MUC}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    bob.configure_room(room, {"muc#roomconfig_persistentroom": True})
    page = new_alice(srv, new_page)
    join_dialog(page, room)
    wait_joined(page, room)
    dialog = options(page)
    dialog.get_by_label("Nickname").fill("bob")  # taken
    dialog.get_by_role("button", name="Change nickname").click()
    expect(page.locator("#notice")).to_have_text(
        "That nickname is already taken in this room.", timeout=TIMEOUT)
    dialog.get_by_label("Nickname").fill("ally")
    dialog.get_by_role("button", name="Change nickname").click()
    expect(dialog.locator("#nick-status")).to_have_text("You are now ally here.", timeout=TIMEOUT)
    assert bob.wait_until(lambda: "ally" in bob.occupants(room), 10), bob.presences(room)
    autojoin = dialog.get_by_label("Join this room when I log in")
    expect(autojoin).to_be_checked()
    autojoin.uncheck()
    dialog.get_by_role("button", name="Close").click()
    bob.sync()

    # A new login: the room is listed (bookmarked) but not joined.
    page2 = new_page()
    login(page2, srv.roost.url, ALICE, "alice", trusted=False)
    wait_main(page2)
    expect(room_row(page2, "nicks")).to_contain_text("Not joined", timeout=TIMEOUT)
    room_row(page2, "nicks").get_by_role("button").click()
    dialog = options(page2)
    expect(dialog.get_by_label("Join this room when I log in")).not_to_be_checked()
    dialog.get_by_role("button", name="Leave and forget").click()
    expect(rooms(page2).get_by_role("listitem")).to_have_count(0, timeout=TIMEOUT)
    page3 = new_page()
    login(page3, srv.roost.url, ALICE, "alice", trusted=False)
    wait_main(page3)
    page3.wait_for_timeout(1000)  # bookmarks come right after login
    expect(rooms(page3).get_by_role("listitem")).to_have_count(0)
    no_errors(page2)
