"""Per-account storage: IndexedDB on a trusted device, memory otherwise.

Both have the same callback API (docs/architecture.md):
`get(store, key, cb)` -> cb(value or None); `put(store, key, value, cb=None)`
-> cb(); `all(store, cb)` -> cb(dict key -> value, in key order);
`delete(store, key, cb=None)` -> cb(); `destroy(cb=None)` -> cb().
Callbacks always run later (never inside the call), for both backends.
Values are JSON-like data (see jsdata.py); a stored value is a copy.

Since schema v2 (`schema.py`) both also have `write(puts, deletes, cb)` (one
transaction), `query(store, index, lower, upper, cb, reverse, limit, ...)`
(a key range walked with a cursor, at most `limit` values) and
`latest(conv, n, cb)` / `before(conv, (stamp, seq), n, cb)` for message
pages.

An untrusted session never touches IndexedDB, localStorage, sessionStorage
or the Cache API. The database is `roost-<account>`, never Brython's
`brython-cache` (that one holds compiled code, SECURITY.md).
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js, to_py
from roost.platform.schema import (
    DB_VERSION,
    INDEXES,
    KEY_PATHS,
    V1_STORES,
    MemoryBackend,
    Paging,
    conversation_summaries,
    v1_records,
)
from roost.platform.timers import soon

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_NULL = javascript.NULL
_UNDEFINED = javascript.UNDEFINED


def database_name(account: str) -> str:
    return "roost-" + account


def _nothing(*_args: object) -> None:
    return None


def _report(what: str, err: object) -> None:
    window.console.error("Roost storage: " + what, err)


class MemoryStorage(MemoryBackend):
    """Storage for an untrusted session: a dict per store, gone with the page."""

    __slots__ = ()

    def __init__(self, account: str) -> None:
        super().__init__(account, soon)


def _options(**kw: object) -> object:
    return to_js(kw)


def _migrate_v1(db: object, tx: object, account: str) -> None:
    """v1 (the first release): key/value stores roster, messages, meta."""
    names = db.objectStoreNames  # type: ignore[attr-defined]
    for name in V1_STORES:
        if not names.contains(name):
            db.createObjectStore(name)  # type: ignore[attr-defined]


def _migrate_v2(db: object, tx: object, account: str) -> None:
    """v2: message records with indexes; v1 blobs kept (renamed) and converted."""
    legacy = tx.objectStore("messages")  # type: ignore[attr-defined]
    legacy.name = "legacy_messages"
    messages = db.createObjectStore(  # type: ignore[attr-defined]
        "messages", _options(keyPath=KEY_PATHS["messages"])
    )
    for index, path in INDEXES["messages"]:
        messages.createIndex(index, to_js(list(path)), _options(unique=False))
    for name in ("conversations", "cursors", "outbox"):
        db.createObjectStore(name)  # type: ignore[attr-defined]
    meta = tx.objectStore("meta")  # type: ignore[attr-defined]
    meta.put(to_js(account), "account")
    blobs_req = legacy.getAll()

    def convert(_ev: object) -> None:
        records = v1_records(to_py(blobs_req.result), 1)  # type: ignore[arg-type]
        for record in records:
            messages.put(to_js(record))
        conversations = tx.objectStore("conversations")  # type: ignore[attr-defined]
        for jid, summary in conversation_summaries(records).items():
            conversations.put(to_js(summary), jid)

    blobs_req.onsuccess = convert


def _migrate_v3(db: object, tx: object, account: str) -> None:
    """v3: the app uses message records only. `legacy_messages` (which the app
    went on writing under v2) is converted again, replacing v2's conversion,
    and dropped; meta's `archive_cursor` becomes the account's cursor.

    Everything happens in request callbacks, so it runs after v2's
    conversion of the same upgrade (requests of a transaction run in order).
    """
    legacy = tx.objectStore("legacy_messages")  # type: ignore[attr-defined]
    meta = tx.objectStore("meta")  # type: ignore[attr-defined]
    blobs_req = legacy.getAll()
    cursor_req = meta.get("archive_cursor")

    def convert(_ev: object) -> None:
        messages = tx.objectStore("messages")  # type: ignore[attr-defined]
        conversations = tx.objectStore("conversations")  # type: ignore[attr-defined]
        messages.clear()
        conversations.clear()
        records = v1_records(to_py(blobs_req.result), 1)  # type: ignore[arg-type]
        for record in records:
            messages.put(to_js(record))
        for jid, summary in conversation_summaries(records).items():
            conversations.put(to_js(summary), jid)
        db.deleteObjectStore("legacy_messages")  # type: ignore[attr-defined]

    def move_cursor(_ev: object) -> None:
        value = cursor_req.result
        if isinstance(value, str) and value:
            cursors = tx.objectStore("cursors")  # type: ignore[attr-defined]
            cursors.put(to_js({"archive_id": value, "stamp": 0.0}), "")
        meta.delete("archive_cursor")

    blobs_req.onsuccess = convert
    cursor_req.onsuccess = move_cursor


# (version, step): run in order for every version above the database's.
MIGRATIONS = ((1, _migrate_v1), (2, _migrate_v2), (3, _migrate_v3))


class IndexedDBStorage(Paging):
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
        """Run the migrations from the database's version (0: new) to DB_VERSION."""
        db = ev.target.result  # type: ignore[attr-defined]
        tx = ev.target.transaction  # type: ignore[attr-defined]
        old = int(ev.oldVersion or 0)  # type: ignore[attr-defined]
        for version, step in MIGRATIONS:
            if old < version:
                step(db, tx, self.account)
        tx.objectStore("meta").put(DB_VERSION, "schema")

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

    def write(
        self,
        puts: list[tuple[str, object, object]],
        deletes: list[tuple[str, object]],
        cb: Callable[[], None] | None = None,
    ) -> None:
        """Deletes, then puts, in one readwrite transaction; `cb()` once it commits.

        `key` is ignored for stores with inline keys (`messages`).
        """
        if not puts and not deletes:
            soon(cb or _nothing)
            return

        def op() -> None:
            names = sorted({p[0] for p in puts} | {d[0] for d in deletes})
            tx = self._db.transaction(to_js(names), "readwrite")  # type: ignore[attr-defined]
            for store, key in deletes:
                tx.objectStore(store).delete(to_js(key))
            for store, key, value in puts:
                if store in KEY_PATHS:
                    tx.objectStore(store).put(to_js(value))
                else:
                    tx.objectStore(store).put(to_js(value), to_js(key))
            tx.oncomplete = lambda _ev: (cb or _nothing)()
            tx.onerror = lambda _ev: _report("write failed", tx.error)

        self._run(op)

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
    ) -> None:
        """Values with (index) keys in [lower, upper] (None: open end), ascending.

        A cursor walks the range (from the top when `reverse`) and stops after
        `limit` values (0: all); only those are converted to Python.
        """

        def op() -> None:
            source = self._tx(store, "readonly")
            if index is not None:
                source = source.index(index)  # type: ignore[attr-defined]
            key_range = _key_range(lower, upper, lower_open, upper_open)
            raw: list[object] = []
            req = source.openCursor(key_range, "prev" if reverse else "next")  # type: ignore[attr-defined]

            def step(_ev: object) -> None:
                cursor = req.result
                if cursor is not None and cursor is not _NULL and cursor is not _UNDEFINED:
                    raw.append(cursor.value)
                    if not limit or len(raw) < limit:
                        getattr(cursor, "continue")()  # a Python keyword
                        return
                if reverse:
                    raw.reverse()
                cb([to_py(v) for v in raw])

            def failed(_ev: object) -> None:
                _report("query failed", req.error)
                cb([])

            req.onsuccess = step
            req.onerror = failed

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


def _key_range(lower: object, upper: object, lower_open: bool, upper_open: bool) -> object:
    kr = window.IDBKeyRange
    if lower is None and upper is None:
        return _NULL  # the whole store (Brython can't pass `undefined` as an argument)
    if lower is None:
        return kr.upperBound(to_js(upper), upper_open)
    if upper is None:
        return kr.lowerBound(to_js(lower), lower_open)
    return kr.bound(to_js(lower), to_js(upper), lower_open, upper_open)


def open_storage(account: str, trusted: bool) -> MemoryStorage | IndexedDBStorage:
    """IndexedDB-backed storage when `trusted`, memory otherwise."""
    if trusted and window.indexedDB:
        return IndexedDBStorage(account)
    return MemoryStorage(account)
