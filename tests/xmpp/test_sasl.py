"""SCRAM against the RFC test vectors, byte for byte, and PLAIN."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from roost.xmpp.errors import AuthError
from roost.xmpp.sasl import (
    MAX_ITERATIONS,
    SCRAM_SHA_1,
    SCRAM_SHA_256,
    Plain,
    Scram,
    ScramKey,
    hmac_digest,
    scram_mechanism,
)


def test_hmac_matches_the_stdlib() -> None:
    for name in ("sha1", "sha256"):
        for key in (b"", b"k", b"k" * 64, b"k" * 65, bytes(range(200))):
            for msg in (b"", b"message", bytes(range(256)) * 3):
                assert hmac_digest(name, key, msg) == hmac.new(key, msg, name).digest()


def test_rfc_2202_hmac_sha1_vector() -> None:
    assert hmac_digest("sha1", b"\x0b" * 20, b"Hi There").hex() == (
        "b617318655057264e28bc0b6fb378c8ef146be00"
    )


def _run(hash_name: str, nonce: str, server_first: bytes) -> tuple[Scram, bytes]:
    scram = Scram(hash_name, "user", "pencil", nonce)
    derive = scram.challenge(server_first)
    assert derive.hash_name == hash_name
    assert derive.iterations == 4096
    salted = hashlib.pbkdf2_hmac(hash_name, b"pencil", derive.salt, derive.iterations)
    return scram, scram.finish(salted)


def test_rfc_5802_scram_sha_1_vector() -> None:
    scram = Scram("sha1", "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL")
    assert scram.initial() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    scram, final = _run(
        "sha1",
        "fyko+d2lbbFgONRv9qkxdawL",
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    )
    assert final == (
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    scram.verify(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
    assert scram.verified


def test_rfc_7677_scram_sha_256_vector() -> None:
    scram = Scram("sha256", "user", "pencil", "rOprNGfwEbeRWgbNEkqO")
    assert scram.initial() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    scram, final = _run(
        "sha256",
        "rOprNGfwEbeRWgbNEkqO",
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    )
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_wrong_server_signature_is_refused() -> None:
    scram, _ = _run(
        "sha256",
        "rOprNGfwEbeRWgbNEkqO",
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    )
    with pytest.raises(AuthError) as info:
        scram.verify(b"v=" + base64.b64encode(b"\x00" * 32))
    assert info.value.condition == "server-signature"
    assert not scram.verified
    with pytest.raises(AuthError) as info:
        scram.verify(b"e=invalid-proof")
    assert info.value.condition == "not-authorized"


def test_verify_before_finish_is_refused() -> None:
    with pytest.raises(AuthError):
        Scram("sha1", "user", "pencil", "abc").verify(b"v=AAAA")


def test_username_is_escaped() -> None:
    scram = Scram("sha256", "a=b,c", "pw", "N")
    assert scram.initial() == b"n,,n=a=3Db=2Cc,r=N"


@pytest.mark.parametrize(
    ("server_first", "condition"),
    [
        (b"r=OTHERnonce,s=QSXCR+Q6sek8bf92,i=4096", "malformed-challenge"),
        (b"r=clientnonce,s=QSXCR+Q6sek8bf92,i=4096", "malformed-challenge"),  # not extended
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=4095", "weak-iterations"),
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=1", "weak-iterations"),
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=1000001", "excessive-iterations"),
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=99999999999999999999", "excessive-iterations"),
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=-5000", "malformed-challenge"),
        (b"r=clientnonceX,s=QSXCR+Q6sek8bf92", "malformed-challenge"),
        (b"r=clientnonceX,s=***,i=4096", "malformed-challenge"),
        (b"m=ext,r=clientnonceX,s=QSXCR+Q6sek8bf92,i=4096", "malformed-challenge"),
        (b"garbage", "malformed-challenge"),
        (b"\xff\xfe", "malformed-challenge"),
    ],
)
def test_bad_server_first(server_first: bytes, condition: str) -> None:
    scram = Scram("sha256", "user", "pencil", "clientnonce")
    with pytest.raises(AuthError) as info:
        scram.challenge(server_first)
    assert info.value.condition == condition


def test_exactly_4096_iterations_is_accepted() -> None:
    scram = Scram("sha256", "user", "pencil", "clientnonce")
    assert scram.challenge(b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=4096").iterations == 4096


def test_iteration_upper_bound() -> None:
    """PBKDF2 runs in the browser: a server can't make it run for minutes."""
    scram = Scram("sha256", "user", "pencil", "clientnonce")
    first = b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=%d" % MAX_ITERATIONS
    assert scram.challenge(first).iterations == MAX_ITERATIONS == 1_000_000
    with pytest.raises(AuthError) as info:
        Scram("sha256", "u", "p", "clientnonce").challenge(
            b"r=clientnonceX,s=QSXCR+Q6sek8bf92,i=%d" % (MAX_ITERATIONS + 1)
        )
    assert info.value.condition == "excessive-iterations"
    assert "refused to sign in" in info.value.user_message


def test_plain() -> None:
    assert Plain("alice", "pässword").initial() == b"\x00alice\x00p\xc3\xa4ssword"


# -- remembered keys (ScramKey) ----------------------------------------------------


def test_a_stored_key_gives_the_same_proof_as_the_password() -> None:
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    _scram, with_password = _run("sha256", "rOprNGfwEbeRWgbNEkqO", server_first)
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    key = ScramKey(
        scram_mechanism("sha256"), salt, 4096,
        hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096),
    )
    stored = ScramKey.from_record(key.to_record())
    scram = Scram("sha256", "user", "", "rOprNGfwEbeRWgbNEkqO")  # no password at all
    derive = scram.challenge(server_first)
    assert stored.fits(derive.hash_name, derive.salt, derive.iterations)
    assert scram.finish(stored.salted_password) == with_password
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    assert scram.verified


def test_a_stored_key_fits_only_its_hash_salt_and_count() -> None:
    key = ScramKey(SCRAM_SHA_1, b"salt", 4096, bytes(20))
    assert key.hash_name == "sha1" and key.fits("sha1", b"salt", 4096)
    assert not key.fits("sha256", b"salt", 4096)
    assert not key.fits("sha1", b"salt2", 4096)
    assert not key.fits("sha1", b"salt", 8192)


def test_a_record_never_holds_a_password() -> None:
    record = ScramKey(SCRAM_SHA_256, b"s", 4096, bytes(32)).to_record()
    assert sorted(record) == ["iterations", "mechanism", "salt", "salted_password"]


@pytest.mark.parametrize(
    "record",
    [
        None,
        "text",
        {},
        {"mechanism": "PLAIN", "salt": "c2FsdA==", "iterations": 4096,
         "salted_password": base64.b64encode(bytes(32)).decode()},
        {"mechanism": SCRAM_SHA_256, "salt": "c2FsdA==", "iterations": 4096,
         "salted_password": base64.b64encode(bytes(20)).decode()},  # wrong size
        {"mechanism": SCRAM_SHA_256, "salt": "c2FsdA==", "iterations": 100,
         "salted_password": base64.b64encode(bytes(32)).decode()},  # too few
        {"mechanism": SCRAM_SHA_256, "salt": "c2FsdA==", "iterations": True,
         "salted_password": base64.b64encode(bytes(32)).decode()},
        {"mechanism": SCRAM_SHA_256, "salt": "not base64!", "iterations": 4096,
         "salted_password": base64.b64encode(bytes(32)).decode()},
        {"mechanism": SCRAM_SHA_256, "salt": "", "iterations": 4096,
         "salted_password": base64.b64encode(bytes(32)).decode()},
    ],
)
def test_unusable_records_are_refused(record: object) -> None:
    with pytest.raises(ValueError):
        ScramKey.from_record(record)
