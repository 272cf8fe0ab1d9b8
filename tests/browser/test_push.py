"""Notifications in Chromium: the service worker's push and click handling,
the permission moment and the Notifications dialog (ui/push.py).

Real parts: Roost's bundle served by `roost serve`, Prosody, Chromium with a
persistent profile (incognito drops notification clicks, BROWSER-TESTING.md
§3) on a private D-Bus session bus whose fake notification daemon
(tests/support/notifyd.py) records what Chromium shows and clicks it.

Pushes reach the service worker through the DevTools protocol
(`ServiceWorker.deliverPushMessage`): the browser vendor's push service
(FCM) is the one part that can't exist here. The payload is what Roost's
push component sends after decryption (shared interface: `{v, account,
sender?, body?, count?}`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RoostServer
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.notifyd import NotifyDaemon
from tests.support.roost_page import login, open_chat, poll, wait_main

ACCOUNT = "alice@localhost"

_NOTIFICATIONS_JS = """() => navigator.serviceWorker.ready
  .then(r => r.getNotifications())
  .then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag, data: n.data})))"""


@pytest.fixture
def notifyd(tmp_path: Path) -> Iterator[NotifyDaemon]:
    from tests.conftest import require

    require(os.path.exists("/usr/bin/dbus-daemon"), "dbus-daemon (apt package dbus-daemon)")
    daemon = NotifyDaemon(tmp_path / "dbus")
    yield daemon
    daemon.stop()


@pytest.fixture
def profile(chromium: Any, tmp_path: Path, notifyd: NotifyDaemon) -> Iterator[Any]:
    """A persistent-profile Chromium on the private bus, notifications allowed
    for nothing yet (tests grant them for their origin)."""
    ctx = chromium.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": notifyd.address},
    )
    yield ctx
    ctx.close()


class Pusher:
    """Delivers push payloads to the page's service worker registration via CDP."""

    def __init__(self, ctx: Any, page: Any, origin: str) -> None:
        self.origin = origin
        self.cdp = ctx.new_cdp_session(page)
        self.regs: dict[str, str] = {}
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.cdp.send("ServiceWorker.enable")
        self.page = page
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20_000)
        for _ in range(50):
            if origin + "/" in self.regs:
                break
            page.wait_for_timeout(100)  # CDP events are handled during Playwright calls
        assert origin + "/" in self.regs, self.regs

    def _updated(self, event: dict[str, Any]) -> None:
        for reg in event["registrations"]:
            if not reg["isDeleted"]:
                self.regs[reg["scopeURL"]] = reg["registrationId"]

    def push(self, payload: dict[str, object]) -> None:
        self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": self.origin, "registrationId": self.regs[self.origin + "/"],
            "data": json.dumps(payload),
        })


def _bundle_has_push_worker(dist: Path) -> None:
    sw = (dist / "sw.js").read_text(encoding="utf-8")
    assert "notificationclick" in sw, (
        "dist/sw.js lacks service_worker/push.js: build.py must append it to sw.js"
    )


def _logged_in(ctx: Any, roost: RoostServer, trusted: bool = True) -> Any:
    ctx.grant_permissions(["notifications"], origin=roost.url)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    login(page, roost.url, ACCOUNT, "alice", trusted=trusted)
    wait_main(page)
    return page


def test_push_notifies_per_payload_and_a_click_opens_the_chat(
    roost: RoostServer, dist_dir: Path, profile: Any, notifyd: NotifyDaemon
) -> None:
    _bundle_has_push_worker(dist_dir)
    page = _logged_in(profile, roost)
    pusher = Pusher(profile, page, roost.url)
    # The three privacy choices, as the component words them (a full JID as
    # Prosody's with_sender gives it is shown bare).
    pusher.push({"v": 1, "account": ACCOUNT, "sender": "bob@localhost/phone",
                 "body": "Dinner at 8?", "count": 1})
    pusher.push({"v": 1, "account": ACCOUNT, "sender": "carol@localhost"})
    pusher.push({"v": 1, "account": ACCOUNT})
    shown = notifyd.wait_for(3)
    # Pushes are handled concurrently (each asks the open windows first): any order.
    assert sorted((s.summary, s.text) for s in shown) == [
        ("Roost", "New message"),
        ("bob@localhost", "Dinner at 8?"),
        ("carol@localhost", "New message"),
    ]
    (bob,) = [s for s in shown if s.summary == "bob@localhost"]
    listed = {n["tag"]: n for n in page.evaluate(_NOTIFICATIONS_JS)}
    assert set(listed) == {"roost:alice@localhost:bob@localhost",
                           "roost:alice@localhost:carol@localhost", "roost:alice@localhost:"}
    assert listed["roost:alice@localhost:bob@localhost"]["data"]["url"] == "./#xmpp:bob@localhost"

    # The user clicks bob's notification: this window comes to bob's chat,
    # without a reload (the session on it stays).
    page.evaluate("window.__beforeClick = true")
    notifyd.click(bob)
    page.wait_for_url("**/#xmpp:bob@localhost", timeout=15_000)
    assert page.evaluate("window.__beforeClick === true")
    expect(page.locator("#chat-title")).to_have_text("Bob", timeout=15_000)
    assert len(page.evaluate(_NOTIFICATIONS_JS)) == 2  # the clicked one is closed


def test_a_click_with_no_roost_window_opens_one(
    roost: RoostServer, dist_dir: Path, profile: Any, notifyd: NotifyDaemon
) -> None:
    _bundle_has_push_worker(dist_dir)
    page = _logged_in(profile, roost)
    pusher = Pusher(profile, page, roost.url)
    blank = profile.new_page()  # keeps the browser (and the CDP session's target) alive
    pusher.cdp = profile.new_cdp_session(blank)
    pusher.cdp.send("ServiceWorker.enable")
    page.close()
    pusher.push({"v": 1, "account": ACCOUNT, "sender": "bob@localhost", "body": "Still there?"})
    (shown,) = notifyd.wait_for(1)
    assert (shown.summary, shown.text) == ("bob@localhost", "Still there?")
    with profile.expect_page(timeout=15_000) as opened:
        notifyd.click(shown)
    new = opened.value
    new.wait_for_url("**/#xmpp:bob@localhost", timeout=15_000)


def test_no_notification_for_the_chat_on_screen(
    roost: RoostServer, dist_dir: Path, profile: Any, notifyd: NotifyDaemon
) -> None:
    _bundle_has_push_worker(dist_dir)
    page = _logged_in(profile, roost)
    pusher = Pusher(profile, page, roost.url)
    open_chat(page, "Bob")
    pusher.push({"v": 1, "account": ACCOUNT, "sender": "bob@localhost", "body": "seen already"})
    # Another conversation's push still notifies, and comes after the first
    # was handled (a service worker handles push events in order).
    pusher.push({"v": 1, "account": ACCOUNT, "sender": "carol@localhost", "body": "hello"})
    shown = notifyd.wait_for(1)
    page.wait_for_timeout(500)
    assert [(s.summary, s.text) for s in notifyd.shown] == [("carol@localhost", "hello")], shown
    tags = [n["tag"] for n in page.evaluate(_NOTIFICATIONS_JS)]
    assert tags == ["roost:alice@localhost:carol@localhost"]


def test_untrusted_login_offers_no_notifications(
    roost: RoostServer, new_page: Callable[..., Any]
) -> None:
    page = new_page()
    page.context.grant_permissions(["notifications"], origin=roost.url)
    login(page, roost.url, ACCOUNT, "alice", trusted=False)
    wait_main(page)
    page.wait_for_timeout(500)
    assert page.locator("#push-offer").count() == 0 or page.locator("#push-offer").is_hidden()
    page.get_by_role("button", name="Notifications").click()
    dialog = page.get_by_role("dialog", name="Notifications")
    expect(dialog).to_be_visible()
    expect(page.locator("#push-status")).to_have_attribute("data-status", "untrusted")
    expect(page.locator("#push-status")).to_contain_text("isn't a trusted device")
    expect(page.get_by_label("Notify me of new messages while Roost is closed")).to_be_disabled()
    # Nothing about push was stored (an untrusted session stores nothing at all).
    names = page.evaluate("indexedDB.databases().then(ds => ds.map(d => d.name))")
    assert not any(name.startswith("roost-") for name in names), names


def test_permission_denied_is_the_reason_in_settings(
    roost: RoostServer, new_page: Callable[..., Any]
) -> None:
    """Needs the operator's push settings: the test Roost serves `push` in
    /config.json (backend push, issue 6)."""
    page = new_page()
    config = page.request.get(roost.url + "/config.json").json()
    assert isinstance(config.get("push"), dict), f"the test Roost serves no push config: {config}"
    # The page's own browser context (each test page has one): without its id
    # the permission would be set in Chromium's default context.
    target = page.context.new_cdp_session(page).send("Target.getTargetInfo")["targetInfo"]
    session = page.context.browser.new_browser_cdp_session()
    session.send("Browser.setPermission", {
        "permission": {"name": "notifications"}, "setting": "denied", "origin": roost.url,
        "browserContextId": target["browserContextId"],
    })
    login(page, roost.url, ACCOUNT, "alice", trusted=True)
    wait_main(page)
    page.get_by_role("button", name="Notifications").click()
    status = page.locator("#push-status")
    expect(status).to_have_attribute("data-status", "denied", timeout=15_000)
    expect(status).to_contain_text("blocked for this site")
    assert page.locator("#push-offer").count() == 0 or page.locator("#push-offer").is_hidden()
    page.keyboard.press("Escape")  # the dialog is modal
    page.get_by_role("button", name="Log out").click()


def test_the_offer_comes_after_login_and_not_now_is_remembered(
    roost: RoostServer, dist_dir: Path, profile: Any
) -> None:
    """Needs the operator's push settings, as above. Permission not asked yet:
    nothing on the login page; after login the card; "Not now" keeps it away,
    also at the next login."""
    page = profile.pages[0] if profile.pages else profile.new_page()
    config = page.request.get(roost.url + "/config.json").json()
    assert isinstance(config.get("push"), dict), f"the test Roost serves no push config: {config}"
    page.goto(roost.url)
    page.wait_for_timeout(1000)
    assert page.locator("#push-offer").count() == 0  # never on page load
    assert page.evaluate("Notification.permission") == "default"
    login(page, None, ACCOUNT, "alice", trusted=True)
    wait_main(page)
    offer = page.get_by_role("region", name="Get notified of new messages")
    expect(offer).to_be_visible(timeout=15_000)
    offer.get_by_role("button", name="Not now").click()
    expect(offer).to_be_hidden()
    page.get_by_role("button", name="Log out").click()
    login(page, None, ACCOUNT, "alice", trusted=True)
    wait_main(page)
    page.wait_for_timeout(1000)
    assert page.locator("#push-offer").count() == 0 or page.locator("#push-offer").is_hidden()


# The vendor's push service (FCM) can't be reached here, so `subscribe()` never
# settles (BROWSER-TESTING.md §3): the page gets the subscription the test's
# Web Push receiver made instead. That is the only stand-in; registering with
# Roost's push component, XEP-0357 on Prosody, the component's encrypted Web
# Push and the service worker's notification are all real.
_FAKE_SUBSCRIBE_JS = """sub => {
  const made = {endpoint: sub.endpoint, options: null,
                toJSON: () => ({endpoint: sub.endpoint,
                                keys: {p256dh: sub.p256dh, auth: sub.auth}}),
                unsubscribe: () => Promise.resolve(true)};
  let current = null;
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
  PushManager.prototype.subscribe = function () { current = made; return Promise.resolve(made); };
}"""


def _wait_registered(srv: Any, page: Any, privacy: str) -> None:
    """Until Roost's push component holds this browser's subscription with `privacy`."""
    store = srv.root / "push-data" / "push.sqlite3"

    def registered() -> bool:
        if not store.exists():
            return False
        with sqlite3.connect(store) as db:
            return any(p == privacy for (p,) in db.execute(
                "SELECT privacy FROM push_subscription"))

    assert poll(registered, 15, page=page), f"never registered with privacy {privacy!r}"


def _logged_in_with_push(srv: Any, webpush_receiver: Any, profile: Any) -> tuple[Any, Any]:
    """alice's page on `srv`, logged in (trusted), with `PushManager.subscribe`
    answering with a new subscription of the test receiver: (page, subscription)."""
    url = srv.roost.url
    key = json.loads(urlopen(url + "/config.json", timeout=5).read())["push"]["vapid_public_key"]
    sub = webpush_receiver.new_subscription(vapid_key=key)
    profile.grant_permissions(["notifications"], origin=url)
    page = profile.pages[0] if profile.pages else profile.new_page()
    page.goto(url)
    page.evaluate(_FAKE_SUBSCRIBE_JS, {"endpoint": sub.endpoint, "p256dh": sub.p256dh,
                                       "auth": sub.auth})
    login(page, None, ACCOUNT, "alice", trusted=True)
    wait_main(page)
    return page, sub


def _turn_on_with_sender_and_text(srv: Any, page: Any) -> None:
    """Notifications on in the dialog, then "Sender and text" (the default is
    just "New message"), until the component holds it."""
    page.get_by_role("button", name="Notifications").click()
    toggle = page.get_by_label("Notify me of new messages while Roost is closed")
    if not toggle.is_checked():
        toggle.check()
    page.get_by_label("Sender and text").check()
    _wait_registered(srv, page, "text")
    page.keyboard.press("Escape")


def test_a_message_while_roost_is_closed_arrives_as_a_notification(
    private: Any, webpush_receiver: Any, profile: Any, notifyd: NotifyDaemon
) -> None:
    """End to end: the page turns notifications on (register with the push
    component, XEP-0357 enable), Roost is closed, bob writes; Prosody's
    mod_cloud_notify → Roost's component → an encrypted Web Push to the
    receiver, whose decrypted payload the service worker shows: bob's text."""
    srv = private()
    url = srv.roost.url
    page, sub = _logged_in_with_push(srv, webpush_receiver, profile)
    _turn_on_with_sender_and_text(srv, page)
    page.close()  # Roost closed: the session hibernates, then pushes come

    bob = srv.peer("bob", "pc")
    bob.send_batch(ACCOUNT, [("dinner-1", "Dinner at 8?")])
    (push,) = webpush_receiver.wait_for(1, subscription=sub, timeout=20)
    assert push.json == {"v": 1, "account": ACCOUNT, "sender": "bob@localhost",
                         "body": "Dinner at 8?", "count": 1}

    # What the push service would hand the browser: delivered to the worker.
    viewer = profile.new_page()
    viewer.goto(url + "/healthz")  # a page of the origin, not the chat
    Pusher(profile, viewer, url).push(push.json)
    (shown,) = notifyd.wait_for(1)
    assert (shown.summary, shown.text) == ("bob@localhost", "Dinner at 8?")


def test_a_room_message_that_doesnt_mention_us_notifies_quietly(
    private: Any, webpush_receiver: Any, profile: Any, notifyd: NotifyDaemon
) -> None:
    """Closed, the session hibernates and stays in its rooms: Roost told the
    push component its nick there, so a room message that doesn't name it
    comes as a quiet push, shown without sound (mod_cloud_notify pushes only
    the first message of a hibernation: dropping it would hide what follows)."""
    from tests.browser.test_rooms import join_dialog, wait_joined

    srv = private()
    url = srv.roost.url
    room = f"chess@{srv.prosody.muc_domain}"
    bob = srv.peer("bob", "pc")
    bob.join_room(room, "bob")
    page, sub = _logged_in_with_push(srv, webpush_receiver, profile)
    join_dialog(page, room, nick="Alice")
    wait_joined(page, room)
    _turn_on_with_sender_and_text(srv, page)
    store = srv.root / "push-data" / "push.sqlite3"

    def told() -> bool:
        with sqlite3.connect(store) as db:
            return any(room in rooms for (rooms,) in db.execute(
                "SELECT rooms FROM push_subscription"))

    assert poll(told, 10, page=page), "the push component never heard of the room"
    page.close()  # Roost closed: the session hibernates, still in the room

    bob.say(room, "anyone for a game?")
    (push,) = webpush_receiver.wait_for(1, subscription=sub, timeout=20)
    assert push.json == {"v": 1, "account": ACCOUNT, "quiet": True, "sender": room,
                         "body": "anyone for a game?", "count": 1}
    assert push.headers["Urgency"] == "normal"
    viewer = profile.new_page()
    viewer.goto(url + "/healthz")
    Pusher(profile, viewer, url).push(push.json)
    (note,) = notifyd.wait_for(1)
    assert (note.summary, note.text) == (room, "anyone for a game?")
    shown = viewer.evaluate("""() => navigator.serviceWorker.ready
      .then(r => r.getNotifications()).then(ns => ns.map(n => [n.title, n.silent]))""")
    assert shown == [[room, True]]
