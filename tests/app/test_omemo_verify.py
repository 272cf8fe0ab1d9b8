"""OMEMO verification URIs (Conversations' `xmpp:…?omemo-sid-<id>=<hex>` format)."""

from __future__ import annotations

import pytest
from roost.app.omemo import BLIND, VERIFIED, OmemoManager
from roost.app.omemo_verify import (
    VerifyError,
    apply_verification,
    describe,
    own_uri,
    parse_verification_uri,
    verification_uri,
)

from tests.app.fakes import ALICE, BOB, logged_in
from tests.app.test_omemo_app import alice_keys, make_bob

K1 = bytes(range(32))
K2 = bytes(range(100, 132))


def test_format_is_conversations_and_round_trips() -> None:
    uri = verification_uri("alice@example.org", [(1234, K1), (99, K2)])
    assert uri == (
        "xmpp:alice@example.org?omemo-sid-1234=" + K1.hex() + ";omemo-sid-99=" + K2.hex()
    )
    assert parse_verification_uri(uri) == ("alice@example.org", {1234: K1, 99: K2})


def test_non_ascii_jid_is_percent_encoded_and_decoded() -> None:
    uri = verification_uri("zoë@example.org", [(7, K1)])
    assert uri.isascii() and "zo%C3%AB@" in uri
    assert parse_verification_uri(uri) == ("zoë@example.org", {7: K1})


def test_parsing_is_lenient_only_where_harmless() -> None:
    # Upper-case hex and scheme, surrounding whitespace, other parameters: fine.
    text = "  XMPP:Alice@Example.org?omemo-sid-5=" + K1.hex().upper() + ";otr-fingerprint=ab\n"
    assert parse_verification_uri(text) == ("alice@example.org", {5: K1})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://example.org/?omemo-sid-1=" + K1.hex(),
        "xmpp://alice@example.org?omemo-sid-1=" + K1.hex(),
        "xmpp:alice@example.org",
        "xmpp:alice@example.org?",
        "xmpp:alice@example.org?otr-fingerprint=abcd",
        "xmpp:alice@example.org/phone?omemo-sid-1=" + K1.hex(),
        "xmpp:@example.org?omemo-sid-1=" + K1.hex(),
        "xmpp:alice@exa mple.org?omemo-sid-1=" + K1.hex(),
        "xmpp:alice%ZZ@example.org?omemo-sid-1=" + K1.hex(),
        "xmpp:alice%FF@example.org?omemo-sid-1=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex()[:-1],
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex() + "00",
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex()[:-1] + "g",
        "xmpp:alice@example.org?omemo-sid-1=05" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-1=" + " ".join([K1.hex()[:32], K1.hex()[32:]]),
        "xmpp:alice@example.org?omemo-sid-=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-0=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid--1=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-01=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-2147483648=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-1a=" + K1.hex(),
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex() + ";omemo-sid-1=" + K2.hex(),
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex() + ";;",
        "xmpp:alice@example.org?omemo-sid-1",
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex() + "#frag",
        "xmpp:alice@example.org?omemo-sid-1=" + K1.hex() + ";x" * 3000,
    ],
)
def test_malformed_codes_are_refused_whole(text: str) -> None:
    with pytest.raises(VerifyError) as info:
        parse_verification_uri(text)
    assert str(info.value)  # a sentence for the user


def test_the_largest_device_id_is_fine() -> None:
    uri = "xmpp:a@b?omemo-sid-2147483647=" + K1.hex()
    assert parse_verification_uri(uri) == ("a@b", {2147483647: K1})


def test_uri_building_refuses_bad_devices() -> None:
    for devices in ([], [(0, K1)], [(1, K1[:31])], [(1, K1), (1, K2)]):
        with pytest.raises(ValueError):
            verification_uri("a@b", devices)


# -- applying a code to real OMEMO state --------------------------------------------------
def _alice_with_bob() -> tuple[object, OmemoManager, OmemoManager]:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    app.open_chat(BOB)
    platform.run()
    alice = alice_keys(app)
    # Only a device's id is known until a message (or bundle) shows its key.
    parsed = (BOB, {bob.device_id: _bob_key(bob)})
    early = apply_verification(alice, BOB, parsed)
    assert early.pending == [bob.device_id] and early.verified == []
    assert "hasn't received its key" in describe(early)
    app.send_message(BOB, "hi")  # type: ignore[attr-defined]
    platform.run()
    [device] = alice.active_devices(BOB)
    assert device.trust == BLIND
    return app, alice, bob


def _bob_key(bob: OmemoManager) -> bytes:
    assert bob.own is not None
    return bytes(bob.own.identity.curve25519_public)


def test_matching_code_verifies_the_device() -> None:
    app, alice, bob = _alice_with_bob()
    uri = own_uri(bob)
    assert uri == verification_uri(BOB, [(bob.device_id, _bob_key(bob))])
    calls: list[tuple[str, int, str]] = []

    def set_trust(jid: str, device_id: int, trust: str) -> None:
        calls.append((jid, device_id, trust))
        app.e2e.set_trust(jid, device_id, trust)  # type: ignore[attr-defined]

    result = apply_verification(alice, BOB, parse_verification_uri(uri), set_trust)
    assert result.ok and result.verified == [bob.device_id]
    assert calls == [(BOB, bob.device_id, VERIFIED)]
    assert [d.trust for d in alice.active_devices(BOB)] == [VERIFIED]
    assert describe(result) == "1 device verified."


def test_a_different_key_verifies_nothing_and_warns() -> None:
    _app, alice, bob = _alice_with_bob()
    key = bytearray(_bob_key(bob))
    key[5] ^= 1
    parsed = (BOB, {bob.device_id: bytes(key)})
    result = apply_verification(alice, BOB, parsed)
    assert not result.ok and result.mismatched == [bob.device_id] and result.verified == []
    assert [d.trust for d in alice.active_devices(BOB)] == [BLIND]
    assert "does NOT match" in describe(result) and "don't trust" in describe(result)


def test_a_mismatch_stops_the_matching_devices_too() -> None:
    _app, alice, bob = _alice_with_bob()
    # Bob's real device plus a second, known one whose key differs in the code.
    alice._identity_seen(BOB, 4242, b"\x05" + K1)
    parsed = (BOB, {bob.device_id: _bob_key(bob), 4242: K2})
    result = apply_verification(alice, BOB, parsed)
    assert result.mismatched == [4242] and result.verified == []
    assert all(d.trust != VERIFIED for d in alice.devices[BOB].values())


def test_unknown_devices_are_reported_not_verified() -> None:
    _app, alice, bob = _alice_with_bob()
    parsed = (BOB, {bob.device_id: _bob_key(bob), 777: K1})
    result = apply_verification(alice, BOB, parsed)
    assert result.verified == [bob.device_id] and result.unknown == [777]
    assert 777 not in alice.devices[BOB]
    text = describe(result)
    assert text.startswith("1 device verified.") and "Unknown device 777" in text


def test_a_code_for_another_account_does_nothing() -> None:
    _app, alice, bob = _alice_with_bob()
    parsed = ("mallory@example.org", {bob.device_id: _bob_key(bob)})
    result = apply_verification(alice, BOB, parsed)
    assert result.wrong_jid and not result.ok and result.verified == []
    assert [d.trust for d in alice.active_devices(BOB)] == [BLIND]
    assert "not for this chat" in describe(result)


def test_own_code_lists_this_device_and_trusted_own_devices() -> None:
    _app, alice, _bob = _alice_with_bob()
    assert alice.own is not None
    own_key = bytes(alice.own.identity.curve25519_public)
    assert own_uri(alice) == verification_uri(ALICE, [(alice.device_id, own_key)])
    alice._identity_seen(ALICE, 31, b"\x05" + K1)
    alice._identity_seen(ALICE, 32, b"\x05" + K2)
    alice.devices[ALICE][31].active = alice.devices[ALICE][32].active = True
    alice.set_trust(ALICE, 31, VERIFIED)
    alice.set_trust(ALICE, 32, "distrusted")
    jid, devices = parse_verification_uri(own_uri(alice))
    assert jid == ALICE and devices == {alice.device_id: own_key, 31: K1}
    # Reading our own other device's code: this browser is recognised, not "unknown".
    result = apply_verification(alice, ALICE, (ALICE, {alice.device_id: own_key, 31: K1}))
    assert result.this_device and result.verified == [31] and result.unknown == []
    bad = apply_verification(alice, ALICE, (ALICE, {alice.device_id: K2}))
    assert bad.mismatched == [alice.device_id] and not bad.this_device
