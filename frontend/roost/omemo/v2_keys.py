"""OMEMO 2 bundles: this device's keys in `urn:xmpp:omemo:2` form, and checking a peer's.

One `OwnDevice` (roost.omemo.keys) serves both OMEMO versions: the same
identity, signed prekey and one-time prekeys, published twice. OMEMO 2's
forms differ from legacy's:

    ik     the identity's 32-byte Ed25519 public key (sign bit 0 for Roost's
           keys; a peer's may have either)
    spk    the signed prekey's raw 32-byte X25519 public key (no 0x05)
    spks   Ed25519 signature by ik over those raw 32 bytes (legacy signs 0x05 + key,
           so the stored legacy signature can't be reused)
    pk     one-time prekeys, raw 32 bytes, with their ids

Ed25519 signatures are deterministic, so `public_bundle_v2` re-signs the
signed prekey on each call instead of storing a second signature: the same
bytes every time, one signing per publish.
"""

from __future__ import annotations

from roost.omemo.curve import edwards_to_montgomery
from roost.omemo.errors import BadBundle, BadBundleSignature, CryptoError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto
    from roost.omemo.keys import OwnDevice

__all__ = ["PublicBundleV2", "public_bundle_v2", "verify_bundle_v2"]


class PublicBundleV2:
    """A device's OMEMO 2 bundle (`<bundle xmlns='urn:xmpp:omemo:2'>`), keys raw 32 bytes.

    `identity_key` is Ed25519; `prekeys` a list of (prekey id, X25519 key).
    A bundle from the network is untrusted until `verify_bundle_v2` accepted it.
    """

    __slots__ = ("identity_key", "prekeys", "spk", "spk_id", "spk_signature")

    def __init__(
        self,
        identity_key: bytes,
        spk_id: int,
        spk: bytes,
        spk_signature: bytes,
        prekeys: list[tuple[int, bytes]],
    ) -> None:
        self.identity_key = identity_key
        self.spk_id = spk_id
        self.spk = spk
        self.spk_signature = spk_signature
        self.prekeys = prekeys


async def public_bundle_v2(crypto: OmemoCrypto, own: OwnDevice) -> PublicBundleV2:
    """What to publish under `urn:xmpp:omemo:2:bundles` for `own` (see the module docstring)."""
    spk = own.signed_prekey
    signature = await crypto.ed25519_sign(own.identity.ed25519, spk.key.public)
    prekeys: list[tuple[int, bytes]] = []
    for prekey_id in sorted(own.prekeys):
        prekeys.append((prekey_id, own.prekeys[prekey_id].public))
    return PublicBundleV2(own.identity.ed25519.public, spk.id, spk.key.public, signature, prekeys)


def _is_key(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


async def verify_bundle_v2(crypto: OmemoCrypto, bundle: PublicBundleV2) -> bytes:
    """Check a peer's OMEMO 2 bundle; return its identity key's X25519 (Montgomery) form.

    Raises `BadBundle` for malformed keys or ids, or no prekeys (OMEMO
    requires one), and `BadBundleSignature` when the Ed25519 signature over
    the raw signed prekey fails.
    """
    keys = [bundle.identity_key, bundle.spk]
    ids = [bundle.spk_id]
    for prekey_id, public in bundle.prekeys:
        keys.append(public)
        ids.append(prekey_id)
    for key in keys:
        if not _is_key(key):
            raise BadBundle("bundle key is not 32 bytes")
    for key_id in ids:  # they go into uint32 protobuf fields
        if not isinstance(key_id, int) or isinstance(key_id, bool) or not 0 <= key_id < 2**32:
            raise BadBundle(f"bundle key id {key_id!r} is not a 32-bit number")
    if not bundle.prekeys:
        raise BadBundle("bundle has no one-time prekeys")
    try:
        identity_curve = edwards_to_montgomery(bundle.identity_key)
    except CryptoError as exc:
        raise BadBundle(f"bundle identity key is malformed: {exc}") from None
    if len(bundle.spk_signature) != 64:
        raise BadBundleSignature("signed prekey signature is not 64 bytes")
    if not await crypto.ed25519_verify(bundle.identity_key, bundle.spk, bundle.spk_signature):
        raise BadBundleSignature("signed prekey signature does not verify")
    return identity_curve
