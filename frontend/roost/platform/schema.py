"""The per-account database schema, its migrations' data step, and the memory backend.

Pure Python (no `browser` import), so CPython tests use the real memory
backend and the real v1 → v2 conversion; `storage.py` adds IndexedDB.

Schema (docs/architecture.md, "Local message store"), version `DB_VERSION`:

- `messages` — one record per message (or gap marker), inline key `seq` (an
  integer unique in the account, increasing with insertion). Indexes:
  `conv_stamp` [conversation, stamp, seq] (paging), `archive_id`
  [conversation, archive_id], `origin_id` [conversation, origin_id]
  (records without the field are not in the index).
- `conversations` — bare JID → `{"jid", "stamp", "unread", "complete",
  "preview"}` (last activity, unread count, archive start reached, newest text).
- `roster` — bare JID → contact dict (unchanged since v1).
- `cursors` — conversation (or `""` for the account archive) →
  `{"archive_id", "stamp"}`.
- `outbox` — seq → the message record, for messages not yet acknowledged.
- `meta` — `"schema"` → DB_VERSION, `"account"` → account.

v3 drops `legacy_messages` (v1's conversation blobs, which the app kept
writing until it moved onto the message store): they are converted once more,
replacing what v2 converted, and the archive id kept in meta
(`archive_cursor`) becomes the account's cursor.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

DB_VERSION = 3
V1_STORES = ("roster", "messages", "meta")
STORES = (
    "roster",
    "meta",
    "messages",
    "conversations",
    "cursors",
    "outbox",
)
# Stores whose records carry their own key (IndexedDB keyPath).
KEY_PATHS = {"messages": "seq"}
INDEXES = {
    "messages": (
        ("conv_stamp", ("conversation", "stamp", "seq")),
        ("archive_id", ("conversation", "archive_id")),
        ("origin_id", ("conversation", "origin_id")),
    ),
}
# The largest key of a conversation's [conversation, ...] range: in IndexedDB
# an array sorts after every number and string.
HIGHEST: list[object] = []


def v1_records(blobs: list[object], first_seq: int) -> list[dict[str, object]]:
    """The v2 `messages` records for v1 conversation blobs (`chat.py`'s layout).

    Messages keep their order: seq increases along each conversation's list.
    """
    out: list[dict[str, object]] = []
    seq = first_seq
    for blob in blobs:
        if not isinstance(blob, dict):
            continue
        jid = blob.get("jid")
        messages = blob.get("messages")
        if not isinstance(jid, str) or not isinstance(messages, list):
            continue
        for m in messages:
            if not isinstance(m, dict):
                continue
            stamp = m.get("stamp")
            msg_id = m.get("id")
            outgoing = bool(m.get("outgoing"))
            out.append(
                {
                    "seq": seq,
                    "kind": "message",
                    "conversation": jid,
                    "id": msg_id if isinstance(msg_id, str) else None,
                    "sender": str(m.get("sender") or ("" if outgoing else jid)),
                    "body": str(m.get("body") or ""),
                    "stamp": float(stamp) if isinstance(stamp, (int, float)) else 0.0,
                    "outgoing": outgoing,
                    "state": str(m.get("state") or ("sent" if outgoing else "received")),
                    # Today's client sends its message id as the origin-id too.
                    "origin_id": msg_id if outgoing and isinstance(msg_id, str) else None,
                    "archive_id": None,
                    "replaces": None,
                    "edited": None,
                }
            )
            seq += 1
    return out


def conversation_summaries(records: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """`conversations` store values (jid → summary, see above) for message records."""
    out: dict[str, dict[str, object]] = {}
    for r in records:
        jid = str(r["conversation"])
        stamp = r.get("stamp")
        stamp = float(stamp) if isinstance(stamp, (int, float)) else 0.0
        old = out.get(jid)
        if old is None or stamp >= float(old["stamp"]):  # type: ignore[arg-type]
            out[jid] = {
                "jid": jid,
                "stamp": stamp,
                "unread": 0,
                "complete": False,
                "preview": str(r.get("body") or "")[:200],
            }
    return out


def key_order(key: object) -> tuple[int, object]:
    """Python ordering of IndexedDB keys: numbers < strings < arrays."""
    if isinstance(key, bool):
        raise TypeError("not a valid key: bool")
    if isinstance(key, (int, float)):
        return (0, key)
    if isinstance(key, str):
        return (1, key)
    if isinstance(key, (list, tuple)):
        return (2, tuple(key_order(k) for k in key))
    raise TypeError("not a valid key: " + type(key).__name__)


def index_key(value: object, path: tuple[str, ...] | str) -> object:
    """The index (or inline) key of `value` for a keyPath, None when not indexed."""
    if not isinstance(value, dict):
        return None
    if isinstance(path, str):
        return value.get(path)
    out = []
    for name in path:
        part = value.get(name)
        if part is None or isinstance(part, bool):
            return None  # IndexedDB: an invalid key part leaves the record out
        out.append(part)
    return out


def in_range(
    order: tuple[int, object],
    lower: tuple[int, object] | None,
    upper: tuple[int, object] | None,
    lower_open: bool,
    upper_open: bool,
) -> bool:
    if lower is not None and (order < lower or (lower_open and order == lower)):
        return False
    return not (upper is not None and (order > upper or (upper_open and order == upper)))


def copy_value(value: object) -> object:
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_value(v) for v in value]
    return value


def _nothing(*_args: object) -> None:
    return None


class Paging:
    """`latest`/`before` over `query` (shared by the memory and IndexedDB backends)."""

    __slots__ = ()

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
        raise NotImplementedError

    def latest(self, conversation: str, n: int, cb: Callable[[list[object]], None]) -> None:
        """The last `n` records of a conversation (oldest first)."""
        self.query(
            "messages",
            "conv_stamp",
            [conversation],
            [conversation, HIGHEST],
            cb,
            reverse=True,
            limit=n,
        )

    def before(
        self,
        conversation: str,
        key: tuple[float, int],
        n: int,
        cb: Callable[[list[object]], None],
    ) -> None:
        """The `n` records just before `key` = (stamp, seq) (oldest first); n=0: all."""
        stamp, seq = key
        self.query(
            "messages",
            "conv_stamp",
            [conversation],
            [conversation, stamp, seq],
            cb,
            reverse=True,
            limit=n,
            upper_open=True,
        )


class MemoryBackend(Paging):
    """The memory storage (untrusted sessions): dicts per store, gone with the page.

    `soon(fn)` runs `fn` after the current task (a microtask in the browser,
    a task queue in tests): callbacks never run inside the call.
    """

    __slots__ = ("_data", "_soon", "account")

    trusted = False

    def __init__(self, account: str, soon: Callable[[Callable[[], object]], object]) -> None:
        self.account = account
        self._soon = soon
        self._data: dict[str, dict[object, object]] = {name: {} for name in STORES}
        self._data["meta"]["schema"] = DB_VERSION
        self._data["meta"]["account"] = account

    def _store(self, store: str) -> dict[object, object]:
        if store not in self._data:
            raise KeyError("unknown store: " + store)
        return self._data[store]

    @staticmethod
    def _hashable(key: object) -> object:
        return tuple(key) if isinstance(key, list) else key

    # -- key/value (v1 API, used by chat.py) --------------------------------------
    def get(self, store: str, key: object, cb: Callable[[object], None]) -> None:
        value = copy_value(self._store(store).get(self._hashable(key)))
        self._soon(lambda: cb(value))

    def put(
        self, store: str, key: object, value: object, cb: Callable[[], None] | None = None
    ) -> None:
        self._put(store, key, value)
        self._soon(cb or _nothing)

    def _put(self, store: str, key: object, value: object) -> None:
        path = KEY_PATHS.get(store)
        if path is not None:
            key = index_key(value, path)
        key_order(key)  # refuses what IndexedDB would refuse
        self._store(store)[self._hashable(key)] = copy_value(value)

    def all(self, store: str, cb: Callable[[dict[object, object]], None]) -> None:
        data = self._store(store)
        result = {k: copy_value(data[k]) for k in sorted(data, key=key_order)}
        self._soon(lambda: cb(result))

    def delete(self, store: str, key: object, cb: Callable[[], None] | None = None) -> None:
        self._store(store).pop(self._hashable(key), None)
        self._soon(cb or _nothing)

    def destroy(self, cb: Callable[[], None] | None = None) -> None:
        for data in self._data.values():
            data.clear()
        self._soon(cb or _nothing)

    # -- batched writes and range queries --
    def write(
        self,
        puts: list[tuple[str, object, object]],
        deletes: list[tuple[str, object]],
        cb: Callable[[], None] | None = None,
    ) -> None:
        """Deletes, then puts, as one transaction. `key` is ignored for keyPath stores."""
        for store, key in deletes:
            self._store(store).pop(self._hashable(key), None)
        for store, key, value in puts:
            self._put(store, key, value)
        self._soon(cb or _nothing)

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
        """Values whose (index) key is in [lower, upper] (None: unbounded), key order.

        `reverse` walks from the upper end, so with `limit` it gives the last
        `limit` values (still returned in ascending key order).
        """
        data = self._store(store)
        path: tuple[str, ...] | str | None = None
        if index is not None:
            for name, key_path in INDEXES.get(store, ()):
                if name == index:
                    path = key_path
            if path is None:
                raise KeyError("unknown index: " + index)
        lo = None if lower is None else key_order(lower)
        hi = None if upper is None else key_order(upper)
        rows = []
        for key, value in data.items():
            k = key if path is None else index_key(value, path)
            if k is None:
                continue
            order = key_order(k)
            if in_range(order, lo, hi, lower_open, upper_open):
                rows.append((order, key_order(key), value))
        rows.sort(key=lambda row: (row[0], row[1]))
        if limit:
            rows = rows[-limit:] if reverse else rows[:limit]
        result = [copy_value(row[2]) for row in rows]
        self._soon(lambda: cb(result))
