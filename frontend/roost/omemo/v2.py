"""The OMEMO 2 message layer (`urn:xmpp:omemo:2`, XEP-0384 0.8+), sans-I/O.

A message's content is an SCE envelope (XEP-0420), which the app builds and
parses (roost.xmpp.xeps.xep_0384); here it is just bytes. It is encrypted
once and its key sent to each device, as python-omemo's twomemo does:

    key            32 random bytes, fresh per message
    enc || auth || iv  = HKDF-SHA-256(key, salt 32 zero bytes, info "OMEMO Payload", 80)
                   (32 + 32 + 16 bytes)
    payload        AES-256-CBC(enc, iv, envelope) with PKCS#7 padding
    tag            HMAC-SHA-256(auth, payload)[:16]
    key material   key || tag (48 bytes), encrypted per device with that device's
                   session (an OMEMOAuthenticatedMessage, or an OMEMOKeyExchange
                   around one: `kex='true'`)

Empty OMEMO messages (no `<payload>`: heartbeats, session starts and repairs)
carry 32 zero bytes as key material (`empty_key_material`), as twomemo does.

Per device: `encrypt_for` and `decrypt_from` never change the session or
device passed in; they return the updated session, which the app stores
(after a successful decryption, also the used prekey id: replace that prekey
with `roost.omemo.keys.replace_prekey`, republish both bundles, then answer
with an empty message so the peer's session stops sending key exchanges).
Whether the message holds a key for this device, trust, and comparing
`session.remote_identity` (Ed25519) with the identity known for the sender
are the app's job.

Errors are legacy's (roost.omemo.errors): `NoSession`, `BadMac`,
`DuplicateMessage`, `UnknownPrekey`, `UnknownSignedPrekey`,
`BadBundle`/`BadBundleSignature`, `TooManySkipped`, `MalformedMessage`, and
`CryptoError` for a payload whose tag or padding fails.
"""

from __future__ import annotations

from roost.omemo import v2_session as sessions
from roost.omemo.errors import CryptoError, MalformedMessage, NoSession
from roost.omemo.ratchet import _same
from roost.omemo.v2_keys import PublicBundleV2, public_bundle_v2, verify_bundle_v2
from roost.omemo.v2_protobuf import parse_key_exchange
from roost.omemo.v2_session import NAMESPACE, SessionV2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto
    from roost.omemo.keys import OwnDevice

__all__ = [
    "KEY_MATERIAL_SIZE",
    "KEY_SIZE",
    "NAMESPACE",
    "TAG_SIZE",
    "PublicBundleV2",
    "SessionV2",
    "decrypt_from",
    "decrypt_payload",
    "empty_key_material",
    "encrypt_for",
    "encrypt_payload",
    "public_bundle_v2",
    "verify_bundle_v2",
]

KEY_SIZE = 32
TAG_SIZE = 16
KEY_MATERIAL_SIZE = KEY_SIZE + TAG_SIZE
PAYLOAD_INFO = b"OMEMO Payload"
_ZERO_SALT = bytes(32)


async def _payload_keys(crypto: OmemoCrypto, key: bytes) -> tuple[bytes, bytes, bytes]:
    out = await crypto.hkdf_sha256(key, _ZERO_SALT, PAYLOAD_INFO, 80)
    return out[:32], out[32:64], out[64:]


async def encrypt_payload(crypto: OmemoCrypto, plaintext: bytes) -> tuple[bytes, bytes]:
    """(key material = key || tag, payload) for SCE envelope bytes; fresh key per call."""
    key = await crypto.random_bytes(KEY_SIZE)
    enc_key, auth_key, iv = await _payload_keys(crypto, key)
    payload = await crypto.aes_cbc_encrypt(enc_key, iv, plaintext)
    tag = await crypto.hmac_sha256(auth_key, payload)
    return key + tag[:TAG_SIZE], payload


async def decrypt_payload(crypto: OmemoCrypto, key_material: bytes, payload: bytes) -> bytes:
    """The envelope bytes of a payload; `CryptoError` if its tag or padding fails.

    `MalformedMessage` if the key material is not key (32) || tag (16), e.g.
    the 32 zero bytes of an empty message.
    """
    if len(key_material) != KEY_MATERIAL_SIZE:
        raise MalformedMessage(
            f"{len(key_material)} bytes of key material, not {KEY_MATERIAL_SIZE} (key || tag)"
        )
    enc_key, auth_key, iv = await _payload_keys(crypto, key_material[:KEY_SIZE])
    tag = await crypto.hmac_sha256(auth_key, payload)
    if not _same(tag[:TAG_SIZE], key_material[KEY_SIZE:]):
        raise CryptoError("payload authentication tag does not match")
    return await crypto.aes_cbc_decrypt(enc_key, iv, payload)


def empty_key_material() -> bytes:
    """Key material for an empty message (no payload): 32 zero bytes, as twomemo sends."""
    return bytes(KEY_SIZE)


async def encrypt_for(
    crypto: OmemoCrypto,
    own: OwnDevice,
    session: SessionV2 | None,
    bundle: PublicBundleV2 | None,
    key_material: bytes,
) -> tuple[bytes, bool, SessionV2]:
    """(wire bytes, is a key exchange (`kex='true'`), updated session) for one device.

    Without a session, one is started from `bundle` (verified first), and its
    messages are key exchanges until the device answers. Raises `NoSession`
    with neither, `BadBundle`/`BadBundleSignature` for a bad bundle.
    """
    if session is None:
        if bundle is None:
            raise NoSession("no session with that device and no bundle to start one")
        working = await sessions.initiate(crypto, own, bundle)
    else:
        working = session.copy()
    wire, kex = await sessions.encrypt(crypto, working, key_material)
    return wire, kex, working


async def decrypt_from(
    crypto: OmemoCrypto,
    own: OwnDevice,
    session: SessionV2 | None,
    wire: bytes,
    kex: bool,
) -> tuple[bytes, SessionV2, int | None]:
    """(key material, updated session, used prekey id or None) of one `<key>` for us.

    A key exchange that repeats the start of the current session is decrypted
    in that session (its prekey was used already: no id returned); any other
    key exchange builds a new session that replaces the given one (the peer
    started over: a repair, or a device that lost its state). Raises
    `NoSession` for a normal message without a session, and `UnknownPrekey`,
    `BadMac`, `DuplicateMessage`, `TooManySkipped`, `MalformedMessage`.
    """
    if not kex:
        if session is None:
            raise NoSession("a message in a session this device doesn't have")
        working = session.copy()
        return await sessions.decrypt(crypto, working, wire), working, None
    exchange = parse_key_exchange(wire)
    if session is not None and session.starts_this(exchange):
        working = session.copy()
        return await sessions.decrypt(crypto, working, exchange.message), working, None
    fresh, key_material = await sessions.accept(crypto, own, exchange)
    return key_material, fresh, exchange.pk_id
