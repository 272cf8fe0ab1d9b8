"""SASL client mechanisms: SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802/7677) and PLAIN.

Sans-I/O and Brython-friendly: HMAC (RFC 2104) is written out here because
`hmac.new()` fails under Brython, and PBKDF2 is *not* done here at all. The
SCRAM exchange stops after the server-first message and hands the caller a
`DeriveKey` request; the caller computes
`PBKDF2-HMAC(hash_name, password_utf8, salt, iterations)` (WebCrypto in the
browser, `hashlib.pbkdf2_hmac` in CPython) and passes it to `finish()`.

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
