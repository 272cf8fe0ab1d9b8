"""`OmemoCrypto` for CPython tests, on `cryptography` (OpenSSL).

It takes the same route as the browser backend (roost/platform/omemo_crypto.py)
so that CPython tests exercise what the browser does: the identity is an
Ed25519 seed whose X25519 key is SHA-512(seed)[:32], conversions and XEdDSA
use `roost.omemo.curve`. The `xeddsa` package is kept out of here on purpose:
tests use it as the independent implementation to check against.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from roost.omemo.crypto import (
    AES_BLOCK,
    AES_GCM_IV_SIZES,
    AES_KEY_SIZES,
    GCM_TAG_SIZE,
    KEY_SIZE,
    Ed25519KeyPair,
    IdentityKeyPair,
    OmemoCrypto,
    X25519KeyPair,
    is_all_zero,
    require_hkdf_length,
    require_size,
)
from roost.omemo.curve import edwards_to_montgomery, sign_bit, xeddsa_to_ed25519
from roost.omemo.errors import CryptoError


def _x25519_private(own: X25519KeyPair) -> X25519PrivateKey:
    if not isinstance(own.private, X25519PrivateKey):
        raise CryptoError("not an X25519 key of this backend")
    return own.private


def _ed25519_private(own: Ed25519KeyPair) -> Ed25519PrivateKey:
    if not isinstance(own.private, Ed25519PrivateKey):
        raise CryptoError("not an Ed25519 key of this backend")
    return own.private


class CPythonCrypto:
    """The OMEMO primitives over `cryptography`; implements `OmemoCrypto`."""

    async def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    async def sha256(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    async def sha512(self, data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    async def hmac_sha256(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, "sha256").digest()

    async def hkdf_sha256(self, ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
        require_hkdf_length(length)
        return HKDF(hashes.SHA256(), length, salt, info).derive(ikm)

    async def aes_gcm_encrypt(
        self, key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b""
    ) -> bytes:
        require_size(key, AES_KEY_SIZES, "AES key")
        require_size(iv, AES_GCM_IV_SIZES, "AES-GCM IV")
        return AESGCM(key).encrypt(iv, plaintext, aad)

    async def aes_gcm_decrypt(
        self, key: bytes, iv: bytes, ciphertext: bytes, aad: bytes = b""
    ) -> bytes:
        require_size(key, AES_KEY_SIZES, "AES key")
        require_size(iv, AES_GCM_IV_SIZES, "AES-GCM IV")
        if len(ciphertext) < GCM_TAG_SIZE:
            raise CryptoError("AES-GCM ciphertext shorter than its tag")
        try:
            return AESGCM(key).decrypt(iv, ciphertext, aad)
        except InvalidTag:
            raise CryptoError("AES-GCM authentication failed") from None

    async def aes_cbc_encrypt(self, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
        require_size(key, AES_KEY_SIZES, "AES key")
        require_size(iv, (AES_BLOCK,), "AES-CBC IV")
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return enc.update(padded) + enc.finalize()

    async def aes_cbc_decrypt(self, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
        require_size(key, AES_KEY_SIZES, "AES key")
        require_size(iv, (AES_BLOCK,), "AES-CBC IV")
        if not ciphertext or len(ciphertext) % AES_BLOCK:
            raise CryptoError("AES-CBC ciphertext is not a whole number of blocks")
        dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = dec.update(ciphertext) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise CryptoError("AES-CBC padding is invalid") from None

    async def x25519_generate(self) -> X25519KeyPair:
        private = X25519PrivateKey.generate()
        return X25519KeyPair(private, private.public_key().public_bytes_raw())

    async def x25519_import(self, private: bytes) -> X25519KeyPair:
        require_size(private, (KEY_SIZE,), "X25519 private key")
        key = X25519PrivateKey.from_private_bytes(private)
        return X25519KeyPair(key, key.public_key().public_bytes_raw())

    async def x25519(self, own: X25519KeyPair, peer_public: bytes) -> bytes:
        require_size(peer_public, (KEY_SIZE,), "X25519 public key")
        try:
            shared = _x25519_private(own).exchange(X25519PublicKey.from_public_bytes(peer_public))
        except ValueError:  # OpenSSL refuses an all-zero result
            raise CryptoError("X25519 with a low-order public key") from None
        if is_all_zero(shared):
            raise CryptoError("X25519 with a low-order public key")
        return shared

    async def ed25519_import(self, seed: bytes) -> Ed25519KeyPair:
        require_size(seed, (KEY_SIZE,), "Ed25519 seed")
        key = Ed25519PrivateKey.from_private_bytes(seed)
        return Ed25519KeyPair(key, key.public_key().public_bytes_raw())

    async def ed25519_sign(self, own: Ed25519KeyPair, message: bytes) -> bytes:
        return _ed25519_private(own).sign(message)

    async def ed25519_verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        require_size(public, (KEY_SIZE,), "Ed25519 public key")
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    async def xeddsa_verify(self, curve_public: bytes, message: bytes, signature: bytes) -> bool:
        require_size(curve_public, (KEY_SIZE,), "Curve25519 public key")
        if len(signature) != 64:
            return False
        try:
            ed_public, ed_signature = xeddsa_to_ed25519(curve_public, signature)
        except CryptoError:  # u = -1: no such signer
            return False
        return await self.ed25519_verify(ed_public, message, ed_signature)

    async def identity_generate(self) -> IdentityKeyPair:
        while True:  # half of all seeds give sign bit 0
            seed = os.urandom(KEY_SIZE)
            if sign_bit(await self._ed25519_public(seed)) == 0:
                return await self.identity_import(seed)

    async def identity_import(self, seed: bytes) -> IdentityKeyPair:
        ed = await self.ed25519_import(seed)
        if sign_bit(ed.public) != 0:
            raise CryptoError("an OMEMO identity needs an Ed25519 key with sign bit 0")
        x = await self.x25519_import(hashlib.sha512(seed).digest()[:KEY_SIZE])
        if x.public != edwards_to_montgomery(ed.public):  # the route's premise, checked
            raise CryptoError("X25519 key does not match the Ed25519 identity")
        return IdentityKeyPair(ed, x)

    async def _ed25519_public(self, seed: bytes) -> bytes:
        return (await self.ed25519_import(seed)).public


def _implements_the_protocol(backend: CPythonCrypto) -> OmemoCrypto:
    return backend  # mypy checks CPythonCrypto against OmemoCrypto here
