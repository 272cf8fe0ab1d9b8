"""This device's OMEMO state in IndexedDB: database `roost-omemo-<account>`.

Only a trusted session opens it (PRODUCT.md: private keys exist only in the
browser of a trusted device); an untrusted one has no OMEMO at all. It is a
database of its own, not a store of the message database, so its life is its
own: logging out keeps it (the device keeps its identity), and nothing in the
message schema's migrations can touch keys.

Records are what `roost.omemo` makes: dicts, lists, str, int, bool, None,
bytes, and opaque private-key handles (`CryptoKey`s, non-extractable). IndexedDB
stores them by structured clone: bytes as `Uint8Array`, keys as they are, so a
private key is never exported to be saved.

Callback style like `roost.platform.storage`; callbacks always run later.
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_NULL = javascript.NULL
_UNDEFINED = javascript.UNDEFINED
_STORE = "records"
_VERSION = 1


def database_name(account: str) -> str:
    return "roost-omemo-" + account


def _report(what: str, err: object) -> None:
    window.console.error("Roost OMEMO storage: " + what, err)


def to_js(value: object) -> object:
    """A structured-cloneable JS value for a record (bytes → Uint8Array)."""
    if value is None:
        return _NULL
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return window.Uint8Array.new(list(value))
    if isinstance(value, (list, tuple)):
        array = window.Array.new()
        for item in value:
            array.push(to_js(item))
        return array
    if isinstance(value, dict):
        obj = window.Object.new()
        for key, item in value.items():
            obj[str(key)] = to_js(item)
        return obj
    return value  # a JS object already (a CryptoKey): cloned as it is


def to_py(value: object) -> object:
    """The record `to_js` stored: Uint8Array → bytes, CryptoKey kept opaque."""
    if value is None or value is _NULL or value is _UNDEFINED:
        return None
    if isinstance(value, (str, bool, int, float)):
        return value
    # By constructor name. (Reading `Object.prototype.toString` from Brython
    # at import time broke every later IndexedDB transaction of the page.)
    if window.Array.isArray(value):
        return [to_py(v) for v in value]  # type: ignore[attr-defined]
    kind = str(value.constructor.name)  # type: ignore[attr-defined]
    if kind == "Uint8Array":
        return bytes(value)  # type: ignore[call-overload]
    if kind == "Object":
        return {k: to_py(value[k]) for k in window.Object.keys(value)}  # type: ignore[index]
    return value  # a CryptoKey: opaque, used only through WebCrypto


class OmemoIndexedDB:
    """Key → record, in this browser only. `load` reads everything at once
    (a device's state is small: its keys, sessions and known devices)."""

    __slots__ = ("_db", "_failed", "_waiting", "name")

    def __init__(self, account: str) -> None:
        self.name = database_name(account)
        self._db: object = None
        self._failed = False
        self._waiting: list[Callable[[], None]] = []
        req = window.indexedDB.open(self.name, _VERSION)
        req.onupgradeneeded = self._upgrade
        req.onsuccess = self._opened
        req.onerror = self._open_failed

    def _upgrade(self, ev: object) -> None:
        db = ev.target.result  # type: ignore[attr-defined]
        if not db.objectStoreNames.contains(_STORE):
            db.createObjectStore(_STORE)

    def _opened(self, ev: object) -> None:
        self._db = ev.target.result  # type: ignore[attr-defined]
        self._run_waiting()

    def _open_failed(self, ev: object) -> None:
        _report("cannot open " + self.name, ev.target.error)  # type: ignore[attr-defined]
        self._failed = True
        self._run_waiting()

    def _run_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for fn in waiting:
            fn()

    def _when_open(self, fn: Callable[[], None]) -> None:
        # Open: at once (like storage.py). A transaction made in a Brython
        # `setTimeout` callback was found finished before its first request.
        if self._db is not None or self._failed:
            fn()
        else:
            self._waiting.append(fn)

    def load(
        self, cb: Callable[[dict[str, object]], None], on_error: Callable[[str], None]
    ) -> None:
        """cb(every record by key); on_error(text) when the database can't be read."""
        self._when_open(_Load(self, cb, on_error).start)

    def write(
        self,
        puts: dict[str, object],
        deletes: list[str],
        cb: Callable[[bool], None] | None = None,
    ) -> None:
        """Put and delete in one transaction; cb(True) once it committed, cb(False) if not."""
        self._when_open(_Write(self, puts, deletes, cb).start)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        """Delete the database (the user removes this device's encryption keys)."""

        def run() -> None:
            if self._db is not None:
                self._db.close()  # type: ignore[attr-defined]
                self._db = None
            req = window.indexedDB.deleteDatabase(self.name)

            def done(_ev: object) -> None:
                if cb is not None:
                    cb()

            req.onsuccess = done
            req.onerror = done
            req.onblocked = done

        self._when_open(run)


# The requests' handlers are methods of small objects, not closures over the
# transaction: in Brython 3.15 a closure made in a nested function called a
# second time saw the first call's transaction (already finished) instead.


class _Load:
    __slots__ = ("cb", "keys", "on_error", "owner", "values")

    def __init__(
        self,
        owner: OmemoIndexedDB,
        cb: Callable[[dict[str, object]], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.owner = owner
        self.cb = cb
        self.on_error = on_error
        self.keys: object = None
        self.values: object = None

    def start(self) -> None:
        db = self.owner._db
        if db is None:
            self.on_error("This browser's storage can't be opened.")
            return
        store = db.transaction(_STORE, "readonly").objectStore(_STORE)  # type: ignore[attr-defined]
        self.keys = store.getAllKeys()
        self.values = store.getAll()
        self.values.onsuccess = self.done  # type: ignore[attr-defined]
        self.values.onerror = self.failed  # type: ignore[attr-defined]

    def done(self, _ev: object) -> None:
        keys, values = self.keys.result, self.values.result  # type: ignore[attr-defined]
        records: dict[str, object] = {}
        for i in range(keys.length):
            records[str(keys[i])] = to_py(values[i])
        self.cb(records)

    def failed(self, ev: object) -> None:
        _report("cannot read " + self.owner.name, ev.target.error)  # type: ignore[attr-defined]
        self.on_error("This browser's storage can't be read.")


class _Write:
    __slots__ = ("cb", "deletes", "owner", "puts")

    def __init__(
        self,
        owner: OmemoIndexedDB,
        puts: dict[str, object],
        deletes: list[str],
        cb: Callable[[bool], None] | None,
    ) -> None:
        self.owner = owner
        self.puts = puts
        self.deletes = deletes
        self.cb = cb

    def start(self) -> None:
        db = self.owner._db
        if db is None:
            if self.cb is not None:
                self.cb(False)
            return
        tx = db.transaction(_STORE, "readwrite")  # type: ignore[attr-defined]
        store = tx.objectStore(_STORE)
        for key, value in self.puts.items():
            store.put(to_js(value), key)
        for key in self.deletes:
            store.delete(key)
        tx.oncomplete = self.committed
        tx.onerror = self.failed
        tx.onabort = self.failed

    def committed(self, _ev: object) -> None:
        if self.cb is not None:
            self.cb(True)

    def failed(self, ev: object) -> None:
        _report("cannot write " + self.owner.name, ev.target.error)  # type: ignore[attr-defined]
        cb, self.cb = self.cb, None  # onerror and onabort both come
        if cb is not None:
            cb(False)
