"""Where push subscriptions live: node → (owner, device, endpoint, keys, privacy, secret).

`SubscriptionStore` is the seam: the component and the sender only use its
async methods. `SqliteStore` (stdlib `sqlite3`, one file in the data dir) is
the default; a PostgreSQL store for several Roost instances behind one XMPP
server (issue 9) implements the same protocol.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, ParamSpec, Protocol, TypeVar

from backend.push.payload import Privacy

# One account can't fill the disk by registering devices without end: past
# this many, its least recently registered subscription goes.
MAX_DEVICES_PER_ACCOUNT: Final = 20
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One browser's Web Push subscription, bound to one account.

    `node` (XEP-0357) and `secret` are random; the server presents both
    when it publishes. `endpoint`, `p256dh` and `auth` are the browser's
    `PushSubscription` (keys base64url as the browser gives them).
    """

    node: str
    owner: str  # bare JID
    device: str
    endpoint: str
    p256dh: str
    auth: str
    privacy: Privacy
    secret: str
    created: float
    # The rooms this browser is in, bare JID → our nick there (`rooms`
    # registration): their messages notify quietly unless they mention the nick.
    rooms: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The endpoint URL is a bearer capability; keys and secret are keys.
        return f"Subscription(owner={self.owner!r}, device={self.device!r})"


class SubscriptionStore(Protocol):
    """Storage for subscriptions. All methods are coroutines; none blocks the loop."""

    async def register(self, owner: str, device: str, endpoint: str, p256dh: str, auth: str,
                       privacy: Privacy) -> Subscription:
        """Store a subscription for (owner, device): a new node and secret the first
        time; the same node and secret when that device registers again (its
        endpoint, keys and privacy are replaced)."""

    async def get(self, node: str) -> Subscription | None:
        """The subscription of `node`, or None."""

    async def unregister(self, owner: str, node: str) -> bool:
        """Delete `node` if `owner` owns it; True if something was deleted."""

    async def delete(self, node: str) -> None:
        """Delete `node` (the push service said the subscription is gone)."""

    async def set_rooms(self, owner: str, node: str, rooms: Mapping[str, str]) -> bool:
        """Replace `node`'s rooms if `owner` owns it; True if it did."""

    async def close(self) -> None:
        """Release the store."""


_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS push_subscription (
    node     TEXT PRIMARY KEY,
    owner    TEXT NOT NULL,
    device   TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh   TEXT NOT NULL,
    auth     TEXT NOT NULL,
    privacy  TEXT NOT NULL,
    secret   TEXT NOT NULL,
    created  REAL NOT NULL,
    rooms    TEXT NOT NULL DEFAULT '{}',
    UNIQUE (owner, device)
);
"""
_COLUMNS: Final = "node, owner, device, endpoint, p256dh, auth, privacy, secret, created"


def _subscription(row: tuple[Any, ...]) -> Subscription:
    """A row of `_COLUMNS, rooms` (rooms as JSON)."""
    try:
        parsed = json.loads(row[9])
    except ValueError:
        parsed = {}
    node, owner, device, endpoint, p256dh, auth, privacy, secret, created = row[:9]
    return Subscription(node, owner, device, endpoint, p256dh, auth, privacy, secret, created,
                        parsed if isinstance(parsed, dict) else {})


def new_token(nbytes: int) -> str:
    """A random URL-safe token (nodes: 18 bytes; secrets: 32)."""
    return secrets.token_urlsafe(nbytes)


class SqliteStore:
    """`SubscriptionStore` on one SQLite file (mode 0600), calls run in a thread.

    One connection, serialised by a lock: a push gateway does a handful of
    writes per registration and one indexed read per push.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file private before SQLite opens it (it holds secrets).
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(push_subscription)")}
        if "rooms" not in columns:  # a store made before rooms existed
            self._db.execute(
                "ALTER TABLE push_subscription ADD COLUMN rooms TEXT NOT NULL DEFAULT '{}'")
        self._lock = threading.Lock()

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(self._locked, functools.partial(fn, *args, **kwargs))

    def _locked(self, call: Callable[[], R]) -> R:
        with self._lock:
            return call()

    # -- blocking bodies (run in a worker thread) ---------------------------
    def register_sync(self, owner: str, device: str, endpoint: str, p256dh: str, auth: str,
                      privacy: Privacy) -> Subscription:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                f"SELECT {_COLUMNS}, rooms FROM push_subscription WHERE owner = ? AND device = ?",
                (owner, device)).fetchone()
            now = time.time()
            rooms: Mapping[str, str] = {}
            if row is not None:
                node, secret, rooms = row[0], row[7], _subscription(row).rooms
                db.execute(
                    "UPDATE push_subscription SET endpoint = ?, p256dh = ?, auth = ?, "
                    "privacy = ?, created = ? WHERE node = ?",
                    (endpoint, p256dh, auth, privacy, now, node))
            else:
                node, secret = new_token(18), new_token(32)
                db.execute(
                    f"INSERT INTO push_subscription ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                    (node, owner, device, endpoint, p256dh, auth, privacy, secret, now))
                db.execute(
                    "DELETE FROM push_subscription WHERE node IN (SELECT node FROM "
                    "push_subscription WHERE owner = ? ORDER BY created DESC LIMIT -1 OFFSET ?)",
                    (owner, MAX_DEVICES_PER_ACCOUNT))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Subscription(
            node, owner, device, endpoint, p256dh, auth, privacy, secret, now, rooms)

    def get_sync(self, node: str) -> Subscription | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS}, rooms FROM push_subscription WHERE node = ?", (node,)
        ).fetchone()
        return None if row is None else _subscription(row)

    def unregister_sync(self, owner: str, node: str) -> bool:
        cur = self._db.execute(
            "DELETE FROM push_subscription WHERE node = ? AND owner = ?", (node, owner))
        return cur.rowcount > 0

    def set_rooms_sync(self, owner: str, node: str, rooms: Mapping[str, str]) -> bool:
        cur = self._db.execute(
            "UPDATE push_subscription SET rooms = ? WHERE node = ? AND owner = ?",
            (json.dumps(dict(rooms), sort_keys=True), node, owner))
        return cur.rowcount > 0

    def delete_sync(self, node: str) -> None:
        self._db.execute("DELETE FROM push_subscription WHERE node = ?", (node,))

    def count_sync(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM push_subscription").fetchone()[0])

    # -- SubscriptionStore ---------------------------------------------------
    async def register(self, owner: str, device: str, endpoint: str, p256dh: str, auth: str,
                       privacy: Privacy) -> Subscription:
        return await self._run(
            self.register_sync, owner, device, endpoint, p256dh, auth, privacy)

    async def get(self, node: str) -> Subscription | None:
        return await self._run(self.get_sync, node)

    async def unregister(self, owner: str, node: str) -> bool:
        return await self._run(self.unregister_sync, owner, node)

    async def delete(self, node: str) -> None:
        await self._run(self.delete_sync, node)

    async def set_rooms(self, owner: str, node: str, rooms: Mapping[str, str]) -> bool:
        return await self._run(self.set_rooms_sync, owner, node, rooms)

    async def close(self) -> None:
        await self._run(self._db.close)
