"""OMEMO 2 between two Roost devices (Alice and Bob), in CPython.

Every step stores sessions and device keys as records and reads them back
(tests/omemo/v2_peers.py), so record round trips run throughout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from roost.omemo import legacy, ratchet, v2
from roost.omemo.errors import (
    BadBundle,
    BadBundleSignature,
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
from roost.omemo.keys import rotate_signed_prekey
from roost.omemo.session import Session
from roost.omemo.v2_protobuf import (
    AuthenticatedMessage,
    KeyExchange,
    OmemoMessage,
    parse_authenticated_message,
    parse_key_exchange,
)

from tests.omemo.legacy_peers import CRYPTO, RoostPeer, clone_record
from tests.omemo.v2_peers import EnvelopeV2, RoostPeerV2
from tests.support.aio import run


def scenario(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test body (there is no pytest-asyncio here)."""

    def test() -> None:
        run(fn())

    test.__name__ = fn.__name__
    test.__doc__ = fn.__doc__
    return test


async def pair() -> tuple[RoostPeerV2, RoostPeerV2]:
    return await RoostPeerV2.create(), await RoostPeerV2.create()


async def send(a: RoostPeerV2, b: RoostPeerV2, text: bytes | None) -> EnvelopeV2:
    """a → b, starting a session from b's current bundle if a has none."""
    bundle = None if a.session(b.device_id) else await b.bundle()
    return await a.send({b.device_id: bundle}, text)


def skipped(receiver: RoostPeerV2, sender: RoostPeerV2) -> int:
    session = receiver.session(sender.device_id)
    assert session is not None
    return session.ratchet.skipped_count


# -- payload ---------------------------------------------------------------------------


@scenario
async def test_payload_round_trip_and_tampering() -> None:
    envelope = b"<envelope xmlns='urn:xmpp:sce:1'><content/></envelope>"
    key_material, payload = await v2.encrypt_payload(CRYPTO, envelope)
    assert len(key_material) == 48 and len(payload) % 16 == 0
    assert await v2.decrypt_payload(CRYPTO, key_material, payload) == envelope
    other, _ = await v2.encrypt_payload(CRYPTO, envelope)
    assert other[:32] != key_material[:32]  # fresh key per message
    broken = bytearray(payload)
    broken[0] ^= 1
    with pytest.raises(CryptoError):
        await v2.decrypt_payload(CRYPTO, key_material, bytes(broken))
    with pytest.raises(CryptoError):
        await v2.decrypt_payload(CRYPTO, key_material[:47] + bytes([key_material[47] ^ 1]), payload)
    with pytest.raises(MalformedMessage):  # an empty message's key material
        await v2.decrypt_payload(CRYPTO, v2.empty_key_material(), payload)


# -- bundles ---------------------------------------------------------------------------


@scenario
async def test_bundle_forms_and_verification() -> None:
    peer = await RoostPeerV2.create()
    own = peer.own
    bundle = await peer.bundle()
    assert bundle.identity_key == own.identity.ed25519.public
    assert bundle.identity_key[31] >> 7 == 0
    assert bundle.spk == own.signed_prekey.key.public and len(bundle.spk) == 32
    assert bundle.spk_signature == (await peer.bundle()).spk_signature  # deterministic
    assert await CRYPTO.ed25519_verify(bundle.identity_key, bundle.spk, bundle.spk_signature)
    assert [pid for pid, _ in bundle.prekeys] == sorted(own.prekeys)
    curve = await v2.verify_bundle_v2(CRYPTO, bundle)
    assert curve == own.identity.x25519.public
    legacy = own.public_bundle()  # the same keys, legacy forms
    assert legacy.spk[1:] == bundle.spk and legacy.identity_key[1:] == curve

    bad = v2.PublicBundleV2(
        bundle.identity_key, bundle.spk_id, bundle.spk, legacy.spk_signature, bundle.prekeys
    )
    with pytest.raises(BadBundleSignature):  # legacy signs 0x05 + key
        await v2.verify_bundle_v2(CRYPTO, bad)
    for broken in (
        v2.PublicBundleV2(
            legacy.identity_key, bundle.spk_id, bundle.spk, bundle.spk_signature, bundle.prekeys
        ),
        v2.PublicBundleV2(bundle.identity_key, bundle.spk_id, bundle.spk, bundle.spk_signature, []),
        v2.PublicBundleV2(
            bundle.identity_key, -1, bundle.spk, bundle.spk_signature, bundle.prekeys
        ),
        v2.PublicBundleV2(
            bundle.identity_key, 1, bundle.spk, bundle.spk_signature, [(1, legacy.spk)]
        ),
    ):
        with pytest.raises(BadBundle):
            await v2.verify_bundle_v2(CRYPTO, broken)
    alice = await RoostPeerV2.create()
    with pytest.raises(BadBundleSignature):
        await alice.send({peer.device_id: bad}, b"x")
    assert alice.session(peer.device_id) is None


# -- sessions --------------------------------------------------------------------------


@scenario
async def test_first_messages_are_key_exchanges_then_normal_ones() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"hello bob")
    assert first.keys[bob.device_id][1] is True
    second = await send(alice, bob, b"still there?")  # before Bob answered: kex again
    assert second.keys[bob.device_id][1] is True
    used_before = set(bob.own.prekeys)
    assert await bob.receive(first) == b"hello bob"
    assert len(set(bob.own.prekeys) - used_before) == 1  # the used one was replaced
    assert await bob.receive(second) == b"still there?"  # same start, existing session
    session = bob.session(alice.device_id)
    assert session is not None
    assert session.remote_identity == alice.own.identity.ed25519.public
    assert not session.initiator and session.confirmed
    reply = await send(bob, alice, b"hi alice")
    assert reply.keys[alice.device_id][1] is False
    assert await alice.receive(reply) == b"hi alice"
    third = await send(alice, bob, b"now a normal message")
    assert third.keys[bob.device_id][1] is False
    assert await bob.receive(third) == b"now a normal message"


@scenario
async def test_wire_forms() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"hi")
    wire, _ = first.keys[bob.device_id]
    kex = parse_key_exchange(wire)
    assert kex.ik == alice.own.identity.ed25519.public
    assert kex.spk_id == bob.own.signed_prekey.id and kex.pk_id in bob.own.prekeys
    message, message_bytes, mac = parse_authenticated_message(kex.message)
    assert len(mac) == 16 and message.n == 0 and message.pn == 0
    assert len(message.ciphertext) == 64  # 48 bytes of key material + a PKCS#7 block
    assert message.serialize() == message_bytes
    assert AuthenticatedMessage(mac, message_bytes).serialize() == kex.message
    assert KeyExchange(kex.pk_id, kex.spk_id, kex.ik, kex.ek, kex.message).serialize() == wire


@scenario
async def test_long_back_and_forth_with_empty_messages() -> None:
    alice, bob = await pair()
    rng = random.Random(2)
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    for i in range(120):
        sender = (alice, bob)[rng.randrange(2)]
        receiver = bob if sender is alice else alice
        text = None if i % 7 == 3 else f"message {i}".encode()
        assert await receiver.receive(await send(sender, receiver, text)) == text


@scenario
async def test_bob_starts_as_well() -> None:
    alice, bob = await pair()
    assert await alice.receive(await send(bob, alice, b"from bob")) == b"from bob"
    assert await bob.receive(await send(alice, bob, None)) is None  # heartbeat answer
    assert (await send(bob, alice, b"x")).keys[alice.device_id][1] is False


@scenario
async def test_out_of_order_and_lost_messages() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    batch = [await send(alice, bob, f"a{i}".encode()) for i in range(8)]
    for i in (5, 0, 7, 2, 6):  # 1, 3, 4 arrive much later, or never
        assert await bob.receive(batch[i]) == f"a{i}".encode()
    assert await alice.receive(await send(bob, alice, b"b0")) == b"b0"
    later = [await send(alice, bob, f"c{i}".encode()) for i in range(3)]
    assert await bob.receive(later[2]) == b"c2"
    assert await bob.receive(batch[3]) == b"a3"  # from the previous chain
    assert await bob.receive(later[0]) == b"c0"
    assert await bob.receive(batch[1]) == b"a1"
    assert await bob.receive(later[1]) == b"c1"
    # a4, and one spare key per ratchet step (pn + 1: libomemo-c writes the last index)
    assert skipped(bob, alice) == 3
    with pytest.raises(DuplicateMessage):
        await bob.receive(batch[0])
    with pytest.raises(DuplicateMessage):
        await bob.receive(later[1])
    assert await bob.receive(batch[4]) == b"a4"


@scenario
async def test_too_many_skipped_is_refused_and_leaves_the_session() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    session = alice.session(bob.device_id)
    assert session is not None
    session.ratchet.sending_counter += ratchet.MAX_SKIP + 1  # as if that many were lost
    wire, _, _ = await v2.encrypt_for(CRYPTO, alice.own, session, None, b"k" * 48)
    before = clone_record(bob.records[alice.device_id])
    with pytest.raises(TooManySkipped):
        await v2.decrypt_from(CRYPTO, bob.own, bob.session(alice.device_id), wire, False)
    assert bob.records[alice.device_id] == before
    assert await bob.receive(await send(alice, bob, b"next")) == b"next"


@scenario
async def test_duplicates_and_forgeries_change_nothing() -> None:
    alice, bob = await pair()
    first = await send(alice, bob, b"start")
    assert await bob.receive(first) == b"start"
    again = await send(alice, bob, b"twice")
    assert await bob.receive(again) == b"twice"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    before = clone_record(bob.records[alice.device_id])
    with pytest.raises(DuplicateMessage):
        await bob.receive(again)
    with pytest.raises(DuplicateMessage):  # a replayed session start, session still there
        await bob.receive(first)
    # a forged MAC, and the MAC of a message moved to another session (other AD)
    nxt = await send(alice, bob, b"next")
    wire, kex = nxt.keys[bob.device_id]
    _, message_bytes, _ = parse_authenticated_message(wire)
    forged = AuthenticatedMessage(bytes(16), message_bytes).serialize()
    with pytest.raises(BadMac):
        await bob.receive(EnvelopeV2(alice.device_id, {bob.device_id: (forged, kex)}, None))
    with pytest.raises(MalformedMessage):
        await bob.receive(EnvelopeV2(alice.device_id, {bob.device_id: (wire[:-3], kex)}, None))
    assert bob.records[alice.device_id] == before
    assert await bob.receive(nxt) == b"next"


@scenario
async def test_associated_data_is_initiator_first_both_ways() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    a, b = alice.session(bob.device_id), bob.session(alice.device_id)
    assert a is not None and b is not None
    ik_a, ik_b = alice.own.identity.ed25519.public, bob.own.identity.ed25519.public
    assert a.associated_data == b.associated_data == ik_a + ik_b


@scenario
async def test_unknown_prekeys_and_no_session() -> None:
    alice, bob = await pair()
    carol = await RoostPeerV2.create()
    stale = await bob.bundle()
    stale.prekeys = [stale.prekeys[0]]  # both pick the same prekey
    assert await bob.receive(await alice.send({bob.device_id: stale}, b"a")) == b"a"
    with pytest.raises(UnknownPrekey):
        await bob.receive(await carol.send({bob.device_id: stale}, b"c"))
    old = await bob.bundle()
    own = bob.own
    await rotate_signed_prekey(CRYPTO, own)
    await rotate_signed_prekey(CRYPTO, own)  # the old one is gone now
    bob.own_record = clone_record(own.to_record())
    dave = await RoostPeerV2.create()
    with pytest.raises(UnknownSignedPrekey):
        await bob.receive(await dave.send({bob.device_id: old}, b"d"))
    with pytest.raises(NoSession):
        await v2.encrypt_for(CRYPTO, alice.own, None, None, b"k" * 48)
    with pytest.raises(NoSession):
        await v2.decrypt_from(CRYPTO, bob.own, None, b"\x0a\x00", False)


@scenario
async def test_previous_signed_prekey_still_accepted() -> None:
    alice, bob = await pair()
    old = await bob.bundle()
    own = bob.own
    await rotate_signed_prekey(CRYPTO, own)
    bob.own_record = clone_record(own.to_record())
    assert await bob.receive(await alice.send({bob.device_id: old}, b"old spk")) == b"old spk"


@scenario
async def test_a_new_key_exchange_replaces_the_session() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"one")) == b"one"
    assert await alice.receive(await send(bob, alice, b"two")) == b"two"
    alice.forget(bob.device_id)  # Alice lost her state and starts over
    assert await bob.receive(await send(alice, bob, None)) is None
    session = bob.session(alice.device_id)
    assert session is not None and session.prekey_id not in bob.own.prekeys
    assert await alice.receive(await send(bob, alice, b"fine")) == b"fine"


@scenario
async def test_session_records() -> None:
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    session = alice.session(bob.device_id)
    assert session is not None
    record = session.to_record()
    assert record["namespace"] == "urn:xmpp:omemo:2"
    again = v2.SessionV2.from_record(clone_record(record))
    assert again.to_record() == record
    assert again.remote_identity == bob.own.identity.ed25519.public
    with pytest.raises(BadRecord):  # a legacy reader refuses it, and the other way round
        Session.from_record(clone_record(record))
    legacy_peer, other = await RoostPeer.create(), await RoostPeer.create()
    _, _, legacy_session = await legacy.encrypt_for(
        CRYPTO, legacy_peer.own, None, other.bundle(), b"k" * 32
    )
    with pytest.raises(BadRecord):
        v2.SessionV2.from_record(legacy_session.to_record())
    for name in ("own_identity", "ratchet", "namespace", "prekey_id"):
        broken = clone_record(record)
        del broken[name]
        with pytest.raises(BadRecord):
            v2.SessionV2.from_record(broken)
    broken = clone_record(record)
    broken["remote_identity"] = b"\x05" + bytes(32)
    with pytest.raises(BadRecord):
        v2.SessionV2.from_record(broken)


def test_protobuf_round_trips_and_refusals() -> None:
    message = OmemoMessage(7, 3, bytes(range(32)), b"c" * 16)
    data = AuthenticatedMessage(b"m" * 16, message.serialize()).serialize()
    parsed, raw, mac = parse_authenticated_message(data)
    assert (parsed.n, parsed.pn, parsed.dh_pub, parsed.ciphertext) == (
        7,
        3,
        bytes(range(32)),
        b"c" * 16,
    )
    assert mac == b"m" * 16 and raw == message.serialize()
    kex = KeyExchange(2**32 - 1, 1, b"i" * 32, b"e" * 32, data)
    back = parse_key_exchange(kex.serialize())
    assert (back.pk_id, back.spk_id, back.ik, back.ek, back.message) == (
        2**32 - 1,
        1,
        b"i" * 32,
        b"e" * 32,
        data,
    )
    for bad in (
        b"",
        AuthenticatedMessage(b"m" * 8, message.serialize()).serialize(),  # short MAC
        AuthenticatedMessage(b"m" * 16, b"\x08\x01").serialize(),  # no pn, dh_pub
        AuthenticatedMessage(
            b"m" * 16, OmemoMessage(1, 0, bytes(32), b"").serialize()[:-1]
        ).serialize(),
        b"\x0a\x10" + b"m" * 15,  # cut off
    ):
        with pytest.raises(MalformedMessage):
            parse_authenticated_message(bad)
    with pytest.raises(MalformedMessage):
        parse_key_exchange(kex.serialize()[:-1])
    long_ik = (
        KeyExchange(1, 1, b"i" * 32, b"e" * 32, data)
        .serialize()
        .replace(b"\x1a\x20" + b"i" * 32, b"\x1a\x21" + b"i" * 33)
    )
    with pytest.raises(MalformedMessage):
        parse_key_exchange(long_ik)
    with pytest.raises(ValueError):
        KeyExchange(1, 1, b"i" * 33, b"e" * 32, data).serialize()


@scenario
async def test_every_flipped_bit_is_caught() -> None:
    alice, bob = await pair()
    start = await send(alice, bob, b"start")
    kex_wire, _ = start.keys[bob.device_id]
    for i in range(len(kex_wire)):
        mutated = bytearray(kex_wire)
        mutated[i] ^= 0x01
        with pytest.raises(OmemoError):
            await v2.decrypt_from(CRYPTO, bob.own, None, bytes(mutated), True)
    assert await bob.receive(start) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    envelope = await send(alice, bob, b"payload")
    wire, kex = envelope.keys[bob.device_id]
    assert not kex
    for i in range(len(wire)):
        mutated = bytearray(wire)
        mutated[i] ^= 0x01
        with pytest.raises(OmemoError):
            await v2.decrypt_from(
                CRYPTO, bob.own, bob.session(alice.device_id), bytes(mutated), False
            )
    assert await bob.receive(envelope) == b"payload"
    envelope = await send(alice, bob, b"payload")
    assert envelope.payload is not None
    mangled = EnvelopeV2(
        envelope.sid, envelope.keys, bytes([envelope.payload[0] ^ 1]) + envelope.payload[1:]
    )
    with pytest.raises(CryptoError):  # the HMAC tag catches a changed payload
        await bob.receive(mangled)


@scenario
async def test_one_device_serves_both_versions() -> None:
    """Legacy and OMEMO 2 share the identity and prekeys: a prekey used by either is gone."""
    bob = await RoostPeer.create()
    own = bob.own
    legacy_bundle = own.public_bundle()
    bundle = await v2.public_bundle_v2(CRYPTO, own)
    assert [pid for pid, _ in bundle.prekeys] == [pid for pid, _ in legacy_bundle.prekeys]
    legacy_alice, alice = await RoostPeer.create(), await RoostPeerV2.create()
    legacy_bundle.prekeys = legacy_bundle.prekeys[:1]
    bundle.prekeys = bundle.prekeys[:1]  # both pick the same prekey
    assert await bob.receive(await legacy_alice.send({bob.device_id: legacy_bundle}, b"old")) == (
        b"old"
    )
    as_v2 = RoostPeerV2(bob.own)  # the same device, speaking OMEMO 2
    with pytest.raises(UnknownPrekey):
        await as_v2.receive(await alice.send({bob.device_id: bundle}, b"new"))
    alice.forget(bob.device_id)  # start over from the republished bundle
    fresh = await as_v2.bundle()
    assert await as_v2.receive(await alice.send({bob.device_id: fresh}, b"new")) == b"new"
    session = as_v2.session(alice.device_id)
    assert session is not None and session.own_identity == bob.own.identity.ed25519.public


@scenario
async def test_late_last_message_when_pn_is_the_last_index() -> None:
    """libomemo-c (Dino, Kaidan) writes pn = length - 1: the previous chain's last
    message still decrypts when it comes after the next chain."""
    alice, bob = await pair()
    assert await bob.receive(await send(alice, bob, b"start")) == b"start"
    assert await alice.receive(await send(bob, alice, b"ok")) == b"ok"
    batch = [await send(alice, bob, f"a{i}".encode()) for i in range(3)]
    assert await bob.receive(batch[0]) == b"a0"
    assert await alice.receive(await send(bob, alice, b"b")) == b"b"
    session = alice.session(bob.device_id)
    assert session is not None and session.ratchet.previous_counter == 3
    session.ratchet.previous_counter -= 1  # as libomemo-c counts
    alice.keep(bob.device_id, session)
    assert await bob.receive(await send(alice, bob, b"new chain")) == b"new chain"
    assert await bob.receive(batch[2]) == b"a2"
    assert await bob.receive(batch[1]) == b"a1"
