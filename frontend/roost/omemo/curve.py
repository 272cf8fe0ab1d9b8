"""Curve25519 ⟷ Ed25519 public-key conversions and the XEdDSA verification step.

The only curve arithmetic Roost does itself: the birational map between the
Montgomery u-coordinate and the Edwards y-coordinate (RFC 7748 §4.1),

    u = (1 + y) / (1 - y)        y = (u - 1) / (u + 1)        (mod p = 2^255 - 19)

one field inversion each, with Python ints (`pow(x, p - 2, p)`; under Brython
ints are JS BigInts and one inversion takes ~0.1 ms). Point decoding,
scalar multiplication and signature checks stay in the vetted backends
(WebCrypto, `cryptography`), which is why nothing here validates that a key is
on the curve: an Ed25519 key converted with `edwards_to_montgomery` should have
verified a signature first (OMEMO 2 bundles carry one), and X25519 refuses the
low-order points that matter (zero shared secret).
"""

from __future__ import annotations

from roost.omemo.errors import CryptoError

P = 2**255 - 19
_MASK_255 = (1 << 255) - 1


def _inverse(x: int) -> int:
    return pow(x % P, P - 2, P)


def _check_len(data: bytes, what: str) -> None:
    if len(data) != 32:
        raise CryptoError(f"{what} must be 32 bytes, got {len(data)}")


def sign_bit(ed_public: bytes) -> int:
    """The sign bit (of x) of an encoded Ed25519 public key: its top bit."""
    _check_len(ed_public, "Ed25519 public key")
    return ed_public[31] >> 7


def montgomery_to_edwards(curve_public: bytes, sign: int = 0) -> bytes:
    """The Ed25519 public key with Montgomery coordinate `curve_public` and sign `sign`.

    As RFC 7748 decodes u, the top bit is ignored and u is taken mod p (libsignal
    does the same). u = -1 has no Edwards counterpart: `CryptoError`.
    """
    _check_len(curve_public, "Curve25519 public key")
    u = (int.from_bytes(curve_public, "little") & _MASK_255) % P
    if u == P - 1:
        raise CryptoError("Curve25519 public key u = -1 has no Ed25519 form")
    y = (u - 1) * _inverse(u + 1) % P
    return (y | ((sign & 1) << 255)).to_bytes(32, "little")


def edwards_to_montgomery(ed_public: bytes) -> bytes:
    """The Curve25519 (Montgomery u) public key of an Ed25519 public key.

    Refuses a non-canonical y (>= p) and y = 1 (the neutral point, u infinite).
    The sign bit does not matter: A and -A share u.
    """
    _check_len(ed_public, "Ed25519 public key")
    y = int.from_bytes(ed_public, "little") & _MASK_255
    if y >= P:
        raise CryptoError("Ed25519 public key is not canonically encoded")
    if y == 1:
        raise CryptoError("Ed25519 public key is the neutral point")
    u = (1 + y) * _inverse(1 - y) % P
    return u.to_bytes(32, "little")


def xeddsa_to_ed25519(curve_public: bytes, signature: bytes) -> tuple[bytes, bytes]:
    """The (Ed25519 public key, Ed25519 signature) that check an XEdDSA signature.

    libsignal's convention (curve_sigs.c, kept by XEdDSA): the Edwards sign bit
    the Montgomery key lacks travels in the top bit of the signature's last
    byte, which a valid Ed25519 signature never sets (s < 2^253). XEdDSA proper
    always signs with sign 0, libsignal's older signatures with either: taking
    the bit from the signature verifies both. Raises `CryptoError` for wrong
    lengths or u = -1.
    """
    if len(signature) != 64:
        raise CryptoError(f"XEdDSA signature must be 64 bytes, got {len(signature)}")
    ed_public = montgomery_to_edwards(curve_public, signature[63] >> 7)
    return ed_public, signature[:63] + bytes([signature[63] & 0x7F])
