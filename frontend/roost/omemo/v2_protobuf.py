"""The three OMEMO 2 (`urn:xmpp:omemo:2`) wire messages, read and written by hand.

XEP-0384's twomemo.proto (proto2, every field required but `ciphertext`):

    OMEMOMessage               1 n (uint32)  2 pn (uint32)  3 dh_pub (bytes, 32)
                               4 ciphertext (bytes)
    OMEMOAuthenticatedMessage  1 mac (bytes, 16)  2 message (bytes: an OMEMOMessage)
    OMEMOKeyExchange           1 pk_id (uint32)  2 spk_id (uint32)  3 ik (bytes, 32)
                               4 ek (bytes, 32)  5 message (an OMEMOAuthenticatedMessage)

Unlike legacy OMEMO there is no version byte and keys are raw 32 bytes: `ik`
is the sender's Ed25519 identity key, `dh_pub` and `ek` are X25519 keys. A
`<key>` element carries an OMEMOAuthenticatedMessage, or with `kex='true'` an
OMEMOKeyExchange. The MAC covers the OMEMOMessage bytes as received (the
`message` field), so re-encoding never matters for checking it.

The protobuf rules are the legacy codec's (roost.omemo.protobuf, whose helpers
this module shares): fields written in number order, read in any order, last
value wins, unknown fields skipped; anything malformed is `MalformedMessage`.
"""

from __future__ import annotations

from roost.omemo.errors import MalformedMessage
from roost.omemo.protobuf import _bytes, _field_bytes, _field_uint, _parse_fields, _uint32

__all__ = [
    "MAC_SIZE",
    "AuthenticatedMessage",
    "KeyExchange",
    "OmemoMessage",
    "parse_authenticated_message",
    "parse_key_exchange",
]

MAC_SIZE = 16  # HMAC-SHA-256 truncated to 16 bytes
KEY_SIZE = 32


def _key(fields: dict[int, int | bytes], number: int, what: str) -> bytes:
    value = _bytes(fields, number, what)
    if len(value) != KEY_SIZE:
        raise MalformedMessage(f"{what} is not a 32-byte key")
    return value


def _check_key(key: bytes, what: str) -> bytes:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be 32 bytes, got {len(key)}")
    return key


class OmemoMessage:
    """OMEMOMessage: one Double Ratchet message's header and AES-256-CBC ciphertext.

    `n` is the message's number in the sending chain, `pn` the length of the
    sender's previous sending chain, `dh_pub` its 32-byte X25519 ratchet key.
    """

    __slots__ = ("ciphertext", "dh_pub", "n", "pn")

    def __init__(self, n: int, pn: int, dh_pub: bytes, ciphertext: bytes) -> None:
        self.n = n
        self.pn = pn
        self.dh_pub = dh_pub
        self.ciphertext = ciphertext

    def serialize(self) -> bytes:
        """The protobuf bytes (what the MAC covers, after the associated data)."""
        return (
            _field_uint(1, self.n)
            + _field_uint(2, self.pn)
            + _field_bytes(3, _check_key(self.dh_pub, "ratchet key"))
            + _field_bytes(4, self.ciphertext)
        )


def _parse_omemo_message(data: bytes) -> OmemoMessage:
    fields = _parse_fields(data, 0)
    return OmemoMessage(
        _uint32(fields, 1, "message number n"),
        _uint32(fields, 2, "previous chain length pn"),
        _key(fields, 3, "ratchet key dh_pub"),
        _bytes(fields, 4, "ciphertext"),  # optional in the proto, never absent in practice
    )


class AuthenticatedMessage:
    """OMEMOAuthenticatedMessage: the OMEMOMessage bytes and their 16-byte MAC."""

    __slots__ = ("mac", "message")

    def __init__(self, mac: bytes, message: bytes) -> None:
        self.mac = mac
        self.message = message

    def serialize(self) -> bytes:
        return _field_bytes(1, self.mac) + _field_bytes(2, self.message)


def parse_authenticated_message(data: bytes) -> tuple[OmemoMessage, bytes, bytes]:
    """(parsed OMEMOMessage, its bytes as received, MAC) of an OMEMOAuthenticatedMessage."""
    if not data:
        raise MalformedMessage("empty OMEMO message")
    fields = _parse_fields(data, 0)
    mac = _bytes(fields, 1, "MAC")
    if len(mac) != MAC_SIZE:
        raise MalformedMessage(f"MAC is {len(mac)} bytes, not {MAC_SIZE}")
    message = _bytes(fields, 2, "inner OMEMOMessage")
    return _parse_omemo_message(message), message, mac


class KeyExchange:
    """OMEMOKeyExchange: a session start wrapped around an authenticated message.

    `pk_id`/`spk_id` name the responder's prekeys the initiator used; `ik` is
    the initiator's 32-byte Ed25519 identity key, `ek` its X25519 ephemeral
    (base) key; `message` the whole OMEMOAuthenticatedMessage as bytes.
    """

    __slots__ = ("ek", "ik", "message", "pk_id", "spk_id")

    def __init__(self, pk_id: int, spk_id: int, ik: bytes, ek: bytes, message: bytes) -> None:
        self.pk_id = pk_id
        self.spk_id = spk_id
        self.ik = ik
        self.ek = ek
        self.message = message

    def serialize(self) -> bytes:
        return (
            _field_uint(1, self.pk_id)
            + _field_uint(2, self.spk_id)
            + _field_bytes(3, _check_key(self.ik, "identity key"))
            + _field_bytes(4, _check_key(self.ek, "ephemeral key"))
            + _field_bytes(5, self.message)
        )


def parse_key_exchange(data: bytes) -> KeyExchange:
    """The OMEMOKeyExchange on the wire; `MalformedMessage` unless every field is sound."""
    if not data:
        raise MalformedMessage("empty OMEMO key exchange")
    fields = _parse_fields(data, 0)
    return KeyExchange(
        _uint32(fields, 1, "prekey id"),
        _uint32(fields, 2, "signed prekey id"),
        _key(fields, 3, "identity key"),
        _key(fields, 4, "ephemeral key"),
        _bytes(fields, 5, "inner authenticated message"),
    )
