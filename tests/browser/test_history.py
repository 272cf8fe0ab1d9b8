"""History end to end: paging one chat's archive by scrolling, corrections
shown as edited, and a gap the archive can't cover (real Prosody, Chromium)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat import TIMEOUT, contact, log, login, open_chat

BOB = "bob@localhost"
ALICE = "alice@localhost"


def _rows(page: Any) -> list[str]:
    bodies: list[str] = page.locator("[role=log] .msg .body").all_text_contents()
    return bodies


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_scrolling_up_pages_the_archive_of_one_chat(
    private: Any, new_page: Any, trusted: bool
) -> None:
    """A new device: bob's 300 messages are older than carol's 250, so the
    login catch-up (the newest 200) has none of bob's. Opening his chat
    shows his newest from the archive; scrolling up pages back to his first,
    with a bounded number of rows and each message once, in order."""
    srv = private()
    bob, carol = srv.peer("bob", "pc"), srv.peer("carol", "pc")
    wanted = [f"bob {n:03d}" for n in range(300)]
    bob.send_batch(ALICE, [(f"b{n}", body) for n, body in enumerate(wanted)])
    bob.sync()
    carol.send_batch(ALICE, [(f"c{n}", f"carol {n}") for n in range(250)])
    carol.sync()
    page = new_page()
    login(page, srv.roost.url, ALICE, "alice", trusted=trusted)
    expect(page.locator("#sync-state")).to_be_hidden(timeout=TIMEOUT)
    open_chat(page, "Bob")  # trusted: read from storage first (nothing), then the archive
    expect(log(page)).to_contain_text("bob 299", timeout=TIMEOUT)
    messages = page.locator("#messages")
    for _ in range(60):
        if page.get_by_text("bob 000", exact=True).count():
            break
        messages.evaluate("el => { el.scrollTop = 0; }")
        page.wait_for_timeout(150)
    expect(page.get_by_text("bob 000", exact=True)).to_be_visible(timeout=TIMEOUT)
    rows = _rows(page)
    assert len(rows) <= 250, len(rows)  # a window, not the whole history
    numbers = [int(r.split()[1]) for r in rows if r.startswith("bob ")]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers[:20]
    assert numbers[0] == 0
    assert page.errors.errors == []


def test_a_correction_shows_as_edited(private: Any, new_page: Any) -> None:
    srv = private()
    bob = srv.peer("bob", "pc")
    page = new_page()
    login(page, srv.roost.url, ALICE, "alice", trusted=False)
    open_chat(page, "Bob")
    bob.send_batch(ALICE, [("orig-1", "see you at 5")])
    expect(log(page)).to_contain_text("see you at 5", timeout=TIMEOUT)
    bob.send_raw(
        f"<message xmlns='jabber:client' to='{ALICE}' type='chat' id='fix-1'>"
        "<body>see you at 6</body><replace xmlns='urn:xmpp:message-correct:0' id='orig-1'/>"
        "</message>"
    )
    expect(log(page)).to_contain_text("see you at 6", timeout=TIMEOUT)
    expect(log(page)).to_contain_text(re.compile("edited"))
    assert "see you at 5" not in _rows(page)  # corrected in place, not added
    assert _rows(page).count("see you at 6") == 1
    assert page.errors.errors == []


def test_an_expired_archive_cursor_leaves_a_gap_that_can_be_filled(
    private: Any, new_page: Any
) -> None:
    """The device's cursor is no longer in the archive (expired): the chat
    shows a gap row instead of silently skipping; "Try again" asks the
    archive, and the row goes once the page reaches back past it."""
    srv = private()
    bob = srv.peer("bob", "pc")
    page = new_page()
    login(page, srv.roost.url, ALICE, "alice", trusted=True)
    open_chat(page, "Bob")
    bob.send_batch(ALICE, [("g1", "before the gap")])
    expect(log(page)).to_contain_text("before the gap", timeout=TIMEOUT)
    page.wait_for_timeout(600)  # the store's batched write
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
    # As if the archive had expired what the cursor points at.
    page.evaluate(
        """() => new Promise((resolve, reject) => {
            const req = indexedDB.open("roost-alice@localhost");
            req.onsuccess = () => {
                const tx = req.result.transaction("cursors", "readwrite");
                tx.objectStore("cursors").put({archive_id: "expired-id", stamp: 0}, "");
                tx.oncomplete = () => { req.result.close(); resolve(); };
                tx.onerror = () => reject(tx.error);
            };
            req.onerror = () => reject(req.error);
        })"""
    )
    bob.send_batch(ALICE, [("g2", "after the gap")])
    bob.sync()
    login(page, srv.roost.url, ALICE, "alice", trusted=True)
    expect(contact(page, "Bob")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#sync-state")).to_be_hidden(timeout=TIMEOUT)
    open_chat(page, "Bob")
    expect(log(page)).to_contain_text("after the gap", timeout=TIMEOUT)
    gap = page.locator("[role=log] .gap")
    expect(gap).to_have_count(1, timeout=TIMEOUT)
    expect(gap).to_contain_text("could not be loaded")
    assert _rows(page) == ["before the gap", "after the gap"]
    gap.get_by_role("button", name="Try again").click()
    expect(gap).to_have_count(0, timeout=TIMEOUT)
    assert _rows(page) == ["before the gap", "after the gap"]
    assert page.errors.errors == []
