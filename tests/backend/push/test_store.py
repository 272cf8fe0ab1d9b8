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
