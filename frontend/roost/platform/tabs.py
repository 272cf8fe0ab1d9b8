"""One tab owns an account's session: a Web Lock per account, asked over a BroadcastChannel.

`TabLock` holds the Web Lock `roost-session:<account>` while this tab owns
the account's XMPP session. Holding a Web Lock means that the promise the
request's callback returned is still pending: `_hold` returns one whose
`resolve` is kept, and `release()` calls it. The browser also frees the lock
when the page goes away (closed, reloaded, navigated), so a waiting tab gets
it at once.

A tab that wants the account while another one holds it (`take_over`) queues
a normal lock request and posts `{type: "release", account}` on the
BroadcastChannel `roost-tabs`; the owner's `on_release_request` callback
decides what to do (ui/tabs.py: disconnect, then `release()`). A tab that is
itself waiting for the account gets the callback too, so when two tabs ask,
the last one wins instead of both queueing behind each other.

Without Web Locks (old browser, page not in a secure context) every claim
succeeds at once and nothing is posted or heard: one tab per session is then
the person's business, as before.

Callbacks (`on_owned`, `on_busy`, the release callback) run in a task of
their own: an exception there reaches the error reporter and never releases
the lock or rejects the lock request.
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import js_property as _js_property
from roost.platform.jsdata import to_js, to_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

LOCK_PREFIX = "roost-session:"
CHANNEL = "roost-tabs"
RELEASE = "release"

_NULL = javascript.NULL
_UNDEFINED = javascript.UNDEFINED


def _present(value: object) -> bool:
    return value is not None and value is not _NULL and value is not _UNDEFINED and bool(value)


def lock_name(account: str) -> str:
    return LOCK_PREFIX + account.lower()


def _ignore(_err: object) -> None:
    """A lock request that was aborted (`release()` while waiting): nothing to do."""
    return None


def _later(fn: Callable[[], object]) -> None:
    window.setTimeout(fn, 0)


class TabLock:
    """The Web Lock of one account at a time, and the channel to ask other tabs for it.

    `held` is the account (lower-cased bare JID) this tab holds, or None;
    `pending` the account it is waiting for (`take_over`), or None;
    `available` tells whether Web Locks exist here.
    """

    __slots__ = (
        "_abort",
        "_channel",
        "_generation",
        "_locks",
        "_on_release",
        "_resolve",
        "held",
        "pending",
    )

    def __init__(self) -> None:
        self._locks = _js_property(window.navigator, "locks")
        self._channel: object = None
        self._on_release: Callable[[str], object] | None = None
        self._resolve: object = None  # resolves the held lock's promise
        self._abort: object = None  # AbortController of the pending take-over
        self._generation = 0  # a grant for an older generation gives the lock back
        self.held: str | None = None
        self.pending: str | None = None
        if self._locks is not None and _js_property(window, "BroadcastChannel") is not None:
            channel = window.BroadcastChannel.new(CHANNEL)
            channel.onmessage = self._on_message
            self._channel = channel

    @property
    def available(self) -> bool:
        return self._locks is not None

    def on_release_request(self, callback: Callable[[str], object] | None) -> None:
        """`callback(account)` when another tab asks for the account this tab holds
        or waits for. Without a callback the lock is released at once."""
        self._on_release = callback

    def claim(
        self, account: str, on_owned: Callable[[], object], on_busy: Callable[[], object]
    ) -> None:
        """Take the account's lock if it is free (`on_owned()`), else `on_busy()`.

        Never waits. A lock held for another account is released first.
        """
        account = account.lower()
        if self.held == account:
            _later(on_owned)
            return
        self.release()
        if self._locks is None:
            self.held = account
            _later(on_owned)
            return
        generation = self._generation

        def granted(lock: object) -> object:
            if generation != self._generation:
                return None  # released (or another claim) meanwhile: give it back
            if not _present(lock):
                _later(on_busy)
                return None
            return self._hold(account, on_owned)

        request = self._locks.request(  # type: ignore[attr-defined]
            lock_name(account), to_js({"ifAvailable": True}), granted
        )
        request.catch(_ignore)

    def take_over(self, account: str, on_owned: Callable[[], object]) -> None:
        """Ask the tab holding the account to let go, wait for the lock, then `on_owned()`.

        Asking again while already waiting only repeats the request to the
        other tabs (a tab that missed it, or started meanwhile).
        """
        account = account.lower()
        if self.held == account:
            _later(on_owned)
            return
        if self.pending == account:
            self._post_release(account)
            return
        self.release()
        if self._locks is None:
            self.held = account
            _later(on_owned)
            return
        generation = self._generation
        abort = window.AbortController.new()
        self._abort = abort
        self.pending = account

        def granted(_lock: object) -> object:
            if generation != self._generation:
                return None
            self.pending = None
            self._abort = None
            return self._hold(account, on_owned)

        options = window.Object.new()
        options.signal = abort.signal
        request = self._locks.request(lock_name(account), options, granted)  # type: ignore[attr-defined]
        request.catch(_ignore)  # AbortError after release()
        self._post_release(account)

    def release(self) -> None:
        """Let go of the held lock, or stop waiting for one. Idempotent."""
        self._generation += 1
        abort, self._abort = self._abort, None
        resolve, self._resolve = self._resolve, None
        self.held = None
        self.pending = None
        if abort is not None:
            abort.abort()  # type: ignore[attr-defined]
        if resolve is not None:
            resolve()  # type: ignore[operator]

    def close(self) -> None:
        """Release and stop listening (tests; a page normally just goes away)."""
        self.release()
        if self._channel is not None:
            self._channel.close()  # type: ignore[attr-defined]
            self._channel = None

    def _hold(self, account: str, on_owned: Callable[[], object]) -> object:
        """The promise that keeps the lock until `release()` resolves it."""

        def executor(resolve: object, _reject: object) -> None:
            self._resolve = resolve

        promise = window.Promise.new(executor)
        self.held = account
        _later(on_owned)
        return promise

    def _post_release(self, account: str) -> None:
        if self._channel is not None:
            self._channel.postMessage(to_js({"type": RELEASE, "account": account}))  # type: ignore[attr-defined]

    def _on_message(self, ev: object) -> None:
        data = to_py(ev.data)  # type: ignore[attr-defined]
        if not isinstance(data, dict) or data.get("type") != RELEASE:
            return
        account = data.get("account")
        if not isinstance(account, str) or account not in (self.held, self.pending):
            return
        callback = self._on_release
        if callback is None:
            self.release()
            return
        callback(account)
