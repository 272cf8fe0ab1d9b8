"""Wire and display forms of OMEMO public keys (pure, no backend needed).

- Legacy OMEMO (`eu.siacs.conversations.axolotl`) publishes Curve25519 keys in
  libsignal's form: a type byte 0x05 (`Curve.DJB_TYPE`) then the 32-byte u.
  OMEMO 2 publishes the raw 32 bytes (Ed25519 for the identity key).
- Fingerprints as Conversations and Gajim show them: the 32-byte Curve25519
  identity key (the 0x05 dropped) in hex, 8 groups of 8 digits.
  Conversations: `CryptoHelper.prettifyFingerprint(fp.substring(2))`, lower
  case, one line; Gajim: `format_fingerprint`, upper case, 4 groups a line.
  People compare groups, so the case is a display choice; we use lower case.
"""

from __future__ import annotations

from roost.omemo.errors import CryptoError

LEGACY_KEY_TYPE = 0x05  # libsignal Curve.DJB_TYPE
KEY_SIZE = 32


def encode_legacy_public(curve_public: bytes) -> bytes:
    """libsignal's serialised Curve25519 public key: 0x05 + 32 bytes."""
    if len(curve_public) != KEY_SIZE:
        raise CryptoError(f"Curve25519 public key must be 32 bytes, got {len(curve_public)}")
    return bytes([LEGACY_KEY_TYPE]) + curve_public


def decode_legacy_public(data: bytes) -> bytes:
    """The 32-byte key inside libsignal's serialised form; anything else is refused.

    Strict like python-omemo's oldmemo (33 bytes, first 0x05): a 32-byte key
    without the type byte is not accepted.
    """
    if len(data) != KEY_SIZE + 1 or data[0] != LEGACY_KEY_TYPE:
        raise CryptoError("not a libsignal Curve25519 public key (0x05 + 32 bytes)")
    return bytes(data[1:])


def fingerprint_groups(curve_public: bytes) -> list[str]:
    """The 8 groups of 8 lower-case hex digits of a 32-byte Curve25519 public key."""
    if len(curve_public) != KEY_SIZE:
        raise CryptoError(f"a fingerprint needs a 32-byte Curve25519 key, not {len(curve_public)}")
    digits = curve_public.hex()
    return [digits[i : i + 8] for i in range(0, 64, 8)]


def format_fingerprint(curve_public: bytes) -> str:
    """The groups joined by single spaces on one line, as Conversations shows them."""
    return " ".join(fingerprint_groups(curve_public))
