"""WebPushSender against the test push service (real HTTPS, real crypto):
VAPID verified and payload decrypted independently, status handling, SSRF guard."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.push.vapid import VapidSigner, audience, load_or_create_key
from backend.push.webpush import PushResult, RetryPolicy, Target, WebPushSender
from tests.support.aio import run
from tests.support.webpush_receiver import PushSubscription, WebPushReceiver, verify_vapid

FAST = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[WebPushReceiver]:
    with WebPushReceiver(tmp_path / "receiver") as r:
        yield r


@pytest.fixture
def signer(tmp_path: Path) -> VapidSigner:
    return VapidSigner(load_or_create_key(tmp_path / "vapid.pem"), "mailto:ops@example.org")


def send(receiver: WebPushReceiver, signer: VapidSigner, sub: PushSubscription,
         plaintext: bytes = b'{"v":1}', allow_private: bool = True,
         endpoint: str | None = None) -> PushResult:
    async def go() -> PushResult:
        sender = WebPushSender(signer, ttl=60, retry=FAST, allow_private=allow_private,
                               ca_file=receiver.ca_file)
        try:
            return await sender.send(Target(endpoint or sub.endpoint, sub.p256dh, sub.auth),
                                     plaintext)
        finally:
            await sender.aclose()

    return run(go())


def test_delivered_verified_and_decrypted(receiver: WebPushReceiver, signer: VapidSigner) -> None:
    sub = receiver.new_subscription(vapid_key=signer.public_key)
    assert send(receiver, signer, sub, "héllo".encode()) is PushResult.SENT
    (push,) = receiver.wait_for(1)
    assert push.plaintext == "héllo".encode()
    assert push.claims["aud"] == receiver.origin
    assert push.claims["sub"] == "mailto:ops@example.org"
    assert push.headers["TTL"] == "60" and push.headers["Urgency"] == "high"
    assert push.vapid_key == signer.public_key


def test_a_vapid_token_is_reused_per_origin_until_near_expiry(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    signer = VapidSigner(load_or_create_key(tmp_path / "k.pem"), "mailto:a@example.org",
                         clock=lambda: clock[0])
    one = signer.authorization("https://push.example/a")
    assert signer.authorization("https://push.example/b") == one
    assert signer.authorization("https://other.example/b") != one
    claims, _ = verify_vapid(one, "https://push.example", now=clock[0])
    assert claims["exp"] == int(clock[0]) + 12 * 3600
    clock[0] += 11.5 * 3600
    assert signer.authorization("https://push.example/a") != one
    assert audience("https://push.example:8443/x?y") == "https://push.example:8443"
    assert audience("https://push.example:443/x") == "https://push.example"


def test_gone_on_410_and_404(receiver: WebPushReceiver, signer: VapidSigner) -> None:
    sub = receiver.new_subscription()
    receiver.expire(sub)
    assert send(receiver, signer, sub) is PushResult.GONE
    receiver.respond(404)
    assert send(receiver, signer, receiver.new_subscription()) is PushResult.GONE


def test_429_and_500_are_retried_honouring_retry_after(
        receiver: WebPushReceiver, signer: VapidSigner) -> None:
    sub = receiver.new_subscription()
    receiver.respond(429, retry_after="1")
    receiver.respond(500)
    start = time.monotonic()
    assert send(receiver, signer, sub) is PushResult.SENT
    assert time.monotonic() - start >= 1.0  # waited as asked
    assert [status for _, status, _ in receiver.requests] == [429, 500, 201]
    assert len(receiver.received) == 1


def test_gives_up_after_the_attempts(receiver: WebPushReceiver, signer: VapidSigner) -> None:
    receiver.respond(503, times=5)
    assert send(receiver, signer, receiver.new_subscription()) is PushResult.GAVE_UP
    assert len(receiver.requests) == FAST.attempts


def test_other_4xx_is_dropped_without_retry(receiver: WebPushReceiver,
                                            signer: VapidSigner) -> None:
    receiver.respond(400)
    assert send(receiver, signer, receiver.new_subscription()) is PushResult.DROPPED
    assert len(receiver.requests) == 1


def test_a_wrong_vapid_key_is_refused_by_the_push_service(
        receiver: WebPushReceiver, signer: VapidSigner) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    sub = receiver.new_subscription(vapid_key=VapidSigner(other, "mailto:a@b.example").public_key)
    assert send(receiver, signer, sub) is PushResult.DROPPED
    assert receiver.requests[0][1] == 403


def test_private_endpoints_refused_unless_allowed(receiver: WebPushReceiver,
                                                  signer: VapidSigner) -> None:
    sub = receiver.new_subscription()
    assert send(receiver, signer, sub, allow_private=False) is PushResult.DROPPED
    # A *name* resolving to loopback is refused at connect time (no DNS rebinding).
    by_name = sub.endpoint.replace("127.0.0.1", "localhost")
    assert send(receiver, signer, sub, allow_private=False,
                endpoint=by_name) is PushResult.DROPPED
    assert receiver.requests == []
    assert send(receiver, signer, sub, allow_private=False,
                endpoint=sub.endpoint.replace("https:", "http:")) is PushResult.DROPPED


def test_untrusted_certificate_is_not_a_push(tmp_path: Path, signer: VapidSigner) -> None:
    with WebPushReceiver(tmp_path / "r2") as receiver:
        sub = receiver.new_subscription()

        async def go() -> PushResult:
            sender = WebPushSender(signer, retry=RetryPolicy(attempts=1), allow_private=True)
            try:
                return await sender.send(Target(sub.endpoint, sub.p256dh, sub.auth), b"x")
            finally:
                await sender.aclose()

        assert run(go()) is PushResult.GAVE_UP
        assert receiver.received == []
