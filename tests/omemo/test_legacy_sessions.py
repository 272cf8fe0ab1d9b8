"""Legacy OMEMO between two Roost devices (Alice and Bob), in CPython.

Every step stores sessions and device keys as records and reads them back
(tests/omemo/legacy_peers.py), so record round trips run throughout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from roost.omemo import legacy, ratchet
from roost.omemo.errors import (
    BadMac,
    BadRecord,
    CryptoError,
    DuplicateMessage,
    MalformedMessage,
    NoSession,
    OmemoError,
    TooManySkipped,
    UnknownPrekey,
    UnknownSignedPrekey,
)
from roost.omemo.keys import drop_previous_signed_prekey, rotate_signed_prekey
from roost.omemo.protobuf import parse_prekey_message, parse_ratchet_message
from roost.omemo.session import Session

from tests.omemo.legacy_peers import CRYPTO, Envelope, RoostPeer, clone_record
from tests.support.aio import run


def scenario(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body (there is no pytest-asyncio here)."""

    def test() -> None:
        run(fn())

    test.__name__ = fn.__name__
    test.__doc__ = fn.__doc__
    return test


async def pair() -> tuple[RoostPeer, RoostPeer]:
    return await RoostPeer.create(), await RoostPeer.create()


def skipped(receiver: RoostPeer, sender: RoostPeer) -> int:
    session = receiver.session(sender.device_id)
    assert session is not None
    return session.ratchet.skipped_count


async def send(a: RoostPeer, b: RoostPeer, text: bytes | None) -> Envelope:
    """a → b, starting a session from b's current bundle if a has none."""
    bundle = None if a.session(b.device_id) else b.bundle()
    return await a.send({b.device_id: bundle}, text)


@scenario
async def test_first_message_is_a_prekey_message_then_normal_ones() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"hello bob")
    assert first.keys[bob.device_id][1] is True
    second = await send(alice, bob, b"still there?")  # before Bob answered: prekey again
    assert second.keys[bob.device_id][1] is True
    used_before = set(bob.own.prekeys)
    assert await bob.receive(first) == b"hello bob"
    assert len(set(bob.own.prekeys) - used_before) == 1  # the used one was replaced
    assert await bob.receive(second) == b"still there?"  # same start, existing session
    reply = await send(bob, alice, b"hi alice")
    assert reply.keys[alice.device_id][1] is False
    assert await alice.receive(reply) == b"hi alice"
    third = await send(alice, bob, b"now a normal message")
    assert third.keys[bob.device_id][1] is False
    assert await bob.receive(third) == b"now a normal message"


@scenario
async def test_long_back_and_forth() -> None:
    alice, bob = await pair()
    rng = random.Random(1)
    peers = [alice, bob]
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    for i in range(150):
        sender = peers[rng.randrange(2)]
        receiver = bob if sender is alice else alice
        text = f"message {i}".encode()
        assert await receiver.receive(await send(sender, receiver, text)) == text


@scenario
async def test_out_of_order_and_lost_messages() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    batch = [await send(alice, bob, f"a{i}".encode()) for i in range(8)]
    order = [5, 0, 7, 2, 6]  # 1, 3, 4 arrive much later, or never
    for i in order:
        assert await bob.receive(batch[i]) == f"a{i}".encode()
    # Bob answers: a new chain on both sides; Alice's next chain starts
    assert await alice.receive(await send(bob, alice, b"b0")) == b"b0"
    later = [await send(alice, bob, f"c{i}".encode()) for i in range(3)]
    assert await bob.receive(later[2]) == b"c2"
    assert await bob.receive(batch[3]) == b"a3"  # from the previous chain
    assert await bob.receive(later[0]) == b"c0"
    assert await bob.receive(batch[1]) == b"a1"
    assert await bob.receive(later[1]) == b"c1"
    # a4 (not delivered yet), and one spare key per ratchet step (the last one
    # twice: python-omemo counts previousCounter as a length, libsignal as an index)
    assert skipped(bob, alice) == 3
    with pytest.raises(DuplicateMessage):
        await bob.receive(batch[0])
    with pytest.raises(DuplicateMessage):
        await bob.receive(later[1])
    assert await bob.receive(batch[4]) == b"a4"  # very late, still fine


@scenario
async def test_late_message_from_the_last_position_of_a_chain() -> None:
    """previousCounter is the chain length (python-omemo) but libsignal writes length - 1:
    either way the chain's last message decrypts when it comes after the next chain."""
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    batch = [await send(alice, bob, f"a{i}".encode()) for i in range(3)]
    assert await bob.receive(batch[0]) == b"a0"
    assert await alice.receive(await send(bob, alice, b"b")) == b"b"
    assert await bob.receive(await send(alice, bob, b"new chain")) == b"new chain"
    assert await bob.receive(batch[2]) == b"a2"
    assert await bob.receive(batch[1]) == b"a1"


@scenario
async def test_too_many_skipped_is_refused_and_leaves_the_session() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    session = alice.session(bob.device_id)
    assert session is not None
    session.ratchet.sending_counter += ratchet.MAX_SKIP + 1  # as if that many were lost
    wire, _, _ = await legacy.encrypt_for(CRYPTO, alice.own, session, None, b"k" * 32)
    before = bob.records[alice.device_id]
    with pytest.raises(TooManySkipped):
        await legacy.decrypt_from(CRYPTO, bob.own, bob.session(alice.device_id), wire, False)
    assert bob.records[alice.device_id] == before
    assert await bob.receive(await send(alice, bob, b"next")) == b"next"  # still in step


@scenario
async def test_skipped_keys_are_capped_oldest_dropped() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    old = await send(alice, bob, b"oldest")
    for _ in range(ratchet.MAX_SKIPPED_KEYS // 2):
        await send(alice, bob, b"lost")
    assert await bob.receive(await send(alice, bob, b"after a gap")) == b"after a gap"
    assert await alice.receive(await send(bob, alice, b"turn")) == b"turn"
    survivor = await send(alice, bob, b"survivor")
    for _ in range(ratchet.MAX_SKIPPED_KEYS // 2 + 10):
        await send(alice, bob, b"lost")
    assert await bob.receive(await send(alice, bob, b"gap 2")) == b"gap 2"
    assert skipped(bob, alice) == ratchet.MAX_SKIPPED_KEYS
    with pytest.raises(DuplicateMessage):  # its key was dropped to keep the cap
        await bob.receive(old)
    assert await bob.receive(survivor) == b"survivor"


@scenario
async def test_duplicate_is_refused_and_changes_nothing() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"start")
    assert await bob.receive(first) == b"start"
    again = await send(alice, bob, b"twice")
    assert await bob.receive(again) == b"twice"
    before = clone_record(bob.records[alice.device_id])
    with pytest.raises(DuplicateMessage):
        await bob.receive(again)
    with pytest.raises(DuplicateMessage):  # a replayed session start, session still there
        await bob.receive(first)
    assert bob.records[alice.device_id] == before


@scenario
async def test_a_prekey_cannot_be_used_twice() -> None:
    alice, bob = await pair()
    carol = await RoostPeer.create()
    stale = bob.bundle()
    one = [stale.prekeys[0]]
    stale.prekeys = one  # both pick the same prekey
    first = await alice.send({bob.device_id: stale}, b"from alice")
    assert await bob.receive(first) == b"from alice"
    assert one[0][0] not in bob.own.prekeys
    reuse = await carol.send({bob.device_id: stale}, b"from carol")
    with pytest.raises(UnknownPrekey):
        await bob.receive(reuse)
    bob.forget(alice.device_id)  # Bob lost the session: the replay is no way back in
    with pytest.raises(UnknownPrekey):
        await bob.receive(first)


@scenario
async def test_prekey_replacement_gives_new_ids() -> None:
    alice, bob = await pair()
    ids_before = [i for i, _ in bob.bundle().prekeys]
    first = await send(alice, bob, b"x")
    used = parse_prekey_message(first.keys[bob.device_id][0]).prekey_id
    await bob.receive(first)
    ids_after = [i for i, _ in bob.bundle().prekeys]
    assert used in ids_before and used not in ids_after
    assert len(ids_after) == len(ids_before)
    (new,) = set(ids_after) - set(ids_before)
    assert new > max(ids_before)


@scenario
async def test_signed_prekey_rotation_keeps_the_old_one_for_a_while() -> None:
    alice, bob = await pair()
    carol = await RoostPeer.create()
    old_bundle = bob.bundle()
    own = bob.own
    await rotate_signed_prekey(CRYPTO, own, now=own.signed_prekey.created + 100)
    bob.own_record = clone_record(own.to_record())
    assert bob.bundle().spk_id == old_bundle.spk_id + 1
    assert await bob.receive(await alice.send({bob.device_id: old_bundle}, b"old")) == b"old"
    assert await bob.receive(await send(carol, bob, b"new")) == b"new"
    own = bob.own
    assert not drop_previous_signed_prekey(own, own.signed_prekey.created + 10, keep_for=60)
    assert drop_previous_signed_prekey(own, own.signed_prekey.created + 61, keep_for=60)
    bob.own_record = clone_record(own.to_record())
    dave = await RoostPeer.create()
    old_bundle.prekeys = [bob.bundle().prekeys[0]]  # a prekey that still exists
    with pytest.raises(UnknownSignedPrekey):
        await bob.receive(await dave.send({bob.device_id: old_bundle}, b"too old"))


@scenario
async def test_session_repair_replaces_a_broken_session() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    bob.forget(alice.device_id)  # Bob's browser lost its data
    with pytest.raises(NoSession):
        await bob.receive(await send(alice, bob, b"lost in the void"))
    # Bob repairs: a new session from Alice's bundle, announced by an empty message
    repair = await bob.send({alice.device_id: alice.bundle()}, None)
    assert repair.keys[alice.device_id][1] is True
    assert await alice.receive(repair) is None
    session = alice.session(bob.device_id)
    assert session is not None and not session.initiator  # Alice's old one replaced
    assert await bob.receive(await send(alice, bob, b"back")) == b"back"
    assert await alice.receive(await send(bob, alice, b"yes")) == b"yes"


@scenario
async def test_broken_session_gives_bad_mac() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    record = clone_record(bob.records[alice.device_id])
    record["ratchet"]["receiving_chain_key"] = bytes(32)
    bob.records[alice.device_id] = record
    with pytest.raises(BadMac):
        await bob.receive(await send(alice, bob, b"next"))


@scenario
async def test_tampering_is_caught() -> None:
    alice, bob = await pair()
    start = await send(alice, bob, b"start")
    prekey_wire, _ = start.keys[bob.device_id]
    for i in range(len(prekey_wire)):
        mutated = bytearray(prekey_wire)
        mutated[i] ^= 0x01
        with pytest.raises(OmemoError):
            await legacy.decrypt_from(CRYPTO, bob.own, None, bytes(mutated), True)
    assert await bob.receive(start) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    envelope = await send(alice, bob, b"payload")
    wire, is_prekey = envelope.keys[bob.device_id]
    assert not is_prekey
    for i in range(len(wire)):
        mutated = bytearray(wire)
        mutated[i] ^= 0x01
        with pytest.raises(OmemoError):
            await legacy.decrypt_from(
                CRYPTO, bob.own, bob.session(alice.device_id), bytes(mutated), False
            )
    assert await bob.receive(envelope) == b"payload"
    envelope = await send(alice, bob, b"payload")
    assert envelope.payload is not None
    flipped = bytes([envelope.payload[0] ^ 1]) + envelope.payload[1:]
    mangled = Envelope(envelope.sid, envelope.keys, envelope.iv, flipped)
    with pytest.raises(CryptoError):  # the GCM tag catches a changed payload
        await bob.receive(mangled)


@scenario
async def test_mac_binds_both_identities() -> None:
    alice, bob = await pair()
    await bob.receive(await send(alice, bob, b"start"))
    await alice.receive(await send(bob, alice, b"ok"))
    session = bob.session(alice.device_id)
    assert session is not None
    wrong = session.copy()
    wrong.remote_identity, wrong.own_identity = session.own_identity, session.remote_identity
    with pytest.raises(BadMac):
        await legacy.decrypt_from(
            CRYPTO, bob.own, wrong, (await send(alice, bob, b"x")).keys[bob.device_id][0], False
        )


@scenario
async def test_malformed_input_raises_omemo_errors_only() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"start")
    wire, _ = first.keys[bob.device_id]
    rng = random.Random(3)
    for i in range(0, len(wire), 3):
        for is_prekey in (True, False):
            with pytest.raises(OmemoError):
                await legacy.decrypt_from(
                    CRYPTO, bob.own, bob.session(alice.device_id), wire[:i], is_prekey
                )
    for _ in range(60):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        with pytest.raises(OmemoError):
            await legacy.decrypt_from(CRYPTO, bob.own, None, noise, True)
    with pytest.raises(MalformedMessage):
        await legacy.decrypt_payload(CRYPTO, b"short", b"\x00" * 12, b"")


@scenario
async def test_empty_key_transport_messages() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, None)) is None  # session start, empty
    assert await alice.receive(await send(bob, alice, None)) is None  # heartbeat
    key = await legacy.empty_key_material(CRYPTO)
    assert len(key) == 16
    wire, is_prekey, _ = await legacy.encrypt_for(
        CRYPTO, alice.own, alice.session(bob.device_id), None, key
    )
    got, _, used = await legacy.decrypt_from(
        CRYPTO, bob.own, bob.session(alice.device_id), wire, is_prekey
    )
    assert (got, is_prekey, used) == (key, False, None)


@scenario
async def test_payload_formats() -> None:
    key_material, iv, payload = await legacy.encrypt_payload(CRYPTO, b"body")
    assert (len(key_material), len(iv), len(payload)) == (32, 12, 4)
    assert await legacy.decrypt_payload(CRYPTO, key_material, iv, payload) == b"body"
    # older Conversations: 16-byte key, tag at the end of the payload
    assert (
        await legacy.decrypt_payload(CRYPTO, key_material[:16], iv, payload + key_material[16:])
        == b"body"
    )
    with pytest.raises(CryptoError):
        flipped = bytes([payload[0] ^ 1]) + payload[1:]
        await legacy.decrypt_payload(CRYPTO, key_material, iv, flipped)
    empty_km, empty_iv, empty_payload = await legacy.encrypt_payload(CRYPTO, b"")
    assert await legacy.decrypt_payload(CRYPTO, empty_km, empty_iv, empty_payload) == b""


@scenario
async def test_every_message_gets_fresh_keys_and_ivs() -> None:
    alice, bob = await pair()
    await bob.receive(await send(alice, bob, b"start"))
    await alice.receive(await send(bob, alice, b"ok"))
    payloads = [await legacy.encrypt_payload(CRYPTO, b"same text") for _ in range(40)]
    assert len({km[:16] for km, _, _ in payloads}) == 40
    assert len({iv for _, iv, _ in payloads}) == 40
    assert len({p for _, _, p in payloads}) == 40
    # the same key material sent repeatedly: different ratchet ciphertexts and counters
    seen_cipher: set[bytes] = set()
    counters: list[int] = []
    for _ in range(20):
        envelope = await alice.send({bob.device_id: None}, None)
        wire, _ = envelope.keys[bob.device_id]
        message, _, _ = parse_ratchet_message(wire)
        seen_cipher.add(message.ciphertext)
        counters.append(message.counter)
    assert len(seen_cipher) == 20 and counters == sorted(set(counters))
    # derived per-message AES keys, MAC keys and CBC IVs all differ along a chain
    chain = bytes(32)
    derived: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(20):
        seed, chain = await ratchet.kdf_chain(CRYPTO, chain)
        derived.append(await ratchet.message_keys(CRYPTO, seed))
    for part in range(3):
        assert len({d[part] for d in derived}) == 20


@scenario
async def test_records_round_trip_mid_conversation() -> None:
    alice, bob = await pair()
    await bob.receive(await send(alice, bob, b"start"))
    await alice.receive(await send(bob, alice, b"ok"))
    pending = [await send(alice, bob, f"p{i}".encode()) for i in range(4)]
    assert await bob.receive(pending[3]) == b"p3"  # three skipped keys now in the record
    record = bob.records[alice.device_id]
    restored = Session.from_record(clone_record(record))
    assert restored.to_record() == record
    assert restored.ratchet.skipped_count == 4  # p0..p2 and a spare (see above)
    for i in (1, 0, 2):
        assert await bob.receive(pending[i]) == f"p{i}".encode()
    own_record = bob.own_record
    assert type(bob.own).from_record(clone_record(own_record)).to_record() == own_record


def test_bad_records_are_refused() -> None:
    async def body() -> None:
        alice, bob = await pair()
        await bob.receive(await send(alice, bob, b"start"))
        good: dict[str, Any] = bob.records[alice.device_id]
        damaged: list[dict[str, Any]] = []
        for name in good:
            broken = clone_record(good)
            del broken[name]
            damaged.append(broken)
        for name in good["ratchet"]:
            if name == "sending_private":
                continue  # an opaque handle: any object
            broken = clone_record(good)
            broken["ratchet"][name] = "nonsense"
            damaged.append(broken)
        for record in damaged:
            with pytest.raises(BadRecord):
                Session.from_record(record)
        own = clone_record(bob.own_record)
        own["prekeys"] = [[1, None]]
        with pytest.raises(BadRecord):
            type(bob.own).from_record(own)
        own = clone_record(bob.own_record)
        own["signed_prekey"] = None
        with pytest.raises(BadRecord):
            type(bob.own).from_record(own)

    run(body())


@scenario
async def test_no_session_and_no_bundle() -> None:
    alice = await RoostPeer.create()
    with pytest.raises(NoSession):
        await legacy.encrypt_for(CRYPTO, alice.own, None, None, b"k" * 32)
    with pytest.raises(NoSession):
        await legacy.decrypt_from(CRYPTO, alice.own, None, b"\x33", False)


@scenario
async def test_session_start_arriving_out_of_order() -> None:
    """The third prekey message arrives first: it builds the session, the others follow."""
    alice, bob = await pair()
    starts = [await send(alice, bob, f"s{i}".encode()) for i in range(3)]
    assert await bob.receive(starts[2]) == b"s2"
    assert await bob.receive(starts[0]) == b"s0"
    assert await bob.receive(starts[1]) == b"s1"
    assert len(bob.own.prekeys) == 5  # one prekey used, one made
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"


@scenario
async def test_skipped_keys_age_out_with_their_chain() -> None:
    """Keys skipped many turns ago are forgotten; state stays small over a long talk."""
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    lost_long_ago = await send(alice, bob, b"lost long ago")
    assert await bob.receive(await send(alice, bob, b"x")) == b"x"
    lost_recently = None
    for turn in range(ratchet.MAX_SKIPPED_CHAINS + 5):
        assert await alice.receive(await send(bob, alice, b"turn")) == b"turn"
        if turn == ratchet.MAX_SKIPPED_CHAINS + 1:
            lost_recently = await send(alice, bob, b"lost recently")
        assert await bob.receive(await send(alice, bob, b"turn")) == b"turn"
    # at most one spare key per kept chain (Roost writes lengths: see ratchet.py)
    assert skipped(bob, alice) <= ratchet.MAX_SKIPPED_CHAINS + 1
    with pytest.raises(DuplicateMessage):
        await bob.receive(lost_long_ago)
    assert lost_recently is not None
    assert await bob.receive(lost_recently) == b"lost recently"


@scenario
async def test_libsignal_previous_counter_convention() -> None:
    """libsignal writes previousCounter = last index (length - 1): the old chain's last
    message must still decrypt after the new chain started."""
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    batch = [await send(alice, bob, f"a{i}".encode()) for i in range(3)]
    assert await bob.receive(batch[0]) == b"a0"
    assert await alice.receive(await send(bob, alice, b"b")) == b"b"
    session = alice.session(bob.device_id)
    assert session is not None and session.ratchet.previous_counter == 3
    session.ratchet.previous_counter = 2  # as libsignal would write it
    alice.keep(bob.device_id, session)
    assert await bob.receive(await send(alice, bob, b"new chain")) == b"new chain"
    assert await bob.receive(batch[2]) == b"a2"
    assert await bob.receive(batch[1]) == b"a1"
    assert skipped(bob, alice) <= 2  # the spare of the first chain only
