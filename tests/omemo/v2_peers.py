"""Roost-side OMEMO 2 peers for tests: a device, its sessions, envelopes.

`EnvelopeV2` is what one `<encrypted xmlns='urn:xmpp:omemo:2'>` carries for
one recipient JID, minus the XML: the sender's device id, the per-device keys
(wire bytes, kex) and the payload (None for an empty message). `RoostPeerV2`
plays one device with roost.omemo.v2 alone, storing every session and device
state as records passed through `clone_record` (an IndexedDB structured clone).
"""

from __future__ import annotations

from roost.omemo import v2
from roost.omemo.keys import OwnDevice, generate_device, replace_prekey
from roost.omemo.v2 import PublicBundleV2, SessionV2

from tests.omemo.legacy_peers import CRYPTO, clone_record


class EnvelopeV2:
    """One OMEMO 2 encrypted message as the XML would carry it."""

    def __init__(
        self, sid: int, keys: dict[int, tuple[bytes, bool]], payload: bytes | None
    ) -> None:
        self.sid = sid
        self.keys = keys
        self.payload = payload


class RoostPeerV2:
    """One device using roost.omemo.v2, with its sessions kept as records."""

    def __init__(self, own: OwnDevice) -> None:
        self.records: dict[int, dict[str, object]] = {}
        self.own_record = clone_record(own.to_record())

    @classmethod
    async def create(cls, prekeys: int = 5) -> RoostPeerV2:
        return cls(await generate_device(CRYPTO, prekeys))

    @property
    def own(self) -> OwnDevice:
        return OwnDevice.from_record(clone_record(self.own_record))

    @property
    def device_id(self) -> int:
        return self.own.device_id

    async def bundle(self) -> PublicBundleV2:
        return await v2.public_bundle_v2(CRYPTO, self.own)

    def session(self, device_id: int) -> SessionV2 | None:
        if device_id not in self.records:
            return None
        return SessionV2.from_record(clone_record(self.records[device_id]))

    def keep(self, device_id: int, session: SessionV2) -> None:
        self.records[device_id] = clone_record(session.to_record())

    def forget(self, device_id: int) -> None:
        self.records.pop(device_id, None)

    async def send(
        self, to: dict[int, PublicBundleV2 | None], plaintext: bytes | None
    ) -> EnvelopeV2:
        """Encrypt for each device id (with its bundle when no session is there yet)."""
        payload: bytes | None
        if plaintext is None:
            key_material, payload = v2.empty_key_material(), None
        else:
            key_material, payload = await v2.encrypt_payload(CRYPTO, plaintext)
        keys: dict[int, tuple[bytes, bool]] = {}
        own = self.own
        for device_id, bundle in to.items():
            wire, kex, session = await v2.encrypt_for(
                CRYPTO, own, self.session(device_id), bundle, key_material
            )
            self.keep(device_id, session)
            keys[device_id] = (wire, kex)
        return EnvelopeV2(own.device_id, keys, payload)

    async def receive(self, envelope: EnvelopeV2) -> bytes | None:
        """The plaintext (None for an empty message); replaces a used prekey."""
        own = self.own
        wire, kex = envelope.keys[own.device_id]
        key_material, session, used = await v2.decrypt_from(
            CRYPTO, own, self.session(envelope.sid), wire, kex
        )
        self.keep(envelope.sid, session)
        if used is not None:
            await replace_prekey(CRYPTO, own, used)
            self.own_record = clone_record(own.to_record())
        if envelope.payload is None:
            return None
        return await v2.decrypt_payload(CRYPTO, key_material, envelope.payload)
