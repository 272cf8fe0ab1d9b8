"""The legacy OMEMO message layer (`eu.siacs.conversations.axolotl`), sans-I/O.

A message is encrypted once and its key sent to each device:

    payload        AES-128-GCM(key, iv, plaintext) without the tag; a fresh
                   16-byte key and 12-byte IV per message
    key material   key (16) || GCM tag (16), encrypted per device with that
                   device's session (a ratchet or prekey message)

Empty messages (no payload: heartbeats, session starts and repairs, key
transport) carry key material too; python-omemo and Conversations send a
16-byte random key there (`empty_key_material`). Older Conversations sent
16-byte key material and appended the GCM tag to the payload;
`decrypt_payload` reads that too.

Per device: `encrypt_for` and `decrypt_from` never change the session or
device passed in; they return the updated session, which the app stores
(after a successful decryption, also the used prekey id: replace that prekey
and republish the bundle, then answer with an empty message so the peer's
session leaves the prekey stage). Whether the message holds a key for this
device, trust, and comparing `session.remote_identity` with the identity
known for the sender are the app's job.

Errors the app turns into sentences (roost.omemo.errors): `NoSession`,
`BadMac`, `DuplicateMessage`, `UnknownPrekey` (prekey already used: a replay
or a broken session), `UnknownSignedPrekey`, `BadBundle`/`BadBundleSignature`,
`TooManySkipped`, `MalformedMessage`, and `CryptoError` for a payload that
fails to decrypt.
"""

from __future__ import annotations

from roost.omemo import session as sessions
from roost.omemo.crypto import GCM_TAG_SIZE
from roost.omemo.errors import MalformedMessage, NoSession
from roost.omemo.protobuf import parse_prekey_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto
    from roost.omemo.keys import OwnDevice, PublicBundle
    from roost.omemo.session import Session

__all__ = [
    "IV_SIZE",
    "KEY_SIZE",
    "NAMESPACE",
    "decrypt_from",
    "decrypt_payload",
    "empty_key_material",
    "encrypt_for",
    "encrypt_payload",
]

NAMESPACE = "eu.siacs.conversations.axolotl"
KEY_SIZE = 16  # AES-128
IV_SIZE = 12


async def encrypt_payload(crypto: OmemoCrypto, plaintext: bytes) -> tuple[bytes, bytes, bytes]:
    """(key material = key || tag, iv, payload) for a message body; all fresh per call."""
    key = await crypto.random_bytes(KEY_SIZE)
    iv = await crypto.random_bytes(IV_SIZE)
    sealed = await crypto.aes_gcm_encrypt(key, iv, plaintext)
    cut = len(sealed) - GCM_TAG_SIZE
    return key + sealed[cut:], iv, sealed[:cut]


async def decrypt_payload(
    crypto: OmemoCrypto, key_material: bytes, iv: bytes, payload: bytes
) -> bytes:
    """The plaintext of a payload; `CryptoError` if it fails to authenticate.

    Key material is key (16) || tag (16), or (older Conversations) the 16-byte
    key alone with the tag at the end of the payload. More than 32 bytes: the
    first 32 are used, as Conversations does.
    """
    if len(key_material) >= KEY_SIZE + GCM_TAG_SIZE:
        key = key_material[:KEY_SIZE]
        sealed = payload + key_material[KEY_SIZE : KEY_SIZE + GCM_TAG_SIZE]
    elif len(key_material) == KEY_SIZE and len(payload) >= GCM_TAG_SIZE:
        key = key_material
        sealed = payload
    else:
        raise MalformedMessage(f"{len(key_material)} bytes of key material do not fit the payload")
    return await crypto.aes_gcm_decrypt(key, iv, sealed)


async def empty_key_material(crypto: OmemoCrypto) -> bytes:
    """Key material for an empty message (heartbeat, key transport): a random 16-byte key."""
    return await crypto.random_bytes(KEY_SIZE)


async def encrypt_for(
    crypto: OmemoCrypto,
    own: OwnDevice,
    session: Session | None,
    bundle: PublicBundle | None,
    key_material: bytes,
) -> tuple[bytes, bool, Session]:
    """(wire bytes, is a prekey message, updated session) for one device.

    Without a session, one is started from `bundle` (verified first), and its
    messages are prekey messages until the device answers. Raises `NoSession`
    with neither, `BadBundle`/`BadBundleSignature` for a bad bundle.
    """
    if session is None:
        if bundle is None:
            raise NoSession("no session with that device and no bundle to start one")
        working = await sessions.initiate(crypto, own, bundle)
    else:
        working = session.copy()
    wire, is_prekey = await sessions.encrypt(crypto, working, key_material)
    return wire, is_prekey, working


async def decrypt_from(
    crypto: OmemoCrypto,
    own: OwnDevice,
    session: Session | None,
    wire: bytes,
    is_prekey: bool,
) -> tuple[bytes, Session, int | None]:
    """(key material, updated session, used prekey id or None) of one `<key>` for us.

    A prekey message that repeats the start of the current session is
    decrypted in that session (its prekey was used already: no id returned);
    any other prekey message builds a new session that replaces the given one
    (the peer started over: a repair, or a device that lost its state).
    Raises `NoSession` for a normal message without a session, and
    `UnknownPrekey`, `BadMac`, `DuplicateMessage`, `TooManySkipped`,
    `MalformedMessage` as described in the module docstring.
    """
    if not is_prekey:
        if session is None:
            raise NoSession("a message in a session this device doesn't have")
        working = session.copy()
        return await sessions.decrypt(crypto, working, wire), working, None
    message = parse_prekey_message(wire)
    if session is not None and session.starts_this(message):
        working = session.copy()
        return await sessions.decrypt(crypto, working, message.message), working, None
    fresh, key_material = await sessions.accept(crypto, own, message)
    return key_material, fresh, message.prekey_id
