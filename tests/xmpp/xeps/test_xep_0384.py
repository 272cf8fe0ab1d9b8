"""XEP-0384 OMEMO, the XMPP side: device lists, bundles, encrypted
messages and the SCE envelope; round trips, interop with python-omemo's
own XML (oldmemo / twomemo), forged notifications, malformed input."""

from __future__ import annotations

import base64
import os
import xml.etree.ElementTree as ET

import oldmemo
import oldmemo.etree
import pytest
import twomemo
import twomemo.etree
import x3dh
import xeddsa
from doubleratchet import EncryptedMessage, Header
from oldmemo.oldmemo import BundleImpl as OldBundleImpl
from oldmemo.oldmemo import ContentImpl as OldContent
from oldmemo.oldmemo import EncryptedKeyMaterialImpl as OldKeyMaterial
from oldmemo.oldmemo import StateImpl as OldState
from omemo import Message
from roost.xmpp.element import Element
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0004, xep_0115, xep_0384
from roost.xmpp.xeps.xep_0384 import (
    Device,
    Envelope,
    LegacyBundle,
    LegacyEncrypted,
    Omemo2Bundle,
    Omemo2Encrypted,
)
from roost.xmpp.xmlparse import parse_xml
from twomemo.twomemo import BundleImpl as TwoBundleImpl
from twomemo.twomemo import ContentImpl as TwoContent
from twomemo.twomemo import EncryptedKeyMaterialImpl as TwoKeyMaterial
from twomemo.twomemo_pb2 import OMEMOAuthenticatedMessage, OMEMOMessage

PUBSUB = "http://jabber.org/protocol/pubsub"
OWNER = "http://jabber.org/protocol/pubsub#owner"
EVENT = "http://jabber.org/protocol/pubsub#event"
AXOLOTL = "eu.siacs.conversations.axolotl"
DEVICELIST = AXOLOTL + ".devicelist"
OMEMO2 = "urn:xmpp:omemo:2"
ME = JID.parse("alice@example.org/web")
BOB = JID.parse("bob@example.net")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def reparse(element: Element) -> Element:
    """Serialise and parse again: what the other side really gets."""
    return parse_xml(element.to_xml())


def to_etree(element: Element) -> ET.Element:
    return ET.fromstring(element.to_xml())


def from_etree(element: ET.Element) -> Element:
    return parse_xml(ET.tostring(element, encoding="unicode"))


def result(node: str, *items: str) -> Element:
    return parse_xml(
        f'<iq xmlns="jabber:client" type="result" from="{BOB}" id="q1">'
        f'<pubsub xmlns="{PUBSUB}"><items node="{node}">{"".join(items)}</items></pubsub></iq>'
    )


def event(node: str, payload: str, sender: str | None, item_id: str = "current") -> Element:
    frm = "" if sender is None else f' from="{sender}"'
    return parse_xml(
        f'<message xmlns="jabber:client"{frm} type="headline" to="{ME}">'
        f'<event xmlns="{EVENT}"><items node="{node}"><item id="{item_id}">{payload}</item>'
        "</items></event></message>"
    )


def legacy_bundle() -> LegacyBundle:
    return LegacyBundle(
        b"\x05" + bytes(range(32)),
        7,
        b"\x05" + bytes(32),
        bytes(range(64)),
        [(1, b"\x05" + b"a" * 32), (2, b"\x05" + b"b" * 32)],
    )


# -- device lists -------------------------------------------------------------


def test_devicelist_publish_is_open_access() -> None:
    pubsub = reparse(xep_0384.build_devicelist_publish([Device(12345, "Phone"), Device(67890)]))
    publish = pubsub.find("publish", PUBSUB)
    assert publish is not None and publish.get("node") == DEVICELIST
    item = publish.find("item", PUBSUB)
    assert item is not None and item.get("id") == "current"
    listing = item.find("list", AXOLOTL)
    assert listing is not None
    assert xep_0384.parse_devicelist(listing) == [Device(12345), Device(67890)]
    options = pubsub.find("publish-options", PUBSUB)
    assert options is not None
    form = xep_0004.find_form(options, xep_0384.PUBLISH_OPTIONS)
    assert form is not None and form.type == "submit"
    assert form.values() == {
        "FORM_TYPE": [xep_0384.PUBLISH_OPTIONS],
        "pubsub#access_model": ["open"],
    }
    # Plain ids work too (what the app keeps).
    assert xep_0384.build_devicelist([1, 2]).to_xml() == (
        f'<list xmlns="{AXOLOTL}"><device id="1"/><device id="2"/></list>'
    )


def test_devicelist_fetch_and_result() -> None:
    assert xep_0384.build_devicelist_fetch().to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><items node="{DEVICELIST}"/></pubsub>'
    )
    iq = result(
        DEVICELIST,
        f'<item id="current"><list xmlns="{AXOLOTL}"><device id="1"/><device id="2147483647"/>'
        # Not 31-bit, not decimal, repeated, missing, negative, non-canonical,
        # unicode digits: all skipped.
        '<device id="0"/><device id="2147483648"/><device id="x1"/><device id="1"/><device/>'
        '<device id="-5"/><device id="007"/><device id=" 8"/><device id="\u0662"/>'
        '<device id="99999999999999999999"/></list></item>',
    )
    assert xep_0384.parse_devicelist_items(iq) == [Device(1), Device(2147483647)]
    empty = result(DEVICELIST, f'<item id="current"><list xmlns="{AXOLOTL}"/></item>')
    assert xep_0384.parse_devicelist_items(empty) == []
    # A list under another item id (old clients) is still read; "current" wins.
    other_id = result(
        DEVICELIST,
        f'<item id="abc"><list xmlns="{AXOLOTL}"><device id="5"/></list></item>',
    )
    assert xep_0384.parse_devicelist_items(other_id) == [Device(5)]
    both = result(
        DEVICELIST,
        f'<item id="current"><list xmlns="{AXOLOTL}"><device id="6"/></list></item>'
        f'<item id="abc"><list xmlns="{AXOLOTL}"><device id="5"/></list></item>',
    )
    assert xep_0384.parse_devicelist_items(both) == [Device(6)]
    # Not a device-list result at all.
    assert xep_0384.parse_devicelist_items(result("urn:other")) is None
    assert xep_0384.parse_devicelist_items(result(DEVICELIST)) is None
    error = parse_xml('<iq xmlns="jabber:client" type="error"><error type="cancel"/></iq>')
    assert xep_0384.parse_devicelist_items(error) is None


def test_devicelist_interop_with_python_omemo() -> None:
    theirs = oldmemo.etree.serialize_device_list({12345: None, 2**31 - 1: None})
    listing = from_etree(theirs)
    assert xep_0384.parse_devicelist(listing) == [Device(12345), Device(2**31 - 1)]
    ours = xep_0384.build_devicelist([Device(12345), Device(42)])
    assert oldmemo.etree.parse_device_list(to_etree(ours)) == {12345: None, 42: None}


def test_devicelist_labels_are_read_not_written() -> None:
    # Legacy lists have no labels in the XEP and python-omemo's schema
    # refuses a list with one: we read them (some clients write them) but
    # never write them.
    labelled = parse_xml(f'<list xmlns="{AXOLOTL}"><device id="1" label="Phone"/></list>')
    assert xep_0384.parse_devicelist(labelled) == [Device(1, "Phone")]
    with pytest.raises(Exception, match="label"):
        oldmemo.etree.parse_device_list(to_etree(labelled))
    ours = xep_0384.build_devicelist([Device(1, "Phone")])
    assert ours.to_xml() == f'<list xmlns="{AXOLOTL}"><device id="1"/></list>'
    assert oldmemo.etree.parse_device_list(to_etree(ours)) == {1: None}


def test_notification_from_the_contact_is_believed() -> None:
    payload = f'<list xmlns="{AXOLOTL}"><device id="11"/><device id="12"/></list>'
    assert xep_0384.devicelist_event(event(DEVICELIST, payload, str(BOB)), ME) == (
        BOB,
        [Device(11), Device(12)],
    )
    # Ours: from our bare JID, or with no `from` at all (our own server).
    assert xep_0384.devicelist_event(event(DEVICELIST, payload, "alice@example.org"), ME) == (
        ME.bare,
        [Device(11), Device(12)],
    )
    assert xep_0384.devicelist_event(event(DEVICELIST, payload, None), ME) == (
        ME.bare,
        [Device(11), Device(12)],
    )
    # As Prosody sends it, with a publisher attribute and a headline type.
    prosody = parse_xml(
        '<message xmlns="jabber:client" type="headline" from="bob@example.net" '
        f'to="{ME}" id="n1"><event xmlns="{EVENT}"><items node="{DEVICELIST}">'
        '<item publisher="bob@example.net" id="current">'
        f'<list xmlns="{AXOLOTL}"><device id="11"/></list></item></items></event></message>'
    )
    assert xep_0384.devicelist_event(prosody, ME) == (BOB, [Device(11)])


@pytest.mark.parametrize(
    "sender",
    [
        "bob@example.net/phone",  # a full JID: a client, not a PEP service
        "alice@example.org/web",  # even our own full JID
        "example.net",  # a server
        "example.org",  # even our own server
        "conference.example.org",  # a component
        "not a jid@@",  # unparsable
        "",  # empty
    ],
)
def test_forged_notifications_are_ignored(sender: str) -> None:
    payload = f'<list xmlns="{AXOLOTL}"><device id="66"/></list>'
    assert xep_0384.devicelist_event(event(DEVICELIST, payload, sender), ME) is None
    omemo2 = f'<devices xmlns="{OMEMO2}"><device id="66"/></devices>'
    assert xep_0384.omemo2_devices_event(event(xep_0384.OMEMO2_DEVICES_NODE, omemo2, sender),
                                         ME) is None


def test_forged_notification_cannot_speak_for_someone_else() -> None:
    # Mallory's own PEP can only ever describe Mallory's devices: the owner
    # comes from `from`, never from the payload or a `publisher` attribute.
    forged = parse_xml(
        '<message xmlns="jabber:client" from="mallory@evil.example">'
        f'<event xmlns="{EVENT}"><items node="{DEVICELIST}">'
        '<item id="current" publisher="bob@example.net">'
        f'<list xmlns="{AXOLOTL}"><device id="66"/></list></item></items></event>'
        "<addresses xmlns='http://jabber.org/protocol/address'>"
        "<address type='ofrom' jid='bob@example.net'/></addresses></message>"
    )
    owner, _ = xep_0384.devicelist_event(forged, ME) or (None, None)
    assert owner == JID.parse("mallory@evil.example")


def test_other_notifications_are_not_device_lists() -> None:
    other = event("urn:xmpp:avatar:metadata", "<metadata xmlns='urn:xmpp:avatar:metadata'/>",
                  str(BOB))
    assert xep_0384.devicelist_event(other, ME) is None
    assert xep_0384.devicelist_event(parse_xml('<message xmlns="jabber:client"/>'), ME) is None
    no_payload = event(DEVICELIST, "", str(BOB))
    assert xep_0384.devicelist_event(no_payload, ME) is None
    wrong_ns = event(DEVICELIST, f'<list xmlns="{OMEMO2}"><device id="1"/></list>', str(BOB))
    assert xep_0384.devicelist_event(wrong_ns, ME) is None


# -- bundles ------------------------------------------------------------------


def test_bundle_round_trip_and_publish() -> None:
    bundle = legacy_bundle()
    pubsub = reparse(xep_0384.build_bundle_publish(31415, bundle))
    publish = pubsub.find("publish", PUBSUB)
    assert publish is not None
    assert publish.get("node") == "eu.siacs.conversations.axolotl.bundles:31415"
    item = publish.find("item", PUBSUB)
    assert item is not None and item.get("id") == "current"
    element = item.find("bundle", AXOLOTL)
    assert element is not None
    assert xep_0384.parse_bundle(element) == bundle
    options = pubsub.find("publish-options", PUBSUB)
    form = None if options is None else xep_0004.find_form(options, xep_0384.PUBLISH_OPTIONS)
    assert form is not None and form.values()["pubsub#access_model"] == ["open"]
    assert xep_0384.build_bundle_fetch(31415).to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><items node="{AXOLOTL}.bundles:31415" max_items="1"/></pubsub>'
    )
    iq = result(f"{AXOLOTL}.bundles:31415",
                f'<item id="current">{xep_0384.build_bundle(bundle).to_xml()}</item>')
    assert xep_0384.parse_bundle_items(iq, 31415) == bundle
    assert xep_0384.parse_bundle_items(iq) == bundle  # device from the node name
    assert xep_0384.parse_bundle_items(iq, 27) is None  # another device's node
    assert xep_0384.parse_bundle_items(result("urn:other")) is None


def test_bundle_base64_with_whitespace() -> None:
    key = bytes(range(33))
    wrapped = b64(key)[:20] + "\n  " + b64(key)[20:] + "\n"
    element = parse_xml(
        f'<bundle xmlns="{AXOLOTL}"><signedPreKeyPublic signedPreKeyId="1">{wrapped}'
        f"</signedPreKeyPublic><signedPreKeySignature>\n{b64(bytes(64))}\n"
        f"</signedPreKeySignature><identityKey>{wrapped}</identityKey><prekeys>"
        f'<preKeyPublic preKeyId="5">\t{wrapped}</preKeyPublic></prekeys></bundle>'
    )
    bundle = xep_0384.parse_bundle(element)
    assert bundle == LegacyBundle(key, 1, key, bytes(64), [(5, key)])


def test_bundle_malformed() -> None:
    good = xep_0384.build_bundle(legacy_bundle())

    def without(name: str) -> Element:
        element = reparse(good)
        element.children = [c for c in element.children if c.name != name]
        return element

    for name in ("signedPreKeyPublic", "signedPreKeySignature", "identityKey", "prekeys"):
        assert xep_0384.parse_bundle(without(name)) is None, name

    def with_text(name: str, text: str) -> Element:
        element = reparse(good)
        child = element.find(name, AXOLOTL)
        assert child is not None
        child.text = text
        return element

    for name in ("signedPreKeyPublic", "signedPreKeySignature", "identityKey"):
        for bad in ("", "!!!!", "QUJD=x", "QQ===", "Q", "QUJD\u00e9"):
            assert xep_0384.parse_bundle(with_text(name, bad)) is None, (name, bad)
    no_spk_id = reparse(good)
    spk = no_spk_id.find("signedPreKeyPublic", AXOLOTL)
    assert spk is not None
    del spk.attrs["signedPreKeyId"]
    assert xep_0384.parse_bundle(no_spk_id) is None
    # Malformed prekeys are skipped; none left is a failure.
    prekeys = (
        f'<preKeyPublic preKeyId="x">{b64(b"k" * 33)}</preKeyPublic>'
        f"<preKeyPublic>{b64(b'k' * 33)}</preKeyPublic>"
        '<preKeyPublic preKeyId="3">not base64!</preKeyPublic>'
        '<preKeyPublic preKeyId="4"/>'
    )
    element = reparse(good)
    element.children = [c for c in element.children if c.name != "prekeys"]
    element.append(parse_xml(f'<prekeys xmlns="{AXOLOTL}">{prekeys}</prekeys>'))
    assert xep_0384.parse_bundle(element) is None
    element.children[-1].append(
        parse_xml(f'<preKeyPublic xmlns="{AXOLOTL}" preKeyId="9">{b64(b"z" * 33)}</preKeyPublic>')
    )
    parsed = xep_0384.parse_bundle(element)
    assert parsed is not None and parsed.prekeys == [(9, b"z" * 33)]


def _old_bundle() -> OldBundleImpl:
    seed = os.urandom(32)
    identity = xeddsa.seed_to_ed25519_pub(seed)
    spk_priv = xeddsa.seed_to_priv(os.urandom(32))
    spk = xeddsa.priv_to_curve25519_pub(spk_priv)
    signature = xeddsa.ed25519_seed_sign(seed, OldState.serialize_public_key(spk))
    prekeys = [xeddsa.priv_to_curve25519_pub(xeddsa.seed_to_priv(os.urandom(32)))
               for _ in range(3)]
    return OldBundleImpl(
        "bob@example.net", 31415,
        x3dh.Bundle(identity, spk, signature, frozenset(prekeys)), 7,
        {key: i + 1 for i, key in enumerate(prekeys)},
    )


def test_bundle_interop_with_python_omemo() -> None:
    theirs = _old_bundle()
    ours = xep_0384.parse_bundle(from_etree(oldmemo.etree.serialize_bundle(theirs)))
    assert ours is not None
    assert ours.spk_id == 7
    assert ours.spk == OldState.serialize_public_key(theirs.bundle.signed_pre_key)
    assert len(ours.identity_key) == 33 and ours.identity_key[0] == 5
    assert sorted(i for i, _ in ours.prekeys) == [1, 2, 3]
    # Written back by us, read by them: the same bundle.
    again = oldmemo.etree.parse_bundle(to_etree(xep_0384.build_bundle(ours)),
                                       "bob@example.net", 31415)
    assert again.bundle == theirs.bundle
    assert again.signed_pre_key_id == 7
    assert again.pre_key_ids == theirs.pre_key_ids


# -- encrypted messages -------------------------------------------------------


def test_message_round_trip_and_fallback() -> None:
    encrypted = LegacyEncrypted(
        27183, [(31415, b"key one", False), (12321, b"prekey msg", True)], b"i" * 12, b"secret"
    )
    message = reparse(xep_0384.build_message(BOB, "m1", encrypted))
    assert message.get("type") == "chat" and message.get("to") == str(BOB)
    assert message.get("id") == "m1"
    assert xep_0384.parse_message(message) == encrypted
    assert message.find("store", "urn:xmpp:hints") is not None
    eme = message.find("encryption", "urn:xmpp:eme:0")
    assert eme is not None and eme.attrs == {"namespace": AXOLOTL, "name": "OMEMO"}
    assert message.find_text("body", "jabber:client") == xep_0384.FALLBACK_BODY
    assert "conversations.im/omemo" in xep_0384.FALLBACK_BODY
    # The wire format of the header, as the XEP shows it.
    assert xep_0384.build_encrypted(encrypted).to_xml() == (
        f'<encrypted xmlns="{AXOLOTL}"><header sid="27183">'
        f'<key rid="31415">{b64(b"key one")}</key>'
        f'<key rid="12321" prekey="true">{b64(b"prekey msg")}</key>'
        f"<iv>{b64(b'i' * 12)}</iv></header><payload>{b64(b'secret')}</payload></encrypted>"
    )


def test_message_builder_takes_no_plaintext() -> None:
    children = xep_0384.message_children(LegacyEncrypted(1, [(2, b"k", False)], b"iv", b"c"))
    assert [c.name for c in children] == ["encrypted", "store", "encryption", "body"]
    assert "secret" not in "".join(c.to_xml() for c in children)


def test_key_transport_and_prekey_spellings() -> None:
    element = parse_xml(
        f'<message xmlns="jabber:client"><encrypted xmlns="{AXOLOTL}"><header sid="5">'
        f'<key rid="6" prekey="1">{b64(b"a")}</key><key rid="7" prekey="false">{b64(b"b")}</key>'
        f'<key rid="8">{b64(b"c")}</key><key rid="bad">{b64(b"d")}</key>'
        f"<iv>{b64(b'v' * 12)}</iv></header></encrypted></message>"
    )
    assert xep_0384.parse_message(element) == LegacyEncrypted(
        5, [(6, b"a", True), (7, b"b", False), (8, b"c", False)], b"v" * 12, None
    )


@pytest.mark.parametrize(
    "inner",
    [
        "",  # no header
        f'<header><iv>{b64(b"v")}</iv></header>',  # no sid
        f'<header sid="0"><iv>{b64(b"v")}</iv></header>',  # sid out of range
        '<header sid="5"></header>',  # no iv
        '<header sid="5"><iv>@@@@</iv></header>',  # iv not base64
        f'<header sid="5"><key rid="6">%%%</key><iv>{b64(b"v")}</iv></header>',
        f'<header sid="5"><iv>{b64(b"v")}</iv></header><payload>not*b64</payload>',
    ],
)
def test_malformed_messages_are_none(inner: str) -> None:
    element = parse_xml(f'<message xmlns="jabber:client"><encrypted xmlns="{AXOLOTL}">'
                        f"{inner}</encrypted></message>")
    assert xep_0384.parse_message(element) is None
    assert xep_0384.parse_message(parse_xml('<message xmlns="jabber:client"/>')) is None


def test_message_interop_with_python_omemo() -> None:
    # Their XML for a message with two keys, parsed by us.
    keys = frozenset(
        (OldKeyMaterial("bob@example.net", rid, EncryptedMessage(Header(b"h" * 32, 0, 0), data)),
         None)
        for rid, data in ((31415, b"first key"), (12321, b"second key"))
    )
    message = Message(oldmemo.oldmemo.NAMESPACE, "alice@example.org", 27183,
                      OldContent(b"ciphertext", b"v" * 12), keys)
    ours = xep_0384.parse_encrypted(from_etree(oldmemo.etree.serialize_message(message)))
    assert ours is not None
    assert ours.sid == 27183 and ours.iv == b"v" * 12 and ours.payload == b"ciphertext"
    assert sorted(ours.keys) == [(12321, b"second key", False), (31415, b"first key", False)]
    # A key-transport message (no payload) from them.
    empty = Message(oldmemo.oldmemo.NAMESPACE, "alice@example.org", 27183,
                    OldContent(b"", b"w" * 12), keys)
    transport = xep_0384.parse_encrypted(from_etree(oldmemo.etree.serialize_message(empty)))
    assert transport is not None and transport.payload is None and transport.iv == b"w" * 12
    # Ours passes their schema (their parser's first check), prekey flag included.
    built = xep_0384.build_encrypted(
        LegacyEncrypted(1, [(2, b"k", True), (3, b"l", False)], b"v" * 12, b"c")
    )
    oldmemo.etree.MESSAGE_SCHEMA.validate(to_etree(built))
    oldmemo.etree.MESSAGE_SCHEMA.validate(
        to_etree(xep_0384.build_encrypted(LegacyEncrypted(1, [(2, b"k", False)], b"v" * 12)))
    )


# -- node configuration (precondition-not-met) --------------------------------


def test_node_config_and_precondition_error() -> None:
    pubsub = reparse(xep_0384.build_node_config(DEVICELIST))
    assert pubsub.ns == OWNER
    configure = pubsub.find("configure", OWNER)
    assert configure is not None and configure.get("node") == DEVICELIST
    form = xep_0004.find_form(configure, "http://jabber.org/protocol/pubsub#node_config")
    assert form is not None and form.type == "submit"
    assert form.values()["pubsub#access_model"] == ["open"]
    with_max = reparse(xep_0384.build_node_config("n", xep_0384.OMEMO2_BUNDLES_OPTIONS))
    configure = with_max.find("configure", OWNER)
    assert configure is not None
    form = xep_0004.find_form(configure)
    assert form is not None and form.values()["pubsub#max_items"] == ["max"]
    # As Prosody 0.12 answers a publish whose options don't match the node.
    failed = parse_xml(
        '<iq xmlns="jabber:client" type="error" id="p1"><error type="cancel">'
        '<conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<precondition-not-met xmlns="http://jabber.org/protocol/pubsub#errors"/>'
        "</error></iq>"
    )
    assert xep_0384.is_precondition_not_met(failed)
    other = parse_xml(
        '<iq xmlns="jabber:client" type="error"><error type="cancel">'
        '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
    )
    assert not xep_0384.is_precondition_not_met(other)
    assert not xep_0384.is_precondition_not_met(parse_xml('<iq xmlns="jabber:client" '
                                                          'type="result"/>'))


# -- OMEMO 2 ------------------------------------------------------------------


def test_omemo2_devices() -> None:
    devices = [Device(1, "Phone", b"sig"), Device(2), Device(3, "Laptop")]
    pubsub = reparse(xep_0384.build_omemo2_devices_publish(devices))
    publish = pubsub.find("publish", PUBSUB)
    assert publish is not None and publish.get("node") == "urn:xmpp:omemo:2:devices"
    iq = result("urn:xmpp:omemo:2:devices", *(c.to_xml(PUBSUB) for c in publish.children))
    assert xep_0384.parse_omemo2_devices_items(iq) == devices
    # Interop both ways (their labels carry a signature).
    theirs = twomemo.etree.serialize_device_list({7: None, 8: None})
    assert xep_0384.parse_omemo2_devices(from_etree(theirs)) == [Device(7), Device(8)]
    back = twomemo.etree.parse_device_list(to_etree(xep_0384.build_omemo2_devices(devices)))
    assert set(back) == {1, 2, 3}
    assert back[1] is not None and back[1].label == "Phone" and back[1].signature == b"sig"
    payload = xep_0384.build_omemo2_devices([Device(9)]).to_xml()
    assert xep_0384.omemo2_devices_event(
        event(xep_0384.OMEMO2_DEVICES_NODE, payload, str(BOB)), ME
    ) == (BOB, [Device(9)])
    assert xep_0384.build_omemo2_devices_fetch().to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><items node="urn:xmpp:omemo:2:devices"/></pubsub>'
    )


def test_omemo2_bundle() -> None:
    bundle = Omemo2Bundle(b"i" * 32, 3, b"s" * 32, b"g" * 64, [(1, b"p" * 32), (2, b"q" * 32)])
    pubsub = reparse(xep_0384.build_omemo2_bundle_publish(999, bundle))
    publish = pubsub.find("publish", PUBSUB)
    assert publish is not None and publish.get("node") == "urn:xmpp:omemo:2:bundles"
    item = publish.find("item", PUBSUB)
    assert item is not None and item.get("id") == "999"
    options = pubsub.find("publish-options", PUBSUB)
    form = None if options is None else xep_0004.find_form(options)
    assert form is not None
    assert form.values()["pubsub#max_items"] == ["max"]
    assert form.values()["pubsub#access_model"] == ["open"]
    assert xep_0384.build_omemo2_bundle_fetch(999).to_xml() == (
        f'<pubsub xmlns="{PUBSUB}"><items node="urn:xmpp:omemo:2:bundles">'
        '<item id="999"/></items></pubsub>'
    )
    other = Omemo2Bundle(b"j" * 32, 4, b"t" * 32, b"h" * 64, [(5, b"r" * 32)])
    iq = result(
        "urn:xmpp:omemo:2:bundles",
        f'<item id="998">{xep_0384.build_omemo2_bundle(other).to_xml()}</item>',
        f'<item id="999">{xep_0384.build_omemo2_bundle(bundle).to_xml()}</item>',
    )
    assert xep_0384.parse_omemo2_bundle_items(iq, 999) == bundle
    assert xep_0384.parse_omemo2_bundle_items(iq, 998) == other
    assert xep_0384.parse_omemo2_bundle_items(iq, 997) is None
    # Interop: their bundle read by us and ours by them.
    seed = os.urandom(32)
    spk = xeddsa.priv_to_curve25519_pub(xeddsa.seed_to_priv(os.urandom(32)))
    theirs = TwoBundleImpl(
        "bob@example.net", 999,
        x3dh.Bundle(xeddsa.seed_to_ed25519_pub(seed), spk, xeddsa.ed25519_seed_sign(seed, spk),
                    frozenset([b"p" * 32])),
        3, {b"p" * 32: 1},
    )
    parsed = xep_0384.parse_omemo2_bundle(from_etree(twomemo.etree.serialize_bundle(theirs)))
    assert parsed == Omemo2Bundle(theirs.bundle.identity_key, 3, spk,
                                  theirs.bundle.signed_pre_key_sig, [(1, b"p" * 32)])
    again = twomemo.etree.parse_bundle(to_etree(xep_0384.build_omemo2_bundle(parsed)),
                                       "bob@example.net", 999)
    assert again.bundle == theirs.bundle and again.pre_key_ids == {b"p" * 32: 1}


def _authenticated(n: int) -> bytes:
    inner = OMEMOMessage(n=n, pn=0, dh_pub=b"d" * 32, ciphertext=b"c" * 48)
    outer = OMEMOAuthenticatedMessage(mac=b"m" * 16, message=inner.SerializeToString())
    return bytes(outer.SerializeToString())


def test_omemo2_encrypted_round_trip_and_interop() -> None:
    carol = JID.parse("carol@example.org")
    encrypted = Omemo2Encrypted(
        10,
        [(BOB, 1, _authenticated(1), False), (carol, 2, _authenticated(2), False),
         (BOB, 3, _authenticated(3), False)],
        b"payload",
    )
    message = reparse(xep_0384.build_omemo2_message(BOB, "m2", encrypted))
    assert xep_0384.parse_omemo2_message(message) == Omemo2Encrypted(
        10,
        [(BOB, 1, _authenticated(1), False), (BOB, 3, _authenticated(3), False),
         (carol, 2, _authenticated(2), False)],
        b"payload",
    )
    eme = message.find("encryption", "urn:xmpp:eme:0")
    assert eme is not None and eme.get("namespace") == OMEMO2
    assert message.find_text("body", "jabber:client") == xep_0384.FALLBACK_BODY
    element = message.find("encrypted", OMEMO2)
    assert element is not None
    # Their parser reads ours.
    parsed = twomemo.etree.parse_message(to_etree(element), "alice@example.org")
    assert parsed.device_id == 10
    assert isinstance(parsed.content, TwoContent) and parsed.content.ciphertext == b"payload"
    assert {(k.bare_jid, k.device_id) for k, _ in parsed.keys} == {
        ("bob@example.net", 1), ("bob@example.net", 3), ("carol@example.org", 2)
    }
    # Ours reads theirs.
    keys = frozenset([
        (TwoKeyMaterial("bob@example.net", 4,
                        EncryptedMessage(Header(b"d" * 32, 0, 0), _authenticated(4))), None)
    ])
    out = twomemo.etree.serialize_message(
        Message(twomemo.twomemo.NAMESPACE, "alice@example.org", 11, TwoContent(b"ct"), keys)
    )
    assert xep_0384.parse_omemo2_encrypted(from_etree(out)) == Omemo2Encrypted(
        11, [(BOB, 4, _authenticated(4), False)], b"ct"
    )
    # kex flag, malformed parts.
    kex = parse_xml(
        f'<encrypted xmlns="{OMEMO2}"><header sid="4"><keys jid="bob@example.net">'
        f'<key rid="5" kex="true">{b64(b"x")}</key><key rid="6" kex="1">{b64(b"y")}</key>'
        '</keys><keys jid="bob@example.net/phone"><key rid="7">eQ==</key></keys>'
        '<keys jid="@@"><key rid="8">eQ==</key></keys></header></encrypted>'
    )
    assert xep_0384.parse_omemo2_encrypted(kex) == Omemo2Encrypted(
        4, [(BOB, 5, b"x", True), (BOB, 6, b"y", True)], None
    )
    bad_key = parse_xml(
        f'<encrypted xmlns="{OMEMO2}"><header sid="4"><keys jid="bob@example.net">'
        '<key rid="5">*</key></keys></header></encrypted>'
    )
    assert xep_0384.parse_omemo2_encrypted(bad_key) is None
    assert xep_0384.parse_omemo2_encrypted(parse_xml(f'<encrypted xmlns="{OMEMO2}"/>')) is None


def test_sce_envelope() -> None:
    envelope = xep_0384.body_envelope("Hi <Bob> & co", ME, BOB, "cGFk",
                                      "2026-01-01T00:00:00Z")
    element = reparse(xep_0384.build_envelope(envelope))
    assert element.to_xml() == (
        '<envelope xmlns="urn:xmpp:sce:1"><content>'
        '<body xmlns="jabber:client">Hi &lt;Bob&gt; &amp; co</body></content>'
        '<rpad>cGFk</rpad><time stamp="2026-01-01T00:00:00Z"/>'
        '<to jid="bob@example.net"/><from jid="alice@example.org"/></envelope>'
    )
    parsed = xep_0384.parse_envelope(element)
    assert parsed == Envelope([Element("body", "jabber:client", text="Hi <Bob> & co")],
                              ME.bare, BOB, "cGFk", "2026-01-01T00:00:00Z")
    assert parsed.body() == "Hi <Bob> & co"
    assert parsed.is_from(ME) and parsed.is_from(ME.bare)
    assert not parsed.is_from(BOB)
    anonymous = xep_0384.parse_envelope(parse_xml(
        '<envelope xmlns="urn:xmpp:sce:1"><content/></envelope>'))
    assert anonymous is not None and not anonymous.is_from(ME) and anonymous.body() is None
    assert xep_0384.parse_envelope(parse_xml('<envelope xmlns="urn:xmpp:sce:1"/>')) is None
    assert xep_0384.parse_envelope(parse_xml(
        '<envelope xmlns="urn:xmpp:sce:1"><content/><from jid="@bad"/></envelope>')) is None
    assert xep_0384.parse_envelope(parse_xml('<envelope xmlns="urn:other"><content/>'
                                             "</envelope>")) is None


def test_rpad_lengths() -> None:
    assert xep_0384.make_rpad(lambda n: bytes([0]) * n) == ""
    pad = xep_0384.make_rpad(lambda n: bytes([150]) * n)
    assert len(pad) == 200 and base64.b64decode(pad) == bytes([150]) * 150
    assert 0 < len(xep_0384.make_rpad(os.urandom) + "x") <= 201


def test_caps_ask_for_legacy_device_lists() -> None:
    # Without +notify in our caps the server sends no device-list changes.
    assert xep_0384.NOTIFY == "eu.siacs.conversations.axolotl.devicelist+notify"
    assert xep_0384.NOTIFY in xep_0115.FEATURES


def test_device_ids() -> None:
    assert xep_0384.parse_device_id("1") == 1
    assert xep_0384.parse_device_id(str(2**31 - 1)) == 2**31 - 1
    for bad in (None, "", "0", str(2**31), "+1", "1.0", "1e3", "0x10", "01", "\u0661"):
        assert xep_0384.parse_device_id(bad) is None, bad


def test_a_picked_bundle_keeps_one_usable_prekey_from_the_pick_on() -> None:
    bundle = xep_0384.LegacyBundle(
        b"\x05" + bytes(32), 1, b"\x05" + bytes(32), bytes(64),
        [(7, b"\x05" + bytes([7]) * 32), (8, b"\x05" + bytes([8]) * 32),
         (9, b"\x05" + bytes([9]) * 32)],
    )
    element = xep_0384.build_bundle(bundle)
    element.find("prekeys", xep_0384.NS).children[1].text = "not base64!"  # type: ignore[union-attr]
    whole = xep_0384.parse_bundle(element)
    assert whole is not None and [p[0] for p in whole.prekeys] == [7, 9]
    for pick, expected in ((0, 7), (1, 9), (2, 9), (3, 7), (65535, 7)):
        one = xep_0384.parse_bundle(element, pick)
        assert one is not None and [p[0] for p in one.prekeys] == [expected], pick
