"""A stand-in for a browser vendor's push service (RFC 8030), on loopback HTTPS.

What it does, so tests can check Roost's push gateway end to end:

* serves HTTPS on 127.0.0.1 with a certificate from a CA it makes itself
  (`ca_file`: give it to Roost as `[push] ca_file`);
* plays the browser too: `new_subscription()` makes a P-256 key pair and an
  auth secret, like `PushManager.subscribe`, and returns the endpoint and
  keys a browser would send in its `<register/>`;
* for every POST to an endpoint: verifies the VAPID header (RFC 8292:
  `vapid t=<ES256 JWT>,k=<key>`, `aud` = this origin, `exp` within 24 h,
  a `sub`), the `TTL`/`Urgency`/`Content-Encoding` headers, and decrypts the
  body (RFC 8291 `aes128gcm`) with the subscription's private key;
* answers 201, or what the test scripted (`respond(410)`, `respond(429,
  retry_after="1")`, `respond(500, times=2)`), or 410 forever for an
  `expire()`d subscription.

The decryption is written here on `cryptography`'s primitives (ECDH, HKDF,
AES-GCM), independently of the `http_ece` library Roost's sender uses, and is
checked against RFC 8291 Appendix A by the tests.

Use from any test (sync API; the server runs on its own thread)::

    with WebPushReceiver(tmp_path) as receiver:
        sub = receiver.new_subscription()
        ... register sub.endpoint / sub.p256dh / sub.auth with the component ...
        (push,) = receiver.wait_for(1)
        assert push.json == {"v": 1, "account": "alice@localhost", ...}
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

URGENCIES = ("very-low", "low", "normal", "high")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


# -- RFC 8291 + RFC 8188 decryption (independent of http_ece) -------------------


class DecryptError(Exception):
    pass


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey,
                      auth_secret: bytes) -> bytes:
    """The plaintext of a Web Push message body (RFC 8291 §3.4, RFC 8188 §2)."""
    if len(body) < 21:
        raise DecryptError("shorter than the header")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    keyid, ciphertext = body[21:21 + idlen], body[21 + idlen:]
    if idlen != 65 or rs < 18:
        raise DecryptError(f"keyid length {idlen} / record size {rs}")
    as_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
    ecdh_secret = ua_private.exchange(ec.ECDH(), as_public)
    key_info = b"WebPush: info\x00" + public_bytes(ua_private) + keyid
    ikm = _hkdf(auth_secret, ecdh_secret, key_info, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce_base = int.from_bytes(_hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12), "big")
    records = [ciphertext[i:i + rs] for i in range(0, len(ciphertext), rs)] or [b""]
    plaintext = b""
    for seq, record in enumerate(records):
        nonce = (nonce_base ^ seq).to_bytes(12, "big")
        try:
            padded = AESGCM(cek).decrypt(nonce, record, None)
        except InvalidTag:
            raise DecryptError(f"record {seq} does not authenticate") from None
        data = padded.rstrip(b"\x00")
        last = seq == len(records) - 1
        if not data or data[-1] != (2 if last else 1):
            raise DecryptError(f"record {seq}: bad padding delimiter")
        plaintext += data[:-1]
    return plaintext


# -- RFC 8292 VAPID verification ---------------------------------------------------


class VapidError(Exception):
    pass


def verify_vapid(header: str, audience: str,
                 now: float | None = None) -> tuple[dict[str, Any], str]:
    """Check `Authorization: vapid t=…,k=…`; the JWT's claims and the key `k`."""
    now = time.time() if now is None else now
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(f"scheme {scheme!r}")
    values = {}
    for part in params.split(","):
        name, _, value = part.strip().partition("=")
        values[name.strip()] = value.strip()
    token, key = values.get("t", ""), values.get("k", "")
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        head = json.loads(unb64url(head_b64))
        claims = json.loads(unb64url(claims_b64))
        sig = unb64url(sig_b64)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    except (ValueError, TypeError) as exc:
        raise VapidError(f"malformed token or key: {exc}") from None
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise VapidError(f"not ES256: {head}")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidError("bad signature") from None
    if claims.get("aud") != audience:
        raise VapidError(f"aud {claims.get('aud')!r} != {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or not now < exp <= now + 86400 + 60:
        raise VapidError(f"exp {exp!r} not within 24 h")
    sub = claims.get("sub", "")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https://")):
        raise VapidError(f"sub {sub!r}")
    return claims, key


# -- the server --------------------------------------------------------------------


@dataclass
class PushSubscription:
    """What a browser's `PushManager.subscribe` yields, with the private key kept here."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    # The VAPID key the browser subscribed with (applicationServerKey); if set,
    # pushes signed with another key are refused (403), as push services do.
    vapid_key: str | None = None

    @property
    def p256dh(self) -> str:
        return b64url(public_bytes(self.private_key))

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def register_attrs(self, device: str, privacy: str = "text") -> dict[str, str]:
        """The attributes of `<register xmlns='urn:roost:push:0'/>` for this subscription."""
        return {"device": device, "endpoint": self.endpoint, "p256dh": self.p256dh,
                "auth": self.auth, "privacy": privacy}


@dataclass
class ReceivedPush:
    """One push that verified and decrypted."""

    subscription: str
    plaintext: bytes
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str
    status: int  # what the receiver answered
    t: float = field(default_factory=time.monotonic)  # when the request arrived (monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.plaintext)


def make_ca_and_cert(root: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key) PEM files."""
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Roost test push CA"))
          .issuer_name(name("Roost test push CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, key_cert_sign=True, crl_sign=True,
              content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    root.mkdir(parents=True, exist_ok=True)
    paths = root / "push-ca.pem", root / "push-cert.pem", root / "push-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return paths


class WebPushReceiver:
    """The fake push service. `start()`/`stop()` or use as a context manager."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root is not None else tempfile.TemporaryDirectory()
        self.root = Path(root if root is not None else self._tmp.name)  # type: ignore[union-attr]
        self.ca_file, self._cert, self._key = make_ca_and_cert(self.root)
        self.received: list[ReceivedPush] = []
        # Every request as (subscription id or path, status answered, reason if refused).
        self.requests: list[tuple[str, int, str]] = []
        self._subs: dict[str, PushSubscription] = {}
        self._expired: set[str] = set()
        self._script: list[tuple[int, str | None]] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> WebPushReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, extra = receiver._handle(self.path, dict(self.headers.items()), body,
                                                arrived)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                        name="webpush-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> WebPushReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use --------------------------------------------------------------
    def new_subscription(self, vapid_key: str | None = None) -> PushSubscription:
        """A new browser subscription (key pair + auth secret) with an endpoint here."""
        sub_id = secrets.token_urlsafe(16)
        sub = PushSubscription(
            sub_id, f"{self.origin}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()),
            secrets.token_bytes(16), vapid_key)
        with self._cond:
            self._subs[sub_id] = sub
        return sub

    def respond(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` valid pushes (any subscription) with `status`."""
        with self._cond:
            self._script.extend([(status, retry_after)] * times)

    def expire(self, sub: PushSubscription) -> None:
        """From now on, pushes to `sub` get 410 Gone (the user unsubscribed)."""
        with self._cond:
            self._expired.add(sub.id)

    def wait_for(self, count: int, timeout: float = 15.0,
                 subscription: PushSubscription | None = None) -> list[ReceivedPush]:
        """Wait until `count` pushes (to `subscription`, if given) were received."""
        def matching() -> list[ReceivedPush]:
            return [r for r in self.received
                    if subscription is None or r.subscription == subscription.id]
        with self._cond:
            if not self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(
                    f"{len(matching())} push(es) received, expected {count}; "
                    f"requests: {self.requests}")
            return matching()

    def wait_for_requests(self, count: int, timeout: float = 15.0) -> list[tuple[str, int, str]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} request(s), expected {count}")
            return list(self.requests)

    # -- request handling (server thread) ------------------------------------------------
    def _handle(self, path: str, headers: dict[str, str], body: bytes,
                arrived: float) -> tuple[int, dict[str, str]]:
        lower = {k.lower(): v for k, v in headers.items()}
        sub_id = path.removeprefix("/push/")
        with self._cond:
            sub = self._subs.get(sub_id)
        status, reason, extra = 201, "", {}
        received: ReceivedPush | None = None
        try:
            if sub is None:
                raise _Refuse(404, "no such subscription")
            if sub_id in self._expired:
                raise _Refuse(410, "expired")
            try:
                claims, key = verify_vapid(lower.get("authorization", ""), self.origin)
            except VapidError as exc:
                raise _Refuse(401, f"VAPID: {exc}") from None
            if sub.vapid_key is not None and key != sub.vapid_key:
                raise _Refuse(403, "VAPID key differs from the subscription's")
            if lower.get("content-encoding") != "aes128gcm":
                raise _Refuse(400, f"Content-Encoding {lower.get('content-encoding')!r}")
            if not (lower.get("ttl") or "").isdecimal():
                raise _Refuse(400, "TTL missing")
            if lower.get("urgency", "normal") not in URGENCIES:
                raise _Refuse(400, "bad Urgency")
            try:
                plaintext = decrypt_aes128gcm(body, sub.private_key, sub.auth_secret)
            except (DecryptError, ValueError) as exc:
                raise _Refuse(400, f"decrypt: {exc}") from None
            with self._cond:
                if self._script:
                    status, retry_after = self._script.pop(0)
                    if retry_after is not None:
                        extra["Retry-After"] = retry_after
            if 200 <= status < 300:
                extra["Location"] = f"{self.origin}/message/{secrets.token_urlsafe(8)}"
            received = ReceivedPush(sub_id, plaintext, headers, claims, key, status, arrived)
        except _Refuse as refuse:
            status, reason = refuse.status, refuse.reason
        with self._cond:
            self.requests.append((sub_id, status, reason))
            if received is not None and 200 <= status < 300:
                self.received.append(received)
            self._cond.notify_all()
        return status, extra


class _Refuse(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
