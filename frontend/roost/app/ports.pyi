"""What `ChatApp` needs from its platform, as typing Protocols.

A stub file: it exists only for the type checker (imported under
`if TYPE_CHECKING:`), so it can never be loaded, or bundled, at run time.
`roost.platform.BrowserPlatform` implements `Platform`; tests implement it
in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from roost.app.omemo import OmemoStorage
from roost.omemo.crypto import OmemoCrypto
from roost.xmpp.element import Element
from roost.xmpp.errors import NetworkError

class Connection(Protocol):
    """One WebSocket carrying RFC 7395 frames."""

    def send(self, text: str) -> None: ...

    def close(self) -> None:
        """Close the socket; `on_close(None)` follows (possibly later)."""


class Storage(Protocol):
    """Callback-style key/value stores ("roster", "messages", "meta").

    Callbacks may run later, never assume they ran inside the call.
    `all` gives a dict key → value. Values are JSON-like data.
    """

    def get(self, store: str, key: object, cb: Callable[[object], None]) -> None: ...

    def put(
        self, store: str, key: object, value: object, cb: Callable[[], None] | None = None
    ) -> None: ...

    def all(self, store: str, cb: Callable[[dict[object, object]], None]) -> None: ...

    def delete(self, store: str, key: object, cb: Callable[[], None] | None = None) -> None: ...

    def destroy(self, cb: Callable[[], None] | None = None) -> None: ...


class MessageStorage(Storage, Protocol):
    """Storage schema v2 (platform/schema.py): what `MessageStore` uses."""

    trusted: bool

    def write(
        self,
        puts: list[tuple[str, object, object]],
        deletes: list[tuple[str, object]],
        cb: Callable[[], None] | None = None,
    ) -> None: ...

    def query(
        self,
        store: str,
        index: str | None,
        lower: object,
        upper: object,
        cb: Callable[[list[object]], None],
        reverse: bool = False,
        limit: int = 0,
        lower_open: bool = False,
        upper_open: bool = False,
    ) -> None: ...

    def latest(self, conversation: str, n: int, cb: Callable[[list[object]], None]) -> None: ...

    def before(
        self,
        conversation: str,
        key: tuple[float, int],
        n: int,
        cb: Callable[[list[object]], None],
    ) -> None: ...


class Platform(Protocol):
    """Everything the app may do to the outside world."""

    config: dict[str, object]

    def connect(
        self,
        url: str,
        on_open: Callable[[], None],
        on_frame: Callable[[str], None],
        on_close: Callable[[NetworkError | None], None],
    ) -> Connection:
        """Open a WebSocket. `on_close(None)` after a clean close, else a NetworkError."""

    def parse(self, text: str) -> Element:
        """One frame to an Element; raises `XmlError`."""

    def pbkdf2(
        self,
        hash_name: str,
        password: bytes,
        salt: bytes,
        iterations: int,
        on_done: Callable[[bytes], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """PBKDF2-HMAC with hashlib's hash names ("sha1", "sha256")."""

    def random_bytes(self, n: int) -> bytes: ...

    def open_storage(self, account: str, trusted: bool) -> MessageStorage: ...

    def call_later(self, seconds: float, fn: Callable[[], object]) -> Any: ...

    def cancel(self, handle: Any) -> None: ...

    def now(self) -> float:
        """Seconds since the epoch."""

    def omemo_crypto(self) -> OmemoCrypto:
        """The OMEMO primitives (WebCrypto in the browser)."""

    def open_omemo_storage(self, account: str) -> OmemoStorage:
        """This device's OMEMO state (IndexedDB `roost-omemo-<account>`)."""

    def run_async(
        self,
        coro: Awaitable[object],
        on_done: Callable[[object], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run a coroutine; its result (or exception) goes to a callback, later."""

    def remember_login(self, record: dict[str, object] | None) -> None:
        """Keep the trusted device's remembered login (`{account, mechanism,
        salt, iterations, salted_password}`, never a password); None forgets it."""

    def stash(self, key: str, value: object = None) -> None:
        """Keep JSON-like `value` synchronously for this tab (None removes it)."""

    def unstash(self, key: str) -> object:
        """What `stash` kept under `key` (None: nothing)."""
