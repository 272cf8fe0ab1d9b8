"""One tab owns an account's session (roost.platform.tabs, roost.ui.tabs) in real Chromium.

Pages of one browser context share an origin, so they share Web Locks and
the BroadcastChannel, like tabs of one browser profile. Each page is the
built index.html whose Python entry makes a `TabLock` (or the whole panel)
and exposes small functions on `window` for the test to drive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.platform.conftest import PageLog, wait_result

ALICE = "alice@localhost"
BOB = "bob@localhost"

LOCK_PAGE = """
from browser import window
from roost.platform.jsdata import to_js
from roost.platform.tabs import TabLock
window.results = to_js({})
lock = TabLock()
events = []
mode = {"release": True}

def log(*args):
    events.append(list(args))
    window.results["events"] = to_js(events)

def asked(account):
    log("asked", account)
    if mode["release"]:
        lock.release()

lock.on_release_request(asked)

def claim(account):
    lock.claim(account, lambda: log("owned", account), lambda: log("busy", account))

def take_over(account):
    lock.take_over(account, lambda: log("owned", account))

def set_release(flag):
    mode["release"] = bool(flag)

def state():
    return to_js({"held": lock.held, "pending": lock.pending, "available": lock.available})

window.tabClaim = claim
window.tabTakeOver = take_over
window.tabRelease = lambda: lock.release()
window.tabSetRelease = set_release
window.tabState = state
window.results["ready"] = True
"""

PANEL_PAGE = """
from browser import document, window
from roost.platform.jsdata import to_js
from roost.platform.tabs import TabLock
from roost.ui.tabs import install_tabs
window.results = to_js({})
events = []

def log(*args):
    events.append(list(args))
    window.results["events"] = to_js(events)

tabs = install_tabs(TabLock(), document, document.getElementById("app"))
tabs.set_step_aside(lambda: log("step aside"))
tabs.set_resume(lambda: log("resume"))
window.tabLogin = lambda account: tabs.before_login(account, lambda: log("login", account))
window.tabLogout = lambda: tabs.logout()
window.results["ready"] = True
"""

Page = tuple[Any, PageLog]


@pytest.fixture
def pages(context: Any) -> Iterator[Callable[[str], Page]]:
    """`open(url)`: another page (tab) of the same context, ready to drive."""
    opened: list[Page] = []

    def open_page(url: str) -> Page:
        pg = context.new_page()
        log = PageLog(pg)
        pg.goto(url)
        wait_result(pg, "ready")
        opened.append((pg, log))
        return pg, log

    yield open_page
    for pg, log in opened:
        if not pg.is_closed():
            assert log.errors == [], log.console
            assert log.failed == [], log.failed
            pg.close()


@pytest.fixture(scope="module")
def lock_url(make_page: Callable[[str, str], str]) -> str:
    return make_page("t-tabs", LOCK_PAGE)


@pytest.fixture(scope="module")
def panel_url(make_page: Callable[[str, str], str]) -> str:
    return make_page("t-tabs-panel", PANEL_PAGE)


def events(pg: Any) -> list[list[str]]:
    return pg.evaluate("() => window.results.events || []")  # type: ignore[no-any-return]


def wait_event(pg: Any, *event: str, count: int = 1) -> None:
    """Wait until `event` has been logged `count` times."""
    pg.wait_for_function(
        """([e, n]) => (window.results.events || [])
            .filter(x => JSON.stringify(x) === e).length >= n""",
        arg=[json.dumps(list(event), separators=(",", ":")), count],
        timeout=10_000,
    )


def state(pg: Any) -> dict[str, Any]:
    return pg.evaluate("() => window.tabState()")  # type: ignore[no-any-return]


def held_locks(pg: Any) -> dict[str, list[str]]:
    """What the browser says about Roost's locks, for the whole origin."""
    return pg.evaluate(  # type: ignore[no-any-return]
        """() => navigator.locks.query().then(s => ({
            held: s.held.map(l => l.name).sort(),
            pending: s.pending.map(l => l.name).sort(),
        }))"""
    )


def call(pg: Any, fn: str, *args: object) -> None:
    # Wrapped so that evaluate never waits on what the call returns.
    pg.evaluate(f"(args) => {{ window.{fn}(...args); }}", list(args))


# -- TabLock --------------------------------------------------------------------------


def test_first_tab_owns_second_is_busy(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    assert state(p1) == {"held": ALICE, "pending": None, "available": True}
    assert held_locks(p1) == {"held": ["roost-session:" + ALICE], "pending": []}
    call(p2, "tabClaim", ALICE)
    wait_event(p2, "busy", ALICE)
    assert state(p2) == {"held": None, "pending": None, "available": True}
    # Claiming never waits and never asks the owner to go.
    assert held_locks(p2) == {"held": ["roost-session:" + ALICE], "pending": []}
    assert events(p1) == [["owned", ALICE]]
    # Claiming again what one holds is granted at once.
    call(p1, "tabClaim", "Alice@Localhost")
    wait_event(p1, "owned", "Alice@Localhost")
    assert state(p1)["held"] == ALICE


def test_take_over_and_take_back(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabClaim", ALICE)
    wait_event(p2, "busy", ALICE)

    call(p2, "tabTakeOver", ALICE)
    wait_event(p1, "asked", ALICE)  # the owner hears the request and releases...
    wait_event(p2, "owned", ALICE)  # ...and the other tab gets the lock
    assert state(p1) == {"held": None, "pending": None, "available": True}
    assert state(p2) == {"held": ALICE, "pending": None, "available": True}
    assert held_locks(p1) == {"held": ["roost-session:" + ALICE], "pending": []}

    call(p1, "tabTakeOver", ALICE)  # and back
    wait_event(p2, "asked", ALICE)
    wait_event(p1, "owned", ALICE, count=2)
    assert state(p1)["held"] == ALICE
    assert state(p2)["held"] is None
    assert events(p1) == [["owned", ALICE], ["asked", ALICE], ["owned", ALICE]]
    assert events(p2) == [["busy", ALICE], ["owned", ALICE], ["asked", ALICE]]


def test_closing_the_owner_frees_the_lock(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabSetRelease", False)  # the owner hears the request but doesn't let go
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabTakeOver", ALICE)
    wait_event(p1, "asked", ALICE)
    assert state(p2) == {"held": None, "pending": ALICE, "available": True}
    assert held_locks(p2)["pending"] == ["roost-session:" + ALICE]
    p1.close()  # the browser frees what a closed page held
    wait_event(p2, "owned", ALICE)
    assert state(p2) == {"held": ALICE, "pending": None, "available": True}


def test_last_take_over_wins(pages: Callable[[str], Page], lock_url: str) -> None:
    """Two tabs ask while a third owns: the one asking last gets it, the other stops waiting."""
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    p3, _ = pages(lock_url)
    call(p1, "tabSetRelease", False)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabTakeOver", ALICE)
    wait_event(p1, "asked", ALICE)
    call(p3, "tabTakeOver", ALICE)
    wait_event(p2, "asked", ALICE)  # p2 was waiting: it gives up
    wait_event(p1, "asked", ALICE, count=2)
    assert state(p2) == {"held": None, "pending": None, "available": True}
    p1.wait_for_function(
        "() => navigator.locks.query().then(s => s.pending.length === 1)", timeout=5_000
    )
    call(p1, "tabRelease")
    wait_event(p3, "owned", ALICE)
    assert state(p3)["held"] == ALICE
    assert ["owned", ALICE] not in events(p2)


def test_asking_again_repeats_the_request(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabSetRelease", False)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabTakeOver", ALICE)
    wait_event(p1, "asked", ALICE)
    call(p1, "tabSetRelease", True)
    call(p2, "tabTakeOver", ALICE)  # still waiting: asks again, one request only
    wait_event(p1, "asked", ALICE, count=2)
    wait_event(p2, "owned", ALICE)
    assert held_locks(p2) == {"held": ["roost-session:" + ALICE], "pending": []}


def test_accounts_do_not_interfere(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabClaim", BOB)
    wait_event(p2, "owned", BOB)
    assert held_locks(p1)["held"] == ["roost-session:" + ALICE, "roost-session:" + BOB]
    # Taking over bob does not disturb alice's owner.
    p3, _ = pages(lock_url)
    call(p3, "tabTakeOver", BOB)
    wait_event(p2, "asked", BOB)
    wait_event(p3, "owned", BOB)
    assert events(p1) == [["owned", ALICE]]
    # Switching account gives the first one back.
    call(p1, "tabClaim", BOB)
    wait_event(p1, "busy", BOB)
    assert state(p1)["held"] is None
    assert held_locks(p1)["held"] == ["roost-session:" + BOB]


def test_release_frees_the_lock(pages: Callable[[str], Page], lock_url: str) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p1, "tabRelease")
    p1.wait_for_function("() => navigator.locks.query().then(s => s.held.length === 0)")
    call(p2, "tabClaim", ALICE)
    wait_event(p2, "owned", ALICE)


def test_without_web_locks_every_claim_is_granted(
    context: Any, pages: Callable[[str], Page], lock_url: str
) -> None:
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'locks', {get() { return undefined; }})"
    )
    p1, _ = pages(lock_url)
    p2, _ = pages(lock_url)
    call(p1, "tabClaim", ALICE)
    call(p2, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    wait_event(p2, "owned", ALICE)
    assert state(p2) == {"held": ALICE, "pending": None, "available": False}
    call(p2, "tabTakeOver", ALICE)
    call(p1, "tabTakeOver", BOB)
    wait_event(p1, "owned", BOB)
    assert ["asked", ALICE] not in events(p1)


# -- the panel (roost.ui.tabs) -------------------------------------------------------------


def test_panel_use_here_moves_the_session(pages: Callable[[str], Page], panel_url: str) -> None:
    p1, _ = pages(panel_url)
    p2, _ = pages(panel_url)
    dialog_name = "Roost is open in another tab."
    call(p1, "tabLogin", ALICE)
    wait_event(p1, "login", ALICE)
    assert p1.get_by_role("alertdialog").count() == 0

    p2.get_by_label("Address").focus()
    call(p2, "tabLogin", ALICE)
    dialog = p2.get_by_role("alertdialog", name=dialog_name)
    dialog.wait_for()
    use_here = dialog.get_by_role("button", name="Use here")
    assert use_here.evaluate("b => b === document.activeElement")
    described_by = dialog.get_attribute("aria-describedby")
    assert "one tab at a time" in (p2.locator(f"#{described_by}").text_content() or "")
    # The page behind is out of reach while the panel shows.
    assert p2.locator("#login-screen").evaluate("e => e.inert")
    assert events(p2) == []

    p2.keyboard.press("Enter")  # the focused "Use here"
    wait_event(p1, "step aside")
    wait_event(p2, "login", ALICE)
    p2.get_by_role("alertdialog").wait_for(state="hidden")
    assert not p2.locator("#login-screen").evaluate("e => e.inert")
    assert p2.get_by_label("Address").evaluate("e => e === document.activeElement")

    # The first tab now shows the panel; its "Use here" takes the session back.
    back = p1.get_by_role("alertdialog", name=dialog_name)
    back.wait_for()
    back.get_by_role("button", name="Use here").click()
    wait_event(p2, "step aside")
    wait_event(p1, "resume")
    back.wait_for(state="hidden")
    p2.get_by_role("alertdialog", name=dialog_name).wait_for()
    assert events(p1) == [["login", ALICE], ["step aside"], ["resume"]]
    assert events(p2) == [["login", ALICE], ["step aside"]]

    # Logging out in the owner frees the account: the other tab's login goes through.
    call(p1, "tabLogout")
    call(p2, "tabLogout")
    p2.get_by_role("alertdialog").wait_for(state="hidden")
    call(p2, "tabLogin", ALICE)
    wait_event(p2, "login", ALICE, count=2)


def test_panel_shows_waiting_while_the_owner_holds_on(
    pages: Callable[[str], Page], lock_url: str, panel_url: str
) -> None:
    p1, _ = pages(lock_url)
    p2, _ = pages(panel_url)
    call(p1, "tabSetRelease", False)
    call(p1, "tabClaim", ALICE)
    wait_event(p1, "owned", ALICE)
    call(p2, "tabLogin", ALICE)
    dialog = p2.get_by_role("alertdialog", name="Roost is open in another tab.")
    dialog.get_by_role("button", name="Use here").click()
    status = dialog.get_by_role("status")
    assert status.text_content() == "Waiting for the other tab…"
    wait_event(p1, "asked", ALICE)
    p1.close()
    wait_event(p2, "login", ALICE)
    dialog.wait_for(state="hidden")
