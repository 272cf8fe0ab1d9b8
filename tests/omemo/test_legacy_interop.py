"""Roost's legacy OMEMO against python-omemo's oldmemo (what slixmpp-omemo uses), in process.

Roost's device (roost.omemo only, records round-tripped at every step) and a
python-omemo SessionManager exchange `<encrypted xmlns='eu.siacs.conversations.axolotl'>`
XML strings through a dict "network" (tests/omemo/python_omemo_peer.py):
both initiate, several rounds, out of order, empty messages, repairs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.omemo.legacy_peers import RoostPeer
from tests.omemo.python_omemo_peer import (
    Network,
    PythonOmemoPeer,
    envelope_from_xml,
    envelope_to_xml,
)
from tests.support.aio import run

ROOST = "roost@example.org"
BOB = "bob@example.net"


class World:
    """One Roost device and one python-omemo device on a shared network."""

    def __init__(self, network: Network, roost: RoostPeer, bob: PythonOmemoPeer) -> None:
        self.network = network
        self.roost = roost
        self.bob = bob

    @classmethod
    async def create(cls, sign_bit: int | None = None) -> World:
        """`sign_bit`: want a python-omemo identity whose Ed25519 form has this sign bit."""
        network = Network()
        roost = await RoostPeer.create(prekeys=10)
        network.publish_roost(ROOST, roost.device_id, roost.bundle())
        for _ in range(60):  # half of all identities have either bit
            bob = await PythonOmemoPeer.create(network, BOB)
            # oldmemo carries the sign bit in the top bit of the signature
            if sign_bit is None or bob.bundle().spk_signature[63] >> 7 == sign_bit:
                return cls(network, roost, bob)
            await bob.close()
            network.device_lists.pop(BOB)
        raise AssertionError("no identity with that sign bit")

    def republish(self) -> None:
        self.network.publish_roost(ROOST, self.roost.device_id, self.roost.bundle())

    async def roost_sends(self, text: bytes | None, bundle: bool = False) -> str:
        """Roost → Bob, as `<encrypted>` XML (a session from Bob's bundle when needed)."""
        need = bundle or self.roost.session(self.bob.device_id) is None
        envelope = await self.roost.send(
            {self.bob.device_id: self.bob.bundle() if need else None}, text
        )
        return envelope_to_xml(envelope)

    async def roost_gets(self, xml: str) -> bytes | None:
        envelope = envelope_from_xml(xml)
        used_before = set(self.roost.own.prekeys)
        plaintext = await self.roost.receive(envelope)
        if set(self.roost.own.prekeys) != used_before:
            self.republish()  # a prekey was used and replaced
        return plaintext

    async def deliver_bobs_own_messages(self) -> list[bytes | None]:
        """What python-omemo sent by itself (session completion, heartbeats), delivered."""
        got: list[bytes | None] = []
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
    first = await w.roost_sends(b"hello from roost")
    assert 'prekey="true"' in first
    assert await w.bob.receive(ROOST, first) == b"hello from roost"
    # python-omemo completes the session with an empty message at once
    assert await w.deliver_bobs_own_messages() == [None]
    session = w.roost.session(w.bob.device_id)
    assert session is not None and not session.sends_prekey_messages
    for i in range(4):
        text = f"bob {i}".encode()
        assert await w.roost_gets(await w.bob.send(ROOST, text)) == text
        reply = await w.roost_sends(f"roost {i}".encode())
        assert "prekey" not in reply
        assert await w.bob.receive(ROOST, reply) == f"roost {i}".encode()
    assert await w.deliver_bobs_own_messages() == []


@interop
async def test_python_omemo_starts_roost_answers(w: World) -> None:
    first = await w.bob.send(ROOST, b"hello from python-omemo")
    assert 'prekey="true"' in first
    assert await w.roost_gets(first) == b"hello from python-omemo"
    second = await w.bob.send(ROOST, b"still a prekey message")  # Roost hasn't answered
    assert 'prekey="true"' in second
    assert await w.roost_gets(second) == b"still a prekey message"
    # Roost answers the session start with an empty message (a heartbeat)
    assert await w.bob.receive(ROOST, await w.roost_sends(None)) is None
    third = await w.bob.send(ROOST, b"now confirmed")
    assert "prekey" not in third
    assert await w.roost_gets(third) == b"now confirmed"
    for i in range(4):
        for j in range(2):  # two in a row each way
            text = f"roost {i}.{j}".encode()
            assert await w.bob.receive(ROOST, await w.roost_sends(text)) == text
        for j in range(2):
            text = f"bob {i}.{j}".encode()
            assert await w.roost_gets(await w.bob.send(ROOST, text)) == text


@interop
async def test_several_prekey_messages_before_an_answer(w: World) -> None:
    starts = [await w.roost_sends(f"start {i}".encode()) for i in range(3)]
    assert all('prekey="true"' in xml for xml in starts)
    for i in (0, 2, 1):
        assert await w.bob.receive(ROOST, starts[i]) == f"start {i}".encode()
    await w.deliver_bobs_own_messages()
    assert await w.roost_gets(await w.bob.send(ROOST, b"got them")) == b"got them"


@interop
async def test_out_of_order_both_ways(w: World) -> None:
    assert await w.bob.receive(ROOST, await w.roost_sends(b"start")) == b"start"
    await w.deliver_bobs_own_messages()
    # Roost → Bob: a chain delivered out of order, its last message after the next chain
    batch = [await w.roost_sends(f"r{i}".encode()) for i in range(4)]
    assert await w.bob.receive(ROOST, batch[2]) == b"r2"
    assert await w.bob.receive(ROOST, batch[0]) == b"r0"
    assert await w.roost_gets(await w.bob.send(ROOST, b"b")) == b"b"
    assert await w.bob.receive(ROOST, await w.roost_sends(b"next chain")) == b"next chain"
    assert await w.bob.receive(ROOST, batch[3]) == b"r3"
    assert await w.bob.receive(ROOST, batch[1]) == b"r1"
    # Bob → Roost: the same
    theirs = [await w.bob.send(ROOST, f"b{i}".encode()) for i in range(4)]
    assert await w.roost_gets(theirs[3]) == b"b3"
    assert await w.roost_gets(theirs[1]) == b"b1"
    assert await w.bob.receive(ROOST, await w.roost_sends(b"r")) == b"r"
    assert await w.roost_gets(await w.bob.send(ROOST, b"next")) == b"next"
    assert await w.roost_gets(theirs[0]) == b"b0"
    assert await w.roost_gets(theirs[2]) == b"b2"


@interop
async def test_long_one_way_run_and_python_omemo_heartbeat(w: World) -> None:
    """python-omemo sends a heartbeat after 53 unanswered messages; Roost reads it."""
    assert await w.bob.receive(ROOST, await w.roost_sends(b"start")) == b"start"
    assert await w.deliver_bobs_own_messages() == [None]
    for i in range(60):
        text = f"{i}".encode()
        assert await w.bob.receive(ROOST, await w.roost_sends(text)) == text
    assert None in await w.deliver_bobs_own_messages()
    assert await w.bob.receive(ROOST, await w.roost_sends(b"after")) == b"after"


@interop
async def test_roost_repairs_the_session(w: World) -> None:
    """Roost lost its session and starts a new one: python-omemo replaces its own."""
    assert await w.roost_gets(await w.bob.send(ROOST, b"hi")) == b"hi"
    assert await w.bob.receive(ROOST, await w.roost_sends(None)) is None
    w.roost.forget(w.bob.device_id)
    repair = await w.roost_sends(None, bundle=True)
    assert 'prekey="true"' in repair
    assert await w.bob.receive(ROOST, repair) is None
    await w.deliver_bobs_own_messages()
    assert await w.roost_gets(await w.bob.send(ROOST, b"after repair")) == b"after repair"
    assert await w.bob.receive(ROOST, await w.roost_sends(b"fine")) == b"fine"


@interop
async def test_python_omemo_repairs_the_session(w: World) -> None:
    """python-omemo starts over (new session from Roost's bundle): Roost replaces its own."""
    assert await w.bob.receive(ROOST, await w.roost_sends(b"start")) == b"start"
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
    got = await w.deliver_bobs_own_messages()  # replace_sessions announces the new session
    assert got == [None]
    new = w.roost.session(w.bob.device_id)
    assert new is not None and not new.initiator
    assert await w.bob.receive(ROOST, await w.roost_sends(b"new session")) == b"new session"
    assert await w.roost_gets(await w.bob.send(ROOST, b"yes")) == b"yes"


@pytest.mark.parametrize("sign_bit", [0, 1])
def test_python_omemo_identities_of_either_sign(sign_bit: int) -> None:
    """python-omemo identities may have Ed25519 sign bit 1 (Roost's never do): its
    XEdDSA signature and its key agreement work both ways regardless."""

    async def body() -> None:
        w = await World.create(sign_bit)
        try:
            assert await w.bob.receive(ROOST, await w.roost_sends(b"to bob")) == b"to bob"
            await w.deliver_bobs_own_messages()
            assert await w.roost_gets(await w.bob.send(ROOST, b"to roost")) == b"to roost"
            other = await World.create(sign_bit)
            try:
                start = await other.bob.send(ROOST, b"bob starts")
                assert await other.roost_gets(start) == b"bob starts"
                reply = await other.roost_sends(b"roost answers")
                assert await other.bob.receive(ROOST, reply) == b"roost answers"
            finally:
                await other.close()
        finally:
            await w.close()

    run(body())


@interop
async def test_python_omemo_session_start_out_of_order(w: World) -> None:
    starts = [await w.bob.send(ROOST, f"s{i}".encode()) for i in range(3)]
    assert all('prekey="true"' in xml for xml in starts)
    for i in (1, 2, 0):
        assert await w.roost_gets(starts[i]) == f"s{i}".encode()
    assert await w.bob.receive(ROOST, await w.roost_sends(b"ok")) == b"ok"
    assert await w.roost_gets(await w.bob.send(ROOST, b"normal")) == b"normal"
