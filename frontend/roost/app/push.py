"""Web Push notifications while Roost is closed: `PushManager` (`app.push`).

On every trusted login, once online, with the browser's permission and the
user's consent, it

1. checks that the account's server offers XEP-0357 (`urn:xmpp:push:0` in
   the account's disco#info),
2. gets this browser's Web Push subscription for the operator's VAPID key
   (config.json `push.vapid_public_key`) from the `WebPush` port
   (platform/push.py), never waiting on it for ever (SUBSCRIBE_TIMEOUT:
   a browser that can't reach its push service never answers),
3. registers it with Roost's push component (config.json `push.jid`;
   `urn:roost:push:0`, xmpp/xeps/xep_0357.py), which answers a node and a
   secret, and
4. enables XEP-0357 with them on the user's own server.

A changed subscription (the service worker says so) or privacy choice
registers again; `logout()` disables and unregisters. An untrusted session
gets no push at all and stores nothing. What stays in the account's
trusted storage (`meta["push"]`): this browser's `device` id (the key the
component keeps one subscription per browser under), the user's on/off and
privacy choices, whether the offer was dismissed, and the node while it is
enabled (so turning off while offline is done at the next login).

`status` says whether push works and, if not, why (`reason()`: text a
person can act on). Events (on the app's emitter): "push" (status or a
choice changed).
"""

from __future__ import annotations

from roost.xmpp.events import DiscoInfoResult, IqFailed, IqResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from roost.app.chat import ChatApp
    from roost.xmpp.client import XmppClient

    class WebPush(Protocol):
        """The browser's side (platform/push.py). Callbacks may come later."""

        def support(self) -> str:
            """"ok", "unsupported" (no service worker or Push API), or
            "install" (iOS: only an app added to the Home Screen gets push)."""

        def permission(self) -> str:
            """Notification permission: "granted", "denied" or "default"."""

        def request_permission(self, cb: Callable[[str], None]) -> None:
            """Ask the user (only from a click); cb(the new permission)."""

        def subscribe(
            self, vapid_key: str, cb: Callable[[dict[str, str] | None, str | None], None]
        ) -> None:
            """This browser's subscription for `vapid_key` (made if needed):
            cb({"endpoint", "p256dh", "auth"}, None), or cb(None, error name)."""

        def on_change(self, cb: Callable[[str], None]) -> None:
            """cb("subscription") when the service worker reports a new
            subscription, cb("permission") when the permission changed."""


PUSH_EVENTS = (DiscoInfoResult, IqResult, IqFailed)

# Statuses (`PushManager.status`).
IDLE = "idle"  # not logged in
UNTRUSTED = "untrusted"
NOT_CONFIGURED = "not-configured"  # config.json has no push: the operator didn't set it up
UNSUPPORTED = "unsupported"
INSTALL = "install"  # iOS Safari: push only for an app on the Home Screen
ASK = "ask"  # the browser hasn't been asked for permission yet
DENIED = "denied"
OFF = "off"  # the user turned notifications off
SERVER_LACKS_PUSH = "server-lacks-push"
UNREACHABLE = "unreachable"  # the push service, the component or the server failed
SETTING_UP = "setting-up"
WORKING = "working"

REASONS = {
    IDLE: "",
    UNTRUSTED: (
        "Notifications are off in this browser: it isn't a trusted device. Log in with"
        " “This is a trusted device” ticked to get them."
    ),
    NOT_CONFIGURED: (
        "This Roost server has no push notifications set up. Its operator can turn them on."
    ),
    UNSUPPORTED: "This browser can't receive push notifications.",
    INSTALL: (
        "On iPhone and iPad, notifications need Roost on the Home Screen: tap Share, then"
        " “Add to Home Screen”, and open Roost from there."
    ),
    ASK: "Notifications are off. Turn them on to hear of new messages while Roost is closed.",
    DENIED: (
        "Notifications are blocked for this site in the browser's settings. Allow them"
        " there, then turn them on here."
    ),
    OFF: "Notifications are off.",
    SERVER_LACKS_PUSH: (
        "Your XMPP server doesn't offer push notifications (XEP-0357), so Roost can't be"
        " told of messages while it is closed."
    ),
    UNREACHABLE: "The push service can't be reached right now. Roost will try again.",
    SETTING_UP: "Setting up notifications…",
    WORKING: "Notifications are on: new messages are announced while Roost is closed.",
}

PRIVACY_CHOICES = (
    ("text", "Sender and text"),
    ("sender", "Sender only"),
    ("none", "Just “New message”"),
)
# SECURITY.md: no sender or text on the lock screen unless the user chose it.
DEFAULT_PRIVACY = "none"

META_STORE = "meta"
PREFS_KEY = "push"
# A browser that can't reach its push service never settles `subscribe()`
# (BROWSER-TESTING.md §3); an iq that gets no answer is given up on too.
SUBSCRIBE_TIMEOUT = 20.0
ANSWER_TIMEOUT = 30.0


class PushManager:
    """Push for one account's trusted sessions (see the module docstring)."""

    __slots__ = (
        "_app", "_busy", "_disco_ok", "_flow", "_pending", "_port", "_prefs",
        "_prefs_loaded", "_rooms_sent", "_timers", "detail", "status",
    )

    def __init__(self, app: ChatApp) -> None:
        self._app = app
        self._port: WebPush | None = None
        self.status = IDLE
        # A more precise reason for UNREACHABLE (which part failed), or "".
        self.detail = ""
        self._prefs: dict[str, object] = {}
        self._prefs_loaded = False
        # A setup is running (between `_start` and its outcome).
        self._busy = False
        # The account's server offers XEP-0357 (None: not asked this login).
        self._disco_ok: bool | None = None
        # Bumped when a setup run is abandoned (logout, turned off, a new run):
        # answers to an old run's questions are ignored.
        self._flow = 0
        # query id → callback(answer event), with its ANSWER_TIMEOUT timer.
        self._pending: dict[str, Callable[[object], None]] = {}
        self._timers: dict[str, object] = {}
        # The rooms last told to the push component (None: not this login).
        self._rooms_sent: dict[str, str] | None = None
        app.on("rooms", self._rooms_changed)
        app.on("room", self._rooms_changed)

    # -- what the UI reads and calls -------------------------------------------------
    @property
    def enabled(self) -> bool:
        """The user's choice (on unless turned off)."""
        return self._prefs.get("enabled") is not False

    @property
    def privacy(self) -> str:
        value = self._prefs.get("privacy")
        return value if isinstance(value, str) and value in _PRIVACY else DEFAULT_PRIVACY

    @property
    def offer(self) -> bool:
        """Show the "turn on notifications" card: permission never asked, not dismissed."""
        return self.status == ASK and self._prefs_loaded and not self._prefs.get("dismissed")

    def reason(self) -> str:
        """What `status` means for the user (with the failing part when known)."""
        text = REASONS.get(self.status, "")
        if self.status == UNREACHABLE and self.detail:
            return self.detail + " Roost will try again."
        return text

    def attach(self, port: WebPush) -> None:
        """The browser's side (the UI attaches platform/push.py's adapter)."""
        self._port = port
        port.on_change(self._changed)
        self._update()

    def turn_on(self) -> None:
        """The user turns notifications on (call from the click: it may ask
        the browser for permission, which needs the user's gesture)."""
        if self._app.trusted is False or self._port is None or not self._prefs_loaded:
            return
        self._set_pref("enabled", True)
        if self._port.permission() == "default":
            flow = self._flow

            def answered(permission: str) -> None:
                if flow == self._flow:
                    self._update(force=True)

            self._port.request_permission(answered)
            return
        self._update(force=True)

    def turn_off(self) -> None:
        """The user turns notifications off: disabled and unregistered now
        (or at the next login when not connected)."""
        if not self._prefs_loaded:
            return
        self._set_pref("enabled", False)
        self._abandon()
        self._withdraw()
        self._update()

    def dismiss(self) -> None:
        """The user said "not now" to the offer: it isn't shown again."""
        if self._prefs_loaded:
            self._set_pref("dismissed", True)
            self._emit()

    def set_privacy(self, privacy: str) -> None:
        """What notifications show ("text", "sender", "none"); registers again."""
        if privacy not in _PRIVACY or not self._prefs_loaded or privacy == self.privacy:
            return
        self._set_pref("privacy", privacy)
        self._update(force=self.status in (WORKING, SETTING_UP, UNREACHABLE))

    # -- ChatApp's calls ------------------------------------------------------------
    def login(self, account: str, trusted: bool) -> None:
        """A new login: forget the last one's state; a trusted one reads its choices."""
        self._abandon()
        self._disco_ok = None
        self._prefs = {}
        self._prefs_loaded = False
        self.detail = ""
        if not trusted:
            self._set_status(UNTRUSTED)
            return
        self._set_status(SETTING_UP if self._configured() else NOT_CONFIGURED)
        storage = self._app._storage
        if storage is None:
            return
        flow = self._flow

        def loaded(value: object) -> None:
            if flow != self._flow or self._app._storage is not storage:
                return
            self._prefs = dict(value) if isinstance(value, dict) else {}
            if not isinstance(self._prefs.get("device"), str):
                self._set_pref("device", self._app.platform.random_bytes(16).hex())
            self._prefs_loaded = True
            self._update()

        storage.get(META_STORE, PREFS_KEY, loaded)

    def online(self, resumed: bool) -> None:
        """Online (again): set up whatever isn't yet (a working setup needs
        nothing more: the server keeps the registration across sessions).
        A new session won't answer the old one's questions: start again."""
        if self._busy and not resumed:
            self._abandon()
        self._update()

    def logout(self) -> None:
        """Before the app closes the stream: disable and unregister this browser."""
        self._abandon()
        if self._app.trusted:
            self._withdraw()
        self._prefs_loaded = False
        self._prefs = {}
        self._rooms_sent = None
        self.detail = ""
        self._set_status(IDLE)

    def handle(self, event: object) -> bool:
        """An answer to one of our iqs (True: it was ours)."""
        query_id = getattr(event, "query_id", None)
        if not isinstance(query_id, str) or query_id not in self._pending:
            return False
        cb = self._pending.pop(query_id)
        timer = self._timers.pop(query_id, None)
        if timer is not None:
            self._app.platform.cancel(timer)
        cb(event)
        return True

    # -- the setup ------------------------------------------------------------------
    def _configured(self) -> dict[str, str] | None:
        push = self._app.platform.config.get("push")
        if not isinstance(push, dict):
            return None
        jid, key = push.get("jid"), push.get("vapid_public_key")
        if not isinstance(jid, str) or not jid or not isinstance(key, str) or not key:
            return None
        return {"jid": jid, "key": key}

    def _update(self, force: bool = False) -> None:
        """Decide the status from what is known; start a setup when it can run.
        `force`: set up again even if working (privacy or subscription changed)."""
        app = self._app
        if self.status == IDLE or not app.trusted:
            return
        if self._configured() is None:
            self._set_status(NOT_CONFIGURED)
            return
        port = self._port
        if port is None or not self._prefs_loaded:
            return  # the browser side or the stored choices are still to come
        support = port.support()
        if support != "ok":
            self._set_status(INSTALL if support == "install" else UNSUPPORTED)
            return
        if not self.enabled:
            if self._prefs.get("node"):
                self._withdraw()  # turned off while not connected (no-op offline)
            self._set_status(OFF)
            return
        permission = port.permission()
        if permission == "denied":
            self._set_status(DENIED)
            return
        if permission != "granted":
            self._set_status(ASK)
            return
        if self._client() is None or self._app.own_jid is None:
            if not self._busy and self.status not in (WORKING, UNREACHABLE, SERVER_LACKS_PUSH):
                self._set_status(SETTING_UP)  # set up once online
            return
        if self._busy and not force:
            return  # already on its way
        if self.status in (WORKING, SERVER_LACKS_PUSH) and not force:
            return
        self._start()

    def _start(self) -> None:
        self._abandon()
        self.detail = ""
        self._busy = True
        self._set_status(SETTING_UP)
        flow = self._flow
        if self._disco_ok is None:
            self._ask_features(flow)
        elif self._disco_ok:
            self._subscribe(flow)
        else:
            self._set_status(SERVER_LACKS_PUSH)

    def _ask_features(self, flow: int) -> None:
        client = self._client()
        own = self._app.own_jid
        if client is None or own is None:
            return

        def answered(event: object) -> None:
            if flow != self._flow:
                return
            if isinstance(event, DiscoInfoResult):
                from roost.xmpp.xeps import xep_0357

                self._disco_ok = xep_0357.supports_push(event.features)
            elif isinstance(event, IqFailed) and event.condition != _LOST:
                self._disco_ok = False
            else:
                self._fail("Your XMPP server didn't answer.")
                return
            if self._disco_ok:
                self._subscribe(flow)
            else:
                self._set_status(SERVER_LACKS_PUSH)

        self._track(client.disco_info(own), answered)

    def _subscribe(self, flow: int) -> None:
        config, port = self._configured(), self._port
        if config is None or port is None:
            return
        platform = self._app.platform
        timer: list[object] = []

        def subscribed(sub: dict[str, str] | None, error: str | None) -> None:
            if flow != self._flow or not timer:
                return  # abandoned, or given up on (the timer fired)
            platform.cancel(timer.pop())
            if sub is None:
                if error == "NotAllowedError":
                    self._set_status(DENIED)  # the permission went away meanwhile
                else:
                    self._fail("The browser's push service refused this browser.")
                return
            self._register(flow, config["jid"], sub)

        def too_late() -> None:
            if flow == self._flow and timer:
                timer.pop()
                self._fail("The browser's push service can't be reached.")

        timer.append(platform.call_later(SUBSCRIBE_TIMEOUT, too_late))
        port.subscribe(config["key"], subscribed)

    def _register(self, flow: int, push_jid: str, sub: dict[str, str]) -> None:
        from roost.xmpp.errors import ProtocolError
        from roost.xmpp.xeps import xep_0357

        client = self._client()
        if client is None:
            return
        endpoint, p256dh, auth = sub.get("endpoint"), sub.get("p256dh"), sub.get("auth")
        if not endpoint or not p256dh or not auth:
            self._fail("The browser gave an unusable push subscription.")
            return
        payload = xep_0357.build_register(
            str(self._prefs.get("device")), endpoint, p256dh, auth, self.privacy
        )

        def answered(event: object) -> None:
            if flow != self._flow:
                return
            if isinstance(event, IqResult):
                try:
                    registered = xep_0357.parse_registered(event.iq)
                except ProtocolError:
                    self._fail("Roost's push service gave an answer Roost doesn't understand.")
                    return
                self._set_pref("node", registered.node)
                self._enable(flow, push_jid, registered.node, registered.secret)
            elif isinstance(event, IqFailed) and event.condition == _LOST:
                self._fail("Roost's push service didn't answer.")
            else:
                self._fail("Roost's push service isn't reachable right now.")

        self._track(client.request("set", payload, push_jid), answered)

    def _enable(self, flow: int, push_jid: str, node: str, secret: str) -> None:
        from roost.xmpp.xeps import xep_0357

        client = self._client()
        if client is None:
            return

        def answered(event: object) -> None:
            if flow != self._flow:
                return
            if isinstance(event, IqResult):
                self._set_status(WORKING)
                self._rooms_sent = None
                self._send_rooms()
            elif isinstance(event, IqFailed) and event.condition == _LOST:
                self._fail("Your XMPP server didn't answer.")
            else:
                self._fail("Your XMPP server refused to turn on push notifications.")

        enable = xep_0357.build_enable(push_jid, node, {"secret": secret})
        self._track(client.request("set", enable), answered)

    def _withdraw(self) -> None:
        """Disable and unregister the node this browser enabled, when connected
        (answers aren't awaited: this runs at logout, as the stream closes)."""
        from roost.xmpp.xeps import xep_0357

        node, config, client = self._prefs.get("node"), self._configured(), self._client()
        if not isinstance(node, str) or config is None or client is None:
            return
        client.request("set", xep_0357.build_disable(config["jid"], node))
        client.request("set", xep_0357.build_unregister(node), config["jid"])
        self._app._flush()
        self._set_pref("node", None)

    def _rooms_changed(self, *_args: object) -> None:
        if self.status == WORKING:
            self._send_rooms()

    def _send_rooms(self) -> None:
        """Tell the push component the rooms we are in (and our nick in each):
        a session hibernating after the app closed stays in them, and only
        messages that mention us there should make a sound. Sent when it changed."""
        from roost.xmpp.xeps import xep_0357

        node, config, client = self._prefs.get("node"), self._configured(), self._client()
        if not isinstance(node, str) or config is None or client is None:
            return
        rooms = {
            room.jid.lower(): room.nick
            for room in self._app.rooms.rooms.values()
            if room.want and room.nick
        }
        if rooms == self._rooms_sent:
            return
        self._rooms_sent = rooms
        query_id = client.request("set", xep_0357.build_rooms(node, rooms), config["jid"])
        self._track(query_id, lambda _answer: None)  # a refusal changes nothing here
        self._app._flush()

    def _changed(self, what: str) -> None:
        """The browser's side changed: a new subscription registers again."""
        self._update(force=what == "subscription" and self.status in (WORKING, UNREACHABLE))

    # -- helpers --------------------------------------------------------------------
    def _client(self) -> XmppClient | None:
        client = self._app._client
        return client if client is not None and client.online else None

    def _track(self, query_id: str, cb: Callable[[object], None]) -> None:
        platform = self._app.platform
        self._pending[query_id] = cb
        self._timers[query_id] = platform.call_later(
            ANSWER_TIMEOUT, lambda: self._no_answer(query_id)
        )
        self._app._flush()  # asked from a callback or the UI: out now

    def _no_answer(self, query_id: str) -> None:
        self._timers.pop(query_id, None)
        cb = self._pending.pop(query_id, None)
        if cb is not None:
            cb(IqFailed(query_id, None, _LOST))

    def _abandon(self) -> None:
        """Stop waiting for the current setup's answers."""
        self._flow += 1
        for timer in self._timers.values():
            self._app.platform.cancel(timer)
        self._timers = {}
        self._pending = {}
        self._busy = False

    def _fail(self, detail: str) -> None:
        self.detail = detail
        self._set_status(UNREACHABLE)

    def _set_status(self, status: str) -> None:
        changed = status != self.status
        self.status = status
        if status != SETTING_UP:
            self._busy = False
        if status not in (UNREACHABLE, SETTING_UP):
            self.detail = ""
        if changed or status == UNREACHABLE:
            self._emit()

    def _set_pref(self, name: str, value: object) -> None:
        """Change one choice and write them all (trusted sessions only)."""
        if not self._app.trusted:
            return
        if value is None:
            self._prefs.pop(name, None)
        else:
            self._prefs[name] = value
        storage = self._app._storage
        if storage is not None:
            storage.put(META_STORE, PREFS_KEY, dict(self._prefs))
        self._emit()

    def _emit(self) -> None:
        self._app._emit("push")


_PRIVACY = tuple(value for value, _label in PRIVACY_CHOICES)
# The condition passed for an answer that never came (connection lost, timeout).
_LOST = "lost"
