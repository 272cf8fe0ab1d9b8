"""The installable app in Chromium: install checks, updates, `xmpp:` links, sharing.

Real parts: Roost's bundle built by build.py and served by `roost serve`,
Prosody, Debian's Chromium. Installability needs a persistent profile
(`new_context()` is incognito: BROWSER-TESTING.md §2). The update test builds
two releases of its own (the second from a copy of the sources with a changed
stylesheet and index.html) and swaps the files under a running server.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from backend.devserver.prosody import ProsodyServer
from tests.browser.conftest import RoostServer
from tests.conftest import ROOT
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.roost_page import login, wait_main

TIMEOUT = 20_000
HASHED = re.compile(r"^[a-z0-9-]+\.[0-9a-f]{8}\.(js|css|png|svg)$")


def _no_errors(page: Any) -> None:
    errors = page.errors.errors if hasattr(page, "errors") else []
    assert errors == [], errors


# -- install --------------------------------------------------------------------


def test_installable_with_icons_protocol_handler_and_share_target(
    roost: RoostServer, chromium: Any, tmp_path: Path
) -> None:
    ctx = chromium.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    try:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(roost.url)
        cdp = ctx.new_cdp_session(page)
        errors: list[Any] = []
        for _ in range(50):  # the manifest and icons load after the page
            errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
            if not errors:
                break
            page.wait_for_timeout(200)
        assert errors == []
        got = cdp.send("Page.getAppManifest")
        assert got["errors"] == []
        assert got["url"] == roost.url + "/manifest.json"
        manifest = json.loads(got["data"])  # the raw text: the parsed form drops `purpose`
        icons = {(i["sizes"], i.get("purpose", "any")): i["src"] for i in manifest["icons"]}
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(icons)
        for src in icons.values():
            status = page.evaluate("u => fetch(u).then(r => r.status)", src)
            assert status == 200, src
        assert manifest["protocol_handlers"] == [{"protocol": "xmpp", "url": "./#%s"}]
        assert manifest["share_target"]["method"] == "GET"
        assert set(manifest["share_target"]["params"]) == {"title", "text", "url"}
        parsed = got["manifest"]
        assert parsed["id"] == roost.url + "/"
        assert parsed["startUrl"] == roost.url + "/"
        assert parsed["display"] == "kStandalone"
    finally:
        ctx.close()


# -- updates --------------------------------------------------------------------


def _build_release_b(tmp_path: Path) -> Path:
    """Roost built from a copy of the sources with a changed stylesheet and
    index.html: what an operator deploys as the next release."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("frontend", "service_worker"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("build.py", "manifest.json"):
        shutil.copy2(ROOT / name, src / name)
    icons = ROOT / ".roost-run" / "icon-cache"
    if icons.is_dir():  # drawing the icons again takes seconds; same build.py, same icons
        shutil.copytree(icons, src / ".roost-run" / "icon-cache")
    css = src / "frontend" / "static" / "roost.css"
    css.write_text(css.read_text() + "\n/* release B */\n")
    index = src / "frontend" / "static" / "index.html"
    text = index.read_text()
    index.write_text(text.replace("<title>Roost</title>",
                                  '<title>Roost</title>\n<meta name="roost-release" content="B">'))
    out = tmp_path / "dist-b"
    subprocess.run([sys.executable, str(src / "build.py"), "--out", str(out)], check=True,
                   cwd=src, capture_output=True, timeout=300)
    return out


def _release(dist: Path) -> tuple[str, set[str]]:
    """A build's service worker version and its hashed file names."""
    report = json.loads((dist / "build-report.json").read_text())
    return report["service_worker"]["version"], set(report["assets"].values())


def _loaded_assets(page: Any) -> set[str]:
    """Hashed files this document loaded (stylesheet, scripts, icons)."""
    names: list[str] = page.evaluate("""() => performance.getEntriesByType('resource')
        .map(e => new URL(e.name).pathname.split('/').pop())""")
    return {n for n in names if HASHED.match(n)}


def _replace_files(served: Path, release: Path) -> None:
    for path in served.iterdir():
        path.unlink()
    for path in release.iterdir():
        shutil.copy2(path, served / path.name)


def test_an_update_is_offered_then_applied_without_mixing_releases(
    dist_dir: Path, prosody: ProsodyServer, new_page: Any, tmp_path: Path
) -> None:
    release_b = _build_release_b(tmp_path)
    version_a, assets_a = _release(dist_dir)
    version_b, assets_b = _release(release_b)
    assert version_a != version_b and assets_a != assets_b
    served = tmp_path / "served"
    shutil.copytree(dist_dir, served)
    (tmp_path / "server").mkdir()
    server = RoostServer(tmp_path / "server", served, prosody)
    try:
        page = new_page()
        page.goto(server.url)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
        assert page.evaluate("caches.keys()") == [f"roost-shell-{version_a}"]
        banner = page.locator("#update-banner")
        expect(banner).to_be_hidden()

        _replace_files(served, release_b)
        page.evaluate("() => navigator.serviceWorker.getRegistration().then(r => r.update())")
        expect(banner).to_be_visible(timeout=TIMEOUT)
        expect(banner).to_contain_text("Update available")
        # Installed beside release A, waiting: nothing changes until the user chooses.
        assert page.evaluate("navigator.serviceWorker.getRegistration().then(r => !!r.waiting)")
        assert sorted(page.evaluate("caches.keys()")) == sorted(
            [f"roost-shell-{version_a}", f"roost-shell-{version_b}"]
        )
        # Another window opened now still gets all of release A (its index.html
        # and its assets), although the server has only B's files.
        other = page.context.new_page()
        other.goto(server.url)
        expect(other.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
        assert other.locator('meta[name="roost-release"]').count() == 0
        loaded = _loaded_assets(other)
        assert loaded and loaded <= assets_a, loaded - assets_a
        other.close()

        page.get_by_role("button", name="Reload").click()
        expect(page.locator('meta[name="roost-release"]')).to_have_count(1, timeout=TIMEOUT)
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
        loaded = _loaded_assets(page)
        assert loaded and loaded <= assets_b, loaded - assets_b
        assert page.evaluate("caches.keys()") == [f"roost-shell-{version_b}"]
        expect(banner).to_be_hidden()
        # And offline, release B starts from its cache.
        page.context.set_offline(True)
        try:
            response = page.reload()
            assert response is not None and response.from_service_worker
            expect(page.locator('meta[name="roost-release"]')).to_have_count(1)
            expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=TIMEOUT)
        finally:
            page.context.set_offline(False)
    finally:
        server.stop()


# -- links and sharing ---------------------------------------------------------------


def _sent_to(page: Any, bare: str) -> list[str]:
    rows = page.evaluate(
        "b => Array.from(window.RoostDebug.messages(b) || []).filter(m => m.outgoing)"
        ".map(m => m.body)", bare)
    return list(rows)


def test_xmpp_link_opens_the_chat_once_logged_in(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    page.goto(roost.url + "/#xmpp:bob@localhost?message;body=Hello%20from%20a%20link")
    login(page, None, "alice@localhost", "alice", trusted=False)
    wait_main(page)
    expect(page.locator("#chat-title")).to_have_text("Bob", timeout=TIMEOUT)
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_have_value("Hello from a link")
    expect(composer).to_be_focused()
    assert page.evaluate("location.hash") == ""  # a reload doesn't open it again
    assert "Hello from a link" not in _sent_to(page, "bob@localhost")  # never sent by itself

    # Followed while logged in, percent-encoded as a protocol handler hands it over.
    page.evaluate("() => { location.hash = '#' + encodeURIComponent('xmpp:carol@localhost'); }")
    expect(page.locator("#chat-title")).to_have_text("Carol", timeout=TIMEOUT)
    assert page.evaluate("location.hash") == ""

    # A broken link: a notice, no traceback.
    page.evaluate("() => { location.hash = '#xmpp:localhost'; }")
    expect(page.locator("#notice")).to_have_text(
        "This link can't be opened: “localhost” is a server, not a person or a room.",
        timeout=TIMEOUT,
    )
    expect(page.locator("#chat-title")).to_have_text("Carol")
    _no_errors(page)


def test_shared_text_goes_into_the_picked_chat(roost: RoostServer, new_page: Any) -> None:
    page = new_page()
    page.goto(roost.url + "/?share-title=A+page&share-text=Look+at+this"
              "&share-url=https%3A%2F%2Fexample.org%2Fnews")
    login(page, None, "alice@localhost", "alice", trusted=False)
    wait_main(page)
    dialog = page.get_by_role("dialog", name="Share to…")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    expect(dialog.locator("#share-preview")).to_have_text("Look at this https://example.org/news")
    search = dialog.get_by_role("searchbox", name="Search chats")
    expect(search).to_be_focused()
    chats = dialog.get_by_role("list", name="Chats")
    expect(chats.get_by_role("button")).to_have_count(3)  # bob, carol, the echo bot
    # Keyboard only: narrow down, move into the list, pick.
    page.keyboard.type("car")
    expect(chats.get_by_role("button")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    expect(chats.get_by_role("button", name=re.compile("^Carol"))).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(page.locator("#chat-title")).to_have_text("Carol", timeout=TIMEOUT)
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_have_value("Look at this https://example.org/news")
    expect(composer).to_be_focused()
    assert page.evaluate("location.search") == ""
    page.wait_for_timeout(300)
    # The user presses Send, not Roost (other tests' messages to carol are in
    # alice's archive on the shared server: look for this text only).
    assert "Look at this https://example.org/news" not in _sent_to(page, "carol@localhost")
    _no_errors(page)


@pytest.mark.parametrize("cancel", ["Escape", "Cancel"])
def test_share_picker_can_be_cancelled(roost: RoostServer, new_page: Any, cancel: str) -> None:
    page = new_page()
    page.goto(roost.url + "/?share-text=Nothing+to+see")
    login(page, None, "alice@localhost", "alice", trusted=False)
    wait_main(page)
    dialog = page.get_by_role("dialog", name="Share to…")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    if cancel == "Escape":
        page.keyboard.press("Escape")
    else:
        dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#chat-title")).to_have_text("No conversation open")
    assert page.evaluate("location.search") == ""
    _no_errors(page)
