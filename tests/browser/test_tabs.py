"""One tab owns the account's stream: a second tab of the same browser asks
first, and "Use here" moves the session (real app, Prosody, Chromium)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.test_chat import TIMEOUT, contact, log, login, open_chat
from tests.support.pagelog import PageLog

ALICE = "alice@localhost"


def test_second_tab_asks_and_use_here_moves_the_session(
    private: Any, new_page: Any
) -> None:
    srv = private()
    bob = srv.peer("bob", "pc")
    first = new_page()
    login(first, srv.roost.url, ALICE, "alice", trusted=True)
    open_chat(first, "Bob")
    bob.send_batch(ALICE, [("t1", "to the first tab")])
    expect(log(first)).to_contain_text("to the first tab", timeout=TIMEOUT)
    first.wait_for_timeout(500)  # stored (batched write)

    # A second tab of the same browser (same origin, same storage and locks).
    second = first.context.new_page()
    second.errors = PageLog(second)
    login(second, srv.roost.url, ALICE, "alice", trusted=True)
    panel = second.get_by_role("alertdialog", name="Roost is open in another tab.")
    expect(panel).to_be_visible(timeout=TIMEOUT)
    expect(first.get_by_role("alertdialog")).to_have_count(0)  # the first goes on
    bob.send_batch(ALICE, [("t2", "still the first tab")])
    expect(log(first)).to_contain_text("still the first tab", timeout=TIMEOUT)

    panel.get_by_role("button", name="Use here").click()
    expect(first.get_by_role("alertdialog", name="Roost is open in another tab.")).to_be_visible(
        timeout=TIMEOUT
    )
    expect(contact(second, "Bob")).to_be_visible(timeout=TIMEOUT)
    open_chat(second, "Bob")
    # The history the first tab stored is here, and new messages come here.
    expect(log(second)).to_contain_text("still the first tab", timeout=TIMEOUT)
    bob.send_batch(ALICE, [("t3", "now the second tab")])
    expect(log(second)).to_contain_text("now the second tab", timeout=TIMEOUT)
    bodies = second.locator("[role=log] .msg .body").all_text_contents()
    assert bodies == ["to the first tab", "still the first tab", "now the second tab"]
    first.wait_for_timeout(500)
    assert "now the second tab" not in first.locator("[role=log]").inner_text()
    assert first.errors.errors == [] and second.errors.errors == []
