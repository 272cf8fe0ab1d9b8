"""X3DH key agreement as libsignal (and so legacy OMEMO) does it.

Active side (Alice, who starts the session from Bob's bundle), with IK
identity, EK a fresh base key, SPK Bob's signed prekey, OPK one of his
one-time prekeys:

    DH1 = X25519(IK_A, SPK_B)   DH2 = X25519(EK_A, IK_B)
    DH3 = X25519(EK_A, SPK_B)   DH4 = X25519(EK_A, OPK_B)
    root key || chain key = HKDF-SHA-256(ikm = 0xFF * 32 || DH1 || DH2 || DH3 || DH4,
                                         salt = 32 zero bytes, info = "WhisperText", 64)

The passive side computes the same four values from its private keys. The
0xFF prefix and info string are libsignal's (RatchetingSession.java); the
first 32 bytes equal python-omemo's 32-byte X3DH output, which it uses as
the root key. The 32-byte chain key is only the responder's placeholder
sending chain (libsignal's), replaced by the first ratchet step.
OMEMO requires a one-time prekey (python-omemo refuses sessions without).
"""

from __future__ import annotations

from roost.omemo.encoding import decode_legacy_public
from roost.omemo.errors import UnknownPrekey, UnknownSignedPrekey
from roost.omemo.keys import verify_bundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import IdentityKeyPair, OmemoCrypto, X25519KeyPair
    from roost.omemo.keys import OwnDevice, PublicBundle
    from roost.omemo.protobuf import PreKeyMessage

__all__ = ["X3DH_INFO", "ActiveAgreement", "PassiveAgreement", "x3dh_active", "x3dh_passive"]

X3DH_INFO = b"WhisperText"
_PADDING = b"\xff" * 32  # libsignal's discontinuity bytes
_SALT = bytes(32)


async def _derive(crypto: OmemoCrypto, dhs: bytes) -> tuple[bytes, bytes]:
    out = await crypto.hkdf_sha256(_PADDING + dhs, _SALT, X3DH_INFO, 64)
    return out[:32], out[32:]


class ActiveAgreement:
    """The initiator's result: keys, and what the prekey messages must name.

    `base_key` is the ephemeral key pair (its public goes into every prekey
    message until the peer answers); `peer_identity` is the 33-byte identity
    from the bundle; `peer_signed_prekey` the 32-byte key the first ratchet
    step uses as the peer's ratchet key.
    """

    __slots__ = (
        "base_key",
        "chain_key",
        "peer_identity",
        "peer_signed_prekey",
        "prekey_id",
        "root_key",
        "signed_prekey_id",
    )

    def __init__(
        self,
        root_key: bytes,
        chain_key: bytes,
        base_key: X25519KeyPair,
        prekey_id: int,
        signed_prekey_id: int,
        peer_identity: bytes,
        peer_signed_prekey: bytes,
    ) -> None:
        self.root_key = root_key
        self.chain_key = chain_key
        self.base_key = base_key
        self.prekey_id = prekey_id
        self.signed_prekey_id = signed_prekey_id
        self.peer_identity = peer_identity
        self.peer_signed_prekey = peer_signed_prekey


class PassiveAgreement:
    """The responder's result: keys and the signed prekey pair the initiator used."""

    __slots__ = ("chain_key", "root_key", "signed_prekey")

    def __init__(self, root_key: bytes, chain_key: bytes, signed_prekey: X25519KeyPair) -> None:
        self.root_key = root_key
        self.chain_key = chain_key
        self.signed_prekey = signed_prekey


async def x3dh_active(
    crypto: OmemoCrypto, identity: IdentityKeyPair, bundle: PublicBundle
) -> ActiveAgreement:
    """Agree on keys with the owner of `bundle`: verify it, pick a random one-time prekey.

    Raises `BadBundle`/`BadBundleSignature` (from `verify_bundle`) and
    `CryptoError` for keys X25519 refuses (low order).
    """
    await verify_bundle(crypto, bundle)
    pick = int.from_bytes(await crypto.random_bytes(4), "big") % len(bundle.prekeys)
    prekey_id, prekey = bundle.prekeys[pick]
    peer_identity = decode_legacy_public(bundle.identity_key)
    spk = decode_legacy_public(bundle.spk)
    base = await crypto.x25519_generate()
    dhs = (
        await crypto.x25519(identity.x25519, spk)
        + await crypto.x25519(base, peer_identity)
        + await crypto.x25519(base, spk)
        + await crypto.x25519(base, decode_legacy_public(prekey))
    )
    root_key, chain_key = await _derive(crypto, dhs)
    return ActiveAgreement(
        root_key, chain_key, base, prekey_id, bundle.spk_id, bundle.identity_key, spk
    )


async def x3dh_passive(
    crypto: OmemoCrypto, own: OwnDevice, message: PreKeyMessage
) -> PassiveAgreement:
    """The responder's side for a received prekey message (`own` is not changed).

    Raises `UnknownSignedPrekey` or `UnknownPrekey` when the message names keys
    this device doesn't have (any more), `CryptoError` for low-order keys.
    """
    spk = own.find_signed_prekey(message.signed_prekey_id)
    if spk is None:
        raise UnknownSignedPrekey(f"no signed prekey {message.signed_prekey_id}")
    if message.prekey_id not in own.prekeys:
        raise UnknownPrekey(f"no prekey {message.prekey_id} (used already?)")
    prekey = own.prekeys[message.prekey_id]
    dhs = (
        await crypto.x25519(spk.key, message.identity_key)
        + await crypto.x25519(own.identity.x25519, message.base_key)
        + await crypto.x25519(spk.key, message.base_key)
        + await crypto.x25519(prekey, message.base_key)
    )
    root_key, chain_key = await _derive(crypto, dhs)
    return PassiveAgreement(root_key, chain_key, spk.key)
