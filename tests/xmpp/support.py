"""Test helpers shared by tests/xmpp and tests/app: a SCRAM server side and
deterministic randomness. The server side uses CPython's `hmac`/`hashlib`, an
implementation independent of roost.xmpp.sasl's hand-written HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac

from roost.xmpp.xmlparse import parse_xml

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SERVER_OPEN = f'<open xmlns="{FRAMING}" from="example.org" id="s1" version="1.0" xml:lang="en"/>'


class CountingRandom:
    """Call k (from 1) returns n bytes of value k: ids in transcripts are predictable."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return bytes([self.calls % 256]) * n


def features(*children: str) -> str:
    return (
        '<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
        + "".join(children)
        + "</stream:features>"
    )


def mechanisms(*names: str) -> str:
    return (
        '<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">'
        + "".join(f"<mechanism>{n}</mechanism>" for n in names)
        + "</mechanisms>"
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def element_text(frame: str) -> str:
    return parse_xml(frame).text


class ScramServer:
    """The server half of SCRAM (RFC 5802), for one exchange."""

    def __init__(
        self,
        username: str,
        password: str,
        hash_name: str = "sha256",
        salt: bytes = b"roost-test-salt!",
        iterations: int = 4096,
        server_nonce: str = "srvNONCE",
    ) -> None:
        self.username = username
        self.hash_name = hash_name
        self.salt = salt
        self.iterations = iterations
        self.server_nonce = server_nonce
        self.salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
        self.auth_message = b""

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash_name).digest()

    def first(self, client_first: bytes) -> bytes:
        assert client_first.startswith(b"n,,")
        self.client_first_bare = client_first[3:]
        attrs = dict(p.split(b"=", 1) for p in self.client_first_bare.split(b","))
        assert attrs[b"n"] == self.username.encode()
        self.nonce = attrs[b"r"] + self.server_nonce.encode()
        self.server_first = (
            b"r="
            + self.nonce
            + b",s="
            + base64.b64encode(self.salt)
            + b",i="
            + str(self.iterations).encode()
        )
        return self.server_first

    def final(self, client_final: bytes) -> bytes:
        """Check the client's proof; return server-final (v=...)."""
        without_proof, _, proof = client_final.rpartition(b",p=")
        assert without_proof == b"c=biws,r=" + self.nonce
        self.auth_message = self.client_first_bare + b"," + self.server_first + b"," + without_proof
        client_key = self._hmac(self.salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        signature = self._hmac(stored_key, self.auth_message)
        recovered = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        if hashlib.new(self.hash_name, recovered).digest() != stored_key:
            raise AssertionError("client proof is wrong")
        server_key = self._hmac(self.salted, b"Server Key")
        return b"v=" + base64.b64encode(self._hmac(server_key, self.auth_message))
