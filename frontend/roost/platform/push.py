"""The browser's side of Web Push: `BrowserPush`, the `WebPush` port of
app/push.py, plus the page's answers to the service worker.

- `support()`: "install" on iOS/iPadOS outside an app added to the Home
  Screen (Safari offers push only there), "unsupported" without a service
  worker, the Push API or notifications (or outside a secure context),
  else "ok".
- `subscribe(key, cb)`: this browser's `PushSubscription` for the
  operator's VAPID key (the existing one when it was made for that key,
  else a new one, `userVisibleOnly`). A browser that can't reach its push
  service (no network, headless Chromium: BROWSER-TESTING.md §3) never
  settles `subscribe()`: app/push.py races this against SUBSCRIBE_TIMEOUT
  and ignores a late answer, so nothing here waits for it.
- `on_change(cb)`: the service worker's `pushsubscriptionchange`
  (service_worker/push.js posts `{type: "roost-push-subscription"}`) and
  permission changes (Permissions API).
- `serve_screen(provider)`: the service worker asks each visible, focused
  window which conversation it shows (`{type: "roost-screen"}` with a
  MessageChannel port) before it notifies: no notification for the chat
  on screen. The answer is `{account, conversation}` from `provider()`.
- A notification click navigates a Roost window to `./#xmpp:<sender>` (the
  page's link handling opens the chat). A window already at that very URL
  gets no hashchange from that, so the worker posts `{type: "roost-open",
  url}` instead and the page fires the hashchange itself.
"""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import js_property as _js_property
from roost.platform.jsdata import present as _present
from roost.platform.jsdata import to_js, to_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


SCREEN_QUESTION = "roost-screen"
SUBSCRIPTION_CHANGED = "roost-push-subscription"
OPEN = "roost-open"


def _key_bytes(b64url: str) -> object:
    """A base64url string (no padding) as a Uint8Array (applicationServerKey)."""
    text = b64url.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    binary = str(window.atob(text))
    array = window.Uint8Array.new(len(binary))
    for i, char in enumerate(binary):
        array[i] = ord(char)
    return array


def _same_key(buffer: object, expected: object) -> bool:
    """Whether an ArrayBuffer holds the bytes of the Uint8Array `expected`."""
    if not _present(buffer):
        return False
    got = window.Uint8Array.new(buffer)
    if got.length != expected.length:  # type: ignore[attr-defined]
        return False
    return all(got[i] == expected[i] for i in range(int(got.length)))  # type: ignore[index]


def _subscription_data(sub: object) -> dict[str, str] | None:
    data = to_py(sub.toJSON())  # type: ignore[attr-defined]
    if not isinstance(data, dict):
        return None
    keys = data.get("keys")
    if not isinstance(keys, dict):
        return None
    endpoint, p256dh, auth = data.get("endpoint"), keys.get("p256dh"), keys.get("auth")
    if not isinstance(endpoint, str) or not isinstance(p256dh, str) or not isinstance(auth, str):
        return None
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}


def _error_name(err: object) -> str:
    name = _js_property(err, "name")
    return str(name) if name is not None else "Error"


class BrowserPush:
    """`WebPush` (app/push.py) over the Push API and the service worker."""

    __slots__ = ("_changed", "_listening", "_screen")

    def __init__(self) -> None:
        self._changed: list[Callable[[str], None]] = []
        self._screen: Callable[[], tuple[str | None, str | None]] | None = None
        self._listening = False

    # -- WebPush ------------------------------------------------------------------------
    def support(self) -> str:
        nav = window.navigator
        if _ios() and not _standalone():
            return "install"
        if not window.isSecureContext or _js_property(nav, "serviceWorker") is None:
            return "unsupported"
        if _js_property(window, "PushManager") is None:
            return "unsupported"
        if _js_property(window, "Notification") is None:
            return "unsupported"
        return "ok"

    def permission(self) -> str:
        notification = _js_property(window, "Notification")
        if notification is None:
            return "denied"
        return str(notification.permission)  # type: ignore[attr-defined]

    def request_permission(self, cb: Callable[[str], None]) -> None:
        def answered(permission: object) -> None:
            cb(str(permission))

        def failed(_err: object) -> None:
            cb(self.permission())

        window.Notification.requestPermission().then(answered, failed)

    def subscribe(
        self, vapid_key: str, cb: Callable[[dict[str, str] | None, str | None], None]
    ) -> None:
        try:
            key = _key_bytes(vapid_key)
        except Exception:
            cb(None, "InvalidAccessError")
            return
        settled = [False]

        def finish(sub: dict[str, str] | None, error: str | None) -> None:
            if not settled[0]:
                settled[0] = True
                cb(sub, error)

        def failed(err: object) -> None:
            finish(None, _error_name(err))

        def made(sub: object) -> None:
            data = _subscription_data(sub)
            finish(data, None if data is not None else "InvalidStateError")

        def make(manager: object) -> None:
            options = window.Object.new()
            options.userVisibleOnly = True
            options.applicationServerKey = key
            manager.subscribe(options).then(made, failed)  # type: ignore[attr-defined]

        def got_registration(registration: object) -> None:
            manager = registration.pushManager  # type: ignore[attr-defined]

            def got_existing(existing: object) -> None:
                if not _present(existing):
                    make(manager)
                    return
                options = _js_property(existing, "options")
                old_key = _js_property(options, "applicationServerKey") if options else None
                if _same_key(old_key, key):
                    made(existing)
                    return
                # Made for another key (the operator changed it): replace it.
                existing.unsubscribe().then(  # type: ignore[attr-defined]
                    lambda _ok: make(manager), lambda _err: make(manager)
                )

            manager.getSubscription().then(got_existing, failed)

        window.navigator.serviceWorker.ready.then(got_registration, failed)

    def on_change(self, cb: Callable[[str], None]) -> None:
        self._changed.append(cb)
        self._listen()
        if len(self._changed) > 1:
            return
        permissions = _js_property(window.navigator, "permissions")
        if permissions is None:
            return

        def watch(status: object) -> None:
            status.addEventListener(  # type: ignore[attr-defined]
                "change", lambda _ev: self._notify("permission")
            )

        permissions.query(to_js({"name": "notifications"})).then(  # type: ignore[attr-defined]
            watch, lambda _err: None
        )

    # -- the service worker's questions ----------------------------------------------------
    def serve_screen(self, provider: Callable[[], tuple[str | None, str | None]]) -> None:
        """Answer the service worker's "which conversation is on screen?"
        with `provider()` = (account, conversation), either may be None."""
        self._screen = provider
        self._listen()

    def _listen(self) -> None:
        if self._listening:
            return
        container = _js_property(window.navigator, "serviceWorker")
        if container is None:
            return
        self._listening = True
        container.addEventListener("message", self._on_message)  # type: ignore[attr-defined]
        container.startMessages()  # type: ignore[attr-defined]

    def _on_message(self, ev: object) -> None:
        data = to_py(_js_property(ev, "data"))
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == SUBSCRIPTION_CHANGED:
            self._notify("subscription")
        elif kind == OPEN:
            _open_link(data.get("url"))
        elif kind == SCREEN_QUESTION:
            ports = _js_property(ev, "ports")
            if ports is None or not len(ports):  # type: ignore[arg-type]
                return
            account, conversation = self._screen() if self._screen is not None else (None, None)
            ports[0].postMessage(  # type: ignore[index]
                to_js({"account": account, "conversation": conversation})
            )

    def _notify(self, what: str) -> None:
        for cb in list(self._changed):
            try:
                cb(what)
            except Exception as exc:
                window.console.error(f"Roost push: change handler failed: {exc!r}")


def _open_link(url: object) -> None:
    """Show `url`'s `#xmpp:` hash, firing hashchange even when it is shown already."""
    if not isinstance(url, str):
        return
    target = window.URL.new(url)
    here = window.location
    if str(target.origin) != str(here.origin) or str(target.pathname) != str(here.pathname):
        return
    link = str(target.hash)
    if not link.startswith("#xmpp:"):
        return
    if str(here.hash) != link:
        here.hash = link
        return
    init = to_js({"oldURL": str(here.href), "newURL": str(here.href)})
    window.dispatchEvent(window.HashChangeEvent.new("hashchange", init))


def _ios() -> bool:
    nav = window.navigator
    agent = str(_js_property(nav, "userAgent") or "")
    if "iPhone" in agent or "iPad" in agent or "iPod" in agent:
        return True
    # iPadOS asks for desktop sites by default: a "Mac" with a touch screen.
    touch = _js_property(nav, "maxTouchPoints")
    if str(_js_property(nav, "platform") or "") != "MacIntel" or not touch:
        return False
    return bool(int(touch) > 1)  # type: ignore[call-overload]


def _standalone() -> bool:
    """Opened as an installed app (iOS Home Screen, or any standalone display)."""
    if _js_property(window.navigator, "standalone") is True:
        return True
    match_media = _js_property(window, "matchMedia")
    if match_media is None:
        return False
    return bool(window.matchMedia("(display-mode: standalone)").matches)
