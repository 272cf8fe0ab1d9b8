"""SASL client mechanisms: SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802/7677) and PLAIN.

Sans-I/O and Brython-friendly: HMAC (RFC 2104) is written out here because
`hmac.new()` fails under Brython, and PBKDF2 is *not* done here at all. The
SCRAM exchange stops after the server-first message and hands the caller a
`DeriveKey` request; the caller computes
`PBKDF2-HMAC(hash_name, password_utf8, salt, iterations)` (WebCrypto in the
browser, `hashlib.pbkdf2_hmac` in CPython) and passes it to `finish()`.

A trusted device may keep the result (`ScramKey`: SaltedPassword with its
salt, iteration count and mechanism, never the password) and log in later
without the password: the stream is then made with only that mechanism and
`finish()` is given the stored key, provided `ScramKey.fits()` the server's
salt and count (they change when the password is changed).

Known gap: the password and username are not SASLprep'd (RFC 4013); they are
sent as UTF-8 as given. ASCII credentials are unaffected.
"""

from __future__ import annotations

import base64
import hashlib

from roost.xmpp.errors import AuthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    HashFactory = Callable[[], "hashlib._Hash"]

# Hash names are hashlib's (and hashlib.pbkdf2_hmac's); WebCrypto calls them
# "SHA-1"/"SHA-256".
_HASHES: dict[str, HashFactory] = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
_BLOCK_SIZE = 64  # both SHA-1 and SHA-256
# RFC 7677 §4 recommends at least 4096; fewer would make a stolen server
# database cheap to attack, so Roost refuses it rather than help.
MIN_ITERATIONS = 4096
# And at most this many: the count is the server's to choose, and PBKDF2 runs
# in the browser, so a hostile (or misconfigured) server could otherwise keep
# the page busy for minutes. Real servers use 4096-600000 (OWASP 2023 for
# PBKDF2-HMAC-SHA256: 600000).
MAX_ITERATIONS = 1000000
_GS2_HEADER = b"n,,"  # no channel binding, no authzid

SCRAM_SHA_256 = "SCRAM-SHA-256"
SCRAM_SHA_1 = "SCRAM-SHA-1"
PLAIN = "PLAIN"
_SCRAM_HASH = {SCRAM_SHA_256: "sha256", SCRAM_SHA_1: "sha1"}
_HASH_SCRAM = {"sha256": SCRAM_SHA_256, "sha1": SCRAM_SHA_1}
_KEY_SIZE = {"sha256": 32, "sha1": 20}


def _digest(hash_name: str, data: bytes) -> bytes:
    h = _HASHES[hash_name]()
    h.update(data)
    return h.digest()


def hmac_digest(hash_name: str, key: bytes, msg: bytes) -> bytes:
    """HMAC (RFC 2104) over a hashlib hash named `hash_name` ("sha1"/"sha256")."""
    if len(key) > _BLOCK_SIZE:
        key = _digest(hash_name, key)
    key = key + b"\x00" * (_BLOCK_SIZE - len(key))
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return _digest(hash_name, outer + _digest(hash_name, inner + msg))


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(a[i] ^ b[i] for i in range(len(a)))


def _equal(a: bytes, b: bytes) -> bool:
    # Constant-time-ish comparison; the length is not secret.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _saslname(name: str) -> str:
    # RFC 5802 §5.1: "=" and "," are escaped in the username.
    return name.replace("=", "=3D").replace(",", "=2C")


def _parse_attrs(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthError("malformed-challenge", "not UTF-8") from None
    attrs: dict[str, str] = {}
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthError("malformed-challenge", "bad attribute")
        attrs.setdefault(part[0], part[2:])
    return attrs


def scram_hash_name(mechanism: str) -> str:
    """hashlib name for a SCRAM mechanism name."""
    return _SCRAM_HASH[mechanism]


def scram_mechanism(hash_name: str) -> str:
    """SCRAM mechanism name for a hashlib name ("sha256" → "SCRAM-SHA-256")."""
    return _HASH_SCRAM[hash_name]


class DeriveKey:
    """The caller must compute PBKDF2(hash_name, password, salt, iterations)."""

    __slots__ = ("hash_name", "iterations", "salt")

    def __init__(self, hash_name: str, salt: bytes, iterations: int) -> None:
        self.hash_name = hash_name
        self.salt = salt
        self.iterations = iterations


class Scram:
    """A SCRAM client exchange. Methods raise `AuthError` on a bad server message.

    Order: `initial()` → `challenge(server_first)` → (PBKDF2 by the caller) →
    `finish(salted_password)` → `verify(server_final)`.
    """

    __slots__ = (
        "_auth_message",
        "_client_final_bare",
        "_client_first_bare",
        "_server_signature",
        "hash_name",
        "nonce",
        "password",
        "username",
        "verified",
    )

    def __init__(self, hash_name: str, username: str, password: str, nonce: str) -> None:
        if hash_name not in _HASHES:
            raise ValueError("unsupported hash " + hash_name)
        self.hash_name = hash_name
        self.username = username
        self.password = password
        self.nonce = nonce
        self.verified = False
        self._client_first_bare = "n=" + _saslname(username) + ",r=" + nonce
        self._auth_message = b""
        self._client_final_bare = ""
        self._server_signature = b""

    @property
    def challenged(self) -> bool:
        """True once the server-first message was accepted."""
        return bool(self._auth_message)

    def initial(self) -> bytes:
        """The client-first message (initial response)."""
        return _GS2_HEADER + self._client_first_bare.encode("utf-8")

    def challenge(self, server_first: bytes) -> DeriveKey:
        """Check the server-first message and say which key to derive."""
        attrs = _parse_attrs(server_first)
        if "m" in attrs:
            raise AuthError("malformed-challenge", "mandatory extension")
        nonce, salt_b64, iterations_text = attrs.get("r"), attrs.get("s"), attrs.get("i")
        if nonce is None or salt_b64 is None or iterations_text is None:
            raise AuthError("malformed-challenge", "missing attribute")
        # The server must extend our nonce, or the exchange could be replayed.
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise AuthError("malformed-challenge", "server nonce does not extend ours")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
        except ValueError:
            raise AuthError("malformed-challenge", "bad salt") from None
        if not iterations_text.isdigit():
            raise AuthError("malformed-challenge", "bad iteration count")
        iterations = int(iterations_text)
        if iterations < MIN_ITERATIONS:
            raise AuthError("weak-iterations", f"{iterations} iterations")
        if iterations > MAX_ITERATIONS:
            raise AuthError("excessive-iterations", f"{iterations} iterations")
        client_final_bare = "c=" + base64.b64encode(_GS2_HEADER).decode("ascii") + ",r=" + nonce
        self._auth_message = (
            self._client_first_bare.encode("utf-8")
            + b","
            + server_first
            + b","
            + client_final_bare.encode("utf-8")
        )
        self._client_final_bare = client_final_bare
        return DeriveKey(self.hash_name, salt, iterations)

    def finish(self, salted_password: bytes) -> bytes:
        """The client-final message, given PBKDF2's output."""
        if not self._auth_message:
            raise AuthError("malformed-challenge", "finish() before challenge()")
        h = self.hash_name
        client_key = hmac_digest(h, salted_password, b"Client Key")
        stored_key = _digest(h, client_key)
        signature = hmac_digest(h, stored_key, self._auth_message)
        proof = _xor(client_key, signature)
        server_key = hmac_digest(h, salted_password, b"Server Key")
        self._server_signature = hmac_digest(h, server_key, self._auth_message)
        return self._client_final_bare.encode("utf-8") + b",p=" + base64.b64encode(proof)

    def verify(self, server_final: bytes) -> None:
        """Check the server's signature; raise `AuthError` unless it proves the key."""
        if not self._server_signature:
            raise AuthError("server-signature", "no exchange to verify")
        attrs = _parse_attrs(server_final)
        if "e" in attrs:
            raise AuthError("not-authorized", attrs["e"])
        try:
            signature = base64.b64decode(attrs.get("v", ""), validate=True)
        except ValueError:
            raise AuthError("server-signature", "bad encoding") from None
        if not _equal(signature, self._server_signature):
            raise AuthError("server-signature", "server signature mismatch")
        self.verified = True


class Plain:
    """SASL PLAIN (RFC 4616). Sends the password itself: only over TLS."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def initial(self) -> bytes:
        return b"\x00" + self.username.encode("utf-8") + b"\x00" + self.password.encode("utf-8")


class ScramKey:
    """A remembered SCRAM login: SaltedPassword and what it was derived with.

    It logs in as the password does (`Scram.finish`), for as long as the
    server keeps the same salt and iteration count. It is the password's
    equal for this server, so it is kept only on a trusted device.
    """

    __slots__ = ("iterations", "mechanism", "salt", "salted_password")

    def __init__(
        self, mechanism: str, salt: bytes, iterations: int, salted_password: bytes
    ) -> None:
        hash_name = _SCRAM_HASH.get(mechanism)
        if hash_name is None:
            raise ValueError("not a SCRAM mechanism: " + mechanism)
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise ValueError("iteration count out of range")
        if len(salted_password) != _KEY_SIZE[hash_name] or not salt:
            raise ValueError("bad key or salt")
        self.mechanism = mechanism
        self.salt = bytes(salt)
        self.iterations = int(iterations)
        self.salted_password = bytes(salted_password)

    @property
    def hash_name(self) -> str:
        return _SCRAM_HASH[self.mechanism]

    def fits(self, hash_name: str, salt: bytes, iterations: int) -> bool:
        """True when the server asks for exactly this key (same hash, salt, count)."""
        return (
            hash_name == self.hash_name
            and iterations == self.iterations
            and _equal(bytes(salt), self.salt)
        )

    def to_record(self) -> dict[str, object]:
        """JSON-like form for storage (bytes as base64)."""
        return {
            "mechanism": self.mechanism,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "iterations": self.iterations,
            "salted_password": base64.b64encode(self.salted_password).decode("ascii"),
        }

    @classmethod
    def from_record(cls, record: object) -> ScramKey:
        """The key `to_record()` gave; ValueError for anything else."""
        if not isinstance(record, dict):
            raise ValueError("not a record")
        mechanism, salt, iterations, key = (
            record.get("mechanism"),
            record.get("salt"),
            record.get("iterations"),
            record.get("salted_password"),
        )
        if not (isinstance(mechanism, str) and isinstance(salt, str) and isinstance(key, str)):
            raise ValueError("missing field")
        if isinstance(iterations, bool) or not isinstance(iterations, (int, float)):
            raise ValueError("bad iteration count")
        if iterations != int(iterations):
            raise ValueError("bad iteration count")
        try:
            salt_bytes = base64.b64decode(salt, validate=True)
            key_bytes = base64.b64decode(key, validate=True)
        except ValueError:
            raise ValueError("bad base64") from None
        return cls(mechanism, salt_bytes, int(iterations), key_bytes)
