"""The pure helpers: Montgomery ⟷ Edwards edge cases, libsignal's key form, fingerprints."""

from __future__ import annotations

import textwrap

import pytest
from roost.omemo.curve import (
    P,
    edwards_to_montgomery,
    montgomery_to_edwards,
    sign_bit,
    xeddsa_to_ed25519,
)
from roost.omemo.encoding import (
    decode_legacy_public,
    encode_legacy_public,
    fingerprint_groups,
    format_fingerprint,
)
from roost.omemo.errors import CryptoError, OmemoError
from roost.xmpp.errors import RoostError

KEY = bytes.fromhex("3a4b4f7ed1b2e50c4d2f0a6c9b1e0f5a6d7c8b9aa1b2c3d4e5f60718293a4b5c")


def _le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def test_crypto_error_sits_in_the_roost_tree() -> None:
    assert issubclass(CryptoError, OmemoError) and issubclass(OmemoError, RoostError)
    assert "encrypted" in CryptoError("bad tag").user_message


def test_montgomery_to_edwards_masks_the_top_bit_and_reduces_mod_p() -> None:
    assert montgomery_to_edwards(_le(9)) == montgomery_to_edwards(_le(9 | (1 << 255)))
    assert montgomery_to_edwards(_le(P + 9)) == montgomery_to_edwards(_le(9))
    # u = 9 is the base point: y = 4/5, the Ed25519 base point's y.
    assert montgomery_to_edwards(_le(9)) == _le(4 * pow(5, P - 2, P) % P)
    assert sign_bit(montgomery_to_edwards(_le(9), 1)) == 1


@pytest.mark.parametrize("u", [P - 1, (P - 1) | (1 << 255)])
def test_u_minus_one_has_no_edwards_form(u: int) -> None:
    with pytest.raises(CryptoError):
        montgomery_to_edwards(_le(u))


@pytest.mark.parametrize("y", [1, P, P + 5, (1 << 255) - 1])
def test_edwards_to_montgomery_refuses_the_neutral_point_and_non_canonical_y(y: int) -> None:
    with pytest.raises(CryptoError):
        edwards_to_montgomery(_le(y))


def test_the_sign_bit_does_not_change_the_montgomery_form() -> None:
    ed = montgomery_to_edwards(KEY, 0)
    assert edwards_to_montgomery(ed) == edwards_to_montgomery(montgomery_to_edwards(KEY, 1))
    assert edwards_to_montgomery(ed) == _le(int.from_bytes(KEY, "little") % P)


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_wrong_lengths_are_refused(bad: bytes) -> None:
    for fn in (montgomery_to_edwards, edwards_to_montgomery, sign_bit):
        with pytest.raises(CryptoError):
            fn(bad)


def test_xeddsa_moves_the_sign_bit_from_the_signature_to_the_key() -> None:
    sig = bytes(range(63)) + bytes([0x85])
    ed, plain = xeddsa_to_ed25519(KEY, sig)
    assert sign_bit(ed) == 1 and plain == sig[:63] + b"\x05"
    ed0, plain0 = xeddsa_to_ed25519(KEY, plain)
    assert sign_bit(ed0) == 0 and plain0 == plain
    with pytest.raises(CryptoError):
        xeddsa_to_ed25519(KEY, sig[:63])


def test_libsignal_key_form() -> None:
    encoded = encode_legacy_public(KEY)
    assert encoded == b"\x05" + KEY
    assert decode_legacy_public(encoded) == KEY
    for bad in (KEY, b"\x06" + KEY, b"\x05" + KEY[:31], b"\x05" + KEY + b"\x00", b""):
        with pytest.raises(CryptoError):
            decode_legacy_public(bad)
    with pytest.raises(CryptoError):
        encode_legacy_public(encoded)


def _conversations(serialized_hex: str) -> str:
    # CryptoHelper.prettifyFingerprint(fingerprint.substring(2)), Conversations.
    builder = list(serialized_hex[2:])
    i = 8
    while i < len(builder):
        builder.insert(i, " ")
        i += 9
    return "".join(builder)


def _gajim(serialized_hex: str) -> str:
    # gajim/common/util/text.py format_fingerprint(), after dropping "05".
    fingerprint = serialized_hex[2:]
    wordsize = len(fingerprint) // 8
    buf = "".join(f"{fingerprint[i : i + wordsize]} " for i in range(0, len(fingerprint), wordsize))
    return textwrap.fill(buf, width=36).rstrip().upper()


def test_fingerprint_matches_conversations_and_gajim() -> None:
    serialized = encode_legacy_public(KEY).hex()
    shown = format_fingerprint(KEY)
    assert shown == "3a4b4f7e d1b2e50c 4d2f0a6c 9b1e0f5a 6d7c8b9a a1b2c3d4 e5f60718 293a4b5c"
    assert shown == _conversations(serialized)
    assert shown.upper() == _gajim(serialized).replace("\n", " ")  # Gajim: 4 groups a line
    assert fingerprint_groups(KEY) == shown.split(" ")
    with pytest.raises(CryptoError):
        format_fingerprint(encode_legacy_public(KEY))  # the 0x05 form is not a fingerprint
