"""OMEMO in the chat app (app/omemo.py, app/e2e.py) over the scripted server.

Alice is a real `ChatApp` on the fake platform (real crypto from
`cryptography`, the fake server's small PEP service). Bob is a second
`OmemoManager`, in-process, whose "network" reads and writes the same PEP
nodes and hands us the messages he sends. Interop with an independent
implementation (python-omemo) is tested in tests/omemo and in the browser.
"""

from __future__ import annotations

from collections.abc import Callable

from roost.app.omemo import (
    BEFORE_DEVICE,
    BLIND,
    BROKEN,
    CANT_ENCRYPT,
    FROM_UNTRUSTED,
    NO_KEYS,
    NOT_FOR_DEVICE,
    OK,
    UNTRUSTED,
    VERIFIED,
    OmemoManager,
)
from roost.xmpp.element import Element
from roost.xmpp.xeps import xep_0384
from roost.xmpp.xmlparse import parse_xml

from tests.app.fakes import ALICE, BOB, CAROL, FakeOmemoStorage, FakePlatform, FakeServer, logged_in

PUBSUB = "http://jabber.org/protocol/pubsub"


class PeerNet:
    """Bob's `OmemoNet`: the fake server's PEP nodes; sent messages collected."""

    def __init__(self, server: FakeServer, platform: FakePlatform, jid: str) -> None:
        self.server = server
        self.platform = platform
        self.jid = jid
        self.sent: list[tuple[str, str | None, object, object]] = []

    def _later(self, fn: Callable[[], object]) -> None:
        self.platform.tasks.append(fn)

    def _item(self, owner: str, node: str, item_id: str = "current") -> Element | None:
        items = self.server.pep.get((owner, node))
        if not items or item_id not in items:
            return None
        item = parse_xml(items[item_id])
        return item.children[0] if item.children else None

    def fetch_devices(
        self, jid: str, cb: Callable[[list[int] | None, str | None], None], ns: str = "legacy"
    ) -> None:
        if ns == "v2":
            listing = self._item(jid, xep_0384.OMEMO2_DEVICES_NODE)
            parse = xep_0384.parse_omemo2_devices
        else:
            listing = self._item(jid, xep_0384.DEVICELIST_NODE)
            parse = xep_0384.parse_devicelist
        ids = [] if listing is None else [d.id for d in parse(listing)]
        self._later(lambda: cb(ids, None))

    def publish_devices(
        self, ids: list[int], cb: Callable[[str | None], None], ns: str = "legacy"
    ) -> None:
        if ns == "v2":
            self._put(xep_0384.OMEMO2_DEVICES_NODE, xep_0384.build_omemo2_devices(ids))
        else:
            self._put(xep_0384.DEVICELIST_NODE, xep_0384.build_devicelist(ids))
        self._later(lambda: cb(None))

    def fetch_bundle(
        self, jid: str, device_id: int, cb: Callable[[object, str | None], None],
        ns: str = "legacy",
    ) -> None:
        bundle: object = None
        if ns == "v2":
            element = self._item(jid, xep_0384.OMEMO2_BUNDLES_NODE, str(device_id))
            bundle = None if element is None else xep_0384.parse_omemo2_bundle(element)
        else:
            element = self._item(jid, xep_0384.bundle_node(device_id))
            bundle = None if element is None else xep_0384.parse_bundle(element)
        self._later(lambda: cb(bundle, None if bundle else "no bundle"))

    def publish_bundle(
        self, device_id: int, bundle: object, cb: Callable[[str | None], None],
        ns: str = "legacy",
    ) -> None:
        if ns == "v2":
            self._put(
                xep_0384.OMEMO2_BUNDLES_NODE,
                xep_0384.build_omemo2_bundle(bundle),  # type: ignore[arg-type]
                str(device_id),
            )
        else:
            self._put(
                xep_0384.bundle_node(device_id), xep_0384.build_bundle(bundle)  # type: ignore[arg-type]
            )
        self._later(lambda: cb(None))

    def _put(self, node: str, payload: Element, item_id: str = "current") -> None:
        item = Element("item", PUBSUB, {"id": item_id})
        item.append(payload)
        self.server.pep.setdefault((self.jid, node), {})[item_id] = item.to_xml(PUBSUB)

    def send_encrypted(
        self, to: str, msg_id: str | None, encrypted: object, encrypted2: object = None
    ) -> None:
        self.sent.append((to, msg_id, encrypted, encrypted2))


def make_bob(server: FakeServer, platform: FakePlatform) -> tuple[OmemoManager, PeerNet]:
    net = PeerNet(server, platform, BOB)
    bob = OmemoManager(
        BOB, platform.omemo_crypto(), FakeOmemoStorage(platform), net,  # type: ignore[arg-type]
        platform.run_async, platform.now,
    )
    bob.start()
    platform.run()
    bob.went_online()
    platform.run()
    assert bob.ready
    return bob, net


def bob_encrypts(
    bob: OmemoManager, platform: FakePlatform, to: str, text: str, v2: bool = False
) -> tuple[object, object]:
    """What bob's Roost sends to `to`: (legacy part, OMEMO 2 part); OMEMO 2
    only with `v2` (an envelope from bob to alice)."""
    out: list[tuple[object, object]] = []
    failed: list[str] = []
    envelope = None
    if v2:
        from roost.xmpp.jid import JID

        env = xep_0384.body_envelope(text, JID.parse(BOB), JID.parse(to), "pad")
        envelope = xep_0384.build_envelope(env).to_xml().encode("utf-8")
    bob.encrypt(to, "m1", text, out.append, failed.append, envelope)  # type: ignore[arg-type]
    platform.run()
    assert not failed, failed
    return out[0]


def deliver(server: FakeServer, platform: FakePlatform, encrypted: object, msg_id: str,
            sender: str = BOB + "/phone") -> None:
    """A message to alice: `encrypted` is a `LegacyEncrypted` or a (legacy, OMEMO 2) pair."""
    from roost.xmpp.client import _omemo_children

    legacy, v2 = encrypted if isinstance(encrypted, tuple) else (encrypted, None)
    message = Element("message", "jabber:client",
                      {"type": "chat", "to": ALICE, "id": msg_id, "from": sender})
    for child in _omemo_children(legacy, v2):
        message.append(child)
    server.send(message.to_xml())
    platform.run()


def parse_jid(text: str) -> object:
    from roost.xmpp.jid import JID

    return JID.parse(text)


def alice_keys(app: object) -> OmemoManager:
    manager = app.e2e.manager  # type: ignore[attr-defined]
    assert manager is not None and manager.ready
    return manager


def test_trusted_login_makes_and_publishes_a_device() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    alice = alice_keys(app)
    listing = server.pep[(ALICE, xep_0384.DEVICELIST_NODE)]["current"]
    assert f'id="{alice.device_id}"' in listing
    bundle_xml = server.pep[(ALICE, xep_0384.bundle_node(alice.device_id))]["current"]
    bundle = xep_0384.parse_bundle(parse_xml(bundle_xml).children[0])
    assert bundle is not None and len(bundle.prekeys) == 100
    assert bundle.identity_key[1:] == alice.own.identity.curve25519_public  # type: ignore[union-attr]
    assert len(alice.own_fingerprint().split()) == 8
    # The same device after a reload: keys come from storage, not made again.
    device_id = alice.device_id
    platform.reload()
    app2 = type(app)(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    assert alice_keys(app2).device_id == device_id


def test_untrusted_login_has_no_omemo_and_says_why() -> None:
    server, platform, app, _rec = logged_in(trusted=False)
    assert app.e2e.manager is None and app.e2e.state == "untrusted"
    assert platform.omemo_databases == {}
    assert not any(node == xep_0384.DEVICELIST_NODE for _o, node in server.pep)
    bob, _net = make_bob(server, platform)
    # Bob encrypts for his own devices only (alice has none): alice can't read it.
    fake = xep_0384.LegacyEncrypted(bob.device_id, [(12345, b"\x33" * 40, True)], b"\0" * 12,
                                    b"ciphertext")
    deliver(server, platform, fake, "u1")
    [m] = app.messages(BOB)
    assert m.omemo == NO_KEYS and m.body == ""
    assert xep_0384.FALLBACK_BODY not in repr(app.messages(BOB))


def test_message_from_bob_is_decrypted_and_persisted() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "hello in secret"), "b1")
    [m] = app.messages(BOB)
    assert (m.body, m.omemo, m.omemo_device) == ("hello in secret", OK, bob.device_id)
    # The prekey is used up and replaced; the bundle published again without it.
    alice = alice_keys(app)
    assert len(alice.own.prekeys) == 100  # type: ignore[union-attr]
    # Alice answered with a heartbeat, so bob's session leaves the prekey stage.
    heartbeats = [s for s in server.stanzas("message") if s.find("encrypted", xep_0384.NS)]
    assert heartbeats and heartbeats[-1].find_text("body") == xep_0384.FALLBACK_BODY
    # A second message over the same session, after a reload of alice's page.
    platform.run()
    stored = platform.databases[ALICE].messages(BOB)
    assert any(r.get("body") == "hello in secret" and r.get("omemo") == OK for r in stored)
    platform.reload()
    app2 = type(app)(platform)
    app2.login("alice", "s3cret", True)
    platform.run()
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "second"), "b2")
    app2.open_chat(BOB)
    platform.run()
    assert [m.body for m in app2.messages(BOB)][-1] == "second"


def test_alice_sends_encrypted_and_no_plaintext_goes_out() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    app.open_chat(BOB)
    platform.run()
    assert app.e2e.encryption_on(BOB)  # bob has devices: the padlock is on by default
    m = app.send_message(BOB, "top secret plan")
    platform.run()
    assert m is not None and m.omemo == OK and m.state in ("sent", "server")
    out = [s for s in server.stanzas("message") if s.get("id") == m.id]
    assert len(out) == 1
    assert "top secret plan" not in out[0].to_xml()
    assert out[0].find_text("body") == xep_0384.FALLBACK_BODY
    # bob's device publishes OMEMO 2: it gets that (an SCE envelope), not legacy.
    assert xep_0384.parse_message(out[0]) is None
    encrypted2 = xep_0384.parse_omemo2_message(out[0])
    assert encrypted2 is not None
    got: list[tuple[object, str]] = []
    sealed = bob.sealed_for_me(ALICE, None, encrypted2)
    assert not isinstance(sealed, str) and sealed.ns == "v2"
    bob.decrypt(sealed, lambda plain, code, _dev: got.append((plain, code)))
    platform.run()
    [(plain, code)] = got
    assert code == OK and isinstance(plain, bytes)
    envelope = xep_0384.parse_envelope(parse_xml(plain.decode("utf-8")))
    assert envelope is not None and envelope.body() == "top secret plan"
    assert envelope.from_jid is not None and str(envelope.from_jid) == ALICE


def test_omemo2_from_bob_and_a_forged_envelope_sender() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "v2 hello", v2=True), "v1")
    [m] = app.messages(BOB)
    assert (m.body, m.omemo) == ("v2 hello", OK)
    # carol's envelope relayed by bob (or anyone): the envelope's `from` isn't the sender.
    from roost.xmpp.jid import JID

    env = xep_0384.body_envelope("I am carol", JID.parse(CAROL), JID.parse(ALICE), "")
    envelope = xep_0384.build_envelope(env).to_xml().encode("utf-8")
    out: list[tuple[object, object]] = []
    bob.encrypt(ALICE, "x", "I am carol", out.append, lambda _t: None, envelope)
    platform.run()
    deliver(server, platform, out[0], "v2")
    forged = app.messages(BOB)[-1]
    assert forged.omemo == BROKEN and "I am carol" not in forged.body


def test_no_devices_means_no_padlock_and_forcing_it_fails_with_a_reason() -> None:
    server, platform, app, rec = logged_in(trusted=True)
    app.open_chat(CAROL)
    platform.run()
    assert not app.e2e.encryption_on(CAROL)  # carol has no OMEMO: off, and said so in the UI
    app.e2e.manager.set_encryption(CAROL, True)  # type: ignore[union-attr]
    m = app.send_message(CAROL, "psst")
    platform.run()
    assert m is not None and m.state == "failed" and m.omemo == CANT_ENCRYPT
    assert "no device" in (m.omemo_note or "")
    assert not [s for s in server.stanzas("message") if s.get("id") == m.id]
    assert any("Not sent" in str(n[0]) for n in rec.named("notice"))
    # Only the user's choice sends it in plaintext.
    app.e2e.send_anyway(m)
    platform.run()
    out = [s for s in server.stanzas("message") if s.get("id") == m.id]
    assert [s.find_text("body") for s in out] == ["psst"]
    assert m.omemo is None and m.state in ("sent", "server")


def test_untrusted_devices_get_no_keys_and_their_messages_wait_for_trust() -> None:
    server, platform, app, rec = logged_in(trusted=True)
    alice = alice_keys(app)
    alice.set_manual_trust(True)
    bob, _net = make_bob(server, platform)
    app.open_chat(BOB)
    platform.run()
    [device] = alice.active_devices(BOB)
    assert device.trust == UNTRUSTED
    m = app.send_message(BOB, "hi")
    platform.run()
    assert m is not None and m.omemo == CANT_ENCRYPT and "trusted" in (m.omemo_note or "")
    # Bob's message is decrypted but held until alice trusts his device.
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "from bob"), "b1")
    received = [x for x in app.messages(BOB) if not x.outgoing]
    assert received[0].omemo == FROM_UNTRUSTED
    app.e2e.set_trust(BOB, bob.device_id, VERIFIED)
    platform.run()
    assert (received[0].omemo, received[0].body) == (OK, "from bob")
    # Once one device is verified, a new one of bob's isn't trusted blindly.
    alice.set_manual_trust(False)
    alice.device_list_pushed(BOB, [bob.device_id, 4242])
    trusts = {d.device_id: d.trust for d in alice.active_devices(BOB)}
    assert trusts == {bob.device_id: VERIFIED, 4242: UNTRUSTED}
    assert any("new device" in str(n[0]) for n in rec.named("notice"))


def test_blind_trust_by_default() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    _bob, _net = make_bob(server, platform)
    app.open_chat(BOB)
    platform.run()
    assert [d.trust for d in alice_keys(app).active_devices(BOB)] == [BLIND]


def test_not_for_this_device_and_before_this_device() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    alice = alice_keys(app)
    other = xep_0384.LegacyEncrypted(bob.device_id, [(alice.device_id + 1, b"k" * 40, True)],
                                     b"\0" * 12, b"payload")
    deliver(server, platform, other, "n1")
    # Archived from before this device was made.
    old = xep_0384.build_message(parse_jid(ALICE), "n0", other)  # type: ignore[arg-type]
    old.attrs["from"] = BOB + "/phone"
    delay = old.add("delay", "urn:xmpp:delay", {"stamp": "2020-01-01T00:00:00Z"})
    assert delay is not None
    server.send(old.to_xml())
    platform.run()
    codes = {m.id: m.omemo for m in app.messages(BOB)}
    assert codes == {"n1": NOT_FOR_DEVICE, "n0": BEFORE_DEVICE}


def test_broken_session_is_explained_and_repaired() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    alice = alice_keys(app)
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "one"), "b1")
    # Alice loses her session with bob (a wiped record): bob's next message can't be read.
    alice._sessions.clear()
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "two"), "b2")
    two = app.messages(BOB)[-1]
    assert two.omemo == BROKEN and two.body == ""
    # Repair: a new session from bob's bundle, announced by a key-transport message.
    repair = [s for s in server.stanzas("message") if s.find("encrypted", xep_0384.NS)][-1]
    parsed = xep_0384.parse_message(repair)
    assert parsed is not None and parsed.payload is None
    assert [k[2] for k in parsed.keys] == [True]  # a prekey message: a fresh session
    got: list[tuple[str | None, str]] = []
    sealed = bob.sealed_for_me(ALICE, parsed)
    assert not isinstance(sealed, str)
    bob.decrypt(sealed, lambda text, code, _dev: got.append((text, code)))
    platform.run()
    assert got == [(None, OK)]
    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "three"), "b3")
    assert app.messages(BOB)[-1].body == "three"
    assert alice.device_id  # still the same device


def test_a_heartbeat_after_53_messages_read_without_answering() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)

    def heartbeats() -> int:
        return sum(
            1 for s in server.stanzas("message")
            if (p := xep_0384.parse_message(s)) is not None and p.payload is None
        )

    deliver(server, platform, bob_encrypts(bob, platform, ALICE, "first"), "h0")
    after_prekey = heartbeats()
    assert after_prekey == 1  # the answer to the prekey message
    # bob reads the heartbeat, so his next messages are plain ratchet messages.
    last = [s for s in server.stanzas("message") if xep_0384.parse_message(s)][-1]
    parsed = xep_0384.parse_message(last)
    sealed = bob.sealed_for_me(ALICE, parsed)
    assert not isinstance(sealed, str)
    bob.decrypt(sealed, lambda *_a: None)
    platform.run()
    for i in range(1, 54):
        deliver(server, platform, bob_encrypts(bob, platform, ALICE, f"m{i}"), f"h{i}")
    assert heartbeats() == after_prekey + 1
    assert [m.body for m in app.messages(BOB)][-1] == "m53"


def test_signed_prekey_rotates_weekly_and_the_old_one_still_starts_sessions() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    alice = alice_keys(app)

    def published_spk() -> int:
        xml = server.pep[(ALICE, xep_0384.bundle_node(alice.device_id))]["current"]
        bundle = xep_0384.parse_bundle(parse_xml(xml).children[0])
        assert bundle is not None
        return bundle.spk_id

    first = published_spk()
    bob, _net = make_bob(server, platform)
    early = bob_encrypts(bob, platform, ALICE, "made with the old bundle")
    platform.clock += 8 * 86400
    alice.went_online()  # a new session a week later
    platform.run()
    assert published_spk() != first
    deliver(server, platform, early, "old")
    assert app.messages(BOB)[-1].body == "made with the old bundle"
    # A month on, the first one is gone: only the current and the one before it are kept.
    platform.clock += 31 * 86400
    alice.went_online()
    platform.run()
    own = alice.own
    assert own is not None and own.previous_signed_prekey is not None
    assert first not in (own.signed_prekey.id, own.previous_signed_prekey.id)
    assert own.find_signed_prekey(first) is None


def test_a_device_whose_omemo2_bundle_fails_is_reached_with_legacy() -> None:
    """Converse.js 14 fails to verify some OMEMO 2 bundles: per device, a v2
    failure falls back to legacy OMEMO instead of leaving the device out."""
    server, platform, app, rec = logged_in(trusted=True)
    bob, _net = make_bob(server, platform)
    node = server.pep[(BOB, xep_0384.OMEMO2_BUNDLES_NODE)]
    item = parse_xml(node[str(bob.device_id)])
    spks = item.children[0].find("spks", xep_0384.OMEMO2_NS)
    assert spks is not None and spks.text
    spks.text = ("A" if spks.text[0] != "A" else "B") + spks.text[1:]  # a broken signature
    node[str(bob.device_id)] = item.to_xml(PUBSUB)
    app.open_chat(BOB)
    platform.run()
    m = app.send_message(BOB, "still private")
    platform.run()
    assert m is not None and m.omemo == OK
    [out] = [s for s in server.stanzas("message") if s.get("id") == m.id]
    assert xep_0384.parse_omemo2_message(out) is None
    legacy = xep_0384.parse_message(out)
    assert legacy is not None and [k[0] for k in legacy.keys] == [bob.device_id]
    got: list[tuple[object, str]] = []
    sealed = bob.sealed_for_me(ALICE, legacy)
    assert not isinstance(sealed, str)
    bob.decrypt(sealed, lambda plain, code, _dev: got.append((plain, code)))
    platform.run()
    assert got == [("still private", OK)]
    assert not [n for n in rec.named("notice") if "Skipped" in str(n[0])]


def make_peer(server: FakeServer, platform: FakePlatform, jid: str) -> OmemoManager:
    net = PeerNet(server, platform, jid)
    peer = OmemoManager(
        jid, platform.omemo_crypto(), FakeOmemoStorage(platform), net,  # type: ignore[arg-type]
        platform.run_async, platform.now,
    )
    peer.start()
    platform.run()
    peer.went_online()
    platform.run()
    return peer


def test_group_omemo_goes_to_every_member_present_or_not() -> None:
    from tests.app.fake_muc import MUC_DOMAIN

    server, platform, app, _rec = logged_in(trusted=True)
    room_jid = f"circle@{MUC_DOMAIN}"
    room = server.muc.room("circle")
    room.members_only = room.non_anonymous = True
    room.created = False  # it exists: alice owns it
    room.affiliations["owner"] = {ALICE}
    room.members.add(ALICE)
    bob = make_peer(server, platform, BOB)
    dave = make_peer(server, platform, "dave@example.org")
    room.affiliations["member"] = {BOB, "dave@example.org"}  # dave isn't in the room now
    server.muc.enter(room, "bob", BOB + "/phone", affiliation="member")
    app.join_room(room_jid)
    platform.run()
    assert app.e2e.room_encryption_on(room_jid)
    m = app.send_message(room_jid, "for the circle only")
    platform.run()
    assert m is not None and m.omemo == OK, (m.omemo, m.omemo_note)
    [out] = [s for s in server.stanzas("message") if s.get("id") == m.id]
    assert out.get("type") == "groupchat" and "for the circle only" not in out.to_xml()
    encrypted2 = xep_0384.parse_omemo2_message(out)
    assert encrypted2 is not None
    assert {(str(j), d) for j, d, _k, _x in encrypted2.keys} == {
        (BOB, bob.device_id), ("dave@example.org", dave.device_id)
    }
    for reader in (bob, dave):
        got: list[tuple[object, str]] = []
        sealed = reader.sealed_for_me(ALICE, None, encrypted2)
        assert not isinstance(sealed, str)
        reader.decrypt(sealed, lambda plain, code, _dev, got=got: got.append((plain, code)))
        platform.run()
        [(plain, code)] = got
        assert code == OK and b"for the circle only" in plain  # type: ignore[operator]
    # A room that shows no real addresses can't have OMEMO: no padlock there.
    open_room = server.muc.room("open")
    app.join_room(f"open@{MUC_DOMAIN}")
    platform.run()
    assert open_room is not None and not app.e2e.room_encryption_on(f"open@{MUC_DOMAIN}")


def test_a_device_list_lookup_lost_with_the_connection_is_asked_again() -> None:
    """The chaos test found 600 messages stuck "queued": the lookup of bob's
    devices went out on a connection that died, and nothing waited for an
    answer that never came. Now a new session gives up on it, the message
    stays queued (never plaintext by default), and the lookup runs again."""
    server, platform, app, _rec = logged_in(trusted=True)
    platform.connections[-1].stall()  # nothing more reaches the server
    m = app.send_message(BOB, "after the break")
    platform.run(timers=False)
    assert m is not None and m.omemo == "check" and m.state == "queued"
    platform.connections[-1].drop()
    platform.run()
    platform.advance(60)
    platform.run()
    assert app.state == "online"
    assert m.omemo is None and m.state in ("sent", "server")  # bob has no OMEMO: plaintext
    assert [s.find_text("body") for s in server.stanzas("message") if s.get("id") == m.id] == [
        "after the break"
    ]


def test_an_unanswered_lookup_is_given_up_after_a_while() -> None:
    server, platform, app, _rec = logged_in(trusted=True)
    server.pep_silent = True  # the server never answers PEP (a lost stanza)
    m = app.send_message(BOB, "still waiting?")
    platform.run(timers=False)
    assert m is not None and m.state == "queued"
    platform.advance(31)  # ANSWER_TIMEOUT: the lookup is given up, the message waits on
    assert m.state == "queued" and m.omemo == "check"
    server.pep_silent = False
    app.send_message(BOB, "and another")  # the next outbox run asks again
    platform.run()
    assert m.state in ("sent", "server")
