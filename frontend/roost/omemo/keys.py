"""This device's legacy OMEMO keys, its public bundle, and checking a peer's bundle.

An `OwnDevice` holds the device id, the identity key (`IdentityKeyPair`), the
current signed prekey (and the previous one for a while after a rotation, so
that sessions started from the old bundle still work) and the one-time
prekeys by id. Everything that changes it is a function here, and the app
stores `to_record()` after each change.

Wire forms (`PublicBundle`): every public key is libsignal's 33-byte form,
0x05 + Curve25519; the signed prekey is signed, in that 33-byte form, with the
identity's Ed25519 key, which is a valid XEdDSA signature for the published
Curve25519 identity key (see `roost.omemo.crypto`). Peers' signatures are
checked with `xeddsa_verify`.

Records (`to_record`/`from_record`) are plain data (dict, list, str, int,
bool, bytes, None) plus the backends' opaque private-key handles: in the
browser non-extractable `CryptoKey`s, which IndexedDB stores as they are.
"""

from __future__ import annotations

from roost.omemo.encoding import decode_legacy_public, encode_legacy_public
from roost.omemo.errors import BadBundle, BadBundleSignature, BadRecord, CryptoError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    from roost.omemo.crypto import IdentityKeyPair, OmemoCrypto, X25519KeyPair

    _T = TypeVar("_T")

__all__ = [
    "DEFAULT_PREKEYS",
    "MAX_ID",
    "OwnDevice",
    "PublicBundle",
    "SignedPreKey",
    "drop_previous_signed_prekey",
    "generate_device",
    "random_device_id",
    "replace_prekey",
    "rotate_signed_prekey",
    "verify_bundle",
]

DEFAULT_PREKEYS = 100  # what Conversations and python-omemo keep published
# libsignal's ids stay below 2^24 (Medium.MAX_VALUE); ids wrap around there.
MAX_ID = 0xFFFFFF
RECORD_VERSION = 1


class SignedPreKey:
    """A signed prekey: its id, X25519 key pair, signature and creation time.

    `created` is Unix seconds as the app's clock gave it (0: not known).
    """

    __slots__ = ("created", "id", "key", "signature")

    def __init__(self, id: int, key: X25519KeyPair, signature: bytes, created: int) -> None:
        self.id = id
        self.key = key
        self.signature = signature
        self.created = created


class PublicBundle:
    """A device's published keys, in wire form (all keys 33 bytes, 0x05-prefixed).

    `prekeys` is a list of (prekey id, 33-byte public key). A bundle from the
    network is untrusted until `verify_bundle` accepted it.
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


class OwnDevice:
    """This device's key material (see the module docstring)."""

    __slots__ = (
        "device_id",
        "identity",
        "next_prekey_id",
        "prekeys",
        "previous_signed_prekey",
        "signed_prekey",
    )

    def __init__(
        self,
        device_id: int,
        identity: IdentityKeyPair,
        signed_prekey: SignedPreKey,
        prekeys: dict[int, X25519KeyPair],
        next_prekey_id: int,
        previous_signed_prekey: SignedPreKey | None = None,
    ) -> None:
        self.device_id = device_id
        self.identity = identity
        self.signed_prekey = signed_prekey
        self.previous_signed_prekey = previous_signed_prekey
        self.prekeys = prekeys
        self.next_prekey_id = next_prekey_id

    @property
    def identity_key(self) -> bytes:
        """The 33-byte wire form of the identity key (what bundles and messages carry)."""
        return encode_legacy_public(self.identity.x25519.public)

    def find_signed_prekey(self, spk_id: int) -> SignedPreKey | None:
        """The current or previous signed prekey with that id, else None."""
        if self.signed_prekey.id == spk_id:
            return self.signed_prekey
        previous = self.previous_signed_prekey
        if previous is not None and previous.id == spk_id:
            return previous
        return None

    def public_bundle(self) -> PublicBundle:
        """What to publish: identity, current signed prekey, every one-time prekey (by id)."""
        prekeys: list[tuple[int, bytes]] = []
        for prekey_id in sorted(self.prekeys):
            prekeys.append((prekey_id, encode_legacy_public(self.prekeys[prekey_id].public)))
        spk = self.signed_prekey
        return PublicBundle(
            self.identity_key, spk.id, encode_legacy_public(spk.key.public), spk.signature, prekeys
        )

    def to_record(self) -> dict[str, object]:
        """Plain data plus opaque private-key handles, for storage."""
        prekeys: list[object] = []
        for prekey_id in sorted(self.prekeys):
            pair = self.prekeys[prekey_id]
            prekeys.append([prekey_id, pair.private, pair.public])
        previous = self.previous_signed_prekey
        return {
            "version": RECORD_VERSION,
            "device_id": self.device_id,
            "identity": {
                "ed25519_private": self.identity.ed25519.private,
                "ed25519_public": self.identity.ed25519.public,
                "x25519_private": self.identity.x25519.private,
                "x25519_public": self.identity.x25519.public,
            },
            "signed_prekey": _spk_record(self.signed_prekey),
            "previous_signed_prekey": None if previous is None else _spk_record(previous),
            "prekeys": prekeys,
            "next_prekey_id": self.next_prekey_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> OwnDevice:
        """The device `to_record` stored; `BadRecord` if anything is missing or misshapen.

        Keys other than those `to_record` writes are ignored (the app may add its own).
        """
        from roost.omemo.crypto import Ed25519KeyPair, IdentityKeyPair, X25519KeyPair

        if not isinstance(record, dict):
            raise BadRecord("device record is not a dict")
        if _field(record, "version", int) != RECORD_VERSION:
            raise BadRecord("unknown device record version")
        ident = _field(record, "identity", dict)
        identity = IdentityKeyPair(
            Ed25519KeyPair(_handle(ident, "ed25519_private"), _key32(ident, "ed25519_public")),
            X25519KeyPair(_handle(ident, "x25519_private"), _key32(ident, "x25519_public")),
        )
        prekeys: dict[int, X25519KeyPair] = {}
        for item in _field(record, "prekeys", list):
            if not isinstance(item, list) or len(item) != 3:
                raise BadRecord("prekey entry is not [id, private, public]")
            prekey_id, private, public = item
            if not _is_id(prekey_id) or not isinstance(public, bytes) or len(public) != 32:
                raise BadRecord("prekey entry is malformed")
            prekeys[prekey_id] = X25519KeyPair(private, public)
        # Brython: a dict.get miss raises and catches a KeyError inside
        previous = _optional(record, "previous_signed_prekey")
        device_id = _field(record, "device_id", int)
        next_id = _field(record, "next_prekey_id", int)
        if not 0 < device_id < 2**31 or not _is_id(next_id):
            raise BadRecord("device id or next prekey id out of range")
        return cls(
            device_id,
            identity,
            _spk_from_record(_field(record, "signed_prekey", dict)),
            prekeys,
            next_id,
            None if previous is None else _spk_from_record(previous),
        )


def _spk_record(spk: SignedPreKey) -> dict[str, object]:
    return {
        "id": spk.id,
        "private": spk.key.private,
        "public": spk.key.public,
        "signature": spk.signature,
        "created": spk.created,
    }


def _spk_from_record(record: object) -> SignedPreKey:
    from roost.omemo.crypto import X25519KeyPair

    if not isinstance(record, dict):
        raise BadRecord("signed prekey record is not a dict")
    spk_id = _field(record, "id", int)
    signature = _field(record, "signature", bytes)
    if not _is_id(spk_id) or len(signature) != 64:
        raise BadRecord("signed prekey record is malformed")
    return SignedPreKey(
        spk_id,
        X25519KeyPair(_handle(record, "private"), _key32(record, "public")),
        signature,
        _field(record, "created", int),
    )


def _field(record: dict[str, object], name: str, kind: type[_T]) -> _T:
    if name not in record:
        raise BadRecord(f"record lacks {name!r}")
    value = record[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRecord(f"record field {name!r} is not {kind.__name__}")
    return value


def _optional(record: dict[str, object], name: str) -> object:
    return record[name] if name in record else None  # noqa: SIM401 (Brython dict.get)


def _handle(record: dict[str, object], name: str) -> object:
    if name not in record or record[name] is None:
        raise BadRecord(f"record lacks the private key {name!r}")
    return record[name]


def _key32(record: dict[str, object], name: str) -> bytes:
    value = _field(record, name, bytes)
    if len(value) != 32:
        raise BadRecord(f"record field {name!r} is not a 32-byte key")
    return value


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


async def random_device_id(crypto: OmemoCrypto) -> int:
    """A random 31-bit nonzero device id (what libsignal and python-omemo pick)."""
    while True:
        value = int.from_bytes(await crypto.random_bytes(4), "big") & 0x7FFFFFFF
        if value:
            return value


async def _signed_prekey(
    crypto: OmemoCrypto, identity: IdentityKeyPair, spk_id: int, created: int
) -> SignedPreKey:
    key = await crypto.x25519_generate()
    signature = await crypto.ed25519_sign(identity.ed25519, encode_legacy_public(key.public))
    return SignedPreKey(spk_id, key, signature, created)


def _next_id(current: int) -> int:
    return current % MAX_ID + 1


async def generate_device(
    crypto: OmemoCrypto, prekeys: int = DEFAULT_PREKEYS, now: float = 0
) -> OwnDevice:
    """A new device: random id, fresh identity, signed prekey 1, `prekeys` one-time prekeys.

    `now` (Unix seconds, from the app: no clock in here) stamps the signed prekey.
    """
    device_id = await random_device_id(crypto)
    identity = await crypto.identity_generate()
    spk = await _signed_prekey(crypto, identity, 1, int(now))
    own = OwnDevice(device_id, identity, spk, {}, 1)
    for _ in range(prekeys):
        await _add_prekey(crypto, own)
    return own


async def _add_prekey(crypto: OmemoCrypto, own: OwnDevice) -> int:
    prekey_id = own.next_prekey_id
    for _ in range(MAX_ID):  # after a wrap, skip ids still in use
        if prekey_id not in own.prekeys:
            break
        prekey_id = _next_id(prekey_id)
    own.prekeys[prekey_id] = await crypto.x25519_generate()
    own.next_prekey_id = _next_id(prekey_id)
    return prekey_id


async def replace_prekey(crypto: OmemoCrypto, own: OwnDevice, prekey_id: int) -> int | None:
    """Delete a used one-time prekey and add a new one with a new id (mutates `own`).

    Returns the new prekey's id, or None if `prekey_id` was already gone
    (then nothing changes). Republish the bundle afterwards.
    """
    if prekey_id not in own.prekeys:
        return None
    del own.prekeys[prekey_id]
    return await _add_prekey(crypto, own)


async def rotate_signed_prekey(crypto: OmemoCrypto, own: OwnDevice, now: float = 0) -> SignedPreKey:
    """Make a new signed prekey current (mutates `own`); the old one becomes the previous.

    The previous one still accepts session starts from peers that fetched the
    old bundle, until the next rotation or `drop_previous_signed_prekey`.
    `now` (Unix seconds) stamps the new key. Republish the bundle afterwards.
    """
    spk = await _signed_prekey(crypto, own.identity, _next_id(own.signed_prekey.id), int(now))
    own.previous_signed_prekey = own.signed_prekey
    own.signed_prekey = spk
    return spk


def drop_previous_signed_prekey(own: OwnDevice, now: float, keep_for: float) -> bool:
    """Forget the previous signed prekey once the current one is older than `keep_for` seconds.

    Returns whether it was dropped (then store `own`).
    """
    if own.previous_signed_prekey is None or now - own.signed_prekey.created < keep_for:
        return False
    own.previous_signed_prekey = None
    return True


async def verify_bundle(crypto: OmemoCrypto, bundle: PublicBundle) -> None:
    """Check a peer's bundle: key formats, at least one prekey, the signed prekey's signature.

    Raises `BadBundle` for malformed keys or no prekeys, `BadBundleSignature`
    when the XEdDSA signature over the 0x05-prefixed signed prekey fails.
    """
    try:
        identity = decode_legacy_public(bundle.identity_key)
        decode_legacy_public(bundle.spk)
        for _prekey_id, public in bundle.prekeys:
            decode_legacy_public(public)
    except CryptoError as exc:
        raise BadBundle(f"bundle key is malformed: {exc}") from None
    if not bundle.prekeys:
        raise BadBundle("bundle has no one-time prekeys")
    ids = [bundle.spk_id]
    for prekey_id, _public in bundle.prekeys:
        ids.append(prekey_id)
    for key_id in ids:  # they go into uint32 protobuf fields
        if not isinstance(key_id, int) or isinstance(key_id, bool) or not 0 <= key_id < 2**32:
            raise BadBundle(f"bundle key id {key_id!r} is not a 32-bit number")
    if len(bundle.spk_signature) != 64:
        raise BadBundleSignature("signed prekey signature is not 64 bytes")
    if not await crypto.xeddsa_verify(identity, bundle.spk, bundle.spk_signature):
        raise BadBundleSignature("signed prekey signature does not verify")
