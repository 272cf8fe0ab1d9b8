"""The Double Ratchet as libsignal (and so legacy OMEMO) runs it.

KDFs (libsignal RootKey.java, ChainKey.java; python-omemo's oldmemo agrees):

    root step      root key' || chain key = HKDF-SHA-256(
                       ikm = X25519(own ratchet, their ratchet), salt = root key,
                       info = "WhisperRatchet", length 64)
    chain step     message key seed = HMAC-SHA-256(chain key, 0x01)
                   chain key'       = HMAC-SHA-256(chain key, 0x02)
    message keys   AES-256 key (32) || MAC key (32) || IV (16) =
                   HKDF-SHA-256(ikm = seed, salt = 32 zero bytes, info = "WhisperMessageKeys", 80)

A message is `RatchetMessage.serialize()` (0x33 || protobuf, AES-256-CBC with
PKCS#7 inside) followed by HMAC-SHA-256(MAC key, sender identity (33 bytes) ||
receiver identity (33 bytes) || those versioned bytes), truncated to 8 bytes.
The sender's identity always comes first, whoever started the session.

Skipped message keys: a message may skip at most `MAX_SKIP` keys of its chain
(`TooManySkipped` otherwise); all chains together keep at most
`MAX_SKIPPED_KEYS` (oldest dropped), and only for the last
`MAX_SKIPPED_CHAINS` receiving chains (libsignal keeps 5 old chains): a late
message is late by a few turns of the conversation, not dozens. Only the
32-byte seed is kept per key. Older ratchet keys are remembered a while longer
(`MAX_OLD_CHAINS`) so that a message from them is named a `DuplicateMessage`.

previousCounter: libsignal (Conversations, Dino, Converse.js...) writes the
*last* counter of the previous chain (index - 1) and python-omemo the chain's
length. On a ratchet step Roost keeps keys up to previousCounter inclusive, so
a late last message works with either (with python-omemo one key is kept for
nothing, until its chain ages out). Roost writes the length, which libsignal
ignores and python-omemo expects. When the previous chain would need more than
`MAX_SKIP` keys they are not derived, but the session moves on (python-omemo
does the same), so heavy loss doesn't wedge it.

`decrypt` and `encrypt` change the state in place; callers that must stay
unchanged on failure work on `copy()` (roost.omemo.session does).
"""

from __future__ import annotations

from roost.omemo.errors import (
    BadMac,
    BadRecord,
    CryptoError,
    DuplicateMessage,
    MalformedMessage,
    TooManySkipped,
)
from roost.omemo.protobuf import MAC_SIZE, RatchetMessage, parse_ratchet_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.omemo.crypto import OmemoCrypto, X25519KeyPair

__all__ = [
    "MAX_OLD_CHAINS",
    "MAX_SKIP",
    "MAX_SKIPPED_CHAINS",
    "MAX_SKIPPED_KEYS",
    "RatchetState",
    "decrypt",
    "encrypt",
    "initial_active",
    "initial_passive",
    "kdf_chain",
    "kdf_root",
    "message_keys",
]

ROOT_INFO = b"WhisperRatchet"
MESSAGE_KEYS_INFO = b"WhisperMessageKeys"
_ZERO_SALT = bytes(32)
_MESSAGE_KEY_SEED = b"\x01"
_CHAIN_KEY_SEED = b"\x02"

MAX_SKIP = 1000  # keys one message may skip (python-omemo's default too)
MAX_SKIPPED_KEYS = 1000  # kept over all chains of a session
MAX_SKIPPED_CHAINS = 10  # receiving chains whose skipped keys are kept
MAX_OLD_CHAINS = 40  # earlier peer ratchet keys remembered to name late messages


async def kdf_root(
    crypto: OmemoCrypto, root_key: bytes, shared: bytes, info: bytes = ROOT_INFO
) -> tuple[bytes, bytes]:
    """(next root key, new chain key) from a ratchet DH output (`info`: OMEMO 2's differs)."""
    out = await crypto.hkdf_sha256(shared, root_key, info, 64)
    return out[:32], out[32:]


async def kdf_chain(crypto: OmemoCrypto, chain_key: bytes) -> tuple[bytes, bytes]:
    """(message key seed, next chain key)."""
    seed = await crypto.hmac_sha256(chain_key, _MESSAGE_KEY_SEED)
    return seed, await crypto.hmac_sha256(chain_key, _CHAIN_KEY_SEED)


async def message_keys(crypto: OmemoCrypto, seed: bytes) -> tuple[bytes, bytes, bytes]:
    """(AES-256 key, HMAC key, CBC IV) of one message."""
    out = await crypto.hkdf_sha256(seed, _ZERO_SALT, MESSAGE_KEYS_INFO, 80)
    return out[:32], out[32:64], out[64:]


def _same(a: bytes, b: bytes) -> bool:
    """Compare MACs without an early exit (no `hmac.compare_digest` in Brython)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class RatchetState:
    """One session's Double Ratchet state.

    `sending_key` is our current ratchet key pair; `receiving_key` the peer's
    current ratchet public key (None until the peer's first message);
    `skipped` holds [peer ratchet key, counter, message key seed], oldest first.
    """

    __slots__ = (
        "old_receiving_keys",
        "previous_counter",
        "receiving_chain_key",
        "receiving_counter",
        "receiving_key",
        "root_key",
        "sending_chain_key",
        "sending_counter",
        "sending_key",
        "skipped",
    )

    def __init__(
        self,
        root_key: bytes,
        sending_key: X25519KeyPair,
        sending_chain_key: bytes,
        sending_counter: int = 0,
        previous_counter: int = 0,
        receiving_key: bytes | None = None,
        receiving_chain_key: bytes | None = None,
        receiving_counter: int = 0,
        skipped: list[list[object]] | None = None,
        old_receiving_keys: list[bytes] | None = None,
    ) -> None:
        self.root_key = root_key
        self.sending_key = sending_key
        self.sending_chain_key = sending_chain_key
        self.sending_counter = sending_counter
        self.previous_counter = previous_counter
        self.receiving_key = receiving_key
        self.receiving_chain_key = receiving_chain_key
        self.receiving_counter = receiving_counter
        self.skipped: list[list[object]] = skipped or []
        self.old_receiving_keys: list[bytes] = old_receiving_keys or []

    @property
    def skipped_count(self) -> int:
        """How many skipped message keys are kept."""
        return len(self.skipped)

    def copy(self) -> RatchetState:
        """An independent copy (key pairs shared: they are never mutated)."""
        skipped: list[list[object]] = []
        for entry in self.skipped:
            skipped.append(list(entry))
        return RatchetState(
            self.root_key,
            self.sending_key,
            self.sending_chain_key,
            self.sending_counter,
            self.previous_counter,
            self.receiving_key,
            self.receiving_chain_key,
            self.receiving_counter,
            skipped,
            list(self.old_receiving_keys),
        )

    def to_record(self) -> dict[str, object]:
        """Plain data plus the opaque private handle of the sending ratchet key."""
        skipped: list[object] = []
        for entry in self.skipped:
            skipped.append(list(entry))
        return {
            "root_key": self.root_key,
            "sending_private": self.sending_key.private,
            "sending_public": self.sending_key.public,
            "sending_chain_key": self.sending_chain_key,
            "sending_counter": self.sending_counter,
            "previous_counter": self.previous_counter,
            "receiving_key": self.receiving_key,
            "receiving_chain_key": self.receiving_chain_key,
            "receiving_counter": self.receiving_counter,
            "skipped": skipped,
            "old_receiving_keys": list(self.old_receiving_keys),
        }

    @classmethod
    def from_record(cls, record: object) -> RatchetState:
        """The state `to_record` stored; `BadRecord` if it is misshapen."""
        from roost.omemo.crypto import X25519KeyPair

        if not isinstance(record, dict):
            raise BadRecord("ratchet record is not a dict")
        receiving_key = _optional_key(record, "receiving_key")
        receiving_chain_key = _optional_key(record, "receiving_chain_key")
        if (receiving_key is None) != (receiving_chain_key is None):
            raise BadRecord("ratchet record has half a receiving chain")
        skipped: list[list[object]] = []
        for entry in _list(record, "skipped"):
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or not _is_key(entry[0])
                or not _is_count(entry[1])
                or not _is_key(entry[2])
            ):
                raise BadRecord("skipped key entry is malformed")
            skipped.append([entry[0], entry[1], entry[2]])
        old: list[bytes] = []
        for key in _list(record, "old_receiving_keys"):
            if not isinstance(key, bytes) or len(key) != 32:
                raise BadRecord("old ratchet key is malformed")
            old.append(key)
        if "sending_private" not in record or record["sending_private"] is None:
            raise BadRecord("ratchet record lacks the sending private key")
        return cls(
            _key(record, "root_key"),
            X25519KeyPair(record["sending_private"], _key(record, "sending_public")),
            _key(record, "sending_chain_key"),
            _count(record, "sending_counter"),
            _count(record, "previous_counter"),
            receiving_key,
            receiving_chain_key,
            _count(record, "receiving_counter"),
            skipped,
            old,
        )


def _list(record: dict[str, object], name: str) -> list[object]:
    value = record[name] if name in record else None  # noqa: SIM401 (Brython dict.get)
    if not isinstance(value, list):
        raise BadRecord(f"ratchet record field {name!r} is missing or not a list")
    return value


def _is_key(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _key(record: dict[str, object], name: str) -> bytes:
    value = record[name] if name in record else None  # noqa: SIM401 (Brython dict.get)
    if not isinstance(value, bytes) or len(value) != 32:
        raise BadRecord(f"ratchet record field {name!r} is not a 32-byte key")
    return value


def _optional_key(record: dict[str, object], name: str) -> bytes | None:
    if name not in record or record[name] is None:
        return None
    return _key(record, name)


def _count(record: dict[str, object], name: str) -> int:
    value = record[name] if name in record else None  # noqa: SIM401 (Brython dict.get)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRecord(f"ratchet record field {name!r} is not a counter")
    return value


async def initial_active(
    crypto: OmemoCrypto, root_key: bytes, peer_signed_prekey: bytes
) -> RatchetState:
    """The initiator's state: a fresh ratchet key and a sending chain towards the peer's SPK."""
    sending = await crypto.x25519_generate()
    root, chain = await kdf_root(crypto, root_key, await crypto.x25519(sending, peer_signed_prekey))
    return RatchetState(root, sending, chain)


def initial_passive(
    root_key: bytes, chain_key: bytes, signed_prekey: X25519KeyPair
) -> RatchetState:
    """The responder's state before the first message: the SPK is its ratchet key.

    The sending chain is libsignal's placeholder; decrypting the initiator's
    first message performs a ratchet step that replaces it.
    """
    return RatchetState(root_key, signed_prekey, chain_key)


async def encrypt(
    crypto: OmemoCrypto,
    state: RatchetState,
    plaintext: bytes,
    sender_identity: bytes,
    receiver_identity: bytes,
) -> bytes:
    """A ratchet message (versioned bytes + MAC) carrying `plaintext`; advances `state`.

    Identities are the 33-byte wire forms: ours as sender, the peer's as receiver.
    """
    seed, next_chain = await kdf_chain(crypto, state.sending_chain_key)
    cipher_key, mac_key, iv = await message_keys(crypto, seed)
    ciphertext = await crypto.aes_cbc_encrypt(cipher_key, iv, plaintext)
    versioned = RatchetMessage(
        state.sending_key.public, state.sending_counter, state.previous_counter, ciphertext
    ).serialize()
    mac = await crypto.hmac_sha256(mac_key, sender_identity + receiver_identity + versioned)
    state.sending_chain_key = next_chain
    state.sending_counter += 1
    return versioned + mac[:MAC_SIZE]


async def decrypt(
    crypto: OmemoCrypto,
    state: RatchetState,
    data: bytes,
    sender_identity: bytes,
    receiver_identity: bytes,
) -> bytes:
    """The plaintext of a ratchet message; advances `state` (also when it then raises).

    Identities are the 33-byte wire forms: the peer's as sender, ours as
    receiver. Raises `MalformedMessage`, `BadMac`, `DuplicateMessage`,
    `TooManySkipped`, or `CryptoError` (a low-order ratchet key).
    """
    message, versioned, mac = parse_ratchet_message(data)
    ratchet_key = message.ratchet_key
    counter = message.counter
    found = _find_skipped(state, ratchet_key, counter)
    if found >= 0:
        seed = state.skipped[found][2]
        del state.skipped[found]
        assert isinstance(seed, bytes)
        return await _open(
            crypto, seed, message, versioned, mac, sender_identity, receiver_identity
        )
    if ratchet_key == state.receiving_key:
        if counter < state.receiving_counter:
            raise DuplicateMessage(f"message {counter} of this chain was decrypted already")
    elif ratchet_key in state.old_receiving_keys:
        raise DuplicateMessage("message of an earlier chain, decrypted already or too old")
    else:
        if state.receiving_key is not None:
            until = message.previous_counter + 1  # see the module docstring
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
    seed, state.receiving_chain_key = await kdf_chain(crypto, chain)
    state.receiving_counter = counter + 1
    return await _open(crypto, seed, message, versioned, mac, sender_identity, receiver_identity)


def _find_skipped(state: RatchetState, ratchet_key: bytes, counter: int) -> int:
    skipped = state.skipped
    for i in range(len(skipped)):
        entry = skipped[i]
        if entry[1] == counter and entry[0] == ratchet_key:
            return i
    return -1


def _retire(state: RatchetState, ratchet_key: bytes) -> None:
    """Remember a replaced peer ratchet key; forget skipped keys of chains too old."""
    old = state.old_receiving_keys
    old.append(ratchet_key)
    del old[:-MAX_OLD_CHAINS]
    if len(old) <= MAX_SKIPPED_CHAINS:
        return
    recent = old[-MAX_SKIPPED_CHAINS:]
    kept: list[list[object]] = []
    for entry in state.skipped:
        if entry[0] in recent:
            kept.append(entry)
    state.skipped = kept


async def _skip(crypto: OmemoCrypto, state: RatchetState, until: int) -> None:
    """Keep the seeds of the receiving chain's messages before `until`."""
    chain = state.receiving_chain_key
    if chain is None:
        return
    key = state.receiving_key
    counter = state.receiving_counter
    while counter < until:
        seed, chain = await kdf_chain(crypto, chain)
        state.skipped.append([key, counter, seed])
        counter += 1
    state.receiving_chain_key = chain
    state.receiving_counter = counter
    if len(state.skipped) > MAX_SKIPPED_KEYS:
        del state.skipped[: len(state.skipped) - MAX_SKIPPED_KEYS]


async def _step(
    crypto: OmemoCrypto, state: RatchetState, their_key: bytes, root_info: bytes = ROOT_INFO
) -> None:
    """The DH ratchet step for a new peer ratchet key: new receiving and sending
    chains (OMEMO 2 passes its own root KDF info)."""
    root, receiving = await kdf_root(
        crypto, state.root_key, await crypto.x25519(state.sending_key, their_key), root_info
    )
    sending_key = await crypto.x25519_generate()
    root, sending = await kdf_root(
        crypto, root, await crypto.x25519(sending_key, their_key), root_info
    )
    state.root_key = root
    state.receiving_key = their_key
    state.receiving_chain_key = receiving
    state.receiving_counter = 0
    state.previous_counter = state.sending_counter
    state.sending_key = sending_key
    state.sending_chain_key = sending
    state.sending_counter = 0


async def _open(
    crypto: OmemoCrypto,
    seed: bytes,
    message: RatchetMessage,
    versioned: bytes,
    mac: bytes,
    sender_identity: bytes,
    receiver_identity: bytes,
) -> bytes:
    cipher_key, mac_key, iv = await message_keys(crypto, seed)
    expected = await crypto.hmac_sha256(mac_key, sender_identity + receiver_identity + versioned)
    if not _same(expected[:MAC_SIZE], mac):
        raise BadMac("message MAC does not match")
    try:
        return await crypto.aes_cbc_decrypt(cipher_key, iv, message.ciphertext)
    except CryptoError as exc:  # authentic but broken: the sender's bug
        raise MalformedMessage(f"ciphertext does not decrypt: {exc}") from None
