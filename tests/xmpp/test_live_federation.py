"""Federation for real: two Prosody servers linked by s2s on loopback
(tests/support/federation.py), driven by slixmpp clients only. A user of
server A chats 1:1 with a user of server B, joins and talks in a room on B's
MUC service, and browses that service's room directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import slixmpp

from tests.support.aio import run
from tests.support.federation import Federation

pytestmark = pytest.mark.integration

# The first stanza to the other domain sets up the s2s link (TCP + dialback
# both ways): ~0.1 s here, but CI machines can be slow.
S2S_TIMEOUT = 15.0
T = TypeVar("T")


class Peer:
    """A logged-in slixmpp client with what it received, on the running loop."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.bare = str(client.boundjid.bare)
        self.chats: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.groupchat: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        # Available full JIDs by bare JID, from presence (rooms included).
        self.available: dict[str, set[str]] = {}
        self.changed = asyncio.Event()

    def on_message(self, msg: Any) -> None:
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.chats.put_nowait((str(msg["from"].bare), str(msg["body"])))

    def on_groupchat(self, msg: Any) -> None:
        if msg["body"]:
            self.groupchat.put_nowait((str(msg["from"]), str(msg["body"])))

    def on_presence(self, pres: Any) -> None:
        frm = pres["from"]
        seen = self.available.setdefault(str(frm.bare), set())
        if pres["type"] in ("unavailable", "error"):
            seen.discard(str(frm))
        elif pres["type"] in ("available", "", "away", "chat", "dnd", "xa"):
            seen.add(str(frm))
        self.changed.set()

    async def available_as(self, full: str, timeout: float = S2S_TIMEOUT) -> None:
        """Wait until presence says `full` (a client, or room@service/nick) is here."""
        bare = full.split("/")[0]

        async def wait() -> None:
            while full not in self.available.get(bare, ()):
                self.changed.clear()
                await self.changed.wait()

        await within(wait(), timeout, f"{self.bare} saw no presence of {full}")

    async def chat_from(self, sender: str, timeout: float = S2S_TIMEOUT) -> str:
        frm, body = await within(self.chats.get(), timeout, f"no chat for {self.bare}")
        assert frm == sender, (frm, body)
        return body

    async def groupchat_from(self, occupant: str, timeout: float = S2S_TIMEOUT) -> str:
        """The next room message written by `occupant` (room@service/nick),
        skipping the reflections of our own."""
        while True:
            frm, body = await within(self.groupchat.get(), timeout,
                                     f"no groupchat from {occupant} for {self.bare}")
            if frm == occupant:
                return body


async def within(aw: Awaitable[T], timeout: float, what: str) -> T:
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        raise AssertionError(f"{what} in {timeout} s") from None


@asynccontextmanager
async def online(fed: Federation, *logins: tuple[str, str]) -> AsyncIterator[list[Peer]]:
    """Log in (user, "a" | "b") pairs over plaintext loopback c2s; disconnect after."""
    peers: list[Peer] = []
    try:
        for user, side in logins:
            server = fed.a if side == "a" else fed.b
            client = slixmpp.ClientXMPP(fed.jid(user, server, "test"), fed.users[user])
            client.enable_direct_tls = False
            client.enable_starttls = False
            client.enable_plaintext = True
            client.plugin["feature_mechanisms"].unencrypted_scram = True
            for plugin in ("xep_0030", "xep_0004", "xep_0045", "xep_0199"):
                client.register_plugin(plugin)
            peer = Peer(client)
            started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def done(_event: object, fut: asyncio.Future[None] = started) -> None:
                if not fut.done():
                    fut.set_result(None)

            def failed(_event: object, fut: asyncio.Future[None] = started) -> None:
                if not fut.done():
                    fut.set_exception(AssertionError("login refused"))

            client.add_event_handler("session_start", done)
            client.add_event_handler("failed_all_auth", failed)
            client.add_event_handler("message", peer.on_message)
            client.add_event_handler("groupchat_message", peer.on_groupchat)
            # slixmpp's "presence" event misses some room presences: take both.
            client.add_event_handler("presence", peer.on_presence)
            client.add_event_handler("groupchat_presence", peer.on_presence)
            client.connect(server.host, server.c2s_port)
            peers.append(peer)
            await within(started, 15, f"{user}@{server.domain} could not log in")
            peer.bare = str(client.boundjid.bare)
            client.send_presence()
        yield peers
    finally:
        await asyncio.gather(*(asyncio.wait_for(p.client.disconnect(), 3) for p in peers),
                             return_exceptions=True)


def live(fed: Federation, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one test's coroutine; on failure, show the servers' logs."""
    try:
        run(body(), timeout=60)
    except Exception as exc:
        raise AssertionError(f"{exc}\n{fed.log_tail()}") from exc


async def make_room(owner: Peer, room: str, name: str) -> None:
    """`owner` creates `room` (instantly: no locking) and names it."""
    muc = owner.client.plugin["xep_0045"]
    nick = owner.bare.split("@")[0]
    await within(muc.join_muc_wait(room, nick, maxstanzas=0, timeout=10), 12,
                 f"{owner.bare} could not create {room}")
    form = owner.client.plugin["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden",
                   value="http://jabber.org/protocol/muc#roomconfig")
    form.add_field(var="muc#roomconfig_roomname", value=name)
    await muc.set_room_config(room, form, timeout=10)


def test_one_to_one_across_servers(federation: Federation) -> None:
    fed = federation
    alice_jid, bob_jid = fed.jid("alice", fed.a), fed.jid("bob", fed.b)

    async def body() -> None:
        async with online(fed, ("alice", "a"), ("bob", "b")) as (alice, bob):
            alice.client.send_message(mto=bob_jid, mbody="hello from a.test", mtype="chat")
            assert await bob.chat_from(alice_jid) == "hello from a.test"
            bob.client.send_message(mto=alice_jid, mbody="hello back from b.test", mtype="chat")
            assert await alice.chat_from(bob_jid) == "hello back from b.test"
            # The rosters cross servers (subscription both): presence does too.
            await alice.available_as(f"{bob_jid}/test")
            await bob.available_as(f"{alice_jid}/test")

    live(fed, body)


def test_user_of_a_talks_in_a_room_on_b(federation: Federation) -> None:
    fed = federation
    room = f"lobby@{fed.b.muc_domain}"

    async def body() -> None:
        async with online(fed, ("bob", "b"), ("alice", "a")) as (bob, alice):
            await make_room(bob, room, "Lobby on B")
            joined = await within(
                alice.client.plugin["xep_0045"].join_muc_wait(
                    room, "alice", maxstanzas=0, timeout=S2S_TIMEOUT),
                S2S_TIMEOUT + 2, f"alice@{fed.a.domain} could not join {room}")
            occupants = {str(p["from"]) for p in joined[2]}
            assert f"{room}/bob" in occupants, occupants
            # bob owns the room, so he sees who alice really is: a.test's user.
            await bob.available_as(f"{room}/alice")
            real = bob.client.plugin["xep_0045"].get_jid_property(room, "alice", "jid")
            assert str(real).startswith(fed.jid("alice", fed.a)), real

            alice.client.send_message(mto=room, mbody="hi room, from a.test", mtype="groupchat")
            assert await bob.groupchat_from(f"{room}/alice") == "hi room, from a.test"
            bob.client.send_message(mto=room, mbody="welcome, says b.test", mtype="groupchat")
            assert await alice.groupchat_from(f"{room}/bob") == "welcome, says b.test"

    live(fed, body)


def test_user_of_a_browses_the_room_directory_of_b(federation: Federation) -> None:
    fed = federation
    room = f"bookclub@{fed.b.muc_domain}"

    async def body() -> None:
        async with online(fed, ("bob", "b"), ("alice", "a")) as (bob, alice):
            await make_room(bob, room, "Book club")
            disco = alice.client.plugin["xep_0030"]
            items = await disco.get_items(jid=fed.b.muc_domain, timeout=S2S_TIMEOUT)
            listed = {(str(jid), name) for jid, _node, name in items["disco_items"]["items"]}
            assert (room, "Book club") in listed, listed
            info = await disco.get_info(jid=room, timeout=S2S_TIMEOUT)
            features = set(info["disco_info"]["features"])
            assert {"http://jabber.org/protocol/muc", "muc_public",
                    "muc_persistent"} <= features, features

    live(fed, body)
