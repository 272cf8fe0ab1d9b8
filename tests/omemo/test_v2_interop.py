"""Roost's OMEMO 2 against python-omemo's twomemo (what slixmpp-omemo uses), in process.

Roost's device (roost.omemo.v2 only, records round-tripped at every step,
its XML through roost.xmpp.xeps.xep_0384) and a python-omemo SessionManager
exchange `<encrypted xmlns='urn:xmpp:omemo:2'>` XML strings holding SCE
envelopes, through a dict "network" (tests/omemo/twomemo_peer.py): both
initiate, several rounds, out of order, empty messages, repairs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.omemo.twomemo_peer import (
    Network2,
    TwomemoPeer,
    envelope_from_xml,
    envelope_to_xml,
    sce_body,
    sce_bytes,
)
from tests.omemo.v2_peers import RoostPeerV2
from tests.support.aio import run

ROOST = "roost@example.org"
BOB = "bob@example.net"


class World:
    """One Roost device and one python-omemo (twomemo) device on a shared network."""

    def __init__(self, network: Network2, roost: RoostPeerV2, bob: TwomemoPeer) -> None:
        self.network = network
        self.roost = roost
        self.bob = bob

    @classmethod
    async def create(cls, sign_bit: int | None = None) -> World:
        """`sign_bit`: want a python-omemo identity whose Ed25519 key has this sign bit."""
        network = Network2()
        roost = await RoostPeerV2.create(prekeys=10)
        network.publish_roost(ROOST, roost.device_id, await roost.bundle())
        for _ in range(60):  # half of all identities have either bit
            bob = await TwomemoPeer.create(network, BOB)
            if sign_bit is None or bob.bundle().identity_key[31] >> 7 == sign_bit:
                return cls(network, roost, bob)
            await bob.close()
            network.device_lists.pop(BOB)
        raise AssertionError("no identity with that sign bit")

    async def republish(self) -> None:
        self.network.publish_roost(ROOST, self.roost.device_id, await self.roost.bundle())

    async def roost_sends(self, body: str | None, bundle: bool = False) -> str:
        """Roost → Bob, as `<encrypted>` XML (a session from Bob's bundle when needed)."""
        need = bundle or self.roost.session(self.bob.device_id) is None
        plaintext = None if body is None else sce_bytes(body, ROOST, BOB)
        envelope = await self.roost.send(
            {self.bob.device_id: self.bob.bundle() if need else None}, plaintext
        )
        return envelope_to_xml(envelope, BOB)

    async def roost_gets(self, xml: str) -> str | None:
        envelope = envelope_from_xml(xml, ROOST)
        used_before = set(self.roost.own.prekeys)
        plaintext = await self.roost.receive(envelope)
        if set(self.roost.own.prekeys) != used_before:
            await self.republish()  # a prekey was used and replaced
        return sce_body(plaintext, BOB)

    async def deliver_bobs_own_messages(self) -> list[str | None]:
        """What python-omemo sent by itself (session completion, heartbeats), delivered."""
        got: list[str | None] = []
        for xml in self.network.take_sent(ROOST):
            got.append(await self.roost_gets(xml))
        return got

    async def close(self) -> None:
        await self.bob.close()


def interop(fn: Callable[[World], Awaitable[None]]) -> Callable[[], None]:
    def test() -> None:
        async def body() -> None:
            world = await World.create()
            try:
                await fn(world)
            finally:
                await world.close()

        run(body())

    test.__name__ = fn.__name__
    test.__doc__ = fn.__doc__
    return test


@interop
async def test_roost_starts_python_omemo_answers(w: World) -> None:
    first = await w.roost_sends("hello from roost")
    assert 'kex="true"' in first
    assert await w.bob.receive(ROOST, first) == "hello from roost"
    # python-omemo completes the session with an empty message at once
    assert await w.deliver_bobs_own_messages() == [None]
    session = w.roost.session(w.bob.device_id)
    assert session is not None and not session.sends_key_exchanges
    assert session.remote_identity == w.bob.bundle().identity_key
    for i in range(4):
        assert await w.roost_gets(await w.bob.send(ROOST, f"bob {i}")) == f"bob {i}"
        reply = await w.roost_sends(f"roost {i}")
        assert "kex" not in reply
        assert await w.bob.receive(ROOST, reply) == f"roost {i}"
    assert await w.deliver_bobs_own_messages() == []


@interop
async def test_python_omemo_starts_roost_answers(w: World) -> None:
    first = await w.bob.send(ROOST, "hello from python-omemo")
    assert "kex=" in first
    assert await w.roost_gets(first) == "hello from python-omemo"
    second = await w.bob.send(ROOST, "still a key exchange")  # Roost hasn't answered
    assert "kex=" in second
    assert await w.roost_gets(second) == "still a key exchange"
    session = w.roost.session(w.bob.device_id)
    assert session is not None and session.remote_identity == w.bob.bundle().identity_key
    # Roost answers the session start with an empty message (a heartbeat)
    assert await w.bob.receive(ROOST, await w.roost_sends(None)) is None
    third = await w.bob.send(ROOST, "now confirmed")
    assert "kex" not in third
    assert await w.roost_gets(third) == "now confirmed"
    for i in range(4):
        for j in range(2):  # two in a row each way
            text = f"roost {i}.{j}"
            assert await w.bob.receive(ROOST, await w.roost_sends(text)) == text
        for j in range(2):
            text = f"bob {i}.{j}"
            assert await w.roost_gets(await w.bob.send(ROOST, text)) == text


@interop
async def test_several_key_exchanges_before_an_answer(w: World) -> None:
    starts = [await w.roost_sends(f"start {i}") for i in range(3)]
    assert all('kex="true"' in xml for xml in starts)
    for i in (0, 2, 1):
        assert await w.bob.receive(ROOST, starts[i]) == f"start {i}"
    await w.deliver_bobs_own_messages()
    assert await w.roost_gets(await w.bob.send(ROOST, "got them")) == "got them"


@interop
async def test_out_of_order_both_ways(w: World) -> None:
    assert await w.bob.receive(ROOST, await w.roost_sends("start")) == "start"
    await w.deliver_bobs_own_messages()
    # Roost → Bob: a chain out of order, its last message after the next chain
    batch = [await w.roost_sends(f"r{i}") for i in range(4)]
    assert await w.bob.receive(ROOST, batch[2]) == "r2"
    assert await w.bob.receive(ROOST, batch[0]) == "r0"
    assert await w.roost_gets(await w.bob.send(ROOST, "b")) == "b"
    assert await w.bob.receive(ROOST, await w.roost_sends("next chain")) == "next chain"
    assert await w.bob.receive(ROOST, batch[3]) == "r3"
    assert await w.bob.receive(ROOST, batch[1]) == "r1"
    # Bob → Roost: the same
    theirs = [await w.bob.send(ROOST, f"b{i}") for i in range(4)]
    assert await w.roost_gets(theirs[3]) == "b3"
    assert await w.roost_gets(theirs[1]) == "b1"
    assert await w.bob.receive(ROOST, await w.roost_sends("r")) == "r"
    assert await w.roost_gets(await w.bob.send(ROOST, "next")) == "next"
    assert await w.roost_gets(theirs[0]) == "b0"
    assert await w.roost_gets(theirs[2]) == "b2"


@interop
async def test_long_one_way_run_and_python_omemo_heartbeat(w: World) -> None:
    """python-omemo sends a heartbeat after 53 unanswered messages; Roost reads it."""
    assert await w.bob.receive(ROOST, await w.roost_sends("start")) == "start"
    assert await w.deliver_bobs_own_messages() == [None]
    for i in range(60):
        assert await w.bob.receive(ROOST, await w.roost_sends(f"{i}")) == f"{i}"
    assert None in await w.deliver_bobs_own_messages()
    assert await w.bob.receive(ROOST, await w.roost_sends("after")) == "after"


@interop
async def test_roost_repairs_the_session(w: World) -> None:
    """Roost lost its session and starts a new one: python-omemo replaces its own."""
    assert await w.roost_gets(await w.bob.send(ROOST, "hi")) == "hi"
    assert await w.bob.receive(ROOST, await w.roost_sends(None)) is None
    w.roost.forget(w.bob.device_id)
    repair = await w.roost_sends(None, bundle=True)
    assert 'kex="true"' in repair
    assert await w.bob.receive(ROOST, repair) is None
    await w.deliver_bobs_own_messages()
    assert await w.roost_gets(await w.bob.send(ROOST, "after repair")) == "after repair"
    assert await w.bob.receive(ROOST, await w.roost_sends("fine")) == "fine"


@interop
async def test_python_omemo_repairs_the_session(w: World) -> None:
    """python-omemo starts over (new session from Roost's bundle): Roost replaces its own."""
    assert await w.bob.receive(ROOST, await w.roost_sends("start")) == "start"
    await w.deliver_bobs_own_messages()
    old = w.roost.session(w.bob.device_id)
    assert old is not None and old.initiator
    await w.bob.manager.replace_sessions(
        next(
            d
            for d in await w.bob.manager.get_device_information(ROOST)
            if d.device_id == w.roost.device_id
        )
    )
    assert await w.deliver_bobs_own_messages() == [None]  # the new session's announcement
    new = w.roost.session(w.bob.device_id)
    assert new is not None and not new.initiator
    assert await w.bob.receive(ROOST, await w.roost_sends("new session")) == "new session"
    assert await w.roost_gets(await w.bob.send(ROOST, "yes")) == "yes"


@interop
async def test_python_omemo_session_start_out_of_order(w: World) -> None:
    starts = [await w.bob.send(ROOST, f"s{i}") for i in range(3)]
    for i in (1, 2, 0):
        assert await w.roost_gets(starts[i]) == f"s{i}"
    assert await w.bob.receive(ROOST, await w.roost_sends("ok")) == "ok"
    assert await w.roost_gets(await w.bob.send(ROOST, "normal")) == "normal"


@pytest.mark.parametrize("sign_bit", [0, 1])
def test_python_omemo_identities_of_either_sign(sign_bit: int) -> None:
    """python-omemo's Ed25519 identities may have sign bit 1 (Roost's never do): the
    bundle signature, the key agreement and the associated data work regardless."""

    async def body() -> None:
        w = await World.create(sign_bit)
        try:
            assert await w.bob.receive(ROOST, await w.roost_sends("to bob")) == "to bob"
            await w.deliver_bobs_own_messages()
            assert await w.roost_gets(await w.bob.send(ROOST, "to roost")) == "to roost"
            other = await World.create(sign_bit)
            try:
                assert await other.roost_gets(await other.bob.send(ROOST, "starts")) == "starts"
                reply = await other.roost_sends("answers")
                assert await other.bob.receive(ROOST, reply) == "answers"
            finally:
                await other.close()
        finally:
            await w.close()

    run(body())
