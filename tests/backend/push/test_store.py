"""SqliteStore: node per (account, device), ownership, limits, a private file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from backend.push.store import MAX_DEVICES_PER_ACCOUNT, SqliteStore
from tests.support.aio import run


def test_register_again_keeps_node_and_secret(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "push.sqlite3")
        first = await store.register("alice@x", "dev1", "https://a/1", "k1", "a1", "text")
        again = await store.register("alice@x", "dev1", "https://a/2", "k2", "a2", "none")
        other = await store.register("alice@x", "dev2", "https://a/3", "k3", "a3", "sender")
        assert (again.node, again.secret) == (first.node, first.secret)
        assert other.node != first.node and other.secret != first.secret
        got = await store.get(first.node)
        assert got is not None
        assert (got.endpoint, got.p256dh, got.auth, got.privacy) == ("https://a/2", "k2", "a2",
                                                                     "none")
        assert "https://a/2" not in repr(got) and got.secret not in repr(got)
        assert await store.get("nope") is None
        await store.close()

    run(scenario())
    assert stat.S_IMODE(os.stat(tmp_path / "push.sqlite3").st_mode) == 0o600


def test_only_the_owner_unregisters(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "push.sqlite3")
        sub = await store.register("alice@x", "d", "https://a/1", "k", "a", "text")
        assert not await store.unregister("mallory@x", sub.node)
        assert await store.get(sub.node) is not None
        assert await store.unregister("alice@x", sub.node)
        assert await store.get(sub.node) is None
        sub = await store.register("alice@x", "d", "https://a/1", "k", "a", "text")
        await store.delete(sub.node)
        assert await store.get(sub.node) is None
        await store.close()

    run(scenario())


def test_devices_per_account_are_bounded_oldest_go(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path / "push.sqlite3")
        subs = [await store.register("alice@x", f"d{i}", "https://a/", "k", "a", "none")
                for i in range(MAX_DEVICES_PER_ACCOUNT + 2)]
        assert store.count_sync() == MAX_DEVICES_PER_ACCOUNT
        assert await store.get(subs[0].node) is None and await store.get(subs[1].node) is None
        assert await store.get(subs[-1].node) is not None
        await store.register("bob@x", "d", "https://b/", "k", "a", "none")
        assert store.count_sync() == MAX_DEVICES_PER_ACCOUNT + 1
        await store.close()

    run(scenario())


def test_data_survives_a_reopen(tmp_path: Path) -> None:
    async def scenario() -> str:
        store = SqliteStore(tmp_path / "push.sqlite3")
        sub = await store.register("alice@x", "d", "https://a/1", "k", "a", "text")
        await store.close()
        return sub.node

    node = run(scenario())

    async def reopen() -> None:
        store = SqliteStore(tmp_path / "push.sqlite3")
        assert (await store.get(node)) is not None
        await store.close()

    run(reopen())


def test_rooms_belong_to_the_owner_and_survive_a_new_registration(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "push.sqlite3")

    async def scenario() -> None:
        sub = await store.register("alice@example.org", "laptop", "https://p.example/1",
                                   "k", "a", "text")
        assert sub.rooms == {}
        rooms = {"chess@muc.example.org": "Alice"}
        assert not await store.set_rooms("mallory@example.org", sub.node, rooms)
        assert await store.set_rooms("alice@example.org", sub.node, rooms)
        got = await store.get(sub.node)
        assert got is not None and got.rooms == rooms
        again = await store.register("alice@example.org", "laptop", "https://p.example/2",
                                     "k", "a", "sender")
        assert again.node == sub.node and again.rooms == rooms
        await store.close()

    run(scenario())


def test_a_store_from_before_rooms_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "push.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE push_subscription (node TEXT PRIMARY KEY, owner TEXT NOT NULL, "
        "device TEXT NOT NULL, endpoint TEXT NOT NULL, p256dh TEXT NOT NULL, "
        "auth TEXT NOT NULL, privacy TEXT NOT NULL, secret TEXT NOT NULL, "
        "created REAL NOT NULL, UNIQUE (owner, device));"
        "INSERT INTO push_subscription VALUES "
        "('n1', 'alice@example.org', 'd', 'https://p.example/1', 'k', 'a', 'text', 's', 1.0);")
    old.close()
    store = SqliteStore(path)

    async def scenario() -> None:
        got = await store.get("n1")
        assert got is not None and got.rooms == {} and got.secret == "s"
        await store.close()

    run(scenario())
