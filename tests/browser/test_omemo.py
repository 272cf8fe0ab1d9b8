"""OMEMO end to end: Roost in Chromium, a real Prosody, slixmpp-omemo peers.

- Roost ↔ Roost through the chaos proxy, whose wire transcript shows that no
  plaintext leaves the browser while the padlock is on; a second browser of
  bob's, added later, can't read older messages (and says why) but reads
  newer ones, and each of bob's devices reads what the other sent (carbons).
- Roost ↔ an independent implementation (slixmpp-omemo / python-omemo), a
  legacy-only peer and a legacy+OMEMO 2 peer, both ways.
- An untrusted session has no OMEMO and says so; switching to a trusted
  login in the same page (no reload) turns it on.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.test_chat import TIMEOUT, contact, log, login, open_chat, send
from tests.support.omemo_peer import OmemoPeer


def padlock(page: Any) -> Any:
    return page.locator("#e2e-toggle")


def expect_encrypted_row(page: Any, text: str) -> None:
    row = log(page).locator(".msg", has_text=text)
    expect(row).to_be_visible(timeout=TIMEOUT)
    expect(row).to_have_class(re.compile(r"\bencrypted\b"))
    expect(row.get_by_role("img", name="Encrypted")).to_be_visible()


def their_devices(page: Any, count: int) -> None:
    """Open the Encryption dialog and wait until it lists `count` devices of theirs."""
    page.get_by_role("button", name="Encryption").click()
    dialog = page.get_by_role("dialog", name=re.compile("^Encryption"))
    expect(dialog.locator("#e2e-their li")).to_have_count(count, timeout=TIMEOUT)
    dialog.get_by_role("button", name="Close").click()


def test_roost_to_roost_no_plaintext_on_the_wire_and_a_later_device(
    private: Any, new_page: Any
) -> None:
    srv = private(chaos=True)
    alice, bob = new_page(), new_page()
    login(alice, srv.roost.url, "alice@localhost", "alice")
    login(bob, srv.roost.url, "bob@localhost", "bob")
    expect(contact(alice, "Bob")).to_be_visible(timeout=TIMEOUT)
    expect(contact(bob, "Alice")).to_be_visible(timeout=TIMEOUT)
    open_chat(alice, "Bob")
    # Bob's browser published a device: the padlock is on by default.
    expect(padlock(alice)).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
    expect(padlock(alice)).to_have_text("Encrypted")
    send(alice, "secret one <b>x</b>")
    open_chat(bob, "Alice")
    expect_encrypted_row(bob, "secret one <b>x</b>")
    assert bob.locator("[role=log] b").count() == 0
    send(bob, "secret two")
    expect_encrypted_row(alice, "secret two")

    # bob on a second browser: a new device, so older messages can't be read here.
    bob2 = new_page()
    login(bob2, srv.roost.url, "bob@localhost", "bob")
    open_chat(bob2, "Alice")
    expect(log(bob2)).to_contain_text(
        "Sent before encryption was set up in this browser", timeout=TIMEOUT
    )
    their_devices(alice, 2)  # alice's Roost learnt bob's new device (PEP notification)
    send(alice, "secret three")
    expect_encrypted_row(bob2, "secret three")
    expect_encrypted_row(bob, "secret three")
    # What one of bob's devices sends, the other reads too (a carbon, encrypted for it).
    send(bob2, "secret four from bob2")
    expect_encrypted_row(alice, "secret four from bob2")
    expect_encrypted_row(bob, "secret four from bob2")

    wire = srv.chaos.recorded("up") + srv.chaos.recorded("down")
    for secret in (b"secret one", b"secret two", b"secret three", b"secret four"):
        assert secret not in wire, srv.evidence()
    assert wire.count(b"eu.siacs.conversations.axolotl") > 4
    for page in (alice, bob, bob2):
        assert page.errors.errors == [], page.errors.errors


def test_interop_with_slixmpp_omemo_legacy_and_v2_peers(private: Any, new_page: Any) -> None:
    srv = private()
    port = srv.prosody.c2s_port
    legacy = OmemoPeer("carol@localhost/legacy", "carol", port, versions="legacy")
    both = OmemoPeer("bob@localhost/both", "bob", port, versions="legacy+v2")
    try:
        alice = new_page()
        login(alice, srv.roost.url, "alice@localhost", "alice")
        # Per device, what it publishes: legacy OMEMO for carol's, OMEMO 2 for bob's.
        for name, peer, version in (("Carol", legacy, "legacy"), ("Bob", both, "v2")):
            open_chat(alice, name)
            expect(padlock(alice)).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
            send(alice, f"hello {name} from Roost")
            got = peer.wait_body(f"hello {name} from Roost", "alice@localhost", timeout=20)
            assert got.encrypted and got.namespace == version, got
            sent = peer.send_encrypted("alice@localhost", f"hello Roost from {name}")
            assert version in sent.namespaces, sent  # the peer chose the same version
            expect_encrypted_row(alice, f"hello Roost from {name}")
            # A second round, over the established sessions.
            send(alice, f"again {name}")
            assert peer.wait_body(f"again {name}", "alice@localhost", timeout=20).encrypted
            peer.send_encrypted("alice@localhost", f"again Roost from {name}")
            expect_encrypted_row(alice, f"again Roost from {name}")
            assert not peer.undecryptable, peer.undecryptable
            for sent in peer.wire_messages("in"):
                assert "from Roost" not in sent and f"again {name}" not in sent
        assert alice.errors.errors == [], alice.errors.errors
    finally:
        legacy.stop()
        both.stop()


def test_untrusted_session_has_no_omemo_then_trusted_login_without_reload(
    private: Any, new_page: Any
) -> None:
    srv = private()
    peer = OmemoPeer("bob@localhost/phone", "bob", srv.prosody.c2s_port, versions="legacy")
    try:
        # alice has a trusted browser (a device) elsewhere; bob writes to it.
        home = new_page()
        login(home, srv.roost.url, "alice@localhost", "alice")
        expect(contact(home, "Bob")).to_be_visible(timeout=TIMEOUT)
        peer.wait_devices("alice@localhost", 1)
        peer.send_encrypted("alice@localhost", "for alice's devices")
        open_chat(home, "Bob")
        expect_encrypted_row(home, "for alice's devices")

        page = new_page()  # a shared computer: not a trusted device
        login(page, srv.roost.url, "alice@localhost", "alice", trusted=False)
        open_chat(page, "Bob")
        expect(page.locator("#e2e-status")).to_contain_text(
            "Encryption is off in this browser", timeout=TIMEOUT
        )
        expect(page.locator("#e2e-actions")).to_be_hidden()
        expect(log(page)).to_contain_text("isn't a trusted device", timeout=TIMEOUT)
        expect(log(page)).not_to_contain_text("for alice's devices")
        assert page.evaluate(
            "async () => (await indexedDB.databases())"
            ".filter(d => d.name.startsWith('roost-omemo')).length"
        ) == 0

        # Log out and in again as a trusted device: OMEMO on, no reload.
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
        login(page, srv.roost.url, "alice@localhost", "alice", trusted=True)
        open_chat(page, "Bob")
        expect(padlock(page)).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
        send(page, "now encrypted")
        got = peer.wait_body("now encrypted", "alice@localhost", timeout=20)
        assert got.encrypted and got.namespace == "legacy"
        peer.send_encrypted("alice@localhost", "encrypted back")
        expect_encrypted_row(page, "encrypted back")
        expect_encrypted_row(home, "encrypted back")
        assert page.errors.errors == [] and home.errors.errors == []
    finally:
        peer.stop()


def test_group_chat_omemo_in_a_members_only_non_anonymous_room(
    private: Any, new_page: Any
) -> None:
    from tests.browser.test_rooms import join_dialog, wait_joined

    srv = private(chaos=True)
    room = "circle@conference.localhost"
    carol = srv.peer("carol", "setup")  # sets the room up, then leaves it
    carol.join_room(room, "carol")
    carol.configure_room(room, {
        "muc#roomconfig_membersonly": True,
        "muc#roomconfig_whois": "anyone",  # non-anonymous: members' addresses are known
        "muc#roomconfig_persistentroom": True,
    })
    carol.set_affiliation(room, "alice@localhost", "owner")
    carol.set_affiliation(room, "bob@localhost", "member")
    carol.set_affiliation(room, "carol@localhost", "none")  # she has no OMEMO: not a member
    carol.leave_room(room, "carol")
    alice, bob = new_page(), new_page()
    login(alice, srv.roost.url, "alice@localhost", "alice")
    login(bob, srv.roost.url, "bob@localhost", "bob")
    for page in (alice, bob):
        expect(contact(page, "Carol")).to_be_visible(timeout=TIMEOUT)
        join_dialog(page, room)
        wait_joined(page, room)
    # The room is members-only and non-anonymous: the padlock is there, on.
    expect(padlock(alice)).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
    expect(alice.locator("#e2e-devices")).to_be_hidden()
    # bob's occupant presence (his real address) must be in before alice sends.
    expect(alice.locator("#occupants-toggle")).to_have_text("Occupants (2)", timeout=TIMEOUT)
    send(alice, "circle secret one")
    expect_encrypted_row(bob, "circle secret one")
    expect_encrypted_row(alice, "circle secret one")  # her own, as she wrote it
    send(bob, "circle secret two")
    expect_encrypted_row(alice, "circle secret two")
    wire = srv.chaos.recorded("up") + srv.chaos.recorded("down")
    assert b"circle secret" not in wire, srv.evidence()
    for page in (alice, bob):
        assert page.errors.errors == [], page.errors.errors
