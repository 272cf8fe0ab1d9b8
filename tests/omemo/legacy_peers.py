"""Roost-side legacy OMEMO peers for tests: a device, its sessions, envelopes.

An `Envelope` is what one `<encrypted>` element carries, minus the XML: the
sender's device id, the per-device keys, iv and payload (None for an empty
message). `RoostPeer` plays one device with roost.omemo alone, storing every
session and device state as records passed through `clone_record` (what an
IndexedDB structured clone does: plain data copied, private-key handles kept).
"""

from __future__ import annotations

from typing import Any

from roost.omemo import legacy
from roost.omemo.keys import OwnDevice, PublicBundle, generate_device, replace_prekey
from roost.omemo.session import Session

from tests.support.omemo_crypto import CPythonCrypto

CRYPTO = CPythonCrypto()


def clone_record(value: Any) -> Any:
    """A structured-clone-like copy: containers and bytes copied, other objects kept."""
    if isinstance(value, dict):
        return {k: clone_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_record(v) for v in value]
    if isinstance(value, bytes):
        return bytes(bytearray(value))
    return value


class Envelope:
    """One encrypted message as the XML would carry it."""

    def __init__(
        self, sid: int, keys: dict[int, tuple[bytes, bool]], iv: bytes, payload: bytes | None
    ) -> None:
        self.sid = sid
        self.keys = keys
        self.iv = iv
        self.payload = payload


class RoostPeer:
    """One device using roost.omemo, with its sessions kept as records."""

    def __init__(self, own: OwnDevice) -> None:
        self.records: dict[int, dict[str, object]] = {}
        self.own_record = clone_record(own.to_record())

    @classmethod
    async def create(cls, prekeys: int = 5) -> RoostPeer:
        return cls(await generate_device(CRYPTO, prekeys))

    @property
    def own(self) -> OwnDevice:
        return OwnDevice.from_record(clone_record(self.own_record))

    @property
    def device_id(self) -> int:
        return self.own.device_id

    def bundle(self) -> PublicBundle:
        return self.own.public_bundle()

    def session(self, device_id: int) -> Session | None:
        if device_id not in self.records:
            return None
        return Session.from_record(clone_record(self.records[device_id]))

    def keep(self, device_id: int, session: Session) -> None:
        self.records[device_id] = clone_record(session.to_record())

    def forget(self, device_id: int) -> None:
        self.records.pop(device_id, None)

    async def send(
        self,
        to: dict[int, PublicBundle | None],
        plaintext: bytes | None,
    ) -> Envelope:
        """Encrypt for each device id (with its bundle when no session is there yet)."""
        if plaintext is None:
            key_material = await legacy.empty_key_material(CRYPTO)
            iv = await CRYPTO.random_bytes(12)
            payload = None
        else:
            key_material, iv, payload = await legacy.encrypt_payload(CRYPTO, plaintext)
        keys: dict[int, tuple[bytes, bool]] = {}
        own = self.own
        for device_id, bundle in to.items():
            wire, is_prekey, session = await legacy.encrypt_for(
                CRYPTO, own, self.session(device_id), bundle, key_material
            )
            self.keep(device_id, session)
            keys[device_id] = (wire, is_prekey)
        return Envelope(own.device_id, keys, iv, payload)

    async def receive(self, envelope: Envelope) -> bytes | None:
        """The plaintext (None for an empty message); replaces a used prekey."""
        own = self.own
        wire, is_prekey = envelope.keys[own.device_id]
        key_material, session, used = await legacy.decrypt_from(
            CRYPTO, own, self.session(envelope.sid), wire, is_prekey
        )
        self.keep(envelope.sid, session)
        if used is not None:
            await replace_prekey(CRYPTO, own, used)
            self.own_record = clone_record(own.to_record())
        if envelope.payload is None:
            return None
        return await legacy.decrypt_payload(CRYPTO, key_material, envelope.iv, envelope.payload)
