"""Sending one Web Push (RFC 8030) with an encrypted payload (RFC 8291) and VAPID.

* `encrypt` — RFC 8291 `aes128gcm` through the `http_ece` library, with a
  fresh sender key and salt per message.
* `RetryPolicy` — when to try again (429/5xx/unreachable: exponential backoff,
  `Retry-After` honoured, bounded attempts).
* `GuardedBackend` — the SSRF guard: push endpoints come from browsers, i.e.
  from users; the connection is made only to the address that was checked
  (no DNS rebinding between check and connect).
* `WebPushSender.send` — one push, its outcome a `PushResult`.

Nothing here logs an endpoint's path (a bearer capability), keys or payloads:
only the push service's host and the status.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import enum
import ipaddress
import logging
import os
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import http_ece
import httpcore
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from backend.push.vapid import VapidSigner

logger = logging.getLogger("roost.push")

Urgency = Literal["very-low", "low", "normal", "high"]
MAX_ENDPOINT_LENGTH: Final = 2048
# RFC 8291 §4: one record; 4096 is what browsers' push services accept.
RECORD_SIZE: Final = 4096
MAX_PLAINTEXT: Final = 3000
HTTP_TIMEOUT: Final = 10.0
MAX_CONCURRENT_CONNECTIONS: Final = 64


class EndpointRefused(Exception):
    """The endpoint is not a public https:// URL (or resolves to a private address)."""


class PushResult(enum.Enum):
    """What became of one push."""

    SENT = "sent"  # 2xx: the push service took it
    GONE = "gone"  # 404/410: the subscription expired or was revoked — delete it
    DROPPED = "dropped"  # other 4xx or a refused endpoint: retrying can't help
    GAVE_UP = "gave-up"  # 429/5xx/unreachable on every attempt


# -- payload encryption -------------------------------------------------------


def b64url_decode(value: str) -> bytes:
    """Decode base64url with or without padding; ValueError if it is not."""
    if not value or any(c not in _B64URL for c in value.rstrip("=")):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


_B64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def check_keys(p256dh: str, auth: str) -> tuple[bytes, bytes]:
    """The subscription's keys as bytes; ValueError unless a P-256 point and 16 bytes."""
    point = b64url_decode(p256dh)
    secret = b64url_decode(auth)
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        raise ValueError("p256dh must be an uncompressed P-256 point, auth 16 bytes")
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)  # on the curve?
    return point, secret


def encrypt(plaintext: bytes, p256dh: bytes, auth: bytes, *, salt: bytes | None = None,
            sender_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """The RFC 8291 `aes128gcm` body for `plaintext` to the browser key `p256dh`.

    `salt` and `sender_key` are fresh random ones unless given (tests pass the
    RFC 8291 Appendix A values to check the output byte for byte).
    """
    return bytes(http_ece.encrypt(
        plaintext,
        salt=salt if salt is not None else os.urandom(16),
        private_key=sender_key if sender_key is not None else ec.generate_private_key(
            ec.SECP256R1()),
        dh=p256dh,
        auth_secret=auth,
        rs=RECORD_SIZE,
        version="aes128gcm",
    ))


# -- retries --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for 429/5xx/unreachable, honouring `Retry-After`.

    Attempt n (1-based) failed → wait `base_delay * 2**(n-1)` (capped at
    `max_delay`) or what `Retry-After` asks, whichever is longer; a
    `Retry-After` beyond `max_retry_after` means "not in a useful time":
    give up rather than deliver a stale notification.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0

    def delay(self, attempt: int, retry_after: str | None = None,
              now: float | None = None) -> float | None:
        """Seconds to wait after failed `attempt`, or None to give up."""
        if attempt >= self.attempts:
            return None
        backoff = float(min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1)))
        asked = parse_retry_after(retry_after, time.time() if now is None else now)
        if asked is None:
            return backoff
        if asked > self.max_retry_after:
            return None
        return float(max(backoff, asked))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` (RFC 9110 §10.2.3: seconds or an HTTP date) in seconds from `now`."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdecimal():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def is_retryable(status: int) -> bool:
    return status == 429 or status >= 500


# -- the SSRF guard -----------------------------------------------------------


def endpoint_problem(endpoint: str, allow_private: bool = False) -> str | None:
    """Why `endpoint` can't be a push endpoint (checked without DNS), or None."""
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        return "too long"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a URL"
    if parts.scheme != "https":
        return "not https://"
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return "no host, or credentials in the URL"
    if any(c.isspace() or ord(c) < 32 for c in endpoint):
        return "control characters"
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    if not allow_private and not address.is_global:
        return "a private or loopback address"
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to public addresses.

    The name is resolved here and the connection made to the very address
    that passed the check (TLS still verifies the certificate for the name).
    """

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        addresses = [str(info[4][0]) for info in infos]
        allowed = [a for a in addresses
                   if self.allow_private or ipaddress.ip_address(a.split("%")[0]).is_global]
        if not allowed:
            raise EndpointRefused(f"{host} resolves to private addresses only")
        last: Exception | None = None
        for address in allowed:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EndpointRefused("no Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def make_client(allow_private: bool = False, ca_file: Path | None = None) -> httpx.AsyncClient:
    """The HTTP client for push services: guarded, verified, no proxies from the environment."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    transport = httpx.AsyncHTTPTransport(
        verify=context, retries=0,
        limits=httpx.Limits(max_connections=MAX_CONCURRENT_CONNECTIONS,
                            max_keepalive_connections=16),
    )
    # httpx has no parameter for it: swap the pool's network backend for the guard.
    transport._pool._network_backend = GuardedBackend(allow_private)
    return httpx.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT, trust_env=False,
                             follow_redirects=False)


# -- the sender -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """Where one push goes: the browser's subscription."""

    endpoint: str
    p256dh: str
    auth: str


class WebPushSender:
    """Sends encrypted, VAPID-signed pushes; retries per `retry`."""

    def __init__(self, signer: VapidSigner, *, ttl: int = 86400,
                 retry: RetryPolicy | None = None, allow_private: bool = False,
                 ca_file: Path | None = None, client: httpx.AsyncClient | None = None) -> None:
        self.signer = signer
        self.ttl = ttl
        self.retry = retry or RetryPolicy()
        self.allow_private = allow_private
        self._client = client or make_client(allow_private, ca_file)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, target: Target, plaintext: bytes, *,
                   urgency: Urgency = "high", topic: str | None = None) -> PushResult:
        """Deliver `plaintext` to `target`, retrying as the policy allows."""
        service = urlsplit(target.endpoint).hostname or "?"
        problem = endpoint_problem(target.endpoint, self.allow_private)
        if problem:
            logger.warning("push to %s not sent: endpoint is %s", service, problem)
            return PushResult.DROPPED
        if len(plaintext) > MAX_PLAINTEXT:
            logger.warning("push to %s not sent: payload too large", service)
            return PushResult.DROPPED
        try:
            p256dh, auth = check_keys(target.p256dh, target.auth)
        except ValueError:
            logger.warning("push to %s not sent: bad subscription keys", service)
            return PushResult.DROPPED
        attempt = 0
        while True:
            attempt += 1
            # A fresh key and salt per attempt: never reuse key material.
            body = encrypt(plaintext, p256dh, auth)
            headers = {
                "TTL": str(self.ttl),
                "Urgency": urgency,
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "Authorization": self.signer.authorization(target.endpoint),
            }
            if topic:
                headers["Topic"] = topic
            retry_after: str | None = None
            try:
                response = await self._client.post(target.endpoint, content=body,
                                                   headers=headers)
            except EndpointRefused as exc:
                logger.warning("push to %s not sent: %s", service, exc)
                return PushResult.DROPPED
            except httpx.HTTPError as exc:
                status = 0
                what = type(exc).__name__
            else:
                status = response.status_code
                what = f"HTTP {status}"
                retry_after = response.headers.get("retry-after")
                if 200 <= status < 300:
                    return PushResult.SENT
                if status in (404, 410):
                    return PushResult.GONE
                if not is_retryable(status):
                    logger.warning("push to %s refused: %s", service, what)
                    return PushResult.DROPPED
            delay = self.retry.delay(attempt, retry_after)
            if delay is None:
                logger.warning("push to %s failed after %d attempt(s): %s",
                               service, attempt, what)
                return PushResult.GAVE_UP
            logger.info("push to %s: %s, retrying in %.1f s", service, what, delay)
            await asyncio.sleep(delay)
