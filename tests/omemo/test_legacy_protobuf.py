"""The legacy wire messages: round trips, byte equality with protobuf, malformed input."""

from __future__ import annotations

import os
import random

import pytest
from oldmemo.oldmemo_pb2 import OMEMOKeyExchange, OMEMOMessage
from roost.omemo.errors import MalformedMessage
from roost.omemo.protobuf import (
    PreKeyMessage,
    RatchetMessage,
    decode_varint,
    encode_varint,
    parse_prekey_message,
    parse_ratchet_message,
)

KEY = bytes(range(32))
KEY2 = bytes(range(32, 64))
MAC = b"M" * 8


def ratchet_wire(counter: int = 7, previous: int = 3, ciphertext: bytes = b"c" * 32) -> bytes:
    return RatchetMessage(KEY, counter, previous, ciphertext).serialize() + MAC


def prekey_wire(registration_id: int | None = None) -> bytes:
    return PreKeyMessage(
        17, 2, KEY, KEY2, ratchet_wire(), registration_id=registration_id
    ).serialize()


@pytest.mark.parametrize(
    "value", [0, 1, 127, 128, 300, 16383, 16384, 2**31 - 1, 2**32 - 1, 2**63, 2**64 - 1]
)
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert decode_varint(b"xx" + data + b"yy", 2) == (value, 2 + len(data))


def test_ratchet_message_round_trip() -> None:
    message, versioned, mac = parse_ratchet_message(ratchet_wire(2**32 - 1, 0, b"\x00" * 48))
    assert (message.ratchet_key, message.counter, message.previous_counter) == (KEY, 2**32 - 1, 0)
    assert message.ciphertext == b"\x00" * 48
    assert mac == MAC
    assert versioned[0] == 0x33 and versioned == message.serialize()


def test_ratchet_message_matches_protobuf() -> None:
    """Byte for byte what libsignal's and oldmemo's protobuf code writes."""
    ours = RatchetMessage(KEY, 300, 5, b"ciphertext" * 5).serialize()
    theirs = OMEMOMessage(n=300, pn=5, dh_pub=b"\x05" + KEY, ciphertext=b"ciphertext" * 5)
    assert ours == b"\x33" + theirs.SerializeToString()
    parsed = OMEMOMessage.FromString(ours[1:])
    assert (parsed.n, parsed.pn, parsed.dh_pub) == (300, 5, b"\x05" + KEY)


def test_prekey_message_round_trip_and_protobuf() -> None:
    wire = prekey_wire()
    parsed = parse_prekey_message(wire)
    assert (parsed.prekey_id, parsed.signed_prekey_id) == (17, 2)
    assert (parsed.base_key, parsed.identity_key) == (KEY, KEY2)
    assert parsed.message == ratchet_wire() and parsed.registration_id is None
    theirs = OMEMOKeyExchange(
        pk_id=17, spk_id=2, ik=b"\x05" + KEY2, ek=b"\x05" + KEY, message=ratchet_wire()
    )
    assert wire == b"\x33" + theirs.SerializeToString()


def test_prekey_message_registration_id_is_read_and_optional() -> None:
    assert parse_prekey_message(prekey_wire(registration_id=4242)).registration_id == 4242
    theirs = OMEMOKeyExchange.FromString(prekey_wire(registration_id=4242)[1:])
    assert theirs.unused == 4242 and theirs.pk_id == 17


def test_fields_in_any_order_last_wins_unknown_skipped() -> None:
    body = (
        b"\x10\x01"  # counter 1 (overridden below)
        + b"\x22\x02ab"  # ciphertext
        + b"\x0a\x21\x05"
        + KEY  # ratchet key
        + b"\x18\x09"  # previous counter 9
        + b"\x10\x05"  # counter 5: the last one wins
        + b"\x29"
        + b"8bytes!!"  # unknown field 5, fixed64
        + b"\x35"
        + b"4byt"  # unknown field 6, fixed32
        + b"\x3a\x03xyz"  # unknown field 7, bytes
        + b"\x40\x96\x01"  # unknown field 8, varint
    )
    message, _, _ = parse_ratchet_message(b"\x33" + body + MAC)
    assert (message.counter, message.previous_counter, message.ciphertext) == (5, 9, b"ab")


BAD_RATCHET = {
    "empty": b"",
    "only a mac": MAC,
    "wrong version": b"\x32" + ratchet_wire()[1:],
    "version 4": b"\x44" + ratchet_wire()[1:],
    "cut varint": b"\x33\x10\x80" + MAC,
    "eleven-byte varint": b"\x33\x10" + b"\xff" * 10 + b"\x01" + MAC,
    "length past end": b"\x33\x0a\x40" + b"\x05" + KEY + MAC,
    "missing ratchet key": b"\x33\x10\x01\x18\x00\x22\x01c" + MAC,
    "missing counter": b"\x33\x0a\x21\x05" + KEY + b"\x18\x00\x22\x01c" + MAC,
    "missing ciphertext": b"\x33\x0a\x21\x05" + KEY + b"\x10\x00\x18\x00" + MAC,
    "key without 0x05": b"\x33\x0a\x21\x06" + KEY + b"\x10\x00\x18\x00\x22\x01c" + MAC,
    "32-byte key": b"\x33\x0a\x20" + KEY + b"\x10\x00\x18\x00\x22\x01c" + MAC,
    "counter as bytes": b"\x33\x0a\x21\x05" + KEY + b"\x12\x01\x00\x18\x00\x22\x01c" + MAC,
    "key as varint": b"\x33\x08\x05\x10\x00\x18\x00\x22\x01c" + MAC,
    "counter over 32 bits": b"\x33\x0a\x21\x05"
    + KEY
    + b"\x10"
    + encode_varint(2**32)
    + b"\x18\x00\x22\x01c"
    + MAC,
    "group wire type": b"\x33\x0b" + MAC,
    "wire type 7": b"\x33\x0f" + MAC,
    "field number 0": b"\x33\x02\x00" + MAC,
    "cut fixed64": b"\x33\x29abc" + MAC,
}


@pytest.mark.parametrize("name", sorted(BAD_RATCHET))
def test_malformed_ratchet_message(name: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_ratchet_message(BAD_RATCHET[name])


def _drop_field(wire: bytes, number: int) -> bytes:
    """The prekey message re-encoded without one field."""
    parsed = OMEMOKeyExchange.FromString(wire[1:])
    names = {1: "pk_id", 6: "spk_id", 3: "ik", 2: "ek", 4: "message"}
    fields = {n: getattr(parsed, name) for n, name in names.items() if n != number}
    out = b"\x33"
    for n in sorted(fields):
        value = fields[n]
        if isinstance(value, int):
            out += encode_varint(n << 3) + encode_varint(value)
        else:
            out += encode_varint(n << 3 | 2) + encode_varint(len(value)) + value
    return out


@pytest.mark.parametrize("number", [1, 2, 3, 4, 6])
def test_prekey_message_missing_field(number: int) -> None:
    assert parse_prekey_message(_drop_field(prekey_wire(), 0))  # the re-encoding itself is fine
    with pytest.raises(MalformedMessage):
        parse_prekey_message(_drop_field(prekey_wire(), number))


def test_malformed_prekey_message() -> None:
    for bad in (b"", b"\x33", b"\x23" + prekey_wire()[1:], prekey_wire()[:-1]):
        with pytest.raises(MalformedMessage):
            parse_prekey_message(bad)


def test_random_and_mangled_input_raises_only_malformed() -> None:
    """Truncations, bit flips and noise: a parsed message or MalformedMessage, nothing else."""
    rng = random.Random(5)
    samples = [os.urandom(rng.randrange(0, 120)) for _ in range(400)]
    for wire in (ratchet_wire(), prekey_wire(1)):
        samples += [wire[:i] for i in range(len(wire))]
        for _ in range(400):
            mutated = bytearray(wire)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            samples.append(bytes(mutated))
    for sample in samples:
        for parse in (parse_ratchet_message, parse_prekey_message):
            try:
                parse(sample)
            except MalformedMessage:
                pass


def test_serialize_refuses_bad_values() -> None:
    with pytest.raises(ValueError):
        RatchetMessage(KEY[:31], 0, 0, b"").serialize()
    with pytest.raises(ValueError):
        RatchetMessage(KEY, 2**32, 0, b"").serialize()
    with pytest.raises(ValueError):
        encode_varint(-1)
