"""End-to-end encryption of 1:1 chats with OMEMO (legacy, `eu.siacs.conversations.axolotl`).

`OmemoManager` is the app's side of it: this device's keys and their
publication, the device lists and identities of contacts, trust, sessions,
and the two jobs that matter, "encrypt this outgoing message for every
trusted device" and "decrypt this incoming one". The protocol itself is
`roost.omemo` (sans-I/O, async crypto); the network is the `OmemoNet` the
chat app gives (PEP through the XMPP client), storage the platform's
`OmemoStorage` (IndexedDB, trusted devices only).

Rules it keeps (SECURITY.md, OMEMO):
- nothing leaves in plaintext while encryption is on: a message that can't be
  encrypted fails with a reason, and only the user can choose to send it
  unencrypted;
- a message key goes only to devices trusted under the active trust model:
  blind trust before verification (Conversations' default: new devices are
  trusted until one of the contact's devices is verified, after which new
  ones must be verified), or manual trust (new devices untrusted);
- a new device of a contact (or a changed identity key) is announced.

Crypto runs as async jobs, one at a time (a ratchet must never see two
operations interleave); network round trips happen between jobs, so no job
waits on the network.
"""

from __future__ import annotations

from roost.app.events import Emitter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Protocol

    from roost.omemo.crypto import OmemoCrypto
    from roost.omemo.keys import OwnDevice
    from roost.omemo.session import Session
    from roost.omemo.v2_session import SessionV2

    Runner = Callable[
        [Awaitable[object], Callable[[object], None], Callable[[Exception], None]], None
    ]
else:
    Protocol = object

BLIND = "blind"  # trusted without verification (BTBV)
VERIFIED = "verified"
UNTRUSTED = "untrusted"  # not (yet) trusted: no keys go to it, its messages are held
DISTRUSTED = "distrusted"  # the user said no
TRUSTED = (BLIND, VERIFIED)

# What a message's `omemo` field says (None: not an encrypted message).
OK = "ok"  # encrypted (sent) or decrypted (received)
PENDING = "pending"  # decrypting / encrypting
WANT = "want"  # outgoing, to be encrypted before it goes
BEFORE_DEVICE = "before-device"
NOT_FOR_DEVICE = "not-for-device"
FROM_UNTRUSTED = "untrusted"
BROKEN = "broken"
NO_KEYS = "no-keys"  # this browser has no OMEMO (untrusted session)
CANT_ENCRYPT = "cant-encrypt"
UNKNOWN_SENDER = "unknown-sender"  # a room that doesn't say who sent it

REASONS = {
    PENDING: "Decrypting…",
    BEFORE_DEVICE: (
        "Sent before encryption was set up in this browser, so it can't be read here."
        " Your other devices can read it."
    ),
    NOT_FOR_DEVICE: (
        "Not encrypted for this browser: the sender's app didn't know this device yet."
        " New messages will be readable."
    ),
    FROM_UNTRUSTED: (
        "From a device you haven't trusted. Check the contact's devices under"
        " Encryption, then trust it to read this message."
    ),
    BROKEN: (
        "This message couldn't be decrypted: the encrypted session with the sender's"
        " device was broken. Roost has started a new one, so new messages will be readable."
    ),
    UNKNOWN_SENDER: (
        "Encrypted, but this room doesn't show who sent it, so it can't be decrypted."
    ),
    NO_KEYS: (
        "Encrypted. This browser isn't a trusted device, so it has no encryption keys."
        " Log in with \u201cThis is a trusted device\u201d ticked to read encrypted messages."
    ),
}

# A contact can publish any number of device ids: bound the work per message.
MAX_DEVICES = 32
# Session repair: at most one fresh session per device this often (seconds).
REPAIR_INTERVAL = 300.0
PREKEYS = 100
# The two wire versions, per device: legacy `eu.siacs.conversations.axolotl`
# and OMEMO 2 `urn:xmpp:omemo:2` (chosen when the device publishes it).
LEGACY = "legacy"
V2 = "v2"
# A heartbeat after this many messages read on one chain without sending
# (python-omemo's figure), so the sender's ratchet moves on.
HEARTBEAT_AFTER = 53
# The signed prekey is replaced weekly; the previous one still starts
# sessions for peers that fetched the old bundle, for a month.
SIGNED_PREKEY_ROTATION = 7 * 86400.0
SIGNED_PREKEY_GRACE = 30 * 86400.0


def reason_text(code: str | None) -> str:
    return REASONS.get(code or "", "This encrypted message couldn't be read.")


class OmemoNet(Protocol):
    """What the manager asks of the network; answers come back through callbacks.

    A callback's `error` is None on success, else a sentence for people.
    """

    def fetch_devices(
        self, jid: str, cb: Callable[[list[int] | None, str | None], None], ns: str = LEGACY
    ) -> None: ...

    def publish_devices(
        self, ids: list[int], cb: Callable[[str | None], None], ns: str = LEGACY
    ) -> None: ...

    def fetch_bundle(
        self, jid: str, device_id: int, cb: Callable[[object, str | None], None], ns: str = LEGACY
    ) -> None:
        """cb(the peer's bundle: `xep_0384.LegacyBundle` or `Omemo2Bundle`, or None, error)."""

    def publish_bundle(
        self, device_id: int, bundle: object, cb: Callable[[str | None], None], ns: str = LEGACY
    ) -> None: ...

    def send_encrypted(
        self, to: str, msg_id: str | None, encrypted: object, encrypted2: object = None
    ) -> None:
        """Send a chat message carrying `encrypted` (`xep_0384.LegacyEncrypted`)
        and/or `encrypted2` (`Omemo2Encrypted`), its fallback body and hints;
        `msg_id` None for key-transport messages."""


class OmemoStorage(Protocol):
    def load(
        self, cb: Callable[[dict[str, object]], None], on_error: Callable[[str], None]
    ) -> None: ...

    def write(
        self,
        puts: dict[str, object],
        deletes: list[str],
        cb: Callable[[bool], None] | None = None,
    ) -> None: ...

    def destroy(self, cb: Callable[[], None] | None = None) -> None: ...


class Device:
    """One OMEMO device of an account, as this browser knows it."""

    __slots__ = ("active", "device_id", "first_seen", "identity", "jid", "legacy", "trust", "v2")

    def __init__(
        self,
        jid: str,
        device_id: int,
        identity: bytes | None = None,
        trust: str = UNTRUSTED,
        first_seen: float = 0.0,
        active: bool = True,
    ) -> None:
        self.jid = jid
        self.device_id = device_id
        # 33-byte 0x05 Curve25519 key once a bundle or message showed it (an
        # OMEMO 2 Ed25519 key is kept in this form too: one fingerprint).
        self.identity = identity
        self.trust = trust
        self.first_seen = first_seen
        self.active = active  # in one of the account's published lists now
        self.legacy = True  # in the legacy list
        self.v2 = False  # in the OMEMO 2 list: spoken to in OMEMO 2

    @property
    def fingerprint(self) -> str:
        """Grouped hex as Conversations and Gajim show it ("" before the key is known)."""
        from roost.omemo.encoding import format_fingerprint

        if self.identity is None or len(self.identity) != 33:
            return ""
        return format_fingerprint(self.identity[1:])

    def to_record(self) -> dict[str, object]:
        return {
            "jid": self.jid,
            "id": self.device_id,
            "ik": self.identity,
            "trust": self.trust,
            "seen": self.first_seen,
            "active": self.active,
            "legacy": self.legacy,
            "v2": self.v2,
        }

    @classmethod
    def from_record(cls, value: dict[str, object]) -> Device:
        ik = value.get("ik")
        seen = value.get("seen")
        device = cls(
            str(value.get("jid") or ""),
            int(value.get("id") or 0),  # type: ignore[call-overload]
            bytes(ik) if isinstance(ik, (bytes, bytearray)) else None,
            str(value.get("trust") or UNTRUSTED),
            float(seen) if isinstance(seen, (int, float)) else 0.0,
            bool(value.get("active", True)),
        )
        device.legacy = bool(value.get("legacy", True))
        device.v2 = bool(value.get("v2", False))
        return device


def initial_trust(manual: bool, others: list[Device]) -> str:
    """The trust a newly seen device of a contact gets.

    Manual trust: untrusted until the user says so. Blind trust before
    verification: trusted, unless the user already verified one of this
    contact's devices (from then on a new device has to be verified too).
    """
    if manual:
        return UNTRUSTED
    for device in others:
        if device.trust == VERIFIED:
            return UNTRUSTED
    return BLIND


def _device_key(jid: str, device_id: int) -> str:
    return "device:" + jid + ":" + str(device_id)


def _session_key(jid: str, device_id: int, ns: str = "legacy") -> str:
    return ("session:" if ns == "legacy" else "session2:") + jid + ":" + str(device_id)


class Sealed:
    """The part of a received OMEMO message this device needs to decrypt it."""

    __slots__ = ("iv", "key", "ns", "payload", "prekey", "sender", "sid")

    def __init__(
        self, sender: str, sid: int, key: bytes, prekey: bool, iv: bytes, payload: bytes | None,
        ns: str = LEGACY,
    ) -> None:
        self.sender = sender
        self.sid = sid
        self.key = key
        self.prekey = prekey  # a prekey message (legacy) / key exchange (OMEMO 2)
        self.iv = iv  # legacy only (b"" for OMEMO 2)
        self.payload = payload
        self.ns = ns


class OmemoManager:
    """This device's OMEMO for one account (see the module docstring).

    Events (`on(name, cb)`): "ready" (), "failed" (text), "devices" (bare
    JID: its device list or a trust changed), "new_device" (bare JID,
    Device), "notice" (text).
    """

    def __init__(
        self,
        own_jid: str,
        crypto: OmemoCrypto,
        storage: OmemoStorage,
        net: OmemoNet,
        run: Runner,
        now: Callable[[], float],
    ) -> None:
        self.own_jid = own_jid
        self.crypto = crypto
        self.storage = storage
        self.net = net
        self._run = run
        self._now = now
        self.events = Emitter()
        self.own: OwnDevice | None = None  # once loaded or made
        self.created = 0.0  # when this browser's device was made
        self.ready = False
        self.failure: str | None = None
        self.manual_trust = False
        # Per conversation: True/False set by the user; absent: on when the contact has devices.
        self.choices: dict[str, bool] = {}
        self.devices: dict[str, dict[int, Device]] = {}  # bare JID → device id → Device
        self.lists_known: set[str] = set()  # device lists fetched or pushed on this page
        # Sessions by (bare JID, device id, LEGACY or V2): stored records until first used.
        self._sessions: dict[tuple[str, int, str], Session | SessionV2 | dict[str, object]] = {}
        self._repaired: dict[tuple[str, int, str], float] = {}
        self._fetching: dict[str, list[Callable[[], None]]] = {}
        self._jobs: list[
            tuple[
                Callable[[], Awaitable[object]],
                Callable[[Exception], None],
                Callable[[], None] | None,
            ]
        ] = []
        self._busy = False
        self._puts: dict[str, object] = {}
        self._deletes: set[str] = set()
        self._published = False
        self._bundle_due = False
        self._online = False

    def on(self, name: str, cb: Callable[..., object]) -> None:
        self.events.on(name, cb)

    # -- start: load or make this device ---------------------------------------
    def start(self) -> None:
        self.storage.load(self._loaded, self._load_failed)

    def _load_failed(self, text: str) -> None:
        self.failure = text
        self.events.emit("failed", text)

    def _loaded(self, records: dict[str, object]) -> None:
        from roost.omemo.keys import OwnDevice

        for key, value in records.items():
            if not isinstance(value, dict):
                continue
            if key.startswith("device:"):
                device = Device.from_record(value)
                self.devices.setdefault(device.jid, {})[device.device_id] = device
            elif key.startswith("session:") or key.startswith("session2:"):
                head, _, ref = key.partition(":")
                jid, _, dev = ref.rpartition(":")
                ns = LEGACY if head == "session" else V2
                self._sessions[(jid, int(dev), ns)] = value  # parsed when first used
            elif key == "settings":
                self.manual_trust = bool(value.get("manual"))
                choices = value.get("choices")
                if isinstance(choices, dict):
                    self.choices = {str(k): bool(v) for k, v in choices.items()}
        own = records.get("own")
        if isinstance(own, dict):
            try:
                self.own = OwnDevice.from_record(own)
                seen = own.get("created")
                self.created = float(seen) if isinstance(seen, (int, float)) else 0.0
            except Exception:  # unreadable keys: a new device is the honest way out
                self.own = None
        if self.own is not None:
            self._became_ready()
            return
        self._enqueue(self._generate, self._generate_failed)

    async def _generate(self) -> None:
        from roost.omemo.keys import generate_device

        own = await generate_device(self.crypto, PREKEYS, now=self._now())
        self.own = own
        self.created = self._now()
        self._save_own()
        self._flush()  # kept at once: a reload before the publish must not make another device
        self._became_ready()

    def _generate_failed(self, exc: Exception) -> None:
        self._load_failed("This browser couldn't create encryption keys: " + str(exc))

    def _became_ready(self) -> None:
        self.ready = True
        self.events.emit("ready")
        if self._online:
            self._publish_own()

    @property
    def device_id(self) -> int:
        return 0 if self.own is None else self.own.device_id

    def _device(self) -> OwnDevice:
        own = self.own
        if own is None:
            raise RuntimeError("no OMEMO device yet")
        return own

    def own_fingerprint(self) -> str:
        from roost.omemo.encoding import format_fingerprint

        if self.own is None:
            return ""
        return format_fingerprint(self.own.identity.curve25519_public)

    # -- online: publish ----------------------------------------------------------
    def went_online(self) -> None:
        """A fresh session (resumed ones keep what was published)."""
        self._online = True
        self.lists_known.discard(self.own_jid)
        if self.ready:
            self._publish_own()

    def went_offline(self) -> None:
        self._online = False

    def _publish_own(self) -> None:
        """Rotate the signed prekey when due, then make sure our device is in
        both lists (legacy and OMEMO 2) and both bundles are published."""

        async def rotate() -> None:
            await self._rotate_if_due()

        def failed(_exc: Exception) -> None:
            self._announce()

        def rotated() -> None:
            self._announce()

        self._enqueue(rotate, failed, rotated)

    async def _rotate_if_due(self) -> None:
        from roost.omemo.keys import drop_previous_signed_prekey, rotate_signed_prekey

        own = self._device()
        now = self._now()
        changed = False
        if now - own.signed_prekey.created >= SIGNED_PREKEY_ROTATION:
            await rotate_signed_prekey(self.crypto, own, now=now)
            changed = True
        if drop_previous_signed_prekey(own, now, SIGNED_PREKEY_GRACE):
            changed = True
        if changed:
            self._save_own()
            self._flush()

    def _announce(self) -> None:
        own_id = self.device_id
        for ns in (LEGACY, V2):

            def got(ids: list[int] | None, error: str | None, ns: str = ns) -> None:
                present = list(ids or [])  # no node yet: ours will be the first
                self._set_device_list(self.own_jid, present, ns)
                if own_id not in present:
                    present.append(own_id)
                    self.net.publish_devices(present, self._published_devices, ns)

            self.net.fetch_devices(self.own_jid, got, ns)
        self._publish_bundle()

    def _published_devices(self, error: str | None) -> None:
        if error is not None:
            self.events.emit("notice", "Couldn't announce this device for encryption: " + error)

    def _publish_bundle(self) -> None:
        """Both bundles (they share keys: a prekey used by one is gone from both)."""
        from roost.xmpp.xeps.xep_0384 import LegacyBundle

        own = self.own
        if own is None:
            return
        pub = own.public_bundle()
        bundle = LegacyBundle(
            pub.identity_key, pub.spk_id, pub.spk, pub.spk_signature, list(pub.prekeys)
        )
        self.net.publish_bundle(self.device_id, bundle, self._published_bundle)

        async def v2_bundle() -> None:
            from roost.omemo.v2_keys import public_bundle_v2
            from roost.xmpp.xeps.xep_0384 import Omemo2Bundle

            b = await public_bundle_v2(self.crypto, self._device())
            wire = Omemo2Bundle(b.identity_key, b.spk_id, b.spk, b.spk_signature, b.prekeys)
            self.net.publish_bundle(self.device_id, wire, self._published_bundle, V2)

        self._enqueue(v2_bundle, _ignore)

    def _published_bundle(self, error: str | None) -> None:
        if error is not None:
            self.events.emit("notice", "Couldn't publish this device's encryption keys: " + error)

    # -- device lists and trust -----------------------------------------------------
    def device_list_pushed(self, jid: str, ids: list[int], ns: str = LEGACY) -> None:
        """A PEP notification (checked by the core: it comes from `jid` itself)."""
        self.lists_known.add(jid)
        self._set_device_list(jid, ids, ns)
        if jid == self.own_jid and self.ready and self._online and self.device_id not in ids:
            # Another client of ours dropped this device from the list: put it back.
            self.net.publish_devices([*ids, self.device_id], self._published_devices, ns)

    def _set_device_list(self, jid: str, ids: list[int], ns: str = LEGACY) -> None:
        known = self.devices.setdefault(jid, {})
        # A device is news only on a list we knew before (not on the first look).
        had_any = bool(known)
        changed = False
        wanted = set(ids[:MAX_DEVICES])
        for device_id in wanted:
            if jid == self.own_jid and device_id == self.device_id:
                continue
            device = known.get(device_id)
            if device is None:
                trust = initial_trust(self.manual_trust, list(known.values()))
                device = Device(jid, device_id, None, trust, self._now(), True)
                device.legacy = ns == LEGACY
                device.v2 = ns == V2
                known[device_id] = device
                self._save_device(device)
                changed = True
                if had_any:
                    self.events.emit("new_device", jid, device)
                continue
            listed = device.legacy if ns == LEGACY else device.v2
            if not listed or not device.active:
                if ns == LEGACY:
                    device.legacy = True
                else:
                    device.v2 = True
                device.active = True
                self._save_device(device)
                changed = True
        for device in known.values():
            listed = device.legacy if ns == LEGACY else device.v2
            if listed and device.device_id not in wanted:
                if ns == LEGACY:
                    device.legacy = False
                else:
                    device.v2 = False
                device.active = device.legacy or device.v2
                self._save_device(device)
                changed = True
        self._flush()
        if changed:
            self.events.emit("devices", jid)

    def ensure_devices(self, jid: str, then: Callable[[], None] | None = None) -> None:
        """Fetch `jid`'s device lists (legacy and OMEMO 2) unless this page knows
        them; then `then()`."""
        if jid in self.lists_known:
            if then is not None:
                then()
            return
        waiting = self._fetching.get(jid)
        if waiting is not None:
            if then is not None:
                waiting.append(then)
            return
        self._fetching[jid] = [then] if then is not None else []
        left = [2]

        failed = [False]

        def got(ids: list[int] | None, error: str | None, ns: str) -> None:
            if ids is None:
                failed[0] = True  # not "no devices": we couldn't look (asked again later)
            else:
                self._set_device_list(jid, ids, ns)
            left[0] -= 1
            if left[0]:
                return
            callbacks = self._fetching.pop(jid, [])
            if not failed[0]:
                self.lists_known.add(jid)
            self.events.emit("devices", jid)
            for cb in callbacks:
                cb()

        self.net.fetch_devices(jid, lambda ids, error: got(ids, error, LEGACY))
        self.net.fetch_devices(jid, lambda ids, error: got(ids, error, V2), V2)

    def active_devices(self, jid: str) -> list[Device]:
        found = self.devices.get(jid)
        if not found:
            return []
        return [d for d in found.values() if d.active]

    def has_devices(self, jid: str) -> bool:
        return bool(self.active_devices(jid))

    def encryption_on(self, jid: str) -> bool:
        """The padlock of a conversation: the user's choice, else on when the contact
        has OMEMO devices."""
        if not self.ready:
            return False
        choice = self.choices.get(jid)
        if choice is not None:
            return choice
        return self.has_devices(jid)

    def set_encryption(self, jid: str, on: bool) -> None:
        self.choices[jid] = on
        self._save_settings()
        self._flush()
        self.events.emit("devices", jid)

    def set_manual_trust(self, manual: bool) -> None:
        self.manual_trust = manual
        self._save_settings()
        self._flush()

    def set_trust(self, jid: str, device_id: int, trust: str) -> None:
        device = self.devices.get(jid, {}).get(device_id)
        if device is None or trust not in (BLIND, VERIFIED, UNTRUSTED, DISTRUSTED):
            return
        device.trust = trust
        self._save_device(device)
        self._flush()
        self.events.emit("devices", jid)

    def _identity_seen(self, jid: str, device_id: int, identity: bytes) -> Device:
        """Record the identity key (33-byte 0x05 Curve25519 form) a bundle or a
        message showed for a device.

        A different key under a known device id is a new identity: its trust
        starts over (and the user is told), as if it were a new device.
        """
        known = self.devices.setdefault(jid, {})
        device = known.get(device_id)
        if device is None:
            others = [d for d in known.values() if d.device_id != device_id]
            device = Device(jid, device_id, identity, initial_trust(self.manual_trust, others),
                            self._now(), False)
            known[device_id] = device
            self._save_device(device)
            self.events.emit("devices", jid)
        elif device.identity is None:
            device.identity = identity
            self._save_device(device)
            self.events.emit("devices", jid)
        elif device.identity != identity:
            others = [d for d in known.values() if d.device_id != device_id]
            device.identity = identity
            device.trust = initial_trust(self.manual_trust, others)
            for ns in (LEGACY, V2):
                self._sessions.pop((jid, device_id, ns), None)
                self._deletes.add(_session_key(jid, device_id, ns))
            self._save_device(device)
            self.events.emit("new_device", jid, device)
            self.events.emit("devices", jid)
        return device

    # -- sending ---------------------------------------------------------------------------
    def encrypt(
        self,
        to: str | list[str],
        msg_id: str | None,
        plaintext: str,
        on_done: Callable[[object], None],
        on_failed: Callable[[str], None],
        envelope: bytes | None = None,
        on_later: Callable[[], None] | None = None,
    ) -> None:
        """Encrypt `plaintext` for every trusted device of `to` (a contact, or
        the members of a room) and of our own account: on_done((legacy
        `LegacyEncrypted` or None, OMEMO 2 `Omemo2Encrypted` or None)) for the
        caller to send under `msg_id`, or on_failed(sentence) when that can't
        be done for every recipient. `envelope`: the XEP-0420 envelope bytes
        holding `plaintext`, for the devices spoken to in OMEMO 2 (without it,
        legacy only). `on_later()`: a device list couldn't be fetched (the
        connection went): nothing was done, try again later."""
        if not self.ready or self.own is None:
            on_failed(self.failure or "Encryption is still being set up in this browser.")
            return
        recipients = [to] if isinstance(to, str) else list(to)

        def with_lists() -> None:
            if on_later is not None:
                for jid in recipients:
                    if jid not in self.lists_known:
                        on_later()
                        return
            targets = self._targets(recipients)
            if isinstance(targets, str):
                on_failed(targets)
                return

            def with_bundles(bundles: dict[tuple[str, int, str], object]) -> None:
                async def job() -> None:
                    await self._encrypt_job(
                        recipients, plaintext, envelope, targets, bundles, on_done, on_failed
                    )

                def failed(exc: Exception) -> None:
                    on_failed("Encryption failed: " + str(exc))

                self._enqueue(job, failed)

            self._with_bundles(targets, envelope is not None, with_bundles)

        self._ensure_all([*recipients, self.own_jid], with_lists)

    def _ensure_all(self, jids: list[str], then: Callable[[], None]) -> None:
        """`ensure_devices` for each of `jids` (one after another), then `then()`."""
        if not jids:
            then()
            return
        self.ensure_devices(jids[0], lambda: self._ensure_all(jids[1:], then))

    def _targets(self, recipients: list[str]) -> list[Device] | str:
        """The devices a message is encrypted for, or why it can't be."""
        targets: list[Device] = []
        for to in recipients:
            theirs = self.active_devices(to)
            if not theirs:
                return (
                    to + " has no device that can receive encrypted messages (OMEMO)."
                    " Their app may not support it, or has it switched off."
                )
            trusted = [d for d in theirs if d.trust in TRUSTED]
            if not trusted:
                return (
                    "None of " + to + "'s devices is trusted. Check their devices under"
                    " Encryption and trust the ones you recognise."
                )
            targets.extend(trusted)
        return targets + [d for d in self.active_devices(self.own_jid) if d.trust in TRUSTED]

    def _with_bundles(
        self,
        targets: list[Device],
        v2_ok: bool,
        then: Callable[[dict[tuple[str, int, str], object]], None],
    ) -> None:
        """Fetch the bundles needed to start sessions: OMEMO 2 for devices in
        the OMEMO 2 list, legacy for the others and (a fallback if OMEMO 2
        fails) for those in both lists; then(found)."""
        found: dict[tuple[str, int, str], object] = {}
        wanted: list[tuple[str, int, str]] = []
        for d in targets:
            use_v2 = v2_ok and d.v2
            if use_v2 and (d.jid, d.device_id, V2) not in self._sessions:
                wanted.append((d.jid, d.device_id, V2))
            # Legacy: the device's only way, or the fallback if OMEMO 2 fails.
            no_v2_session = (d.jid, d.device_id, V2) not in self._sessions
            legacy_needed = not use_v2 or (d.legacy and no_v2_session)
            if legacy_needed and (d.jid, d.device_id, LEGACY) not in self._sessions:
                wanted.append((d.jid, d.device_id, LEGACY))
        if not wanted:
            then(found)
            return
        left = [len(wanted)]

        def one(ref: tuple[str, int, str]) -> Callable[[object, str | None], None]:
            def got(bundle: object, error: str | None) -> None:
                if bundle is not None:
                    found[ref] = bundle
                left[0] -= 1
                if left[0] == 0:
                    then(found)

            return got

        for ref in wanted:
            self.net.fetch_bundle(ref[0], ref[1], one(ref), ref[2])

    async def _encrypt_job(
        self,
        recipients: list[str],
        plaintext: str,
        envelope: bytes | None,
        targets: list[Device],
        bundles: dict[tuple[str, int, str], object],
        on_done: Callable[[object], None],
        on_failed: Callable[[str], None],
    ) -> None:
        from roost.omemo import legacy, v2

        key_material, iv, payload = await legacy.encrypt_payload(
            self.crypto, plaintext.encode("utf-8")
        )
        key_material2 = payload2 = b""
        if envelope is not None:
            key_material2, payload2 = await v2.encrypt_payload(self.crypto, envelope)
        keys: list[tuple[int, bytes, bool]] = []
        keys2: list[tuple[str, int, bytes, bool]] = []
        reached: set[str] = set()
        for device in targets:
            if envelope is not None and device.v2:
                wire = await self._encrypt_key(device, bundles, key_material2, V2)
                if wire is not None:
                    keys2.append((device.jid, device.device_id, wire[0], wire[1]))
                    reached.add(device.jid)
                    continue
                if not device.legacy:
                    continue
            wire = await self._encrypt_key(device, bundles, key_material, LEGACY)
            if wire is not None:
                keys.append((device.device_id, wire[0], wire[1]))
                reached.add(device.jid)
        self._flush()
        for to in recipients:
            if to not in reached:
                on_failed(
                    "Couldn't set up encryption with any of " + to + "'s devices"
                    " (their keys couldn't be fetched or didn't check out)."
                )
                return
        from roost.xmpp.jid import JID
        from roost.xmpp.xeps.xep_0384 import LegacyEncrypted, Omemo2Encrypted

        first = None
        if keys:
            first = LegacyEncrypted(self.device_id, keys, iv, payload)
        second = None
        if keys2:
            grouped = [(JID.parse(jid), dev, data, kex) for jid, dev, data, kex in keys2]
            second = Omemo2Encrypted(self.device_id, grouped, payload2)
        on_done((first, second))

    async def _encrypt_key(
        self,
        device: Device,
        bundles: dict[tuple[str, int, str], object],
        key_material: bytes,
        ns: str,
    ) -> tuple[bytes, bool] | None:
        """The key material encrypted for one device in `ns` (a new session from
        its bundle if needed); None when that device can't be reached so."""
        from roost.omemo import legacy, v2

        ref = (device.jid, device.device_id, ns)
        session = self._session(ref)
        bundle: object = None
        if session is None:
            wire_bundle = bundles.get(ref)
            if wire_bundle is None:
                return None
            try:
                bundle, identity = await self._checked_bundle(wire_bundle, ns)
            except Exception as exc:
                self._skipped(device, exc, ns)
                return None
            device = self._identity_seen(device.jid, device.device_id, identity)
            if device.trust not in TRUSTED:
                return None  # a changed identity under blind trust: asks again
        new: Session | SessionV2
        try:
            if ns == V2:
                wire, flag, new = await v2.encrypt_for(
                    self.crypto, self._device(), session, bundle, key_material  # type: ignore[arg-type]
                )
            else:
                wire, flag, new = await legacy.encrypt_for(
                    self.crypto, self._device(), session, bundle, key_material  # type: ignore[arg-type]
                )
        except Exception as exc:  # a bad bundle signature, a broken session record
            self._skipped(device, exc, ns)
            return None
        self._keep_session(ref, new)
        return wire, flag

    def _skipped(self, device: Device, exc: Exception, ns: str) -> None:
        if ns == V2 and device.legacy:
            return  # tried again in legacy OMEMO (the caller falls back)
        self.events.emit("notice", "Skipped a device of " + device.jid + " (" + str(exc) + ").")

    async def _checked_bundle(self, wire: object, ns: str) -> tuple[object, bytes]:
        """(the protocol's bundle, the identity in 0x05 Curve25519 form), verified."""
        from roost.omemo.keys import PublicBundle

        if ns == V2:
            from roost.omemo.v2_keys import PublicBundleV2, verify_bundle_v2

            b2 = PublicBundleV2(
                wire.identity_key,  # type: ignore[attr-defined]
                wire.spk_id,  # type: ignore[attr-defined]
                wire.spk,  # type: ignore[attr-defined]
                wire.spk_signature,  # type: ignore[attr-defined]
                list(wire.prekeys),  # type: ignore[attr-defined]
            )
            curve = await verify_bundle_v2(self.crypto, b2)
            return b2, b"\x05" + curve
        b = PublicBundle(
            wire.identity_key,  # type: ignore[attr-defined]
            wire.spk_id,  # type: ignore[attr-defined]
            wire.spk,  # type: ignore[attr-defined]
            wire.spk_signature,  # type: ignore[attr-defined]
            list(wire.prekeys),  # type: ignore[attr-defined]
        )
        return b, b.identity_key

    def _session(self, ref: tuple[str, int, str]) -> Session | SessionV2 | None:
        from roost.omemo.session import Session
        from roost.omemo.v2_session import SessionV2

        found = self._sessions.get(ref)
        if found is None or isinstance(found, (Session, SessionV2)):
            return found
        try:
            session: Session | SessionV2 = (
                SessionV2.from_record(found) if ref[2] == V2 else Session.from_record(found)
            )
        except Exception:  # an unreadable record: as if there were none (repaired)
            self._sessions.pop(ref, None)
            return None
        self._sessions[ref] = session
        return session

    def _keep_session(self, ref: tuple[str, int, str], session: Session | SessionV2) -> None:
        self._sessions[ref] = session
        key = _session_key(ref[0], ref[1], ref[2])
        self._puts[key] = session.to_record()
        self._deletes.discard(key)

    # -- receiving -------------------------------------------------------------------------
    def sealed_for_me(
        self, sender: str, encrypted: object, encrypted2: object = None
    ) -> Sealed | str:
        """The part of a received message (`LegacyEncrypted` and/or
        `Omemo2Encrypted`) for this device, OMEMO 2 first; or the reason
        code why there is none."""
        if not self.ready or self.own is None:
            return NO_KEYS
        own_id = self.device_id
        if encrypted2 is not None:
            for jid, rid, data, kex in encrypted2.keys:  # type: ignore[attr-defined]
                if rid == own_id and str(jid.bare) == self.own_jid:
                    return Sealed(
                        sender, encrypted2.sid, data, kex, b"",  # type: ignore[attr-defined]
                        encrypted2.payload, V2,  # type: ignore[attr-defined]
                    )
        if encrypted is not None:
            for rid, data, prekey in encrypted.keys:  # type: ignore[attr-defined]
                if rid == own_id:
                    return Sealed(
                        sender,
                        encrypted.sid,  # type: ignore[attr-defined]
                        data,
                        prekey,
                        encrypted.iv,  # type: ignore[attr-defined]
                        encrypted.payload,  # type: ignore[attr-defined]
                    )
        return NOT_FOR_DEVICE

    def undecryptable_reason(self, code: str, stamp: float) -> str:
        """NOT_FOR_DEVICE becomes BEFORE_DEVICE for what was sent before this device existed."""
        if code == NOT_FOR_DEVICE and self.created and stamp < self.created:
            return BEFORE_DEVICE
        return code

    def decrypt(
        self,
        sealed: Sealed,
        on_done: Callable[[object, str, int], None],
        repair: bool = True,
    ) -> None:
        """Decrypt; on_done(plaintext or None, reason code, sender device id).

        The plaintext is the text (legacy) or the XEP-0420 envelope bytes
        (OMEMO 2: the caller opens it and checks its `from`). None with OK:
        an empty (key-transport) message: nothing to show. FROM_UNTRUSTED
        comes with the plaintext, which the app keeps but doesn't show until
        the device is trusted.
        """

        def failed(exc: Exception) -> None:
            if repair:
                self._repair(sealed.sender, sealed.sid, sealed.ns)
            on_done(None, BROKEN, sealed.sid)

        async def job() -> None:
            await self._decrypt_job(sealed, on_done, repair)

        self._enqueue(job, failed)

    async def _decrypt_job(
        self, sealed: Sealed, on_done: Callable[[object, str, int], None], repair: bool
    ) -> None:
        from roost.omemo import legacy, v2

        ref = (sealed.sender, sealed.sid, sealed.ns)
        session = self._session(ref)
        new: Session | SessionV2
        try:
            if sealed.ns == V2:
                key_material, new, used_prekey = await v2.decrypt_from(
                    self.crypto, self._device(), session, sealed.key, sealed.prekey  # type: ignore[arg-type]
                )
                from roost.omemo.curve import edwards_to_montgomery

                identity = b"\x05" + edwards_to_montgomery(new.remote_identity)
            else:
                key_material, new, used_prekey = await legacy.decrypt_from(
                    self.crypto, self._device(), session, sealed.key, sealed.prekey  # type: ignore[arg-type]
                )
                identity = new.remote_identity
        except Exception:
            self._flush()
            if repair:
                self._repair(sealed.sender, sealed.sid, sealed.ns)
            on_done(None, BROKEN, sealed.sid)
            return
        device = self._identity_seen(sealed.sender, sealed.sid, identity)
        self._keep_session(ref, new)
        if used_prekey is not None:
            await self._replace_prekey(used_prekey)
        self._flush()
        if used_prekey is not None and self._online:
            self._publish_bundle()
        if self._online and (used_prekey is not None or new.receiving_count == HEARTBEAT_AFTER):
            # Answer at once so the sender's session leaves the prekey stage,
            # or its chain doesn't grow forever while we only read (a
            # heartbeat: an empty key-transport message).
            async def heartbeat() -> None:
                await self._heartbeat(sealed.sender, sealed.sid, sealed.ns)

            self._enqueue(heartbeat, _ignore)
        if sealed.payload is None:
            on_done(None, OK, sealed.sid)
            return
        plain: object
        if sealed.ns == V2:
            plain = await v2.decrypt_payload(self.crypto, key_material, sealed.payload)
        else:
            plain = (
                await legacy.decrypt_payload(self.crypto, key_material, sealed.iv, sealed.payload)
            ).decode("utf-8", "replace")
        on_done(plain, OK if device.trust in TRUSTED else FROM_UNTRUSTED, sealed.sid)

    async def _replace_prekey(self, prekey_id: int) -> None:
        from roost.omemo.keys import replace_prekey

        await replace_prekey(self.crypto, self._device(), prekey_id)
        self._save_own()

    async def _empty_for(
        self, jid: str, device_id: int, ns: str, session: object, bundle: object
    ) -> None:
        """An empty (key-transport) message to one device, over `session` or a
        new one from `bundle`."""
        from roost.omemo import legacy, v2
        from roost.xmpp.jid import JID
        from roost.xmpp.xeps.xep_0384 import LegacyEncrypted, Omemo2Encrypted

        new: Session | SessionV2
        if ns == V2:
            wire, flag, new = await v2.encrypt_for(
                self.crypto, self._device(), session, bundle, v2.empty_key_material()  # type: ignore[arg-type]
            )
            self._keep_session((jid, device_id, ns), new)
            self._flush()
            message2 = Omemo2Encrypted(self.device_id, [(JID.parse(jid), device_id, wire, flag)])
            self.net.send_encrypted(jid, None, None, message2)
            return
        key_material = await legacy.empty_key_material(self.crypto)
        wire, flag, new = await legacy.encrypt_for(
            self.crypto, self._device(), session, bundle, key_material  # type: ignore[arg-type]
        )
        self._keep_session((jid, device_id, ns), new)
        self._flush()
        iv = await self.crypto.random_bytes(12)
        self.net.send_encrypted(
            jid, None, LegacyEncrypted(self.device_id, [(device_id, wire, flag)], iv, None)
        )

    async def _heartbeat(self, jid: str, device_id: int, ns: str) -> None:
        session = self._session((jid, device_id, ns))
        if session is not None:
            await self._empty_for(jid, device_id, ns, session, None)

    def _repair(self, jid: str, device_id: int, ns: str = LEGACY) -> None:
        """A broken session: a new one from the device's bundle, announced by an
        empty key-transport message (at most every REPAIR_INTERVAL per device)."""
        ref = (jid, device_id, ns)
        now = self._now()
        if now - self._repaired.get(ref, -REPAIR_INTERVAL) < REPAIR_INTERVAL or not self._online:
            return
        self._repaired[ref] = now

        def got(bundle: object, error: str | None) -> None:
            if bundle is None:
                return

            async def job() -> None:
                await self._repair_job(jid, device_id, ns, bundle)

            self._enqueue(job, _ignore)

        self.net.fetch_bundle(jid, device_id, got, ns)

    async def _repair_job(self, jid: str, device_id: int, ns: str, wire_bundle: object) -> None:
        bundle, identity = await self._checked_bundle(wire_bundle, ns)
        device = self._identity_seen(jid, device_id, identity)
        if device.trust not in TRUSTED:
            return
        await self._empty_for(jid, device_id, ns, None, bundle)

    # -- jobs and storage ----------------------------------------------------------------
    def _enqueue(
        self,
        job: Callable[[], Awaitable[object]],
        on_error: Callable[[Exception], None],
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self._jobs.append((job, on_error, on_done))
        if not self._busy:
            self._next()

    def _next(self) -> None:
        if not self._jobs:
            self._busy = False
            return
        self._busy = True
        job, on_error, on_done = self._jobs.pop(0)

        def done(_result: object) -> None:
            try:
                if on_done is not None:
                    on_done()
            finally:
                self._next()

        def failed(exc: Exception) -> None:
            try:
                on_error(exc)
            finally:
                self._next()

        try:
            coro = job()
        except Exception as exc:
            failed(exc)
            return
        self._run(coro, done, failed)

    def _save_own(self) -> None:
        record = self._device().to_record()
        record["created"] = self.created
        self._puts["own"] = record

    def _save_device(self, device: Device) -> None:
        self._puts[_device_key(device.jid, device.device_id)] = device.to_record()

    def _save_settings(self) -> None:
        self._puts["settings"] = {"manual": self.manual_trust, "choices": dict(self.choices)}

    def _flush(self) -> None:
        if not self._puts and not self._deletes:
            return
        puts, self._puts = self._puts, {}
        deletes = [k for k in self._deletes if k not in puts]
        self._deletes = set()
        self.storage.write(puts, deletes)


def _ignore(_exc: Exception) -> None:
    return None
