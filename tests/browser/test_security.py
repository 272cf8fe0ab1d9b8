"""Attacker-controlled text reaches the page as text only (SECURITY.md, Rendering)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from backend.devserver.prosody import Contact
from tests.browser.conftest import RoostServer
from tests.browser.test_chat import TIMEOUT, contact, contacts, log, login, open_chat

# Each payload sets window.__xss if any of it ever runs.
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<svg/onload=window.__xss=1>",
    '"><script>window.__xss=1</script>',
    "<iframe srcdoc=\"<script>parent.__xss=1</script>\"></iframe>",
    "<a href=\"javascript:window.__xss=1\">click</a>",
    "<script type=\"text/python\">from browser import window; window.__xss = 1</script>",
    "\u202e<img src=x onerror=window.__xss=1>\u202c",
    "<style>@import 'http://127.0.0.1:1/x.css';</style>",
    "&lt;b&gt;entity&lt;/b&gt; &amp; <![CDATA[<img src=x onerror=window.__xss=1>]]>",
]
ACTIVE = "img, svg, script, iframe, a[href^='javascript'], style, object, embed"


def test_message_bodies_render_as_text(roost: RoostServer, new_page: Any,
                                       peer_factory: Any) -> None:
    bob = peer_factory("bob", "xss")
    page = new_page()
    login(page, roost.url, "alice@localhost", "alice")
    open_chat(page, "Bob")
    for payload in PAYLOADS:
        bob.send("alice@localhost", payload)
    for payload in PAYLOADS:
        expect(log(page)).to_contain_text(payload.strip("\u202e\u202c"), timeout=TIMEOUT)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator(f"[role=log] :is({ACTIVE})").count() == 0
    assert page.locator("[onerror], [onload]").count() == 0
    # The contact list's last-message preview shows the same text, also as text.
    assert contacts(page).locator(f":is({ACTIVE})").count() == 0
    assert page.errors.errors == []


def test_contact_names_render_as_text(private: Any, new_page: Any) -> None:
    evil = '<img src=x onerror="window.__xss=1">Mallory'
    srv = private(rosters={"alice": [Contact("bob@localhost", evil)]})
    page = new_page()
    login(page, srv.roost.url, "alice@localhost", "alice")
    expect(contact(page, evil)).to_be_visible(timeout=TIMEOUT)
    open_chat(page, evil)
    assert page.evaluate("window.__xss") is None
    # No element built from the name: nothing with inline handlers, no <img src=x>.
    assert page.locator("[onerror], [onload], img[src='x']").count() == 0
    assert page.errors.errors == []


def test_subscription_request_status_renders_as_text(private: Any, new_page: Any) -> None:
    """A stranger's JID can't carry markup, but the status text of their subscribe can."""
    srv = private()
    page = new_page()
    login(page, srv.roost.url, "alice@localhost", "alice")
    expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=TIMEOUT)
    stranger = srv.peer("stranger", "x")
    status = "\n".join(PAYLOADS)
    stranger._call(
        lambda: stranger._client.send_presence(  # type: ignore[union-attr]
            pto="alice@localhost", ptype="subscribe", pstatus=status
        )
    )
    card = page.get_by_role("group", name="stranger@localhost wants to see your status")
    expect(card).to_be_visible(timeout=TIMEOUT)
    for payload in PAYLOADS:
        expect(card).to_contain_text(payload.strip("\u202e\u202c"))
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator(f"#requests :is({ACTIVE})").count() == 0
    assert page.locator("[onerror], [onload]").count() == 0
    # The notice area only ever shows Roost's own sentences (tests/app:
    # a bounce's <text> never reaches it), so it has no corpus of its own.
    assert page.errors.errors == []
