"""`BrowserPlatform`: what `roost.app.ChatApp` is given (docs/architecture.md,
"platform provides"). `main.py` builds it after `config.json` is loaded.

It lives here, not in `roost/platform/__init__.py`, so that importing
`roost.platform.errors` (the first thing `main.py` does) doesn't also import
the WebSocket, DOM, storage and WebCrypto adapters: an error while those load
must already meet the installed reporter.
"""

from __future__ import annotations

from roost.platform import timers, webcrypto
from roost.platform.dom import parse as _parse
from roost.platform.storage import open_storage as _open_storage
from roost.platform.websocket import Connection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.platform.omemo_crypto import WebCrypto
    from roost.platform.omemo_store import OmemoIndexedDB
    from roost.platform.storage import IndexedDBStorage, MemoryStorage
    from roost.xmpp.element import Element
    from roost.xmpp.errors import NetworkError


class BrowserPlatform:
    """WebSocket, DOMParser, WebCrypto, IndexedDB, timers and config, for the app."""

    __slots__ = ("config",)

    def __init__(self, config: dict[str, object]) -> None:
        self.config = config

    def connect(
        self,
        url: str,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> Connection:
        return Connection(url, on_open, on_frame, on_close)

    def parse(self, text: str) -> Element:
        return _parse(text)

    def pbkdf2(
        self,
        hash_name: str,
        password: bytes,
        salt: bytes,
        iterations: int,
        on_done: Callable[[bytes], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        webcrypto.pbkdf2(hash_name, password, salt, iterations, on_done, on_error)

    def random_bytes(self, n: int) -> bytes:
        return webcrypto.random_bytes(n)

    def open_storage(self, account: str, trusted: bool) -> IndexedDBStorage | MemoryStorage:
        return _open_storage(account, trusted)

    def call_later(self, seconds: float, fn: Callable[[], object]) -> int:
        return timers.call_later(seconds, fn)

    def cancel(self, handle: int | None) -> None:
        timers.cancel(handle)

    def now(self) -> float:
        return timers.now()

    def omemo_crypto(self) -> WebCrypto:
        """The WebCrypto `OmemoCrypto` (imported when a trusted login needs it)."""
        from roost.platform.omemo_crypto import WebCrypto

        return WebCrypto()

    def open_omemo_storage(self, account: str) -> OmemoIndexedDB:
        """This device's OMEMO keys and sessions (IndexedDB; trusted sessions only)."""
        from roost.platform.omemo_store import OmemoIndexedDB

        return OmemoIndexedDB(account)

    def run_async(
        self,
        coro: object,
        on_done: Callable[[object], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run a coroutine under `browser.aio`; its result or exception to a callback."""
        from browser import aio  # type: ignore[import-not-found]

        async def wrapped() -> None:
            try:
                result = await coro  # type: ignore[misc]
            except Exception as exc:
                on_error(exc)
                return
            on_done(result)

        aio.run(wrapped())

    def remember_login(self, record: dict[str, object] | None) -> None:
        """Keep this trusted device's SCRAM login (None: forget it, here and
        in the other tabs); see platform/remembered.py."""
        from roost.platform import remembered

        remembered.remember(record)

    def stash(self, key: str, value: object = None) -> None:
        """Keep `value` (JSON-like; None removes it) in this tab's sessionStorage.

        Synchronous, so it survives a reload that comes before an IndexedDB
        transaction commits (the app keeps its trusted outbox there too).
        """
        from browser import window  # type: ignore[import-not-found]

        from roost.platform.jsdata import to_js

        try:
            if value is None:
                window.sessionStorage.removeItem(key)
            else:
                window.sessionStorage.setItem(key, window.JSON.stringify(to_js(value)))
        except Exception:  # storage full or disabled: IndexedDB still has it
            pass

    def unstash(self, key: str) -> object:
        """What `stash` kept under `key` in this tab (None: nothing)."""
        from browser import window  # type: ignore[import-not-found]

        from roost.platform.jsdata import to_py

        try:
            text = window.sessionStorage.getItem(key)
            return None if text is None else to_py(window.JSON.parse(text))
        except Exception:  # unreadable: as if nothing was kept
            return None
