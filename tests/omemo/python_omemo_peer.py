"""python-omemo (oldmemo) as the independent peer of interop tests, in memory.

`PythonOmemoPeer` is a `omemo.SessionManager` with only the oldmemo backend,
an in-memory `Storage`, blind trust, and its network methods served by a
shared `Network` of dicts: PEP device lists, bundles as the `<bundle>` XML
oldmemo's own helpers write, and the messages it sends by itself (session
completion, heartbeats) as `<encrypted>` XML strings.

Roost's side of the wire is built and read here with ElementTree, as the
XEP-0384 (0.3) XML: `<encrypted xmlns='eu.siacs.conversations.axolotl'>`
with `<header sid>`, `<key rid [prekey='true']>`, `<iv>`, and `<payload>`,
all base64. python-omemo's side goes through `oldmemo.etree`, which
validates against its XML schema, so both ends of every message cross a
real serialisation.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

import oldmemo
import oldmemo.etree
import omemo
from oldmemo.oldmemo import BundleImpl
from roost.omemo.keys import PublicBundle

from tests.omemo.legacy_peers import Envelope

NS = oldmemo.oldmemo.NAMESPACE
Q = "{" + NS + "}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "", validate=True)


# -- Roost's wire forms, built and read with ElementTree ------------------------------


def bundle_to_xml(bundle: PublicBundle) -> str:
    root = ET.Element(Q + "bundle")
    spk = ET.SubElement(root, Q + "signedPreKeyPublic", {"signedPreKeyId": str(bundle.spk_id)})
    spk.text = b64(bundle.spk)
    ET.SubElement(root, Q + "signedPreKeySignature").text = b64(bundle.spk_signature)
    ET.SubElement(root, Q + "identityKey").text = b64(bundle.identity_key)
    prekeys = ET.SubElement(root, Q + "prekeys")
    for prekey_id, public in bundle.prekeys:
        ET.SubElement(prekeys, Q + "preKeyPublic", {"preKeyId": str(prekey_id)}).text = b64(public)
    return ET.tostring(root, encoding="unicode")


def bundle_from_xml(text: str) -> PublicBundle:
    root = ET.fromstring(text)
    assert root.tag == Q + "bundle"
    spk = root.find(Q + "signedPreKeyPublic")
    sig = root.find(Q + "signedPreKeySignature")
    ik = root.find(Q + "identityKey")
    assert spk is not None and sig is not None and ik is not None
    prekeys = [(int(el.attrib["preKeyId"]), unb64(el.text)) for el in root.iter(Q + "preKeyPublic")]
    return PublicBundle(
        unb64(ik.text), int(spk.attrib["signedPreKeyId"]), unb64(spk.text), unb64(sig.text), prekeys
    )


def envelope_to_xml(envelope: Envelope) -> str:
    root = ET.Element(Q + "encrypted")
    header = ET.SubElement(root, Q + "header", {"sid": str(envelope.sid)})
    for rid, (wire, is_prekey) in envelope.keys.items():
        attrs = {"rid": str(rid)}
        if is_prekey:
            attrs["prekey"] = "true"
        ET.SubElement(header, Q + "key", attrs).text = b64(wire)
    ET.SubElement(header, Q + "iv").text = b64(envelope.iv)
    if envelope.payload is not None:
        ET.SubElement(root, Q + "payload").text = b64(envelope.payload)
    return ET.tostring(root, encoding="unicode")


def envelope_from_xml(text: str) -> Envelope:
    root = ET.fromstring(text)
    assert root.tag == Q + "encrypted"
    header = root.find(Q + "header")
    assert header is not None
    iv = header.find(Q + "iv")
    assert iv is not None
    keys: dict[int, tuple[bytes, bool]] = {}
    for key in header.iter(Q + "key"):
        keys[int(key.attrib["rid"])] = (unb64(key.text), key.get("prekey") in ("true", "1"))
    payload = root.find(Q + "payload")
    return Envelope(
        int(header.attrib["sid"]),
        keys,
        unb64(iv.text),
        None if payload is None else unb64(payload.text),
    )


# -- python-omemo ------------------------------------------------------------------------


class Network:
    """What PEP and message delivery would hold, shared by all peers of a test."""

    def __init__(self) -> None:
        self.device_lists: dict[str, dict[int, None]] = {}
        self.bundles: dict[tuple[str, int], str] = {}  # <bundle> XML
        self.sent: list[tuple[str, str]] = []  # (recipient bare JID, <encrypted> XML)

    def publish_roost(self, jid: str, device_id: int, bundle: PublicBundle) -> None:
        self.device_lists.setdefault(jid, {})[device_id] = None
        self.bundles[(jid, device_id)] = bundle_to_xml(bundle)

    def take_sent(self, to: str) -> list[str]:
        mine = [xml for recipient, xml in self.sent if recipient == to]
        self.sent = [(r, x) for r, x in self.sent if r != to]
        return mine


class MemoryStorage(omemo.Storage):
    def __init__(self) -> None:
        super().__init__(disable_cache=True)  # every load goes through JSON-like data
        self.data: dict[str, Any] = {}

    async def _load(self, key: str) -> omemo.Maybe[omemo.JSONType]:
        if key in self.data:
            return omemo.Just(self.data[key])
        return omemo.Nothing()

    async def _store(self, key: str, value: omemo.JSONType) -> None:
        self.data[key] = value

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)


def _manager_class(network: Network, jid: str) -> type[omemo.SessionManager]:
    class Manager(omemo.SessionManager):
        @staticmethod
        async def _upload_bundle(bundle: omemo.Bundle) -> None:
            assert isinstance(bundle, BundleImpl)
            element = oldmemo.etree.serialize_bundle(bundle)
            network.bundles[(jid, bundle.device_id)] = ET.tostring(element, encoding="unicode")

        @staticmethod
        async def _download_bundle(namespace: str, bare_jid: str, device_id: int) -> omemo.Bundle:
            if (bare_jid, device_id) not in network.bundles:
                raise omemo.BundleNotFound(f"no bundle for {bare_jid}/{device_id}")
            element = ET.fromstring(network.bundles[(bare_jid, device_id)])
            return oldmemo.etree.parse_bundle(element, bare_jid, device_id)

        @staticmethod
        async def _delete_bundle(namespace: str, device_id: int) -> None:
            network.bundles.pop((jid, device_id), None)

        @staticmethod
        async def _upload_device_list(namespace: str, device_list: omemo.DeviceList) -> None:
            network.device_lists[jid] = dict(device_list)  # type: ignore[arg-type]

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
            element = oldmemo.etree.serialize_message(message)
            network.sent.append((bare_jid, ET.tostring(element, encoding="unicode")))

    return Manager


class PythonOmemoPeer:
    """A python-omemo device of `jid` on `network`."""

    def __init__(self, network: Network, jid: str, manager: omemo.SessionManager) -> None:
        self.network = network
        self.jid = jid
        self.manager = manager

    @classmethod
    async def create(cls, network: Network, jid: str) -> PythonOmemoPeer:
        manager = await _manager_class(network, jid).create(
            [oldmemo.Oldmemo(MemoryStorage())],
            MemoryStorage(),
            jid,
            None,
            "blind",
        )
        # Leave history-sync mode: prekeys are deleted at once and session
        # completion messages go out right away (what a client does when caught up).
        await manager.after_history_sync()
        return cls(network, jid, manager)

    async def close(self) -> None:
        await self.manager.shutdown()

    @property
    def device_id(self) -> int:
        return next(iter(self.network.device_lists[self.jid]))

    def bundle(self) -> PublicBundle:
        """Its published bundle, read from the `<bundle>` XML like Roost would."""
        return bundle_from_xml(self.network.bundles[(self.jid, self.device_id)])

    async def send(self, to: str, plaintext: bytes) -> str:
        """`<encrypted>` XML of `plaintext` for every device of `to`."""
        # As a PEP notification would have told it by now:
        await self.manager.update_device_list(NS, to, dict(self.network.device_lists[to]))
        messages, errors = await self.manager.encrypt(frozenset({to}), {NS: plaintext})
        assert not errors, errors
        (message,) = messages
        return ET.tostring(oldmemo.etree.serialize_message(message), encoding="unicode")

    async def receive(self, sender: str, xml: str) -> bytes | None:
        """The plaintext (None for an empty message) of `<encrypted>` XML from `sender`."""
        element = ET.fromstring(xml)
        message = await oldmemo.etree.parse_message(element, sender, self.jid, self.manager)
        plaintext, _device, _key_material = await self.manager.decrypt(message)
        return plaintext
