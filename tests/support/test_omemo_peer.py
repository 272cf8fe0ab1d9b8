"""OmemoPeer (slixmpp-omemo / python-omemo) against a real Prosody: two
peers exchange OMEMO messages both ways, legacy and OMEMO 2, contacts and
strangers, and nothing readable crosses the wire."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.devserver.prosody import Contact, ProsodyServer
from tests.conftest import make_prosody
from tests.support.omemo_peer import FALLBACK_BODY, OmemoPeer

pytestmark = [
    pytest.mark.integration,
    # slixmpp-omemo 2.2 itself still uses `xmpp["xep_…"]`.
    pytest.mark.filterwarnings("ignore:Accessing plugins through the XMPP object"),
]

DOMAIN = "localhost"
# One fresh pair of accounts per case, so every device list starts empty:
# "f*" pairs are in each other's roster (subscription both), "s*" are not.
CASES = {
    "legacy-legacy": ("legacy", "legacy"),
    "v2-v2": ("legacy+v2", "legacy+v2"),
    "v2-legacy": ("legacy+v2", "legacy"),
}
USERS = {f"{kind}{i}{side}": "pw" for kind in "fs" for i in range(len(CASES)) for side in "ab"}
USERS |= {"own": "pw", "other": "pw", "reset": "pw"}


def _rosters() -> dict[str, list[Contact]]:
    rosters: dict[str, list[Contact]] = {}
    for i in range(len(CASES)):
        a, b = f"f{i}a", f"f{i}b"
        rosters[a] = [Contact(f"{b}@{DOMAIN}")]
        rosters[b] = [Contact(f"{a}@{DOMAIN}")]
    return rosters


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """A Prosody with the pairs above (the session `prosody` one's accounts
    would keep every earlier test's OMEMO devices in their device lists)."""
    srv = make_prosody(tmp_path_factory.mktemp("omemo-prosody"), users=USERS,
                       rosters=_rosters())
    yield srv
    srv.stop()


@pytest.fixture
def peers(server: ProsodyServer) -> Iterator[Callable[..., OmemoPeer]]:
    made: list[OmemoPeer] = []

    def make(user: str, versions: str, resource: str = "peer", **kw: Any) -> OmemoPeer:
        peer = OmemoPeer(f"{user}@{DOMAIN}/{resource}", USERS[user], server.c2s_port,
                         versions=versions, **kw)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.stop()


def _no_plaintext_on_wire(peer: OmemoPeer, secret: str) -> None:
    for xml in peer.wire_messages():
        assert secret not in xml, f"plaintext on the wire: {xml}"


@pytest.mark.parametrize("roster", ["contacts", "strangers"])
@pytest.mark.parametrize("case", list(CASES))
def test_two_peers_exchange_encrypted_messages(
        peers: Callable[..., OmemoPeer], case: str, roster: str) -> None:
    versions_a, versions_b = CASES[case]
    i = list(CASES).index(case)
    kind = "f" if roster == "contacts" else "s"
    a = peers(f"{kind}{i}a", versions_a)
    b = peers(f"{kind}{i}b", versions_b)
    for p in (a, b):
        p.wait_published()
        assert len(p.fingerprint) == 64 and int(p.fingerprint, 16)
        assert p.devices_of(p.bare) == {p.device_id}
    expected = "v2" if case == "v2-v2" else "legacy"

    # a → b first: a builds the session from b's bundle (a key exchange).
    secret_ab = f"secret {case} {roster} from a ✓"
    sent = a.send_encrypted(b.bare, secret_ab)
    assert sent.namespaces == [expected]
    assert (b.bare, b.device_id) in sent.recipients and not sent.errors
    got = b.wait_body(secret_ab, sender=a.bare)
    assert got.encrypted and got.namespace == expected and got.device_id == a.device_id
    assert got.fallback == FALLBACK_BODY
    if expected == "v2":
        assert got.sce["from"] == a.bare and got.sce["to"] == b.bare and got.sce["rpad"]

    # python-omemo answers a key exchange at once with an empty OMEMO
    # message (no payload) that "completes" the session.
    assert a.wait_until(lambda: (b.bare, b.device_id, expected) in a.empty, 5), a.empty

    # b → a over the session a started, then a again (ratchet turns).
    secret_ba = f"secret {case} {roster} from b ✓"
    assert b.send_encrypted(a.bare, secret_ba).namespaces == [expected]
    back = a.wait_body(secret_ba, sender=b.bare)
    assert back.encrypted and back.namespace == expected and back.device_id == b.device_id
    a.send_encrypted(b.bare, secret_ab + " again")
    b.wait_body(secret_ab + " again", sender=a.bare)

    # Each knows the other's device, blindly trusted; nothing undecryptable.
    assert a.devices_of(b.bare) == {b.device_id}
    assert b.devices_of(a.bare) == {a.device_id}
    assert a.trust_of(b.bare) == {b.device_id: "BLINDLY_TRUSTED"}
    assert b.trust_of(a.bare) == {a.device_id: "BLINDLY_TRUSTED"}
    for p in (a, b):
        assert not p.undecryptable and not p.handler_errors, (p.undecryptable,
                                                              p.handler_errors)
        _no_plaintext_on_wire(p, "secret")
    # ...and the wire capture did see those stanzas.
    assert any(sent.id in x for x in a.wire_messages("out"))
    assert any(sent.id in x for x in b.wire_messages("in"))
    # What b received carried only the fallback as a plain body, and the
    # element of the version used.
    ns_tag = "urn:xmpp:omemo:2" if expected == "v2" else "eu.siacs.conversations.axolotl"
    assert ns_tag in got.xml and FALLBACK_BODY in got.xml


def test_forced_legacy_between_v2_peers_and_plaintext_flag(
        peers: Callable[..., OmemoPeer]) -> None:
    a = peers("f1a", "legacy+v2")
    b = peers("f1b", "legacy+v2")
    sent = a.send_encrypted(b.bare, "forced legacy", namespace="legacy", fallback=None)
    assert sent.namespaces == ["legacy"]
    got = b.wait_body("forced legacy")
    assert got.namespace == "legacy" and got.fallback is None
    a.send_plain(b.bare, "in the clear")
    plain = b.wait_body("in the clear")
    assert not plain.encrypted and plain.namespace is None and plain.device_id is None


def test_legacy_only_peer_cannot_read_v2_only_message(
        peers: Callable[..., OmemoPeer]) -> None:
    """A stanza with only an OMEMO 2 element is recorded as undecryptable by
    a legacy-only peer, not raised."""
    a = peers("s1a", "legacy+v2")
    b = peers("s1b", "legacy")
    a.send_raw(f"<message xmlns='jabber:client' to='{b.bare}' type='chat' id='x1'>"
               "<encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/>"
               "<payload>AAAA</payload></encrypted><body>fallback</body></message>")
    bad = b.wait_undecryptable()
    assert bad.namespaces == ["v2"] and "UnknownNamespace" in bad.error


def test_own_other_device_reads_both_directions(peers: Callable[..., OmemoPeer]) -> None:
    """Two devices of one account (the second with carbons, as a browser
    next to a phone): what one sends is encrypted for the other too, and a
    contact's message is readable on both."""
    one = peers("own", "legacy+v2", resource="one")
    two = peers("own", "legacy+v2", resource="two", carbons=True)
    other = peers("other", "legacy")
    assert one.wait_devices(one.bare, count=2) == {one.device_id, two.device_id}
    sent = one.send_encrypted(other.bare, "to other")
    # Per device: v2 to our own other device, legacy to the legacy contact.
    assert sent.namespaces == ["legacy", "v2"]
    assert sent.recipients == {(other.bare, other.device_id), (one.bare, two.device_id)}
    assert other.wait_body("to other").namespace == "legacy"
    copy = two.wait_body("to other")
    assert copy.via == "carbon-sent" and copy.namespace == "v2" and copy.sender == one.bare
    other.send_encrypted(one.bare, "to both")
    for device in (one, two):
        got = device.wait_body("to both")
        assert got.namespace == "legacy" and got.device_id == other.device_id
    # `two` never encrypted for `other`, only received from it: BTBV on receipt.
    assert two.trust_of(other.bare) == {other.device_id: "BLINDLY_TRUSTED"}
    assert one.trust_of(other.bare) == {other.device_id: "BLINDLY_TRUSTED"}
    for p in (one, two, other):
        assert not p.undecryptable and not p.handler_errors


def test_restart_keeps_the_device_and_reset_leaves_only_the_new_one(
        peers: Callable[..., OmemoPeer]) -> None:
    first = peers("reset", "legacy+v2")
    old_id, old_fp, store = first.device_id, first.fingerprint, first.store
    first.stop()
    again = peers("reset", "legacy+v2", store=store)
    assert (again.device_id, again.fingerprint) == (old_id, old_fp)
    again.stop()
    fresh = peers("reset", "legacy+v2")
    assert fresh.device_id != old_id and fresh.devices_of(fresh.bare) == {old_id, fresh.device_id}
    fresh.stop()
    alone = peers("reset", "legacy", reset_account=True)
    alone.wait_published()
    assert alone.devices_of(alone.bare) == {alone.device_id}
    assert alone.published() == {"legacy": True}
