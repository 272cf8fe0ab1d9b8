"""Per-account storage: IndexedDB on a trusted device, memory otherwise.

Both have the same callback API (docs/architecture.md):
`get(store, key, cb)` -> cb(value or None); `put(store, key, value, cb=None)`
-> cb(); `all(store, cb)` -> cb(dict key -> value, in key order);
`delete(store, key, cb=None)` -> cb(); `destroy(cb=None)` -> cb().
Callbacks always run later (never inside the call), for both backends.
Values are JSON-like data (see jsdata.py); a stored value is a copy.

An untrusted session never touches IndexedDB, localStorage, sessionStorage
or the Cache API. The database is `roost-<account>`, never Brython's
`brython-cache` (that one holds compiled code, SECURITY.md).
"""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js, to_py
from roost.platform.timers import soon

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

STORES = ("roster", "messages", "meta")
DB_VERSION = 1


def database_name(account: str) -> str:
    return "roost-" + account


def _nothing(*_args: object) -> None:
    return None


def _report(what: str, err: object) -> None:
    window.console.error("Roost storage: " + what, err)


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


class MemoryStorage:
    """Storage for an untrusted session: a dict per store, gone with the page."""

    __slots__ = ("_data", "account")

    trusted = False

    def __init__(self, account: str) -> None:
        self.account = account
        self._data: dict[str, dict[object, object]] = {name: {} for name in STORES}

    def _store(self, store: str) -> dict[object, object]:
        if store not in self._data:
            raise KeyError("unknown store: " + store)
        return self._data[store]

    def get(self, store: str, key: object, cb: Callable[[object], None]) -> None:
        value = _copy(self._store(store).get(key))
        soon(lambda: cb(value))

    def put(
        self, store: str, key: object, value: object, cb: Callable[[], None] | None = None
    ) -> None:
        self._store(store)[key] = _copy(value)
        soon(cb or _nothing)

    def all(self, store: str, cb: Callable[[dict[object, object]], None]) -> None:
        data = self._store(store)
        result = {k: _copy(data[k]) for k in sorted(data, key=_sort_key)}
        soon(lambda: cb(result))

    def delete(self, store: str, key: object, cb: Callable[[], None] | None = None) -> None:
        self._store(store).pop(key, None)
        soon(cb or _nothing)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        for data in self._data.values():
            data.clear()
        soon(cb or _nothing)


def _sort_key(key: object) -> tuple[int, object]:
    # IndexedDB orders numbers before strings.
    return (0, key) if isinstance(key, (int, float)) else (1, str(key))


class IndexedDBStorage:
    """Storage for a trusted device: IndexedDB database `roost-<account>`.

    Operations issued before the database is open are queued.
    """

    __slots__ = ("_closed", "_db", "_pending", "account", "name")

    trusted = True

    def __init__(self, account: str) -> None:
        self.account = account
        self.name = database_name(account)
        self._db: object = None
        self._closed = False
        self._pending: list[Callable[[], None]] = []
        req = window.indexedDB.open(self.name, DB_VERSION)
        req.onupgradeneeded = self._upgrade
        req.onsuccess = self._opened
        req.onerror = lambda ev: _report("cannot open " + self.name, req.error)
        # Ask the browser to keep this device's data (PRODUCT.md: trusted devices).
        storage = window.navigator.storage
        if storage and storage.persist:
            storage.persist()

    def _upgrade(self, ev: object) -> None:
        db = ev.target.result  # type: ignore[attr-defined]
        names = db.objectStoreNames
        for name in STORES:
            if not names.contains(name):
                db.createObjectStore(name)

    def _opened(self, ev: object) -> None:
        self._db = ev.target.result  # type: ignore[attr-defined]
        if self._closed:  # destroyed while opening: let deleteDatabase proceed
            self._db.close()  # type: ignore[attr-defined]
            return
        # Another tab deleting or upgrading the database: let it.
        self._db.onversionchange = lambda _ev: self._db.close()  # type: ignore[attr-defined]
        pending, self._pending = self._pending, []
        for op in pending:
            op()

    def _run(self, op: Callable[[], None]) -> None:
        if self._closed:
            return
        if self._db is None:
            self._pending.append(op)
        else:
            op()

    def _tx(self, store: str, mode: str) -> object:
        return self._db.transaction(store, mode).objectStore(store)  # type: ignore[attr-defined]

    def get(self, store: str, key: object, cb: Callable[[object], None]) -> None:
        def op() -> None:
            req = self._tx(store, "readonly").get(to_js(key))  # type: ignore[attr-defined]
            req.onsuccess = lambda _ev: cb(to_py(req.result))

            def failed(_ev: object) -> None:
                _report("get failed", req.error)
                cb(None)

            req.onerror = failed

        self._run(op)

    def put(
        self, store: str, key: object, value: object, cb: Callable[[], None] | None = None
    ) -> None:
        def op() -> None:
            req = self._tx(store, "readwrite").put(to_js(value), to_js(key))  # type: ignore[attr-defined]
            req.onsuccess = lambda _ev: (cb or _nothing)()
            req.onerror = lambda _ev: _report("put failed", req.error)

        self._run(op)

    def all(self, store: str, cb: Callable[[dict[object, object]], None]) -> None:
        def op() -> None:
            os = self._tx(store, "readonly")
            keys_req = os.getAllKeys()  # type: ignore[attr-defined]
            values_req = os.getAll()  # type: ignore[attr-defined]

            def done(_ev: object) -> None:
                keys = keys_req.result
                values = values_req.result
                cb({to_py(keys[i]): to_py(values[i]) for i in range(keys.length)})

            # Requests in one transaction complete in order: values_req is last.
            values_req.onsuccess = done

            def failed(_ev: object) -> None:
                _report("all failed", values_req.error)
                cb({})

            values_req.onerror = failed

        self._run(op)

    def delete(self, store: str, key: object, cb: Callable[[], None] | None = None) -> None:
        def op() -> None:
            req = self._tx(store, "readwrite").delete(to_js(key))  # type: ignore[attr-defined]
            req.onsuccess = lambda _ev: (cb or _nothing)()
            req.onerror = lambda _ev: _report("delete failed", req.error)

        self._run(op)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        """Close and delete the whole database."""
        self._closed = True
        self._pending = []
        if self._db is not None:
            self._db.close()  # type: ignore[attr-defined]
        req = window.indexedDB.deleteDatabase(self.name)
        req.onsuccess = lambda _ev: (cb or _nothing)()

        def failed(_ev: object) -> None:
            _report("delete database failed", req.error)
            (cb or _nothing)()

        req.onerror = failed
        req.onblocked = lambda _ev: window.console.warn("Roost storage: delete blocked", self.name)


def open_storage(account: str, trusted: bool) -> MemoryStorage | IndexedDBStorage:
    """IndexedDB-backed storage when `trusted`, memory otherwise."""
    if trusted and window.indexedDB:
        return IndexedDBStorage(account)
    return MemoryStorage(account)
