"""The cryptographic primitives OMEMO needs, behind one Protocol: `OmemoCrypto`.

Two backends implement it: `roost.platform.omemo_crypto.WebCrypto` (the
browser's `crypto.subtle`) and `tests.support.omemo_crypto.CPythonCrypto`
(`cryptography`, for fast tests). Methods are `async` because WebCrypto is;
the protocol code awaits them under asyncio (CPython) or `browser.aio`
(Brython), so nothing in `roost.omemo` imports either. Two Brython 3.15
traps for that code (measured): `await` inside a comprehension yields a
Promise instead of a list (write a loop), and a lambda returning a coroutine
logs a spurious "coroutine was never awaited" console error (use `async def`).

Contract shared by every method:
- bytes in, bytes out; private keys are opaque handles inside the key-pair
  records below (`CryptoKey`s in the browser, non-extractable);
- wrong input lengths, a failed AES-GCM tag, bad CBC padding, an all-zero
  X25519 output: `CryptoError`; a signature that does not verify: `False`.
  Never a silently wrong result.

The OMEMO identity key (DESIGN.md, "OMEMO keys with WebCrypto only"): an
Ed25519 key whose public key has sign bit 0; its X25519 private key is
SHA-512(seed)[:32] (the clamped Ed25519 scalar), so its X25519 public key is
the Montgomery form of the Ed25519 one. Then plain Ed25519 signatures are
valid XEdDSA signatures for the Montgomery key (legacy OMEMO publishes that,
0x05-prefixed) and the same key does X25519 for X3DH. Peers' XEdDSA
signatures are checked by converting their Montgomery key to Edwards form
(`roost.omemo.curve`) and verifying with Ed25519.
"""

from __future__ import annotations

from roost.omemo.errors import CryptoError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:  # Brython: no `typing` at run time; the class is then a plain base
    Protocol = object

__all__ = [
    "AES_BLOCK",
    "AES_GCM_IV_SIZES",
    "AES_KEY_SIZES",
    "GCM_TAG_SIZE",
    "HKDF_SHA256_MAX",
    "KEY_SIZE",
    "SIGNATURE_SIZE",
    "CryptoError",
    "Ed25519KeyPair",
    "IdentityKeyPair",
    "OmemoCrypto",
    "X25519KeyPair",
    "is_all_zero",
    "require_hkdf_length",
    "require_size",
]

KEY_SIZE = 32  # X25519/Ed25519 public keys, private scalars and seeds
SIGNATURE_SIZE = 64
GCM_TAG_SIZE = 16
AES_KEY_SIZES = (16, 32)  # no AES-192: Chromium's WebCrypto lacks it, OMEMO doesn't use it
# Legacy OMEMO senders use 12-byte IVs, some older ones 16: both are accepted.
AES_GCM_IV_SIZES = (12, 16)
AES_BLOCK = 16
HKDF_SHA256_MAX = 255 * 32  # RFC 5869: L <= 255 * HashLen


def require_size(data: bytes, sizes: tuple[int, ...], what: str) -> None:
    """`CryptoError` unless `len(data)` is one of `sizes` (backends check inputs alike)."""
    if len(data) not in sizes:
        allowed = " or ".join(str(n) for n in sizes)
        raise CryptoError(f"{what} must be {allowed} bytes, got {len(data)}")


def require_hkdf_length(length: int) -> None:
    if not 0 < length <= HKDF_SHA256_MAX:
        raise CryptoError(f"HKDF-SHA-256 output length must be 1..{HKDF_SHA256_MAX}, got {length}")


def is_all_zero(data: bytes) -> bool:
    return not any(data)


class X25519KeyPair:
    """An X25519 key: an opaque private handle and the 32-byte public u."""

    __slots__ = ("private", "public")

    def __init__(self, private: object, public: bytes) -> None:
        self.private = private
        self.public = public


class Ed25519KeyPair:
    """An Ed25519 signing key: an opaque private handle and the 32-byte public key."""

    __slots__ = ("private", "public")

    def __init__(self, private: object, public: bytes) -> None:
        self.private = private
        self.public = public


class IdentityKeyPair:
    """A device's OMEMO identity: one secret seen as Ed25519 and as X25519.

    `ed25519.public` has sign bit 0 (what OMEMO 2 publishes);
    `x25519.public` is its Montgomery form (what legacy OMEMO publishes, and
    what fingerprints show). Sign with `ed25519`, agree keys with `x25519`.
    """

    __slots__ = ("ed25519", "x25519")

    def __init__(self, ed25519: Ed25519KeyPair, x25519: X25519KeyPair) -> None:
        self.ed25519 = ed25519
        self.x25519 = x25519

    @property
    def curve25519_public(self) -> bytes:
        return self.x25519.public

    @property
    def ed25519_public(self) -> bytes:
        return self.ed25519.public


class OmemoCrypto(Protocol):
    """The primitives; see the module docstring for the shared contract."""

    async def random_bytes(self, n: int) -> bytes:
        """`n` bytes from the platform's CSPRNG."""
        ...

    async def sha256(self, data: bytes) -> bytes: ...

    async def sha512(self, data: bytes) -> bytes: ...

    async def hmac_sha256(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SHA-256 (RFC 2104); any key length, including empty."""
        ...

    async def hkdf_sha256(self, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
        """HKDF-SHA-256 (RFC 5869) output of `length` bytes, 1..8160; empty salt allowed."""
        ...

    async def aes_gcm_encrypt(
        self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b""
    ) -> bytes:
        """AES-GCM with a 16 or 32-byte key and a 12 or 16-byte IV: ciphertext + 16-byte tag."""
        ...

    async def aes_gcm_decrypt(
        self, key: bytes, iv: bytes, ciphertext: bytes, aad: bytes = b""
    ) -> bytes:
        """Inverse of `aes_gcm_encrypt` (tag appended); `CryptoError` if the tag fails."""
        ...

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        """AES-CBC with PKCS#7 padding (OMEMO 2 uses 32-byte keys); 16-byte IV."""
        ...

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        """Inverse of `aes_cbc_encrypt`; `CryptoError` for bad length or padding."""
        ...

    async def x25519_generate(self) -> X25519KeyPair:
        """A fresh X25519 key pair (browser: private key non-extractable)."""
        ...

    async def x25519_import(self, private: bytes) -> X25519KeyPair:
        """The X25519 key pair of a 32-byte private scalar (clamped by X25519 itself)."""
        ...

    async def x25519(self, own: X25519KeyPair, peer_public: bytes) -> bytes:
        """X25519(own, peer) (RFC 7748); `CryptoError` if the result is all zero."""
        ...

    async def ed25519_import(self, seed: bytes) -> Ed25519KeyPair:
        """The Ed25519 key pair of a 32-byte RFC 8032 seed."""
        ...

    async def ed25519_sign(self, own: Ed25519KeyPair, message: bytes) -> bytes:
        """A 64-byte RFC 8032 Ed25519 signature."""
        ...

    async def ed25519_verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        """RFC 8032 verification; `False` for any invalid or malformed signature."""
        ...

    async def xeddsa_verify(self, curve_public: bytes, message: bytes, signature: bytes) -> bool:
        """Verify an XEdDSA/libsignal signature by a Curve25519 (Montgomery) public key."""
        ...

    async def identity_generate(self) -> IdentityKeyPair:
        """A fresh OMEMO identity key (see the module docstring)."""
        ...

    async def identity_import(self, seed: bytes) -> IdentityKeyPair:
        """The identity of a 32-byte Ed25519 seed; `CryptoError` if its sign bit is 1."""
        ...
