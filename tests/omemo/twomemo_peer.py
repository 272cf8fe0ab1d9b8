"""python-omemo's twomemo (OMEMO 2) as the independent peer of interop tests, in memory.

`TwomemoPeer` is an `omemo.SessionManager` with only the twomemo backend,
an in-memory `Storage` (tests/omemo/python_omemo_peer.py), blind trust, and
its network methods served by a shared `Network2` of dicts: PEP device lists,
bundles as the `<bundle xmlns='urn:xmpp:omemo:2'>` XML twomemo's own helpers
write, and the messages it sends by itself (session completion, heartbeats)
as `<encrypted>` XML strings.

Roost's side of the wire goes through Roost's own XMPP layer
(roost.xmpp.xeps.xep_0384: bundle, `<encrypted>` and SCE envelope builders
and parsers, roost.xmpp.xmlparse for text), so the test covers what the app
will send; python-omemo's side goes through `twomemo.etree`, which validates
against the XEP's XML schema. The plaintext python-omemo encrypts and
returns is the SCE envelope's bytes, as slixmpp-omemo hands it over.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import omemo
import twomemo
import twomemo.etree
from roost.omemo.v2 import PublicBundleV2
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0384
from roost.xmpp.xmlparse import parse_xml
from twomemo.twomemo import BundleImpl

from tests.omemo.python_omemo_peer import MemoryStorage
from tests.omemo.v2_peers import EnvelopeV2

NS = twomemo.twomemo.NAMESPACE


# -- Roost's wire forms, through roost.xmpp ----------------------------------------------


def bundle_to_xml(bundle: PublicBundleV2) -> str:
    return xep_0384.build_omemo2_bundle(
        xep_0384.Omemo2Bundle(
            bundle.identity_key, bundle.spk_id, bundle.spk, bundle.spk_signature, bundle.prekeys
        )
    ).to_xml()


def bundle_from_xml(text: str) -> PublicBundleV2:
    parsed = xep_0384.parse_omemo2_bundle(parse_xml(text))
    assert parsed is not None
    return PublicBundleV2(
        parsed.identity_key, parsed.spk_id, parsed.spk, parsed.spk_signature, parsed.prekeys
    )


def envelope_to_xml(envelope: EnvelopeV2, to: str) -> str:
    keys = [(JID.parse(to), rid, wire, kex) for rid, (wire, kex) in envelope.keys.items()]
    encrypted = xep_0384.Omemo2Encrypted(envelope.sid, keys, envelope.payload)
    return xep_0384.build_omemo2_encrypted(encrypted).to_xml()


def envelope_from_xml(text: str, own_jid: str) -> EnvelopeV2:
    parsed = xep_0384.parse_omemo2_encrypted(parse_xml(text))
    assert parsed is not None
    own = JID.parse(own_jid)
    keys = {rid: (wire, kex) for jid, rid, wire, kex in parsed.keys if jid == own}
    return EnvelopeV2(parsed.sid, keys, parsed.payload)


def sce_bytes(body: str, sender: str, to: str) -> bytes:
    """An SCE envelope holding a chat body, as bytes (what OMEMO 2 encrypts)."""
    envelope = xep_0384.body_envelope(body, JID.parse(sender), JID.parse(to), "cGFk")
    return xep_0384.build_envelope(envelope).to_xml().encode()


def sce_body(data: bytes | None, sender: str) -> str | None:
    """The body of decrypted SCE envelope bytes, checking its `<from>` affix."""
    if data is None:
        return None
    envelope = xep_0384.parse_envelope(parse_xml(data.decode()))
    assert envelope is not None and envelope.is_from(JID.parse(sender))
    return envelope.body()


# -- python-omemo ------------------------------------------------------------------------


class Network2:
    """What PEP and message delivery would hold, shared by all peers of a test."""

    def __init__(self) -> None:
        self.device_lists: dict[str, dict[int, str | None]] = {}
        self.bundles: dict[tuple[str, int], str] = {}  # <bundle> XML
        self.sent: list[tuple[str, str]] = []  # (recipient bare JID, <encrypted> XML)

    def publish_roost(self, jid: str, device_id: int, bundle: PublicBundleV2) -> None:
        self.device_lists.setdefault(jid, {})[device_id] = None
        self.bundles[(jid, device_id)] = bundle_to_xml(bundle)

    def take_sent(self, to: str) -> list[str]:
        mine = [xml for recipient, xml in self.sent if recipient == to]
        self.sent = [(r, x) for r, x in self.sent if r != to]
        return mine


def _manager_class(network: Network2, jid: str) -> type[omemo.SessionManager]:
    class Manager(omemo.SessionManager):
        @staticmethod
        async def _upload_bundle(bundle: omemo.Bundle) -> None:
            assert isinstance(bundle, BundleImpl)
            element = twomemo.etree.serialize_bundle(bundle)
            network.bundles[(jid, bundle.device_id)] = ET.tostring(element, encoding="unicode")

        @staticmethod
        async def _download_bundle(namespace: str, bare_jid: str, device_id: int) -> omemo.Bundle:
            if (bare_jid, device_id) not in network.bundles:
                raise omemo.BundleNotFound(f"no bundle for {bare_jid}/{device_id}")
            element = ET.fromstring(network.bundles[(bare_jid, device_id)])
            return twomemo.etree.parse_bundle(element, bare_jid, device_id)

        @staticmethod
        async def _delete_bundle(namespace: str, device_id: int) -> None:
            network.bundles.pop((jid, device_id), None)

        @staticmethod
        async def _upload_device_list(namespace: str, device_list: omemo.DeviceList) -> None:
            network.device_lists[jid] = dict(device_list)

        @staticmethod
        async def _download_device_list(namespace: str, bare_jid: str) -> omemo.DeviceList:
            return dict(network.device_lists.get(bare_jid, {}))

        async def _evaluate_custom_trust_level(
            self, device: omemo.DeviceInformation
        ) -> omemo.TrustLevel:
            return omemo.TrustLevel.TRUSTED  # blind trust: this is about the wire

        async def _make_trust_decision(self, undecided: Any, identifier: str | None) -> None:
            return None

        @staticmethod
        async def _send_message(message: omemo.Message, bare_jid: str) -> None:
            element = twomemo.etree.serialize_message(message)
            network.sent.append((bare_jid, ET.tostring(element, encoding="unicode")))

    return Manager


class TwomemoPeer:
    """A python-omemo OMEMO 2 device of `jid` on `network`."""

    def __init__(self, network: Network2, jid: str, manager: omemo.SessionManager) -> None:
        self.network = network
        self.jid = jid
        self.manager = manager

    @classmethod
    async def create(cls, network: Network2, jid: str) -> TwomemoPeer:
        manager = await _manager_class(network, jid).create(
            [twomemo.Twomemo(MemoryStorage())], MemoryStorage(), jid, None, "blind"
        )
        # leave history-sync mode: prekeys go at once, session completions are sent
        await manager.after_history_sync()
        return cls(network, jid, manager)

    async def close(self) -> None:
        await self.manager.shutdown()

    @property
    def device_id(self) -> int:
        return next(iter(self.network.device_lists[self.jid]))

    def bundle(self) -> PublicBundleV2:
        """Its published bundle, read from the `<bundle>` XML the way Roost reads it."""
        return bundle_from_xml(self.network.bundles[(self.jid, self.device_id)])

    async def send(self, to: str, body: str) -> str:
        """`<encrypted>` XML of an SCE envelope with `body`, for every device of `to`."""
        await self.manager.update_device_list(NS, to, dict(self.network.device_lists[to]))
        plaintext = sce_bytes(body, self.jid, to)
        messages, errors = await self.manager.encrypt(frozenset({to}), {NS: plaintext})
        assert not errors, errors
        (message,) = messages
        return ET.tostring(twomemo.etree.serialize_message(message), encoding="unicode")

    async def receive(self, sender: str, xml: str) -> str | None:
        """The SCE body (None for an empty message) of `<encrypted>` XML from `sender`."""
        message = twomemo.etree.parse_message(ET.fromstring(xml), sender)
        plaintext, _device, _key_material = await self.manager.decrypt(message)
        return sce_body(plaintext, sender)
