"""VAPID (RFC 8292): the gateway's P-256 key and the `Authorization` header.

The private key is a PEM file: the configured one, or one generated on first
start into the data dir (mode 0600). Its public key, base64url of the
uncompressed point, is what browsers pass to `PushManager.subscribe` as
`applicationServerKey` (served in `/config.json`): a new key would invalidate
every subscription, so the file must be kept (and backed up) with the data.

Signing is `py_vapid`'s; a token is reused per push-service origin until
it is an hour from expiry (one ECDSA signature per origin and ~11 hours, not
per push).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

logger = logging.getLogger("roost.push")

DEFAULT_KEY_NAME: Final = "vapid-private-key.pem"
# RFC 8292 §2: exp at most 24 h ahead; 12 h leaves room for clock skew.
TOKEN_LIFETIME: Final = 12 * 3600
RENEW_BEFORE: Final = 3600


class VapidKeyError(Exception):
    """The VAPID key file is unusable; the message says why."""


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key in `path` (PEM), created (mode 0600) if missing."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    except OSError as exc:
        raise VapidKeyError(f"cannot read VAPID key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        raise VapidKeyError(f"{path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VapidKeyError(f"{path} is not a P-256 (prime256v1) key, which VAPID needs")
    if path.stat().st_mode & 0o077:
        logger.warning("VAPID key %s is readable by other users: chmod 600 it", path)
    return key


def _create(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_key(path)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    logger.info("created a VAPID key in %s (keep it: browsers subscribed with it)", path)
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The `applicationServerKey`: base64url of the 65-byte uncompressed point."""
    return b64url(key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def audience(endpoint: str) -> str:
    """The `aud` claim for `endpoint`: its origin (scheme://host[:port])."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port not in (None, 443) else ""
    return f"{parts.scheme}://{host}{port}"


class VapidSigner:
    """Makes `Authorization: vapid t=<JWT>,k=<public key>` headers (RFC 8292 §3)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._vapid = Vapid02(key)
        self.subject = subject
        self.public_key = public_key_b64(key)
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}

    def authorization(self, endpoint: str) -> str:
        """The header value for a push to `endpoint`."""
        aud = audience(endpoint)
        now = self._clock()
        cached = self._cache.get(aud)
        if cached is not None and cached[0] - RENEW_BEFORE > now:
            return cached[1]
        exp = int(now) + TOKEN_LIFETIME
        header: str = self._vapid.sign({"aud": aud, "exp": exp, "sub": self.subject})[
            "Authorization"]
        if len(self._cache) > 1000:  # a handful of push services in practice
            self._cache.clear()
        self._cache[aud] = (exp, header)
        return header
