"""This device's legacy OMEMO keys: generation, bundle, verification, rotation, records."""

from __future__ import annotations

import pytest
import xeddsa
from roost.omemo.errors import BadBundle, BadBundleSignature, BadRecord
from roost.omemo.keys import (
    MAX_ID,
    OwnDevice,
    PublicBundle,
    drop_previous_signed_prekey,
    generate_device,
    replace_prekey,
    rotate_signed_prekey,
    verify_bundle,
)

from tests.omemo.legacy_peers import CRYPTO, clone_record
from tests.support.aio import run


def make(prekeys: int = 5, now: float = 1_700_000_000) -> OwnDevice:
    return run(generate_device(CRYPTO, prekeys, now=now))


def test_generated_device() -> None:
    own = make(prekeys=7)
    assert 0 < own.device_id < 2**31
    assert sorted(own.prekeys) == list(range(1, 8)) and own.next_prekey_id == 8
    assert own.signed_prekey.id == 1 and own.signed_prekey.created == 1_700_000_000
    assert own.previous_signed_prekey is None
    assert own.identity_key == b"\x05" + own.identity.x25519.public
    ids = {make(prekeys=0).device_id for _ in range(20)}
    assert len(ids) == 20  # random


def test_bundle_wire_form_and_independent_signature_check() -> None:
    own = make()
    bundle = own.public_bundle()
    assert len(bundle.identity_key) == 33 and bundle.identity_key[0] == 5
    assert len(bundle.spk) == 33 and bundle.spk[0] == 5 and bundle.spk_id == 1
    assert [(i, len(k), k[0]) for i, k in bundle.prekeys] == [(i, 33, 5) for i in range(1, 6)]
    # the signature is XEdDSA over the 0x05-prefixed key, by the published Curve25519 key,
    # as the independent `xeddsa` library (python-omemo's) sees it
    ed_public = xeddsa.curve25519_pub_to_ed25519_pub(bundle.identity_key[1:], False)
    assert xeddsa.ed25519_verify(bundle.spk_signature, ed_public, bundle.spk)
    run(verify_bundle(CRYPTO, bundle))


def _bundle(**changes: object) -> PublicBundle:
    bundle = make().public_bundle()
    for name, value in changes.items():
        setattr(bundle, name, value)
    return bundle


def test_verify_bundle_refuses_bad_signatures() -> None:
    good = make().public_bundle()
    other = make().public_bundle()
    flipped = bytearray(good.spk_signature)
    flipped[5] ^= 1
    cases = [
        _bundle(spk_signature=bytes(flipped)),
        _bundle(spk_signature=good.spk_signature[:63]),
        _bundle(spk_signature=other.spk_signature),  # another device's signature
        _bundle(identity_key=other.identity_key),  # another identity
        _bundle(spk=other.spk),
    ]
    for bundle in cases:
        with pytest.raises(BadBundleSignature):
            run(verify_bundle(CRYPTO, bundle))


def test_verify_bundle_refuses_malformed_bundles() -> None:
    good = make().public_bundle()
    cases = [
        _bundle(prekeys=[]),
        _bundle(identity_key=good.identity_key[1:]),
        _bundle(spk=b"\x06" + good.spk[1:]),
        _bundle(prekeys=[(1, good.prekeys[0][1][1:])]),
        _bundle(prekeys=[(2**32, good.prekeys[0][1])]),
        _bundle(spk_id=-1),
    ]
    for bundle in cases:
        with pytest.raises(BadBundle):
            run(verify_bundle(CRYPTO, bundle))


def test_replace_prekey() -> None:
    own = make(prekeys=3)
    assert run(replace_prekey(CRYPTO, own, 2)) == 4
    assert sorted(own.prekeys) == [1, 3, 4]
    assert run(replace_prekey(CRYPTO, own, 2)) is None  # already gone: nothing changes
    assert sorted(own.prekeys) == [1, 3, 4]


def test_prekey_ids_wrap_around_skipping_ids_in_use() -> None:
    own = make(prekeys=3)
    own.next_prekey_id = MAX_ID
    assert run(replace_prekey(CRYPTO, own, 1)) == MAX_ID
    assert run(replace_prekey(CRYPTO, own, 2)) == 1  # wrapped (1 is free again)
    assert run(replace_prekey(CRYPTO, own, 3)) == 2
    assert sorted(own.prekeys) == [1, 2, MAX_ID]


def test_signed_prekey_rotation() -> None:
    own = make()
    first = own.signed_prekey
    second = run(rotate_signed_prekey(CRYPTO, own, now=first.created + 7 * 86400))
    assert own.signed_prekey is second and own.previous_signed_prekey is first
    assert second.id == 2 and second.key.public != first.key.public
    assert own.find_signed_prekey(1) is first and own.find_signed_prekey(2) is second
    run(verify_bundle(CRYPTO, own.public_bundle()))
    third = run(rotate_signed_prekey(CRYPTO, own, now=second.created + 7 * 86400))
    assert own.previous_signed_prekey is second and own.find_signed_prekey(1) is None
    assert not drop_previous_signed_prekey(own, third.created + 100, keep_for=3600)
    assert drop_previous_signed_prekey(own, third.created + 3600, keep_for=3600)
    assert own.previous_signed_prekey is None and own.find_signed_prekey(2) is None
    assert not drop_previous_signed_prekey(own, third.created + 9999, keep_for=3600)


def test_record_round_trip_keeps_handles_and_ignores_extra_keys() -> None:
    own = make()
    run(rotate_signed_prekey(CRYPTO, own, now=1_700_100_000))
    record = own.to_record()
    assert record["identity"]["x25519_private"] is own.identity.x25519.private  # type: ignore[index]
    stored = clone_record(record)
    stored["created"] = 123.0  # the app keeps its own fields alongside
    back = OwnDevice.from_record(stored)
    assert back.to_record() == record
    assert back.public_bundle().spk == own.public_bundle().spk
    assert back.previous_signed_prekey is not None


def test_bad_device_records() -> None:
    record = make().to_record()
    for name in ("version", "device_id", "identity", "signed_prekey", "prekeys", "next_prekey_id"):
        broken = clone_record(record)
        del broken[name]
        with pytest.raises(BadRecord):
            OwnDevice.from_record(broken)
    for name, value in (
        ("version", 99),
        ("device_id", 0),
        ("device_id", True),
        ("prekeys", [[0, object(), b"x" * 32]]),
        ("prekeys", [[1, object(), b"x" * 31]]),
        ("next_prekey_id", "1"),
        ("signed_prekey", {"id": 1}),
    ):
        broken = clone_record(record)
        broken[name] = value
        with pytest.raises(BadRecord):
            OwnDevice.from_record(broken)
    with pytest.raises(BadRecord):
        OwnDevice.from_record("nonsense")  # type: ignore[arg-type]
