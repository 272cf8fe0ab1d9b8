"""RFC 8291 Appendix A, byte for byte: Roost's sender (http_ece) and the test
receiver's independent decryption (cryptography primitives)."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.push.webpush import b64url_decode, encrypt
from tests.support.webpush_receiver import DecryptError, b64url, decrypt_aes128gcm, public_bytes

# RFC 8291 Appendix A ("as" = application server, "ua" = user agent).
PLAINTEXT = b"When I grow up, I want to be a watermelon"
AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
AS_PUBLIC = ("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3"
             "jl7A8")
UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
UA_PUBLIC = ("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNto"
             "IAiw4")
SALT = "DGv6ra1nlYgDCS1FRnbzlw"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
BODY = ("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
        "WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQex"
        "SgSxsj_Qulcy4a-fN")


def private_key(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(b64), "big"), ec.SECP256R1())


def test_vector_keys_are_consistent() -> None:
    assert b64url(public_bytes(private_key(AS_PRIVATE))) == AS_PUBLIC
    assert b64url(public_bytes(private_key(UA_PRIVATE))) == UA_PUBLIC


def test_sender_encrypts_the_vector_byte_exact() -> None:
    body = encrypt(PLAINTEXT, b64url_decode(UA_PUBLIC), b64url_decode(AUTH),
                   salt=b64url_decode(SALT), sender_key=private_key(AS_PRIVATE))
    assert b64url(body) == BODY


def test_receiver_decrypts_the_vector() -> None:
    plain = decrypt_aes128gcm(b64url_decode(BODY), private_key(UA_PRIVATE), b64url_decode(AUTH))
    assert plain == PLAINTEXT


def test_receiver_rejects_a_tampered_body_and_a_wrong_auth_secret() -> None:
    body = bytearray(b64url_decode(BODY))
    body[-1] ^= 1
    with pytest.raises(DecryptError):
        decrypt_aes128gcm(bytes(body), private_key(UA_PRIVATE), b64url_decode(AUTH))
    with pytest.raises(DecryptError):
        decrypt_aes128gcm(b64url_decode(BODY), private_key(UA_PRIVATE), os.urandom(16))


def test_fresh_key_and_salt_per_message_round_trip() -> None:
    ua = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    text = "ünïcode ✓ ".encode() * 200  # several hundred bytes, one record
    one, two = (encrypt(text, public_bytes(ua), auth) for _ in range(2))
    assert one[:16] != two[:16] and one[21:86] != two[21:86]  # salt and sender key differ
    assert decrypt_aes128gcm(one, ua, auth) == decrypt_aes128gcm(two, ua, auth) == text
