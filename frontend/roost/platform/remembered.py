"""The remembered login of a trusted device, and the snapshot drawn before Python.

Remembered login: IndexedDB database `roost-login`, store `login`, key
`current`: `{account, mechanism, salt, iterations, salted_password}` (the
SCRAM key, `roost.xmpp.sasl.ScramKey.to_record()`; never the password).
Only a trusted session writes it (app/chat.py); reading never creates the
database, so an untrusted session leaves nothing behind.

Snapshot: localStorage `roost-snapshot`, `{v, account, active, contacts}`
with `contacts` rows `[jid, name, preview, unread]`: text only, written by
the UI of a session whose login is remembered, drawn by `snapshot.js` as text
nodes before Brython has started. It goes with the remembered login.

Forgetting (logout, a key the server refused) deletes both and tells the
other tabs of this browser on the BroadcastChannel `roost-login`, so they
log out too instead of keeping the key in memory.
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js, to_py

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DB_NAME = "roost-login"
STORE = "login"
KEY = "current"
SNAPSHOT_KEY = "roost-snapshot"
CHANNEL = "roost-login"
SNAPSHOT_VERSION = 1

_NULL = javascript.NULL
_UNDEFINED = javascript.UNDEFINED
_channel: object = None
_on_forgotten: list[Callable[[str], object]] = []


def _present(value: object) -> bool:
    return value is not None and value is not _NULL and value is not _UNDEFINED


def _idb() -> object:
    try:
        idb = window.indexedDB
    except AttributeError:
        return None
    return idb if _present(idb) else None


def load(cb: Callable[[dict[str, object] | None], object]) -> None:
    """`cb(record)` with the remembered login, or `cb(None)`; always later.

    A missing database is not created: its upgrade is aborted.
    """
    idb = _idb()
    if idb is None:
        window.setTimeout(lambda: cb(None), 0)
        return
    req = idb.open(DB_NAME)  # type: ignore[attr-defined]
    done = [False]

    def finish(value: object) -> None:
        if not done[0]:
            done[0] = True
            cb(value if isinstance(value, dict) else None)

    def upgrade(_ev: object) -> None:
        req.transaction.abort()  # no such database: leave it that way

    def opened(_ev: object) -> None:
        db = req.result
        if not db.objectStoreNames.contains(STORE):
            db.close()
            finish(None)
            return
        get = db.transaction(STORE, "readonly").objectStore(STORE).get(KEY)

        def got(_ev: object) -> None:
            value = to_py(get.result) if _present(get.result) else None
            db.close()
            finish(value)

        def failed(_ev: object) -> None:
            db.close()
            finish(None)

        get.onsuccess = got
        get.onerror = failed

    req.onupgradeneeded = upgrade
    req.onsuccess = opened
    req.onerror = lambda _ev: finish(None)


def save(record: dict[str, object]) -> None:
    """Keep `record` as this device's remembered login (replacing any other)."""
    idb = _idb()
    if idb is None:
        return
    req = idb.open(DB_NAME, 1)  # type: ignore[attr-defined]

    def upgrade(_ev: object) -> None:
        req.result.createObjectStore(STORE)

    def opened(_ev: object) -> None:
        db = req.result
        tx = db.transaction(STORE, "readwrite")
        tx.objectStore(STORE).put(to_js(record), KEY)
        tx.oncomplete = lambda _ev: db.close()
        tx.onerror = lambda _ev: window.console.error("Roost: remembering the login failed")

    req.onupgradeneeded = upgrade
    req.onsuccess = opened
    req.onerror = lambda _ev: window.console.error("Roost: remembering the login failed")


def forget(account: str | None = None, tell_others: bool = True) -> None:
    """Delete the remembered login and the snapshot; tell the other tabs."""
    clear_snapshot()
    idb = _idb()
    if idb is not None:
        idb.deleteDatabase(DB_NAME)  # type: ignore[attr-defined]
    channel = _get_channel()
    if tell_others and channel is not None:
        channel.postMessage(to_js({"type": "forget", "account": account or ""}))  # type: ignore[attr-defined]


def remember(record: dict[str, object] | None) -> None:
    """`save(record)`, or `forget()` for None (the platform's `remember_login`)."""
    if record is None:
        forget()
    else:
        save(record)
        account = record.get("account")
        if isinstance(account, str) and read_snapshot(account) is None:
            write_snapshot({"account": account, "active": None, "contacts": []})


# -- the other tabs ------------------------------------------------------------------------
def _get_channel() -> object:
    global _channel
    if _channel is None:
        try:
            cls = window.BroadcastChannel
        except AttributeError:
            return None
        if not _present(cls):
            return None
        _channel = cls.new(CHANNEL)
        _channel.onmessage = _on_message  # type: ignore[attr-defined]
    return _channel


def _on_message(ev: object) -> None:
    data = to_py(ev.data)  # type: ignore[attr-defined]
    if not isinstance(data, dict) or data.get("type") != "forget":
        return
    account = data.get("account")
    for callback in list(_on_forgotten):
        callback(account if isinstance(account, str) else "")


def on_forgotten(callback: Callable[[str], object]) -> None:
    """`callback(account)` when another tab forgets the remembered login (logout)."""
    _on_forgotten.append(callback)
    _get_channel()


# -- the snapshot ----------------------------------------------------------------------------
def _local() -> object:
    try:
        storage = window.localStorage
    except Exception:  # disabled by the browser's settings
        return None
    return storage if _present(storage) else None


def write_snapshot(data: dict[str, object]) -> None:
    """Keep what the list shows for `snapshot.js` (trusted, remembered sessions only)."""
    storage = _local()
    if storage is None:
        return
    data = dict(data)
    data["v"] = SNAPSHOT_VERSION
    try:
        storage.setItem(SNAPSHOT_KEY, window.JSON.stringify(to_js(data)))  # type: ignore[attr-defined]
    except Exception:  # full: the next start just waits for the store
        pass


def read_snapshot(account: str | None = None) -> dict[str, object] | None:
    """The snapshot (of `account`, when given), or None."""
    storage = _local()
    if storage is None:
        return None
    try:
        text = storage.getItem(SNAPSHOT_KEY)  # type: ignore[attr-defined]
        value = None if not _present(text) else to_py(window.JSON.parse(text))
    except Exception:
        return None
    if not isinstance(value, dict):
        return None
    if account is not None and value.get("account") != account:
        return None
    return value


def clear_snapshot() -> None:
    storage = _local()
    if storage is not None:
        try:
            storage.removeItem(SNAPSHOT_KEY)  # type: ignore[attr-defined]
        except Exception:
            pass
