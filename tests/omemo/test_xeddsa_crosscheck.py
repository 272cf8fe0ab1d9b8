"""Our identity route and XEdDSA verification against an independent implementation.

`xeddsa` (python-omemo's library: libsodium/ref10 with Signal's XEdDSA) and
`cryptography` play the peers. What these prove, for the CPython backend (the
browser test repeats the ones that involve WebCrypto):
- XEdDSA signatures made the way python-x3dh/oldmemo make them (private key
  forced to sign 0) verify under our `xeddsa_verify`, as do libsignal
  curve_sigs signatures that carry sign bit 1 in the signature;
- signatures by our identity (plain Ed25519) verify as XEdDSA under `xeddsa`
  with our Montgomery public key, i.e. as legacy OMEMO peers check them;
- X25519 between our identity and peers' keys agrees on both sides;
- our identity is exactly what `xeddsa` derives from the same seed.
"""

from __future__ import annotations

import secrets

import pytest
import xeddsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from roost.omemo.curve import edwards_to_montgomery, montgomery_to_edwards

from tests.support.aio import run
from tests.support.omemo_crypto import CPythonCrypto

CRYPTO = CPythonCrypto()
ROUNDS = 32
MESSAGES = [b"", b"\x05" + bytes(range(32)), secrets.token_bytes(1000)]


def _clamp(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def _priv_with_sign(sign: int) -> bytes:
    while True:
        priv = _clamp(secrets.token_bytes(32))
        if xeddsa.priv_to_ed25519_pub(priv)[31] >> 7 == sign:
            return priv


@pytest.mark.parametrize("msg", MESSAGES, ids=["empty", "key", "1000B"])
def test_xeddsa_signatures_verify_with_ours(msg: bytes) -> None:
    async def check() -> None:
        for _ in range(ROUNDS):
            priv = secrets.token_bytes(32)
            curve = xeddsa.priv_to_curve25519_pub(priv)
            sig = xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(priv, False), msg)
            assert await CRYPTO.xeddsa_verify(curve, msg, sig)
            assert not await CRYPTO.xeddsa_verify(curve, msg + b"!", sig)
            other = xeddsa.priv_to_curve25519_pub(secrets.token_bytes(32))
            assert not await CRYPTO.xeddsa_verify(other, msg, sig)
            tampered = bytes([sig[0] ^ 0x40]) + sig[1:]
            assert not await CRYPTO.xeddsa_verify(curve, msg, tampered)

    run(check())


def test_libsignal_signatures_with_sign_bit_one_verify() -> None:
    """libsignal's curve25519_sign keeps the key's own sign and stores it in
    the signature's top bit; without that bit the signature is refused."""

    async def check() -> None:
        for _ in range(ROUNDS):
            priv = _priv_with_sign(1)
            curve = xeddsa.priv_to_curve25519_pub(priv)
            sig = xeddsa.ed25519_priv_sign(priv, b"spk")
            marked = sig[:63] + bytes([sig[63] | 0x80])
            assert await CRYPTO.xeddsa_verify(curve, b"spk", marked)
            assert not await CRYPTO.xeddsa_verify(curve, b"spk", sig)

    run(check())


def test_identity_signatures_verify_as_xeddsa_in_xeddsa() -> None:
    async def check() -> None:
        for _ in range(ROUNDS):
            ident = await CRYPTO.identity_generate()
            curve = ident.curve25519_public
            assert ident.ed25519_public[31] >> 7 == 0
            assert xeddsa.ed25519_pub_to_curve25519_pub(ident.ed25519_public) == curve
            for msg in MESSAGES:
                sig = await CRYPTO.ed25519_sign(ident.ed25519, msg)
                # How python-x3dh/oldmemo check a bundle signed by a Curve25519 identity:
                ed = xeddsa.curve25519_pub_to_ed25519_pub(curve, bool(sig[63] >> 7))
                assert xeddsa.ed25519_verify(sig, ed, msg)

    run(check())


def test_identity_x25519_agrees_with_peers() -> None:
    async def check() -> None:
        for _ in range(ROUNDS):
            ident = await CRYPTO.identity_generate()
            curve = ident.curve25519_public
            peer = X25519PrivateKey.generate()
            peer_public = peer.public_key().public_bytes_raw()
            shared = await CRYPTO.x25519(ident.x25519, peer_public)
            assert shared == peer.exchange(X25519PublicKey.from_public_bytes(curve))
            xpriv = secrets.token_bytes(32)
            xshared = await CRYPTO.x25519(ident.x25519, xeddsa.priv_to_curve25519_pub(xpriv))
            assert xshared == xeddsa.x25519(xpriv, curve)

    run(check())


def test_identity_is_what_xeddsa_derives_from_the_seed() -> None:
    async def check() -> None:
        found = 0
        while found < ROUNDS:
            seed = secrets.token_bytes(32)
            if xeddsa.seed_to_ed25519_pub(seed)[31] >> 7:
                continue
            found += 1
            ident = await CRYPTO.identity_import(seed)
            priv = xeddsa.seed_to_priv(seed)
            assert ident.ed25519_public == xeddsa.seed_to_ed25519_pub(seed)
            assert ident.curve25519_public == xeddsa.priv_to_curve25519_pub(priv)
            sig = await CRYPTO.ed25519_sign(ident.ed25519, b"m")
            assert sig == xeddsa.ed25519_seed_sign(seed, b"m")  # Ed25519 is deterministic

    run(check())


def test_conversions_match_libsodium_on_random_keys() -> None:
    for _ in range(256):
        priv = secrets.token_bytes(32)
        ed = xeddsa.priv_to_ed25519_pub(priv)
        curve = xeddsa.priv_to_curve25519_pub(priv)
        assert edwards_to_montgomery(ed) == xeddsa.ed25519_pub_to_curve25519_pub(ed) == curve
        for sign in (False, True):
            assert montgomery_to_edwards(curve, int(sign)) == (
                xeddsa.curve25519_pub_to_ed25519_pub(curve, sign)
            )
