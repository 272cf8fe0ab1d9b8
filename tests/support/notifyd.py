"""A private D-Bus session bus with a fake notification daemon, for clicking
notifications in headless Chromium (BROWSER-TESTING.md §3).

Chromium on Linux shows a web notification by calling
`org.freedesktop.Notifications.Notify` on the session bus when a daemon owns
that name; a daemon's `ActionInvoked(id, "default")` signal is a user's
click, and Chromium then dispatches a trusted `notificationclick` to the
service worker (persistent profiles only). Playwright has no other way to
click one.

`NotifyDaemon(root)` starts `dbus-daemon` on a socket under `root` and serves
the name from a thread of its own (dbus-fast on an asyncio loop); give
Chromium `env={"DBUS_SESSION_BUS_ADDRESS": daemon.address}`. Each daemon has
its own bus, so two never share (or lose) a click.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method, signal

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Shown:
    """One Notify call: Chromium's `summary` is the title; its `body` is
    `<a href="origin">host</a>\\n\\n` followed by the notification's body."""

    __slots__ = ("actions", "app", "body", "closed", "id", "summary")

    def __init__(self, nid: int, app: str, summary: str, body: str, actions: list[str]) -> None:
        self.id = nid
        self.app = app
        self.summary = summary
        self.body = body
        self.actions = actions
        self.closed = False

    @property
    def text(self) -> str:
        """The notification's own body (without the origin line Chromium adds)."""
        return self.body.split("\n\n", 1)[1] if "\n\n" in self.body else self.body

    def __repr__(self) -> str:
        return f"Shown(id={self.id}, summary={self.summary!r}, text={self.text!r})"


class _Notifications(ServiceInterface):  # type: ignore[misc]
    def __init__(self, daemon: NotifyDaemon) -> None:
        super().__init__(NAME)
        self._daemon = daemon
        self._next = 1

    @method()  # type: ignore[misc]
    def GetCapabilities(self) -> "as":  # type: ignore[valid-type]  # noqa: F722
        return ["body", "actions", "body-markup", "persistence"]

    @method()  # type: ignore[misc]
    def Notify(
        self, app: "s", replaces: "u", icon: "s", summary: "s", body: "s",  # type: ignore[valid-type]  # noqa: F821
        actions: "as", hints: "a{sv}", timeout: "i",  # type: ignore[valid-type]  # noqa: F722, F821
    ) -> "u":  # type: ignore[valid-type]  # noqa: F821
        nid = replaces or self._next
        if not replaces:
            self._next += 1
        self._daemon._record(Shown(nid, app, summary, body, list(actions)))
        return nid

    @method()  # type: ignore[misc]
    def CloseNotification(self, nid: "u"):  # type: ignore[no-untyped-def,valid-type]  # noqa: F821
        self._daemon._closed(nid)
        self.NotificationClosed(nid, 3)

    @method()  # type: ignore[misc]
    def GetServerInformation(self) -> "ssss":  # type: ignore[valid-type]  # noqa: F821
        return ["roost-test-notifyd", "roost", "1.0", "1.2"]

    @signal()  # type: ignore[misc]
    def NotificationClosed(self, nid: "u", reason: "u") -> "uu":  # type: ignore[valid-type]  # noqa: F821
        return [nid, reason]

    @signal()  # type: ignore[misc]
    def ActionInvoked(self, nid: "u", key: "s") -> "us":  # type: ignore[valid-type]  # noqa: F821
        return [nid, key]


class NotifyDaemon:
    """`dbus-daemon` plus the fake daemon; `shown` lists every Notify, in order."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.shown: list[Shown] = []
        self._lock = threading.Lock()
        socket = root / "bus"
        self.bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address",
             f"--address=unix:path={socket}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.bus.stdout is not None
        self.address = self.bus.stdout.readline().strip()
        if not self.address:
            self.bus.kill()
            raise RuntimeError("dbus-daemon printed no address")
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._iface: _Notifications | None = None
        self._thread = threading.Thread(target=self._run, name="notifyd", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"fake notification daemon did not start: {self._error!r}")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._loop.run_forever()

    async def _serve(self) -> None:
        bus = await MessageBus(bus_address=self.address).connect()
        self._iface = _Notifications(self)
        bus.export(PATH, self._iface)
        await bus.request_name(NAME)
        self._ready.set()

    def _record(self, shown: Shown) -> None:
        with self._lock:
            self.shown.append(shown)

    def _closed(self, nid: int) -> None:
        with self._lock:
            for shown in self.shown:
                if shown.id == nid:
                    shown.closed = True

    def wait_for(self, count: int = 1, timeout: float = 15.0) -> list[Shown]:
        """At least `count` notifications (all shown so far), or AssertionError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.shown) >= count:
                    return list(self.shown)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} notification(s), got {self.shown}")

    def click(self, shown: Shown, key: str = "default") -> None:
        """The user clicks the notification (`key` "default": its body)."""
        iface = self._iface
        assert iface is not None
        self._loop.call_soon_threadsafe(iface.ActionInvoked, shown.id, key)

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self.bus.terminate()
        try:
            self.bus.wait(5)
        except subprocess.TimeoutExpired:
            self.bus.kill()
            self.bus.wait(5)
