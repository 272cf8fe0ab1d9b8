"""Verifying OMEMO fingerprints with an `xmpp:` URI (shown as a QR code).

The format is Conversations' (also read by Monal, Dino, Gajim and Snikket):

    xmpp:alice@example.org?omemo-sid-1234=<64 hex>;omemo-sid-5678=<64 hex>

one `omemo-sid-<device id>=<hex>` parameter per device, `;`-separated (RFC 5122
/ XEP-0147 query syntax), the hex being the device's 32-byte Curve25519
identity key (the 33-byte key without its 0x05 prefix, i.e. the fingerprint
Conversations shows, without spaces).

Parsing is strict: anything malformed is refused as a whole, never half read.
Verifying marks a device verified only when both its id and its key match;
a known id with another key means the code is not from the devices we talk to
(or someone sits in between): then nothing at all is verified.

Pure Python: runs under CPython (tests) and Brython; no browser imports.
"""

from __future__ import annotations

from roost.xmpp.errors import JidError
from roost.xmpp.jid import JID
from roost.xmpp.uri import percent_decode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.app.omemo import OmemoManager

SCHEME = "xmpp:"
PARAM = "omemo-sid-"
KEY_LEN = 32
MAX_DEVICE_ID = 2**31 - 1
MAX_URI = 4096  # far above any real account's devices; refuses pasted novels
HEX = "0123456789abcdef"
# Left as they are in a JID in the URI; everything else is percent-encoded
# (RFC 5122 §2.3 allows more, but this is what every reader decodes).
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~@!$()*+,=:[]")

VERIFIED = "verified"


class VerifyError(ValueError):
    """The text is not a usable OMEMO verification URI; str(e) says why, for the user."""


def _quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SAFE:
            out.append(ch)
        else:
            for b in ch.encode("utf-8"):
                out.append("%" + HEX[b >> 4].upper() + HEX[b & 15].upper())
    return "".join(out)


def _unquote(text: str) -> str:
    try:
        return percent_decode(text)
    except ValueError:
        raise VerifyError("The address in the code is garbled.") from None


def curve_key(identity: bytes | None) -> bytes | None:
    """The 32-byte Curve25519 key of a 33-byte 0x05-prefixed identity (else None)."""
    if identity is None or len(identity) != KEY_LEN + 1 or identity[0] != 5:
        return None
    return bytes(identity[1:])


def verification_uri(jid: str, devices: list[tuple[int, bytes]]) -> str:
    """`xmpp:<jid>?omemo-sid-<id>=<hex>;…` for `devices` ((id, 32-byte key) pairs)."""
    parts = []
    seen = set()
    for device_id, key in devices:
        if not 0 < device_id <= MAX_DEVICE_ID or len(key) != KEY_LEN or device_id in seen:
            raise ValueError("bad OMEMO device for a verification URI")
        seen.add(device_id)
        parts.append(PARAM + str(device_id) + "=" + bytes(key).hex())
    if not parts:
        raise ValueError("a verification URI needs at least one device")
    return SCHEME + _quote(jid) + "?" + ";".join(parts)


def _device_id(text: str) -> int:
    if not text or len(text) > 10 or text[0] == "0" or any(c not in "0123456789" for c in text):
        raise VerifyError("A device number in the code is not valid.")
    value = int(text)
    if value > MAX_DEVICE_ID:
        raise VerifyError("A device number in the code is not valid.")
    return value


def _key(text: str) -> bytes:
    lowered = text.lower()
    if len(lowered) != 2 * KEY_LEN or any(c not in HEX for c in lowered):
        raise VerifyError("A fingerprint in the code is not valid (it must be 64 hex digits).")
    return bytes.fromhex(lowered)


def parse_verification_uri(text: str) -> tuple[str, dict[int, bytes]]:
    """(bare JID, {device id: 32-byte key}) from a verification URI; raises
    `VerifyError` for anything else (other schemes, no devices, bad ids or keys,
    repeated ids, a full JID)."""
    if not isinstance(text, str):
        raise VerifyError("This is not an OMEMO verification code.")
    text = text.strip()
    if len(text) > MAX_URI:
        raise VerifyError("This is too long to be an OMEMO verification code.")
    if text[: len(SCHEME)].lower() != SCHEME or text[len(SCHEME) :].startswith("/"):
        raise VerifyError("This is not an OMEMO verification code (it should start with xmpp:).")
    rest = text[len(SCHEME) :]
    if "#" in rest:
        raise VerifyError("This is not an OMEMO verification code.")
    address, sep, query = rest.partition("?")
    if not sep or not query:
        raise VerifyError("This address carries no fingerprints to verify.")
    try:
        jid = JID.parse(_unquote(address))
    except JidError as exc:
        raise VerifyError("The address in the code is not valid.") from exc
    if not jid.is_bare:
        raise VerifyError("The address in the code is not valid.")
    devices: dict[int, bytes] = {}
    for pair in query.split(";"):
        name, eq, value = pair.partition("=")
        if not eq:
            raise VerifyError("This is not an OMEMO verification code.")
        if name.lower().startswith(PARAM):
            device_id = _device_id(name[len(PARAM) :])
            if device_id in devices:
                raise VerifyError("A device appears twice in the code.")
            devices[device_id] = _key(value)
        elif not name or name.lower().startswith("omemo"):
            raise VerifyError("This is not an OMEMO verification code.")
        # Other parameters (otr-fingerprint, body…) are not ours: ignored.
    if not devices:
        raise VerifyError("This address carries no OMEMO fingerprints to verify.")
    return str(jid), devices


class VerifyResult:
    """What applying a verification URI did.

    `verified`: device ids now verified (their id and key matched);
    `mismatched`: ids we know whose key differs (possible attack: nothing verified);
    `unknown`: ids we don't know at all;
    `pending`: ids we know whose key hasn't been seen yet (no bundle or message yet);
    `this_device`: the URI listed this browser itself (a code from our own other device);
    `wrong_jid`: the URI is for another account than the one being verified.
    """

    __slots__ = ("jid", "mismatched", "pending", "this_device", "unknown", "verified", "wrong_jid")

    def __init__(self, jid: str) -> None:
        self.jid = jid
        self.verified: list[int] = []
        self.mismatched: list[int] = []
        self.unknown: list[int] = []
        self.pending: list[int] = []
        self.this_device = False
        self.wrong_jid = False

    @property
    def ok(self) -> bool:
        return not self.wrong_jid and not self.mismatched and bool(self.verified)


def apply_verification(
    manager: OmemoManager,
    expected_jid: str,
    parsed: tuple[str, dict[int, bytes]],
    set_trust: Callable[[str, int, str], None] | None = None,
) -> VerifyResult:
    """Mark the devices of `parsed` (from `parse_verification_uri`) verified where
    both id and key match what `manager` knows of `expected_jid`'s devices.

    `set_trust` is the trust setter to use (the app's `e2e.set_trust`, which also
    shows messages held back from untrusted devices); the manager's by default.
    When the code is for another JID, or any known device has another key,
    nothing is verified.
    """
    jid, keys = parsed
    result = VerifyResult(jid)
    if jid != expected_jid:
        result.wrong_jid = True
        return result
    known = manager.devices.get(jid) or {}  # inactive ones too: a bad key is news anyway
    own = jid == manager.own_jid
    matches = []
    for device_id in sorted(keys):
        key = keys[device_id]
        if own and device_id == manager.device_id:
            own_key = manager.own.identity.curve25519_public if manager.own is not None else None
            if own_key is not None and bytes(own_key) == key:
                result.this_device = True
            else:
                result.mismatched.append(device_id)
            continue
        device = known.get(device_id)
        mine = None if device is None else curve_key(device.identity)
        if device is None:
            result.unknown.append(device_id)
        elif mine is None:
            result.pending.append(device_id)
        elif mine == key:
            matches.append(device_id)
        else:
            result.mismatched.append(device_id)
    if result.mismatched:
        return result
    setter = manager.set_trust if set_trust is None else set_trust
    for device_id in matches:
        setter(jid, device_id, VERIFIED)
        result.verified.append(device_id)
    return result


def _devices(n: int) -> str:
    return "1 device" if n == 1 else str(n) + " devices"


def describe(result: VerifyResult) -> str:
    """The outcome in words, for the user (and screen readers)."""
    if result.wrong_jid:
        return ("This code is for " + result.jid + ", not for this chat: nothing was verified.")
    if result.mismatched:
        ids = ", ".join(str(i) for i in result.mismatched)
        return (
            "Fingerprint does NOT match for device " + ids + ": don't trust it. Someone may"
            " be intercepting your messages, or the code is not theirs. Nothing was verified."
        )
    parts = []
    if result.verified:
        parts.append(_devices(len(result.verified)) + " verified.")
    if result.this_device:
        parts.append("It lists this browser too.")
    if result.unknown:
        ids = ", ".join(str(i) for i in result.unknown)
        parts.append(
            "Unknown device " + ids + ": Roost hasn't seen its key yet, so it isn't verified."
        )
    if result.pending:
        ids = ", ".join(str(i) for i in result.pending)
        parts.append(
            "Device " + ids + ": Roost hasn't received its key yet (exchange a message"
            " first), so it isn't verified."
        )
    if not result.verified and not result.unknown and not result.pending:
        parts.append("Nothing to verify.")
    return " ".join(parts)


def own_uri(manager: OmemoManager) -> str:
    """The URI for this browser's device plus the account's other devices this
    browser trusts (verified or trusted): what "Show my QR code" shows."""
    own = manager.own
    if own is None:
        return ""
    devices = [(manager.device_id, bytes(own.identity.curve25519_public))]
    for device in manager.active_devices(manager.own_jid):
        key = curve_key(device.identity)
        if key is None or device.device_id == manager.device_id:
            continue
        if device.trust in ("verified", "blind"):
            devices.append((device.device_id, key))
    return verification_uri(manager.own_jid, devices)
