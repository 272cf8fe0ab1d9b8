"""A legacy OMEMO session with one peer device: X3DH start plus the Double Ratchet.

The initiator (`initiate`) sends prekey messages (the ratchet message wrapped
in a `PreKeyMessage` naming the prekeys it used and its base key) until the
first message from the peer arrives: libsignal and python-omemo do the same,
since any of those messages may be the first to reach the peer. The
responder (`accept`) builds its session from the first prekey message it
decrypts; later copies of that start (same base key) are decrypted with the
existing session (`starts_this`), not refused for their used prekey.

Associated data, as libsignal and python-omemo compute the MAC: sender
identity || receiver identity (33-byte wire forms), whoever initiated.

`encrypt` and `decrypt` here change the session in place; the functions of
`roost.omemo.legacy` work on copies so that failures leave the caller's
session untouched.
"""

from __future__ import annotations

from roost.omemo import ratchet
from roost.omemo.encoding import encode_legacy_public
from roost.omemo.errors import BadRecord
from roost.omemo.protobuf import PreKeyMessage
from roost.omemo.x3dh import x3dh_active, x3dh_passive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto
    from roost.omemo.keys import OwnDevice, PublicBundle

__all__ = ["Session", "accept", "decrypt", "encrypt", "initiate"]

RECORD_VERSION = 1


class Session:
    """The state of a session with one device of a peer.

    - `own_identity`, `remote_identity`: 33-byte wire identity keys. The app
      checks `remote_identity` against the identity it knows (and trusts) for
      that device: a prekey message may carry any identity.
    - `initiator`: True if this side started the session from a bundle.
    - `base_key`: the X3DH base key (ours if initiator, else the peer's), 32 bytes.
    - `prekey_id`, `signed_prekey_id`: the peer's prekeys the initiator used.
    - `confirmed`: the initiator has decrypted a message from the peer, so it
      stops wrapping messages in prekey messages (always True for a responder).
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
        ratchet_state: ratchet.RatchetState,
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
    def sends_prekey_messages(self) -> bool:
        """Whether outgoing messages are wrapped in prekey messages (peer not heard yet)."""
        return self.initiator and not self.confirmed

    @property
    def receiving_count(self) -> int:
        """Messages received on the current receiving chain (to decide on heartbeats)."""
        return self.ratchet.receiving_counter

    def starts_this(self, message: PreKeyMessage) -> bool:
        """Whether `message` is (a copy of) the prekey message that started this session."""
        return (
            not self.initiator
            and self.base_key == message.base_key
            and self.remote_identity == encode_legacy_public(message.identity_key)
        )

    def copy(self) -> Session:
        """An independent copy."""
        return Session(
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
        """Plain data plus the opaque private handle of the ratchet key, for storage."""
        return {
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
    def from_record(cls, record: dict[str, object]) -> Session:
        """The session `to_record` stored; `BadRecord` if it is misshapen."""
        if not isinstance(record, dict):
            raise BadRecord("session record is not a dict")
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
            _is_wire_key(own_identity)
            and _is_wire_key(remote_identity)
            and isinstance(base_key, bytes)
            and len(base_key) == 32
            and isinstance(initiator, bool)
            and isinstance(confirmed, bool)
            and isinstance(prekey_id, int)
            and isinstance(signed_prekey_id, int)
        ):
            raise BadRecord("session record is malformed")
        assert isinstance(own_identity, bytes) and isinstance(remote_identity, bytes)
        return cls(
            own_identity,
            remote_identity,
            ratchet.RatchetState.from_record(_value(record, "ratchet")),
            initiator,
            base_key,
            prekey_id,
            signed_prekey_id,
            confirmed,
        )


def _value(record: dict[str, object], name: str) -> object:
    if name not in record:
        raise BadRecord(f"session record lacks {name!r}")
    return record[name]


def _is_wire_key(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 33 and value[0] == 0x05


async def initiate(crypto: OmemoCrypto, own: OwnDevice, bundle: PublicBundle) -> Session:
    """A new session from a peer's bundle (verified here; `BadBundle...` if it fails)."""
    agreed = await x3dh_active(crypto, own.identity, bundle)
    state = await ratchet.initial_active(crypto, agreed.root_key, agreed.peer_signed_prekey)
    return Session(
        own.identity_key,
        agreed.peer_identity,
        state,
        True,
        agreed.base_key.public,
        agreed.prekey_id,
        agreed.signed_prekey_id,
        False,
    )


async def accept(
    crypto: OmemoCrypto, own: OwnDevice, message: PreKeyMessage
) -> tuple[Session, bytes]:
    """(new session, plaintext) from a prekey message; `own` is not changed.

    The caller then deletes the used prekey (`roost.omemo.keys.replace_prekey`).
    Raises `UnknownPrekey`/`UnknownSignedPrekey`, `BadMac`, `MalformedMessage`...
    """
    agreed = await x3dh_passive(crypto, own, message)
    state = ratchet.initial_passive(agreed.root_key, agreed.chain_key, agreed.signed_prekey)
    session = Session(
        own.identity_key,
        encode_legacy_public(message.identity_key),
        state,
        False,
        message.base_key,
        message.prekey_id,
        message.signed_prekey_id,
        True,
    )
    plaintext = await decrypt(crypto, session, message.message)
    return session, plaintext


async def encrypt(crypto: OmemoCrypto, session: Session, plaintext: bytes) -> tuple[bytes, bool]:
    """(wire bytes, is a prekey message) for `plaintext`; advances `session`."""
    inner = await ratchet.encrypt(
        crypto, session.ratchet, plaintext, session.own_identity, session.remote_identity
    )
    if not session.sends_prekey_messages:
        return inner, False
    wrapped = PreKeyMessage(
        session.prekey_id,
        session.signed_prekey_id,
        session.base_key,
        session.own_identity[1:],
        inner,
    )
    return wrapped.serialize(), True


async def decrypt(crypto: OmemoCrypto, session: Session, data: bytes) -> bytes:
    """The plaintext of a ratchet message in `session`; advances it (also when it then raises)."""
    plaintext = await ratchet.decrypt(
        crypto, session.ratchet, data, session.remote_identity, session.own_identity
    )
    session.confirmed = True
    return plaintext
