"""`OmemoCrypto` on WebCrypto (`window.crypto.subtle`), for `browser.aio` coroutines.

Every primitive is the browser's own (Chromium 156 has X25519, Ed25519,
AES-GCM/CBC, HKDF, HMAC, SHA-512); the only arithmetic is the Montgomery ⟷
Edwards map of `roost.omemo.curve`. Private keys are `CryptoKey`s imported
non-extractable; IndexedDB keeps them by structured clone, so they never
need to be exported. Two moments see raw secret bytes, and zero the JS copies
after use: identity generation (the Ed25519 seed must be read once from an
extractable key to derive the X25519 key) and the `*_import` methods.

Brython awaits WebCrypto's Promises directly inside `async def`; a rejected
Promise raises there and becomes `CryptoError`.
"""

from __future__ import annotations

import javascript  # type: ignore[import-not-found]
from browser import window  # type: ignore[import-not-found]

from roost.omemo.crypto import (
    AES_BLOCK,
    AES_GCM_IV_SIZES,
    AES_KEY_SIZES,
    GCM_TAG_SIZE,
    KEY_SIZE,
    Ed25519KeyPair,
    IdentityKeyPair,
    X25519KeyPair,
    is_all_zero,
    require_hkdf_length,
    require_size,
)
from roost.omemo.curve import edwards_to_montgomery, sign_bit, xeddsa_to_ed25519
from roost.omemo.errors import CryptoError
from roost.platform.webcrypto import random_bytes

TYPE_CHECKING = False

# PKCS#8 (RFC 8410) of a 32-byte Ed25519 seed / X25519 scalar: this prefix + the key.
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
X25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b656e04220420")
_BASE_POINT = bytes([9]) + bytes(31)  # X25519(k, 9) is k's public key
_ED25519 = "Ed25519"
_X25519 = "X25519"
# Expected tries are 2 (half of all keys have sign bit 0); 64 failures is a broken RNG.
_MAX_IDENTITY_TRIES = 64


def _js(value: object) -> object:
    return javascript.pyobj2jsobj(value)


def _u8(data: bytes) -> object:
    return window.Uint8Array.new(list(data))


def _bytes(buffer: object) -> bytes:
    return bytes(window.Uint8Array.new(buffer))


def _wipe(*arrays: object) -> None:
    for array in arrays:
        array.fill(0)  # type: ignore[attr-defined]


def _b64url(text: str) -> bytes:
    # JS atob, not `base64`: Brython 3.15's urlsafe_b64decode returns 33 bytes
    # for a 32-byte value, even for its own urlsafe_b64encode output.
    binary = window.atob(text.replace("-", "+").replace("_", "/"))
    return bytes([ord(ch) for ch in binary])


async def _subtle(what: str, method: str, *args: object) -> object:
    """`await crypto.subtle[method](*args)`, any failure turned into `CryptoError`."""
    try:
        return await getattr(window.crypto.subtle, method)(*args)
    except Exception as exc:  # a rejected Promise (DOMException) or a TypeError
        raise CryptoError(what + " failed: " + str(exc)) from None


class WebCrypto:
    """The OMEMO primitives on WebCrypto; implements `roost.omemo.crypto.OmemoCrypto`."""

    __slots__ = ("_base_point",)

    def __init__(self) -> None:
        self._base_point: object = None  # the X25519 CryptoKey of u = 9, made on first use

    async def random_bytes(self, n: int) -> bytes:
        return random_bytes(n)

    async def sha256(self, data: bytes) -> bytes:
        return _bytes(await _subtle("SHA-256", "digest", "SHA-256", _u8(data)))

    async def sha512(self, data: bytes) -> bytes:
        return _bytes(await _subtle("SHA-512", "digest", "SHA-512", _u8(data)))

    async def hmac_sha256(self, key: bytes, data: bytes) -> bytes:
        # WebCrypto refuses empty HMAC keys; HMAC pads keys to the 64-byte block
        # with zeros, so 64 zero bytes is the same key.
        raw = key or bytes(64)
        algorithm = _js({"name": "HMAC", "hash": "SHA-256"})
        handle = await _subtle(
            "HMAC", "importKey", "raw", _u8(raw), algorithm, False, _js(["sign"])
        )
        return _bytes(await _subtle("HMAC", "sign", "HMAC", handle, _u8(data)))

    async def hkdf_sha256(self, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
        require_hkdf_length(length)
        handle = await _subtle(
            "HKDF", "importKey", "raw", _u8(ikm), "HKDF", False, _js(["deriveBits"])
        )
        params = _js({"name": "HKDF", "hash": "SHA-256", "salt": _u8(salt), "info": _u8(info)})
        return _bytes(await _subtle("HKDF", "deriveBits", params, handle, length * 8))

    async def _aes(self, name: str, key: bytes, usage: str) -> object:
        require_size(key, AES_KEY_SIZES, "AES key")
        return await _subtle(name, "importKey", "raw", _u8(key), name, False, _js([usage]))

    async def aes_gcm_encrypt(
        self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b""
    ) -> bytes:
        require_size(iv, AES_GCM_IV_SIZES, "AES-GCM IV")
        handle = await self._aes("AES-GCM", key, "encrypt")
        params = _js(
            {"name": "AES-GCM", "iv": _u8(iv), "additionalData": _u8(aad), "tagLength": 128}
        )
        return _bytes(await _subtle("AES-GCM", "encrypt", params, handle, _u8(plaintext)))

    async def aes_gcm_decrypt(
        self, key: bytes, iv: bytes, ciphertext: bytes, aad: bytes = b""
    ) -> bytes:
        require_size(iv, AES_GCM_IV_SIZES, "AES-GCM IV")
        if len(ciphertext) < GCM_TAG_SIZE:
            raise CryptoError("AES-GCM ciphertext shorter than its tag")
        handle = await self._aes("AES-GCM", key, "decrypt")
        params = _js(
            {"name": "AES-GCM", "iv": _u8(iv), "additionalData": _u8(aad), "tagLength": 128}
        )
        try:
            return _bytes(await window.crypto.subtle.decrypt(params, handle, _u8(ciphertext)))
        except Exception:
            raise CryptoError("AES-GCM authentication failed") from None

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        require_size(iv, (AES_BLOCK,), "AES-CBC IV")
        handle = await self._aes("AES-CBC", key, "encrypt")
        params = _js({"name": "AES-CBC", "iv": _u8(iv)})  # WebCrypto pads with PKCS#7
        return _bytes(await _subtle("AES-CBC", "encrypt", params, handle, _u8(plaintext)))

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        require_size(iv, (AES_BLOCK,), "AES-CBC IV")
        if not ciphertext or len(ciphertext) % AES_BLOCK:
            raise CryptoError("AES-CBC ciphertext is not a whole number of blocks")
        handle = await self._aes("AES-CBC", key, "decrypt")
        params = _js({"name": "AES-CBC", "iv": _u8(iv)})
        try:
            return _bytes(await window.crypto.subtle.decrypt(params, handle, _u8(ciphertext)))
        except Exception:
            raise CryptoError("AES-CBC padding is invalid") from None

    # -- X25519 ------------------------------------------------------------------

    async def _public_key(self, name: str, raw: bytes) -> object:
        require_size(raw, (KEY_SIZE,), name + " public key")
        usages = _js(["verify"] if name == _ED25519 else [])  # X25519 public keys have none
        return await _subtle(name, "importKey", "raw", _u8(raw), _js({"name": name}), True, usages)

    async def _derive(self, private: object, public: object) -> bytes:
        params = _js({"name": _X25519, "public": public})
        # Chromium refuses an all-zero result itself (WebCrypto spec); checked again anyway.
        shared = _bytes(await _subtle("X25519", "deriveBits", params, private, 256))
        if is_all_zero(shared):
            raise CryptoError("X25519 with a low-order public key")
        return shared

    async def x25519_generate(self) -> X25519KeyPair:
        pair = await _subtle(
            "X25519", "generateKey", _js({"name": _X25519}), False, _js(["deriveBits"])
        )
        public = _bytes(await _subtle("X25519", "exportKey", "raw", pair.publicKey))  # type: ignore[attr-defined]
        return X25519KeyPair(pair.privateKey, public)  # type: ignore[attr-defined]

    async def x25519_import(self, private: bytes) -> X25519KeyPair:
        require_size(private, (KEY_SIZE,), "X25519 private key")
        der = _u8(X25519_PKCS8_PREFIX + private)
        try:
            handle = await _subtle(
                "X25519",
                "importKey",
                "pkcs8",
                der,
                _js({"name": _X25519}),
                False,
                _js(["deriveBits"]),
            )
        finally:
            _wipe(der)
        if self._base_point is None:
            self._base_point = await self._public_key(_X25519, _BASE_POINT)
        return X25519KeyPair(handle, await self._derive(handle, self._base_point))

    async def x25519(self, own: X25519KeyPair, peer_public: bytes) -> bytes:
        return await self._derive(own.private, await self._public_key(_X25519, peer_public))

    # -- Ed25519 -----------------------------------------------------------------

    async def ed25519_import(self, seed: bytes) -> Ed25519KeyPair:
        require_size(seed, (KEY_SIZE,), "Ed25519 seed")
        der = _u8(ED25519_PKCS8_PREFIX + seed)
        algorithm = _js({"name": _ED25519})
        # The public key is only readable from an extractable private key (its
        # JWK "x"); that one is dropped at once and a non-extractable one kept.
        usages = _js(["sign"])
        try:
            probe = await _subtle("Ed25519", "importKey", "pkcs8", der, algorithm, True, usages)
            jwk = await _subtle("Ed25519", "exportKey", "jwk", probe)
            handle = await _subtle("Ed25519", "importKey", "pkcs8", der, algorithm, False, usages)
        finally:
            _wipe(der)
        return Ed25519KeyPair(handle, _b64url(str(jwk.x)))  # type: ignore[attr-defined]

    async def ed25519_sign(self, own: Ed25519KeyPair, message: bytes) -> bytes:
        return _bytes(await _subtle("Ed25519", "sign", _ED25519, own.private, _u8(message)))

    async def ed25519_verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        require_size(public, (KEY_SIZE,), "Ed25519 public key")
        if len(signature) != 64:
            return False
        try:
            handle = await self._public_key(_ED25519, public)
            ok = await window.crypto.subtle.verify(_ED25519, handle, _u8(signature), _u8(message))
        except Exception:  # a public key WebCrypto can't decode verifies nothing
            return False
        return ok is True

    async def xeddsa_verify(self, curve_public: bytes, message: bytes, signature: bytes) -> bool:
        require_size(curve_public, (KEY_SIZE,), "Curve25519 public key")
        if len(signature) != 64:
            return False
        try:
            ed_public, ed_signature = xeddsa_to_ed25519(curve_public, signature)
        except CryptoError:  # u = -1: no such signer
            return False
        return await self.ed25519_verify(ed_public, message, ed_signature)

    # -- the OMEMO identity -------------------------------------------------------

    async def identity_generate(self) -> IdentityKeyPair:
        algorithm = _js({"name": _ED25519})
        for _ in range(_MAX_IDENTITY_TRIES):
            pair = await _subtle("Ed25519", "generateKey", algorithm, True, _js(["sign", "verify"]))
            public = _bytes(await _subtle("Ed25519", "exportKey", "raw", pair.publicKey))  # type: ignore[attr-defined]
            if sign_bit(public):
                continue
            buffer = await _subtle("Ed25519", "exportKey", "pkcs8", pair.privateKey)  # type: ignore[attr-defined]
            view = window.Uint8Array.new(buffer)
            der = bytes(view)
            _wipe(view)
            if len(der) != len(ED25519_PKCS8_PREFIX) + KEY_SIZE or not der.startswith(
                ED25519_PKCS8_PREFIX
            ):
                raise CryptoError("unexpected Ed25519 PKCS#8 layout from WebCrypto")
            seed = der[len(ED25519_PKCS8_PREFIX) :]
            return await self._identity(await self.ed25519_import(seed), seed, public)
        raise CryptoError("no Ed25519 key with sign bit 0 was generated")

    async def identity_import(self, seed: bytes) -> IdentityKeyPair:
        ed = await self.ed25519_import(seed)
        if sign_bit(ed.public) != 0:
            raise CryptoError("an OMEMO identity needs an Ed25519 key with sign bit 0")
        return await self._identity(ed, seed, ed.public)

    async def _identity(self, ed: Ed25519KeyPair, seed: bytes, public: bytes) -> IdentityKeyPair:
        if ed.public != public:
            raise CryptoError("Ed25519 key changed on re-import")
        data = _u8(seed)
        try:
            digest = window.Uint8Array.new(await _subtle("SHA-512", "digest", "SHA-512", data))
        finally:
            _wipe(data)
        scalar = bytes(digest)[:KEY_SIZE]  # X25519 clamps it as Ed25519 clamps its scalar
        _wipe(digest)
        x = await self.x25519_import(scalar)
        if x.public != edwards_to_montgomery(public):  # the route's premise, checked
            raise CryptoError("X25519 key does not match the Ed25519 identity")
        return IdentityKeyPair(ed, x)


if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto

    def _implements_the_protocol(backend: WebCrypto) -> OmemoCrypto:
        return backend  # mypy checks WebCrypto against OmemoCrypto here
