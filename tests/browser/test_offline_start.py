"""Start like an installed app: a trusted device remembers the login (the SCRAM
key, never the password) and starts without a prompt, also offline from the
service worker's cache, with the last conversations shown from the local store
and what is written offline kept in the outbox until the network is back.

Prosody here stores SCRAM credentials (`internal_hashed`, its default): with
`internal_plain` it makes a new salt at every login, so no key ever fits.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from playwright.sync_api import expect

from backend.devserver.prosody import PROSODYCTL
from tests.browser.conftest import RoostServer
from tests.support.roost_page import login, poll, wait_main, wait_state

TIMEOUT = 20_000

READ_LOGIN_JS = """async () => {
  const names = (await indexedDB.databases()).map(d => d.name);
  if (!names.includes('roost-login')) { return null; }
  return await new Promise((ok, fail) => {
    const req = indexedDB.open('roost-login');
    req.onsuccess = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('login')) { db.close(); ok(null); return; }
      const get = db.transaction('login').objectStore('login').get('current');
      get.onsuccess = () => { db.close(); ok(get.result || null); };
      get.onerror = () => { db.close(); fail(get.error); };
    };
    req.onerror = () => fail(req.error);
  });
}"""


def remembered(page: Any) -> Any:
    return page.evaluate(READ_LOGIN_JS)


def contact(page: Any, name: str) -> Any:
    contacts = page.get_by_role("list", name="Contacts")
    return contacts.get_by_role("listitem", name=re.compile(rf"^{re.escape(name)}\b"))


def open_chat(page: Any, name: str) -> None:
    contact(page, name).click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible(timeout=TIMEOUT)


def send(page: Any, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def log(page: Any) -> Any:
    return page.get_by_role("log", name="Messages")


def wait_remembered(page: Any) -> dict[str, Any]:
    assert poll(lambda: remembered(page) is not None, 10, page=page), "login not remembered"
    record = remembered(page)
    assert isinstance(record, dict)
    return record


def change_password(prosody: Any, user: str, password: str) -> None:
    """As an admin would (or the user, from another client): Prosody stores a
    new salt with the new password."""
    subprocess.run([PROSODYCTL, "--config", str(prosody.config_path), "register", user,
                    prosody.domain, password], check=True, capture_output=True, timeout=30)


def test_remembered_login_starts_without_a_prompt_also_offline(
    private: Any, new_page: Any
) -> None:
    srv = private(auth="internal_hashed")
    bob = srv.peer("bob", "bot")
    page = new_page()
    login(page, srv.roost.url, "alice@localhost", "alice", trusted=True)
    wait_main(page)
    open_chat(page, "Bob")
    send(page, "hello before")
    assert bob.wait_message() == ("alice@localhost", "hello before")
    bob.send("alice@localhost", "hi from bob")
    expect(log(page)).to_contain_text("hi from bob", timeout=TIMEOUT)

    record = wait_remembered(page)
    assert sorted(record) == ["account", "iterations", "mechanism", "salt", "salted_password"]
    assert record["account"] == "alice@localhost" and record["mechanism"] == "SCRAM-SHA-1"
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=TIMEOUT)

    # A reload logs in with the key: no form to fill, the open chat comes back.
    page.reload()
    wait_main(page)
    assert wait_state(page, "online", 20), srv.evidence()
    expect(log(page)).to_contain_text("hi from bob", timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Log in")).to_be_hidden()

    # Offline: the service worker serves the shell; the list and the last
    # chat come from this device's store.
    page.context.set_offline(True)
    try:
        response = page.reload()
        assert response is not None and response.from_service_worker
        expect(page.get_by_role("button", name="Log out")).to_be_visible(timeout=TIMEOUT)
        expect(contact(page, "Bob")).to_contain_text("hi from bob", timeout=TIMEOUT)
        expect(log(page)).to_contain_text("hello before", timeout=TIMEOUT)
        expect(log(page)).to_contain_text("hi from bob")
        expect(page.locator("#reconnect-banner")).to_have_text(
            "Offline — messages will be sent when you're back online", timeout=TIMEOUT
        )
        send(page, "written offline")
        row = log(page).locator(".msg", has_text="written offline")
        expect(row).to_contain_text("Waiting", timeout=TIMEOUT)
        page.wait_for_timeout(300)
        assert bob.inbox.empty()
    finally:
        page.context.set_offline(False)
    # Back online: connected with the key, the outbox goes out.
    assert bob.wait_message(timeout=30) == ("alice@localhost", "written offline")
    assert wait_state(page, "online", 20), srv.evidence()
    expect(page.locator("#reconnect-banner")).to_be_hidden()
    assert not page.errors.errors, page.errors.errors  # type: ignore[attr-defined]


def test_changed_password_asks_for_it_with_the_address_filled_in(
    private: Any, new_page: Any
) -> None:
    srv = private(auth="internal_hashed")
    page = new_page()
    login(page, srv.roost.url, "alice@localhost", "alice", trusted=True)
    wait_main(page)
    wait_remembered(page)
    change_password(srv.prosody, "alice", "changed")
    page.reload()
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#login-status")).to_contain_text(
        "your password may have changed", timeout=TIMEOUT
    )
    expect(page.get_by_label("Address")).to_have_value("alice@localhost")
    expect(page.get_by_label("Password")).to_be_focused()
    assert poll(lambda: remembered(page) is None, 10, page=page)
    assert page.evaluate("localStorage.getItem('roost-snapshot')") is None
    # The new password logs in (and is remembered again).
    login(page, None, "alice@localhost", "changed", trusted=True)
    wait_main(page)
    wait_remembered(page)


def test_logout_forgets_the_login(private: Any, new_page: Any) -> None:
    srv = private(auth="internal_hashed")
    page = new_page()
    login(page, srv.roost.url, "alice@localhost", "alice", trusted=True)
    wait_main(page)
    wait_remembered(page)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
    assert poll(lambda: remembered(page) is None, 10, page=page)
    page.reload()
    page.wait_for_function("window.RoostBoot && window.RoostBoot.ready", timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_label("Address")).to_have_value("")
    assert page.evaluate("localStorage.getItem('roost-snapshot')") is None


def test_untrusted_login_is_not_remembered(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    login(page, roost.url, "carol@localhost", "carol", trusted=False)
    wait_main(page)
    page.reload()
    page.wait_for_function("window.RoostBoot && window.RoostBoot.ready", timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    left = page.evaluate(
        """async () => ({dbs: (await indexedDB.databases()).map(d => d.name)
                              .filter(n => !n.startsWith('brython')),
                         local: localStorage.length})"""
    )
    assert left == {"dbs": [], "local": 0}
