"""An OMEMO 2 session with one peer device: X3DH and the Double Ratchet of `urn:xmpp:omemo:2`.

The algorithms are legacy OMEMO's (roost.omemo.x3dh, roost.omemo.ratchet,
whose state class, chain KDF and skipped-key bookkeeping this module reuses);
what differs, as XEP-0384 and python-omemo's twomemo define it:

    X3DH           DH1..DH4 as legacy, the peer's Ed25519 identity key converted
                   to its Montgomery form for X25519;
                   root key = HKDF-SHA-256(0xFF * 32 || DH1..DH4, salt 32 zero bytes,
                                           info "OMEMO X3DH", 32 bytes)
    root step      HKDF-SHA-256(DH output, salt = root key, info "OMEMO Root Chain", 64)
    chain step     as legacy: message key = HMAC(ck, 0x01), ck' = HMAC(ck, 0x02)
    message keys   HKDF-SHA-256(message key, 32 zero bytes, "OMEMO Message Key Material", 80)
                   = AES-256-CBC key || HMAC key || IV
    associated     initiator's Ed25519 identity || responder's (32 bytes each),
    data           the same whoever sends (legacy: sender's first)
    message        OMEMOAuthenticatedMessage{mac, message = OMEMOMessage{n, pn, dh_pub,
                   ciphertext}}, mac = HMAC-SHA-256(HMAC key, AD || message)[:16]
    pn             XEP-0384 and python-omemo write the previous sending chain's
                   length; libomemo-c (Dino, Kaidan/QXmpp, Psi: libsignal's C code)
                   writes its last index, length - 1, in OMEMO 2 as in legacy. Roost
                   writes the length and, like its legacy reader, keeps keys up to
                   pn inclusive, so a late last message decrypts with either (one
                   spare key with python-omemo, dropped when its chain ages out).

The initiator wraps its messages in an OMEMOKeyExchange until it decrypts a
message from the peer; the responder builds its session from the first key
exchange it decrypts and reads later copies of it (same ik, ek, pk_id,
spk_id: `starts_this`) in that session. Skipped-key bounds are legacy's
(`roost.omemo.ratchet.MAX_SKIP` and friends).

`encrypt` and `decrypt` change the session in place; roost.omemo.v2 works
on copies so that failures leave the caller's session untouched.
"""

from __future__ import annotations

from roost.omemo.curve import edwards_to_montgomery
from roost.omemo.errors import (
    BadMac,
    BadRecord,
    CryptoError,
    DuplicateMessage,
    MalformedMessage,
    TooManySkipped,
    UnknownPrekey,
    UnknownSignedPrekey,
)
from roost.omemo.ratchet import (
    MAX_SKIP,
    RatchetState,
    _find_skipped,
    _retire,
    _same,
    _skip,
    kdf_chain,
    kdf_root,
)
from roost.omemo.ratchet import _step as _ratchet_step
from roost.omemo.v2_keys import verify_bundle_v2
from roost.omemo.v2_protobuf import (
    MAC_SIZE,
    AuthenticatedMessage,
    KeyExchange,
    OmemoMessage,
    parse_authenticated_message,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto, X25519KeyPair
    from roost.omemo.keys import OwnDevice
    from roost.omemo.v2_keys import PublicBundleV2

__all__ = [
    "MESSAGE_KEY_INFO",
    "NAMESPACE",
    "ROOT_INFO",
    "X3DH_INFO",
    "SessionV2",
    "accept",
    "decrypt",
    "encrypt",
    "initiate",
]

NAMESPACE = "urn:xmpp:omemo:2"
X3DH_INFO = b"OMEMO X3DH"
ROOT_INFO = b"OMEMO Root Chain"
MESSAGE_KEY_INFO = b"OMEMO Message Key Material"
_PADDING = b"\xff" * 32  # X3DH's curve25519 discontinuity bytes, as in legacy
_ZERO_SALT = bytes(32)
RECORD_VERSION = 1


# -- X3DH ----------------------------------------------------------------------------


async def _x3dh_root(crypto: OmemoCrypto, dhs: bytes) -> bytes:
    return await crypto.hkdf_sha256(_PADDING + dhs, _ZERO_SALT, X3DH_INFO, 32)


def _identity_curve(ed_public: bytes) -> bytes:
    try:
        return edwards_to_montgomery(ed_public)
    except CryptoError as exc:
        raise MalformedMessage(f"key exchange identity key is malformed: {exc}") from None


# -- the Double Ratchet, OMEMO 2 flavour -----------------------------------------------


async def _kdf_root(crypto: OmemoCrypto, root_key: bytes, shared: bytes) -> tuple[bytes, bytes]:
    return await kdf_root(crypto, root_key, shared, ROOT_INFO)


async def _message_keys(crypto: OmemoCrypto, key: bytes) -> tuple[bytes, bytes, bytes]:
    out = await crypto.hkdf_sha256(key, _ZERO_SALT, MESSAGE_KEY_INFO, 80)
    return out[:32], out[32:64], out[64:]


async def _step(crypto: OmemoCrypto, state: RatchetState, their_key: bytes) -> None:
    """The DH ratchet step (legacy's, with OMEMO 2's root KDF info)."""
    await _ratchet_step(crypto, state, their_key, ROOT_INFO)


async def ratchet_encrypt(
    crypto: OmemoCrypto, state: RatchetState, plaintext: bytes, associated_data: bytes
) -> bytes:
    """An OMEMOAuthenticatedMessage carrying `plaintext`; advances `state`."""
    key, next_chain = await kdf_chain(crypto, state.sending_chain_key)
    cipher_key, mac_key, iv = await _message_keys(crypto, key)
    ciphertext = await crypto.aes_cbc_encrypt(cipher_key, iv, plaintext)
    message = OmemoMessage(
        state.sending_counter, state.previous_counter, state.sending_key.public, ciphertext
    ).serialize()
    mac = await crypto.hmac_sha256(mac_key, associated_data + message)
    state.sending_chain_key = next_chain
    state.sending_counter += 1
    return AuthenticatedMessage(mac[:MAC_SIZE], message).serialize()


async def ratchet_decrypt(
    crypto: OmemoCrypto, state: RatchetState, data: bytes, associated_data: bytes
) -> bytes:
    """The plaintext of an OMEMOAuthenticatedMessage; advances `state` (also when it raises).

    Raises `MalformedMessage`, `BadMac`, `DuplicateMessage`, `TooManySkipped`,
    or `CryptoError` (a low-order ratchet key).
    """
    message, message_bytes, mac = parse_authenticated_message(data)
    ratchet_key = message.dh_pub
    counter = message.n
    found = _find_skipped(state, ratchet_key, counter)
    if found >= 0:
        key = state.skipped[found][2]
        del state.skipped[found]
        assert isinstance(key, bytes)
        return await _open(crypto, key, message, message_bytes, mac, associated_data)
    if ratchet_key == state.receiving_key:
        if counter < state.receiving_counter:
            raise DuplicateMessage(f"message {counter} of this chain was decrypted already")
    elif ratchet_key in state.old_receiving_keys:
        raise DuplicateMessage("message of an earlier chain, decrypted already or too old")
    else:
        if state.receiving_key is not None:
            until = message.pn + 1  # length or last index: see the module docstring
            # beyond MAX_SKIP the previous chain's keys are given up (as
            # python-omemo does) rather than wedging the session
            if until - state.receiving_counter <= MAX_SKIP:
                await _skip(crypto, state, until)
            _retire(state, state.receiving_key)
        await _step(crypto, state, ratchet_key)
    if counter - state.receiving_counter > MAX_SKIP:
        raise TooManySkipped(
            f"message {counter} would skip {counter - state.receiving_counter} keys"
        )
    await _skip(crypto, state, counter)
    chain = state.receiving_chain_key
    assert chain is not None  # _step made one
    key, state.receiving_chain_key = await kdf_chain(crypto, chain)
    state.receiving_counter = counter + 1
    return await _open(crypto, key, message, message_bytes, mac, associated_data)


async def _open(
    crypto: OmemoCrypto,
    key: bytes,
    message: OmemoMessage,
    message_bytes: bytes,
    mac: bytes,
    associated_data: bytes,
) -> bytes:
    cipher_key, mac_key, iv = await _message_keys(crypto, key)
    expected = await crypto.hmac_sha256(mac_key, associated_data + message_bytes)
    if not _same(expected[:MAC_SIZE], mac):
        raise BadMac("message MAC does not match")
    try:
        return await crypto.aes_cbc_decrypt(cipher_key, iv, message.ciphertext)
    except CryptoError as exc:  # authentic but broken: the sender's bug
        raise MalformedMessage(f"ciphertext does not decrypt: {exc}") from None


# -- sessions ---------------------------------------------------------------------------


class SessionV2:
    """The state of an OMEMO 2 session with one device of a peer.

    - `own_identity`, `remote_identity`: 32-byte Ed25519 identity keys. The app
      checks `remote_identity` against the identity it knows (and trusts) for
      that device: a key exchange may carry any identity.
    - `initiator`: True if this side started the session from a bundle.
    - `base_key`: the X3DH ephemeral key `ek` (ours if initiator, else the peer's).
    - `prekey_id`, `signed_prekey_id`: the responder's prekeys the initiator used.
    - `confirmed`: the initiator has decrypted a message from the peer, so it
      stops wrapping messages in key exchanges (always True for a responder).
    """

    __slots__ = (
        "base_key",
        "confirmed",
        "initiator",
        "own_identity",
        "prekey_id",
        "ratchet",
        "remote_identity",
        "signed_prekey_id",
    )

    def __init__(
        self,
        own_identity: bytes,
        remote_identity: bytes,
        ratchet_state: RatchetState,
        initiator: bool,
        base_key: bytes,
        prekey_id: int,
        signed_prekey_id: int,
        confirmed: bool,
    ) -> None:
        self.own_identity = own_identity
        self.remote_identity = remote_identity
        self.ratchet = ratchet_state
        self.initiator = initiator
        self.base_key = base_key
        self.prekey_id = prekey_id
        self.signed_prekey_id = signed_prekey_id
        self.confirmed = confirmed

    @property
    def sends_key_exchanges(self) -> bool:
        """Whether outgoing messages are wrapped in key exchanges (peer not heard yet)."""
        return self.initiator and not self.confirmed

    @property
    def receiving_count(self) -> int:
        """Messages received on the current receiving chain (to decide on heartbeats)."""
        return self.ratchet.receiving_counter

    @property
    def associated_data(self) -> bytes:
        """Initiator's identity || responder's: what every message MAC covers first."""
        if self.initiator:
            return self.own_identity + self.remote_identity
        return self.remote_identity + self.own_identity

    def starts_this(self, kex: KeyExchange) -> bool:
        """Whether `kex` is (a copy of) the key exchange that started this session."""
        return (
            not self.initiator
            and self.base_key == kex.ek
            and self.remote_identity == kex.ik
            and self.prekey_id == kex.pk_id
            and self.signed_prekey_id == kex.spk_id
        )

    def copy(self) -> SessionV2:
        """An independent copy."""
        return SessionV2(
            self.own_identity,
            self.remote_identity,
            self.ratchet.copy(),
            self.initiator,
            self.base_key,
            self.prekey_id,
            self.signed_prekey_id,
            self.confirmed,
        )

    def to_record(self) -> dict[str, object]:
        """Plain data plus the opaque private handle of the ratchet key, for storage.

        `namespace` tells it from a legacy session record (which lacks it).
        """
        return {
            "namespace": NAMESPACE,
            "version": RECORD_VERSION,
            "own_identity": self.own_identity,
            "remote_identity": self.remote_identity,
            "initiator": self.initiator,
            "base_key": self.base_key,
            "prekey_id": self.prekey_id,
            "signed_prekey_id": self.signed_prekey_id,
            "confirmed": self.confirmed,
            "ratchet": self.ratchet.to_record(),
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> SessionV2:
        """The session `to_record` stored; `BadRecord` if it is misshapen or not OMEMO 2."""
        if not isinstance(record, dict):
            raise BadRecord("session record is not a dict")
        if _value(record, "namespace") != NAMESPACE:
            raise BadRecord("not an OMEMO 2 session record")
        if _value(record, "version") != RECORD_VERSION:
            raise BadRecord("unknown session record version")
        own_identity = _value(record, "own_identity")
        remote_identity = _value(record, "remote_identity")
        base_key = _value(record, "base_key")
        initiator = _value(record, "initiator")
        confirmed = _value(record, "confirmed")
        prekey_id = _value(record, "prekey_id")
        signed_prekey_id = _value(record, "signed_prekey_id")
        if not (
            isinstance(own_identity, bytes)
            and len(own_identity) == 32
            and isinstance(remote_identity, bytes)
            and len(remote_identity) == 32
            and isinstance(base_key, bytes)
            and len(base_key) == 32
            and isinstance(initiator, bool)
            and isinstance(confirmed, bool)
            and _is_uint(prekey_id)
            and _is_uint(signed_prekey_id)
        ):
            raise BadRecord("session record is malformed")
        assert isinstance(prekey_id, int) and isinstance(signed_prekey_id, int)
        return cls(
            own_identity,
            remote_identity,
            RatchetState.from_record(_value(record, "ratchet")),
            initiator,
            base_key,
            prekey_id,
            signed_prekey_id,
            confirmed,
        )


def _value(record: dict[str, object], name: str) -> object:
    if name not in record:  # Brython: membership first, no dict.get miss
        raise BadRecord(f"session record lacks {name!r}")
    return record[name]


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32


async def initiate(crypto: OmemoCrypto, own: OwnDevice, bundle: PublicBundleV2) -> SessionV2:
    """A new session from a peer's bundle (verified here: `BadBundle...` if it fails).

    Raises `CryptoError` for keys X25519 refuses (low order).
    """
    peer_identity = await verify_bundle_v2(crypto, bundle)
    pick = int.from_bytes(await crypto.random_bytes(4), "big") % len(bundle.prekeys)
    prekey_id, prekey = bundle.prekeys[pick]
    identity = own.identity
    base = await crypto.x25519_generate()
    dhs = (
        await crypto.x25519(identity.x25519, bundle.spk)
        + await crypto.x25519(base, peer_identity)
        + await crypto.x25519(base, bundle.spk)
        + await crypto.x25519(base, prekey)
    )
    root = await _x3dh_root(crypto, dhs)
    # the initiator's first ratchet key talks to the responder's signed prekey
    sending = await crypto.x25519_generate()
    root, chain = await _kdf_root(crypto, root, await crypto.x25519(sending, bundle.spk))
    return SessionV2(
        identity.ed25519.public,
        bundle.identity_key,
        RatchetState(root, sending, chain),
        True,
        base.public,
        prekey_id,
        bundle.spk_id,
        False,
    )


async def accept(crypto: OmemoCrypto, own: OwnDevice, kex: KeyExchange) -> tuple[SessionV2, bytes]:
    """(new session, plaintext) from a key exchange; `own` is not changed.

    The caller then deletes the used prekey (`roost.omemo.keys.replace_prekey`).
    Raises `UnknownPrekey`/`UnknownSignedPrekey`, `BadMac`, `MalformedMessage`...
    """
    spk = own.find_signed_prekey(kex.spk_id)
    if spk is None:
        raise UnknownSignedPrekey(f"no signed prekey {kex.spk_id}")
    if kex.pk_id not in own.prekeys:
        raise UnknownPrekey(f"no prekey {kex.pk_id} (used already?)")
    prekey: X25519KeyPair = own.prekeys[kex.pk_id]
    peer_identity = _identity_curve(kex.ik)
    dhs = (
        await crypto.x25519(spk.key, peer_identity)
        + await crypto.x25519(own.identity.x25519, kex.ek)
        + await crypto.x25519(spk.key, kex.ek)
        + await crypto.x25519(prekey, kex.ek)
    )
    root = await _x3dh_root(crypto, dhs)
    # The signed prekey is the responder's first ratchet key; the initiator's
    # first message brings the DH step that makes both chains, so the
    # sending chain here is a placeholder that is never used.
    state = RatchetState(root, spk.key, bytes(32))
    session = SessionV2(
        own.identity.ed25519.public,
        kex.ik,
        state,
        False,
        kex.ek,
        kex.pk_id,
        kex.spk_id,
        True,
    )
    plaintext = await ratchet_decrypt(crypto, state, kex.message, session.associated_data)
    return session, plaintext


async def encrypt(crypto: OmemoCrypto, session: SessionV2, plaintext: bytes) -> tuple[bytes, bool]:
    """(wire bytes, is a key exchange) for `plaintext`; advances `session`."""
    inner = await ratchet_encrypt(crypto, session.ratchet, plaintext, session.associated_data)
    if not session.sends_key_exchanges:
        return inner, False
    kex = KeyExchange(
        session.prekey_id, session.signed_prekey_id, session.own_identity, session.base_key, inner
    )
    return kex.serialize(), True


async def decrypt(crypto: OmemoCrypto, session: SessionV2, data: bytes) -> bytes:
    """The plaintext of an OMEMOAuthenticatedMessage in `session`; advances it."""
    plaintext = await ratchet_decrypt(crypto, session.ratchet, data, session.associated_data)
    session.confirmed = True
    return plaintext
