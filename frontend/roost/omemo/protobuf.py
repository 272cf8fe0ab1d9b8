"""The two legacy OMEMO wire messages, with just enough protobuf to read and write them.

Legacy OMEMO (`eu.siacs.conversations.axolotl`) sends libsignal's messages
(WhisperTextProtocol.proto, version 3):

    ratchet message   0x33 || WhisperMessage || MAC (8 bytes)
        WhisperMessage: 1 ratchetKey (bytes, 0x05 + 32), 2 counter (uint32),
                        3 previousCounter (uint32), 4 ciphertext (bytes)
    prekey message    0x33 || PreKeyWhisperMessage
        PreKeyWhisperMessage: 5 registrationId (uint32, optional), 1 preKeyId (uint32),
                        6 signedPreKeyId (uint32), 2 baseKey (bytes, 0x05 + 32),
                        3 identityKey (bytes, 0x05 + 32), 4 message (a whole ratchet
                        message, MAC included)

The version byte is (3 << 4) | 3, as libsignal writes it and python-omemo's
oldmemo insists on. Writers emit fields in field-number order (what protobuf
libraries do); readers accept any order, let a repeated field's last value
win, and skip unknown fields, as protobuf does. The MAC covers the bytes as
received, so re-encoding never matters for checking it.

Keys are held here as raw 32-byte Curve25519 values; the 0x05 type byte is a
wire detail added and checked by this module. Anything malformed raises
`MalformedMessage`, never an `IndexError` or a half-built message.

registrationId: libsignal reads it but nothing in OMEMO uses it; python-omemo
neither sends nor reads it (its proto names the field `unused`). Roost omits
it when writing and keeps what it read for diagnostics.
"""

from __future__ import annotations

from roost.omemo.errors import MalformedMessage

__all__ = [
    "MAC_SIZE",
    "VERSION_BYTE",
    "PreKeyMessage",
    "RatchetMessage",
    "decode_varint",
    "encode_varint",
    "parse_prekey_message",
    "parse_ratchet_message",
]

VERSION_BYTE = 0x33  # libsignal CiphertextMessage.CURRENT_VERSION (3), in both nibbles
MAC_SIZE = 8  # SignalMessage.MAC_LENGTH: HMAC-SHA-256 truncated to 8 bytes
KEY_TYPE = 0x05  # libsignal Curve.DJB_TYPE
KEY_SIZE = 32
_UINT32_MAX = 0xFFFFFFFF
_MAX_VARINT_BYTES = 10  # a 64-bit varint

# protobuf wire types
_VARINT = 0
_FIXED64 = 1
_BYTES = 2
_FIXED32 = 5


def encode_varint(value: int) -> bytes:
    """A non-negative int as a protobuf base-128 varint."""
    if value < 0:
        raise ValueError("protobuf varints here are unsigned")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `data[pos:]`; `MalformedMessage` if cut off."""
    value = 0
    shift = 0
    end = len(data)
    for _ in range(_MAX_VARINT_BYTES):
        if pos >= end:
            raise MalformedMessage("protobuf varint cut off")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise MalformedMessage("protobuf varint longer than 10 bytes")


def _field_bytes(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | _BYTES) + encode_varint(len(value)) + value


def _field_uint(number: int, value: int) -> bytes:
    if not 0 <= value <= _UINT32_MAX:
        raise ValueError(f"protobuf field {number} must be a uint32, got {value}")
    return encode_varint(number << 3 | _VARINT) + encode_varint(value)


def _parse_fields(data: bytes, pos: int) -> dict[int, int | bytes]:
    """The last value of each field of the protobuf message `data[pos:]`."""
    fields: dict[int, int | bytes] = {}
    end = len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        number = key >> 3
        wire_type = key & 7
        if number == 0:
            raise MalformedMessage("protobuf field number 0")
        if wire_type == _VARINT:
            value, pos = decode_varint(data, pos)
            fields[number] = value
        elif wire_type == _BYTES:
            length, pos = decode_varint(data, pos)
            if length > end - pos:
                raise MalformedMessage("protobuf field runs past the end of the message")
            fields[number] = bytes(data[pos : pos + length])
            pos += length
        elif wire_type in (_FIXED64, _FIXED32):  # unknown to us: skipped
            size = 8 if wire_type == _FIXED64 else 4
            if size > end - pos:
                raise MalformedMessage("protobuf field runs past the end of the message")
            pos += size
        else:  # groups (3, 4) and the undefined types 6, 7
            raise MalformedMessage(f"unsupported protobuf wire type {wire_type}")
    return fields


def _required(fields: dict[int, int | bytes], number: int, what: str) -> int | bytes:
    if number not in fields:  # Brython: membership first, no dict.get miss
        raise MalformedMessage(f"{what} is missing")
    return fields[number]


def _uint32(fields: dict[int, int | bytes], number: int, what: str) -> int:
    value = _required(fields, number, what)
    if not isinstance(value, int):
        raise MalformedMessage(f"{what} is not a number")
    if value > _UINT32_MAX:
        raise MalformedMessage(f"{what} does not fit 32 bits")
    return value


def _bytes(fields: dict[int, int | bytes], number: int, what: str) -> bytes:
    value = _required(fields, number, what)
    if not isinstance(value, bytes):
        raise MalformedMessage(f"{what} is not a byte string")
    return value


def _key(fields: dict[int, int | bytes], number: int, what: str) -> bytes:
    value = _bytes(fields, number, what)
    if len(value) != KEY_SIZE + 1 or value[0] != KEY_TYPE:
        raise MalformedMessage(f"{what} is not a 0x05-prefixed Curve25519 key")
    return value[1:]


def _check_key(key: bytes, what: str) -> bytes:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be a 32-byte Curve25519 key, got {len(key)} bytes")
    return bytes([KEY_TYPE]) + key


def _strip_version(data: bytes, what: str) -> None:
    if not data:
        raise MalformedMessage(f"empty {what}")
    if data[0] != VERSION_BYTE:
        raise MalformedMessage(f"{what} has version byte {data[0]:#04x}, not 0x33")


class RatchetMessage:
    """libsignal's WhisperMessage: one Double Ratchet message (without its MAC).

    `ratchet_key` is the sender's 32-byte Curve25519 ratchet key, `counter` the
    message's number in the sending chain, `previous_counter` the length of the
    sender's previous chain, `ciphertext` the AES-256-CBC ciphertext.
    """

    __slots__ = ("ciphertext", "counter", "previous_counter", "ratchet_key")

    def __init__(
        self, ratchet_key: bytes, counter: int, previous_counter: int, ciphertext: bytes
    ) -> None:
        self.ratchet_key = ratchet_key
        self.counter = counter
        self.previous_counter = previous_counter
        self.ciphertext = ciphertext

    def serialize(self) -> bytes:
        """0x33 and the protobuf: the bytes the MAC covers, and that it follows on the wire."""
        return (
            bytes([VERSION_BYTE])
            + _field_bytes(1, _check_key(self.ratchet_key, "ratchet key"))
            + _field_uint(2, self.counter)
            + _field_uint(3, self.previous_counter)
            + _field_bytes(4, self.ciphertext)
        )


def parse_ratchet_message(data: bytes) -> tuple[RatchetMessage, bytes, bytes]:
    """(message, versioned bytes the MAC covers, 8-byte MAC) of a ratchet message on the wire."""
    if len(data) < 1 + MAC_SIZE:
        raise MalformedMessage("ratchet message too short")
    versioned = bytes(data[:-MAC_SIZE])
    mac = bytes(data[-MAC_SIZE:])
    _strip_version(versioned, "ratchet message")
    fields = _parse_fields(versioned, 1)
    message = RatchetMessage(
        _key(fields, 1, "ratchet key"),
        _uint32(fields, 2, "message counter"),
        _uint32(fields, 3, "previous counter"),
        _bytes(fields, 4, "ciphertext"),
    )
    return message, versioned, mac


class PreKeyMessage:
    """libsignal's PreKeyWhisperMessage: a session start wrapped around a ratchet message.

    `base_key` and `identity_key` are raw 32-byte Curve25519 keys (the sender's
    ephemeral X3DH key and identity); `message` is the whole inner ratchet
    message as sent (versioned bytes and MAC). `registration_id` is None when
    absent (python-omemo and Roost don't send it).
    """

    __slots__ = (
        "base_key",
        "identity_key",
        "message",
        "prekey_id",
        "registration_id",
        "signed_prekey_id",
    )

    def __init__(
        self,
        prekey_id: int,
        signed_prekey_id: int,
        base_key: bytes,
        identity_key: bytes,
        message: bytes,
        registration_id: int | None = None,
    ) -> None:
        self.prekey_id = prekey_id
        self.signed_prekey_id = signed_prekey_id
        self.base_key = base_key
        self.identity_key = identity_key
        self.message = message
        self.registration_id = registration_id

    def serialize(self) -> bytes:
        """0x33 and the protobuf, in field-number order as libsignal writes it."""
        out = (
            bytes([VERSION_BYTE])
            + _field_uint(1, self.prekey_id)
            + _field_bytes(2, _check_key(self.base_key, "base key"))
            + _field_bytes(3, _check_key(self.identity_key, "identity key"))
            + _field_bytes(4, self.message)
        )
        if self.registration_id is not None:
            out += _field_uint(5, self.registration_id)
        return out + _field_uint(6, self.signed_prekey_id)


def parse_prekey_message(data: bytes) -> PreKeyMessage:
    """The prekey message on the wire; `MalformedMessage` unless every required field is sound.

    libsignal treats the one-time prekey id as optional; OMEMO requires one
    (python-omemo refuses sessions without it), so it is required here too.
    """
    _strip_version(data, "prekey message")
    fields = _parse_fields(data, 1)
    registration_id: int | None = None
    if 5 in fields:
        registration_id = _uint32(fields, 5, "registration id")
    return PreKeyMessage(
        _uint32(fields, 1, "prekey id"),
        _uint32(fields, 6, "signed prekey id"),
        _key(fields, 2, "base key"),
        _key(fields, 3, "identity key"),
        _bytes(fields, 4, "inner message"),
        registration_id,
    )
