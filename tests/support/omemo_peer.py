"""An independent OMEMO client for interop tests: slixmpp + python-omemo.

`OmemoPeer` runs a slixmpp client with slixmpp-omemo's plugin (the pubsub
glue: bundles, device lists, PEP notifications, manual subscriptions for
non-contacts) and python-omemo's `SessionManager` (oldmemo for legacy OMEMO
0.3 `eu.siacs.conversations.axolotl`, twomemo for OMEMO 2 `urn:xmpp:omemo:2`)
on a private asyncio loop, behind a blocking interface like ThreadedPeer's
(Playwright's sync API can't run inside an asyncio loop).

Two things slixmpp-omemo 2.2 leaves out, done here instead:
- its plugin always loads both backends; `versions="legacy"` builds the
  session manager with oldmemo only (so the device appears in the legacy
  device list only);
- it has no Stanza Content Encryption (XEP-0420): `encrypt_message()` never
  offers OMEMO 2 and `decrypt_message()` raises NotImplementedError on an
  OMEMO 2 message *after* the ratchet advanced. Encryption and decryption
  here call the session manager directly and wrap/unwrap the SCE envelope.

Trust is blind trust before verification (BTBV): every new identity is
BLINDLY_TRUSTED on first use. Storage is in memory (or a JSON file), so each
peer is a fresh device unless it is handed the `OmemoStore` of an earlier one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import oldmemo
import oldmemo.etree
import omemo
import slixmpp
import twomemo
import twomemo.etree
import xeddsa
from omemo.session_manager import MessageNotForUs
from omemo.storage import Just, Maybe, Nothing, Storage
from omemo.types import DeviceInformation, JSONType
from slixmpp.jid import JID
from slixmpp.plugins import register_plugin
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath
from slixmpp.xmlstream.tostring import tostring
from slixmpp_omemo import XEP_0384, TrustLevel
from slixmpp_omemo.xep_0384 import _make_session_manager

LEGACY_NS = oldmemo.oldmemo.NAMESPACE  # "eu.siacs.conversations.axolotl"
V2_NS = twomemo.twomemo.NAMESPACE  # "urn:xmpp:omemo:2"
SHORT = {LEGACY_NS: "legacy", V2_NS: "v2"}
LONG = {"legacy": LEGACY_NS, "v2": V2_NS, LEGACY_NS: LEGACY_NS, V2_NS: V2_NS}
# The namespaces each `versions` setting loads, in slixmpp-omemo's priority order.
VERSIONS = {"legacy": (LEGACY_NS,), "legacy+v2": (V2_NS, LEGACY_NS)}

SCE_NS = "urn:xmpp:sce:1"
EME_NS = "urn:xmpp:eme:0"
HINTS_NS = "urn:xmpp:hints"
CLIENT_NS = "jabber:client"
CARBONS_NS = "urn:xmpp:carbons:2"
FORWARD_NS = "urn:xmpp:forward:0"
DELAY_NS = "urn:xmpp:delay"
PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PUBSUB_OWNER_NS = PUBSUB_NS + "#owner"
LEGACY_DEVICES_NODE = "eu.siacs.conversations.axolotl.devicelist"
LEGACY_BUNDLE_NODE = "eu.siacs.conversations.axolotl.bundles:{}"
V2_DEVICES_NODE = "urn:xmpp:omemo:2:devices"
V2_BUNDLES_NODE = "urn:xmpp:omemo:2:bundles"
FALLBACK_BODY = "This message is OMEMO encrypted."


class OmemoStore(Storage):
    """python-omemo's key-value storage in a dict; with `path`, also a JSON
    file (hand the same store or path to a new peer to restart a device)."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.path = path
        self.data: dict[str, JSONType] = {}
        if path is not None and path.exists():
            self.data = json.loads(path.read_text())

    def _save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.data))

    async def _load(self, key: str) -> Maybe[JSONType]:
        return Just(self.data[key]) if key in self.data else Nothing()

    async def _store(self, key: str, value: JSONType) -> None:
        self.data[key] = value
        self._save()

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)
        self._save()


class PeerOmemo(XEP_0384):
    """slixmpp-omemo's plugin with BTBV, a given store and a chosen set of
    backends. Config (register_plugin's dict): `omemo_store`, `namespaces`,
    `before_create` (a coroutine function run once before the session
    manager is created: e.g. wiping the account's old OMEMO nodes)."""

    name = "xep_0384"
    default_config = {
        "fallback_message": FALLBACK_BODY,
        "omemo_store": None,
        "namespaces": VERSIONS["legacy+v2"],
        "before_create": None,
    }

    def plugin_init(self) -> None:
        self._sm: omemo.SessionManager | None = None
        self._sm_task: asyncio.Future[omemo.SessionManager] | None = None
        self.blindly_trusted: list[DeviceInformation] = []
        super().plugin_init()

    @property
    def storage(self) -> Storage:
        return self.omemo_store  # type: ignore[attr-defined, no-any-return]

    @property
    def _btbv_enabled(self) -> bool:
        return True

    async def _devices_blindly_trusted(self, blindly_trusted: frozenset[DeviceInformation],
                                       identifier: str | None) -> None:
        self.blindly_trusted.extend(blindly_trusted)

    async def _prompt_manual_trust(self, manually_trusted: frozenset[DeviceInformation],
                                   identifier: str | None) -> None:
        # Only reached once some identity of that JID was set TRUSTED or
        # DISTRUSTED by hand (`OmemoPeer.set_trust`): BTBV then stops for it.
        which = sorted((d.bare_jid, d.device_id) for d in manually_trusted)
        raise omemo.TrustDecisionFailed(f"manual trust needed for {which}")

    async def get_session_manager(self) -> omemo.SessionManager:
        if self._sm is not None:
            return self._sm
        if self._sm_task is None:
            self._sm_task = asyncio.ensure_future(self._create())
        return await asyncio.shield(self._sm_task)

    async def _create(self) -> omemo.SessionManager:
        # What slixmpp_omemo.xep_0384._prepare does, with our choice of backends.
        if self.before_create is not None:  # type: ignore[attr-defined]
            await self.before_create()  # type: ignore[attr-defined]
        store = self.storage
        backends: list[omemo.Backend] = []
        for ns in self.namespaces:  # type: ignore[attr-defined]
            backends.append(twomemo.Twomemo(store) if ns == V2_NS else oldmemo.Oldmemo(store))
        sm = await _make_session_manager(self.xmpp, self).create(
            backends, store, self.xmpp.boundjid.bare, initial_own_label=None,
            undecided_trust_level_name=TrustLevel.UNDECIDED.value)
        await sm.ensure_data_consistency()
        await sm.after_history_sync()
        self._sm = sm
        self.xmpp.event("omemo_initialized")
        return sm

    async def refresh_device_lists(self, jids: set[JID], force_download: bool = False) -> None:
        """slixmpp-omemo's, for the loaded backends only (its own asks the
        session manager about both, which raises UnknownNamespace for a
        legacy-only peer)."""
        sm = await self.get_session_manager()
        roster = self.xmpp.client_roster
        for jid in jids:
            jid = JID(jid.bare)
            if jid.bare == self.xmpp.boundjid.bare:
                continue
            refresh = set(self.namespaces) if force_download else set()  # type: ignore[attr-defined]
            pep = roster.has_jid(jid) and roster[jid]["subscription"] == "both"
            if not pep:
                for ns in self.namespaces:  # type: ignore[attr-defined]
                    key = f"/slixmpp/subscribed/{jid.bare}/{ns}"
                    if not (await self.storage.load_primitive(key, bool)).maybe(None):
                        await self._subscribe(ns, jid)
                        refresh.add(ns)
            for ns in refresh:
                try:
                    await sm.refresh_device_list(ns, jid.bare)
                except omemo.DeviceListDownloadFailed:
                    pass  # no such list: the contact has no device of that version

    async def _on_device_list_update(self, msg: Any) -> None:
        items = msg["pubsub_event"]["items"]
        if len(items) == 1:
            item = items["item"].xml
            if item.find(f"{{{V2_NS}}}devices") is not None and V2_NS not in self.namespaces:  # type: ignore[attr-defined]
                return  # an OMEMO 2 list, and this peer is legacy-only
        await super()._on_device_list_update(msg)


register_plugin(PeerOmemo)


class Received:
    """One chat message this peer received, decrypted when it was OMEMO.

    `encrypted`: it carried an OMEMO element; `namespace`: the one decrypted
    ("legacy" / "v2", None for plaintext); `body`: the decrypted body (the
    plain `<body>` when not encrypted); `fallback`: the plain `<body>` next
    to the OMEMO element (what a client without OMEMO shows), if any;
    `sce`: for v2, the SCE affixes ({"from": ..., "to": ..., "time": ...,
    "rpad": ...}); `via`: "live" or "carbon-received" / "carbon-sent";
    `xml`: the stanza as received.
    """

    __slots__ = ("body", "delayed", "device_id", "encrypted", "fallback", "id", "namespace",
                 "sce", "sender", "t", "to", "via", "xml")

    def __init__(self, sender: str, to: str, device_id: int | None, namespace: str | None,
                 body: str | None, encrypted: bool, fallback: str | None, id: str, via: str,
                 delayed: bool, xml: str, sce: dict[str, str] | None = None) -> None:
        self.sender = sender  # bare JID of the author
        self.to = to  # bare JID it was addressed to
        self.device_id = device_id
        self.namespace = namespace
        self.body = body
        self.encrypted = encrypted
        self.fallback = fallback
        self.id = id
        self.via = via
        self.delayed = delayed
        self.xml = xml
        self.sce = sce or {}
        self.t = time.monotonic()

    def __repr__(self) -> str:
        how = f"{self.namespace} from device {self.device_id}" if self.encrypted else "plaintext"
        return f"Received({self.body!r} from {self.sender}, {how}, via {self.via}, id={self.id!r})"


class Undecryptable:
    """An OMEMO message this peer could not decrypt: `error` is
    "ExceptionType: message"; `namespaces` those the stanza carried."""

    __slots__ = ("error", "id", "namespaces", "sender", "t", "via", "xml")

    def __init__(self, sender: str, namespaces: list[str], error: str, id: str, via: str,
                 xml: str) -> None:
        self.sender = sender
        self.namespaces = namespaces
        self.error = error
        self.id = id
        self.via = via
        self.xml = xml
        self.t = time.monotonic()

    def __repr__(self) -> str:
        return f"Undecryptable(from {self.sender} {self.namespaces}: {self.error})"


class Sent:
    """What `send_encrypted` put on the wire: the message `id`, the OMEMO
    `namespaces` ("legacy"/"v2") it carries, `recipients` {(bare JID,
    device id)} with key material (our own other devices included), and
    `errors` [(namespace, bare JID, device id, error)] for devices it could
    not encrypt for (python-omemo's non-critical errors)."""

    __slots__ = ("body", "errors", "id", "namespaces", "recipients", "to", "xml")

    def __init__(self, to: str, body: str, id: str, namespaces: list[str],
                 recipients: set[tuple[str, int]], errors: list[tuple[str, str, int, str]],
                 xml: str) -> None:
        self.to = to
        self.body = body
        self.id = id
        self.namespaces = namespaces
        self.recipients = recipients
        self.errors = errors
        self.xml = xml

    def __repr__(self) -> str:
        return f"Sent({self.body!r} to {self.to} as {self.namespaces}, id={self.id!r})"


class Device:
    """A device of some account as this peer knows it."""

    __slots__ = ("active", "bare_jid", "device_id", "fingerprint", "namespaces", "trust")

    def __init__(self, info: DeviceInformation) -> None:
        self.bare_jid = info.bare_jid
        self.device_id = info.device_id
        self.namespaces = sorted(SHORT.get(ns, ns) for ns in info.namespaces)
        self.active = {SHORT.get(ns, ns): on for ns, on in info.active}
        self.trust = info.trust_level_name  # "BLINDLY_TRUSTED", "UNDECIDED", ...
        self.fingerprint = fingerprint(info.identity_key)

    def __repr__(self) -> str:
        return (f"Device({self.bare_jid}:{self.device_id} {self.namespaces} {self.trust} "
                f"{self.fingerprint[:8]}…)")


def fingerprint(identity_key: bytes) -> str:
    """The identity fingerprint as Conversations shows it: hex of the
    Curve25519 public key (python-omemo keeps identities as Ed25519)."""
    return bytes(xeddsa.ed25519_pub_to_curve25519_pub(identity_key)).hex()


def sce_envelope(body: str, sender: str, to: str) -> bytes:
    """XEP-0420 envelope as OMEMO 2 (XEP-0384 0.8) encrypts it: the body in
    <content/>, random-length <rpad/>, <from/>, <to/> and <time/> affixes;
    default namespaces, no prefixes (ElementTree would write ns0:/ns1:)."""
    pad = base64.b64encode(os.urandom(1 + os.urandom(1)[0] % 40)).decode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"<envelope xmlns='{SCE_NS}'><content><body xmlns='{CLIENT_NS}'>{escape(body)}</body>"
        f"</content><rpad>{pad}</rpad><from jid={quoteattr(sender)}/>"
        f"<to jid={quoteattr(to)}/><time stamp='{stamp}'/></envelope>"
    ).encode()


def parse_sce(data: bytes) -> tuple[str | None, dict[str, str]]:
    """(body, affixes) of an SCE envelope; ValueError when it is not one."""
    env = ElementTree.fromstring(data)
    if env.tag != f"{{{SCE_NS}}}envelope":
        raise ValueError(f"not an SCE envelope: {env.tag}")
    content = env.find(f"{{{SCE_NS}}}content")
    if content is None:
        raise ValueError("SCE envelope without <content/>")
    body = content.find(f"{{{CLIENT_NS}}}body")
    affixes: dict[str, str] = {}
    for name, attr in (("from", "jid"), ("to", "jid"), ("time", "stamp")):
        el = env.find(f"{{{SCE_NS}}}{name}")
        if el is not None:
            affixes[name] = el.get(attr) or ""
    rpad = env.find(f"{{{SCE_NS}}}rpad")
    if rpad is not None:
        affixes["rpad"] = rpad.text or ""
    return (None if body is None else body.text or ""), affixes


class Wire:
    """One stanza as it crossed the wire: `direction` "out" / "in", `xml` text."""

    __slots__ = ("direction", "t", "xml")

    def __init__(self, direction: str, xml: str) -> None:
        self.direction = direction
        self.xml = xml
        self.t = time.monotonic()

    def __repr__(self) -> str:
        return f"Wire({self.direction} {self.xml[:120]!r})"


class OmemoPeer:
    """A real OMEMO client (slixmpp-omemo / python-omemo) connected to
    Prosody over plaintext loopback c2s; blocks in the constructor until it
    is logged in and its OMEMO device is published (bundle + device list,
    open access model).

    `versions`: "legacy" (oldmemo only) or "legacy+v2" (twomemo preferred,
    oldmemo as fallback, as slixmpp-omemo chooses per recipient device).
    `store`: an `OmemoStore` to reuse (restart the same device); default a
    fresh in-memory one. `reset_account`: first delete the account's OMEMO
    pubsub nodes (device lists, bundles) left by earlier devices, so this
    device is the account's only one. `carbons`: enable XEP-0280 and decrypt
    the copies too (a second device of a browser's account).
    `accept_delayed`: also decrypt offline / delayed messages (flagged
    `delayed`). `trust_on_receive`: BTBV-trust a sender's device when its
    first message decrypts (python-omemo alone decides only when encrypting,
    so a device we only received from stays UNDECIDED).
    """

    def __init__(
        self, jid: str, password: str, port: int, host: str = "127.0.0.1",
        versions: str = "legacy+v2", store: OmemoStore | None = None,
        reset_account: bool = False, carbons: bool = False, accept_delayed: bool = True,
        trust_on_receive: bool = True, timeout: float = 20.0,
    ) -> None:
        if versions not in VERSIONS:
            raise ValueError(f"versions must be one of {sorted(VERSIONS)}, not {versions!r}")
        self.jid = jid if "/" in jid else f"{jid}/omemo-peer"
        self.bare = self.jid.split("/")[0]
        self.versions = versions
        self.namespaces = VERSIONS[versions]
        self.store = store or OmemoStore()
        self.reset_account = reset_account
        self.carbons = carbons
        self.accept_delayed = accept_delayed
        self.trust_on_receive = trust_on_receive
        # Everything this peer received (plaintext included), in arrival order.
        self.received: list[Received] = []
        self.undecryptable: list[Undecryptable] = []
        # Empty OMEMO messages (key exchange completion / heartbeats): (sender, device, ns).
        self.empty: list[tuple[str, int, str]] = []
        # Empty OMEMO messages for other devices (our account's bare JID gets
        # those too): (sender, version, id). Not failures.
        self.not_for_us: list[tuple[str, str, str]] = []
        self.sent: list[Sent] = []
        self.wire: list[Wire] = []
        self.handler_errors: list[str] = []
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._init_error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._lock: asyncio.Lock | None = None
        self._client: Any = None
        self._thread = threading.Thread(target=self._run, args=(password, host, port),
                                        daemon=True, name=f"omemo-peer {self.jid}")
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"{self.jid}: no login + OMEMO setup on {host}:{port} in "
                               f"{timeout} s")
        if self._init_error is not None:
            self.stop()
            raise RuntimeError(f"{self.jid}: OMEMO setup failed: {self._init_error!r}") \
                from self._init_error
        own = self._await(self._own_device())
        self.device_id: int = own.device_id
        self.fingerprint: str = fingerprint(own.identity_key)

    # -- the loop thread ---------------------------------------------------
    def _run(self, password: str, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        self._lock = asyncio.Lock()
        client: Any = slixmpp.ClientXMPP(self.jid, password)
        client.enable_direct_tls = False
        client.enable_starttls = False
        client.enable_plaintext = True
        client.plugin["feature_mechanisms"].unencrypted_scram = True
        client.auto_authorize = True
        client.auto_subscribe = True
        client.register_plugin("xep_0199")
        client.register_plugin("xep_0380")
        client.register_plugin("xep_0384", {
            "omemo_store": self.store,
            "namespaces": self.namespaces,
            "before_create": self._wipe_account if self.reset_account else None,
        })
        self._capture_wire(client)

        async def on_start(_event: object) -> None:
            try:
                client.send_presence()
                await client.get_roster()
                if self.carbons:
                    await client.plugin["xep_0280"].enable(timeout=10)
                await client.plugin["xep_0384"].get_session_manager()
            except BaseException as e:
                self._init_error = e
            self._ready.set()

        client.add_event_handler("session_start", on_start)
        client.register_handler(CoroutineCallback(
            "omemo-peer messages", MatchXPath(f"{{{CLIENT_NS}}}message"), self._on_message))
        self._client = client
        client.connect(host, port)
        self._loop.run_forever()

    def _capture_wire(self, client: Any) -> None:
        """Keep every stanza sent and received as text (`wire`)."""
        send_raw = client.send_raw
        incoming_filter = client.incoming_filter

        def sending(data: str | bytes) -> None:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            with self._cond:
                self.wire.append(Wire("out", text))
            send_raw(data)

        def receiving(xml: Any) -> Any:
            text = tostring(xml, xmlns=CLIENT_NS, top_level=True)
            with self._cond:
                self.wire.append(Wire("in", text))
            return incoming_filter(xml)

        client.send_raw = sending
        client.incoming_filter = receiving

    def _await(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _sm(self) -> omemo.SessionManager:
        sm: omemo.SessionManager = await self._client.plugin["xep_0384"].get_session_manager()
        return sm

    async def _own_device(self) -> DeviceInformation:
        return (await (await self._sm()).get_own_device_information())[0]

    async def _wipe_account(self) -> None:
        """Delete the OMEMO nodes earlier devices of this account left."""
        pubsub = self._client.plugin["xep_0060"]
        own = JID(self.bare)
        try:
            items = await pubsub.get_items(own, LEGACY_DEVICES_NODE, max_items=1)
            old = [int(d.get("id") or 0) for item in items["pubsub"]["items"]
                   for d in item.xml.iter(f"{{{LEGACY_NS}}}device")]
        except Exception:
            old = []
        nodes = [LEGACY_DEVICES_NODE, V2_DEVICES_NODE, V2_BUNDLES_NODE,
                 *(LEGACY_BUNDLE_NODE.format(d) for d in old)]
        for node in nodes:
            try:
                await pubsub.delete_node(own, node)
            except Exception:
                pass  # item-not-found: nothing to wipe

    # -- receiving (on the loop) -------------------------------------------
    async def _on_message(self, msg: Any) -> None:
        try:
            xml = msg.xml
            if xml.get("type", "normal") not in ("chat", "normal"):
                return
            via = "live"
            for kind in ("received", "sent"):
                inner = xml.find(f"{{{CARBONS_NS}}}{kind}/{{{FORWARD_NS}}}forwarded"
                                 f"/{{{CLIENT_NS}}}message")
                if inner is not None:
                    if JID(xml.get("from") or self.bare).bare != self.bare:
                        return  # a forged carbon
                    xml, via = inner, f"carbon-{kind}"
            await self._handle(xml, via)
        except Exception as e:  # never raise on the loop: keep it for the test
            with self._cond:
                self.handler_errors.append(f"{type(e).__name__}: {e}")
                self._cond.notify_all()

    async def _handle(self, xml: Any, via: str) -> None:
        delayed = xml.find(f"{{{DELAY_NS}}}delay") is not None
        if delayed and not self.accept_delayed:
            return
        sender = JID(xml.get("from") or self.bare).bare
        to = JID(xml.get("to") or self.bare).bare
        body_el = xml.find(f"{{{CLIENT_NS}}}body")
        plain = None if body_el is None else (body_el.text or "")
        mid = xml.get("id") or ""
        text = tostring(xml, xmlns=CLIENT_NS, top_level=True)
        elements = {ns: xml.find(f"{{{ns}}}encrypted") for ns in (V2_NS, LEGACY_NS)}
        present = [ns for ns, el in elements.items() if el is not None]
        if not present:
            if plain is not None:
                self._keep(Received(sender, to, None, None, plain, False, None, mid, via,
                                    delayed, text))
            return
        # Our preference among what the stanza carries; fall back to the
        # next when the first holds no key for this device.
        order = [ns for ns in self.namespaces if ns in present]
        if not order:
            self._keep_failure(Undecryptable(
                sender, [SHORT[ns] for ns in present],
                f"UnknownNamespace: this peer loads {[SHORT[n] for n in self.namespaces]}",
                mid, via, text))
            return
        assert self._lock is not None
        errors: list[str] = []
        async with self._lock:
            sm = await self._sm()
            for ns in order:
                try:
                    if ns == V2_NS:
                        message = twomemo.etree.parse_message(elements[ns], sender)
                    else:
                        message = await oldmemo.etree.parse_message(
                            elements[ns], sender, self.bare, sm)
                    plaintext, device, _ = await sm.decrypt(message)
                    if self.trust_on_receive and device.trust_level_name == \
                            TrustLevel.UNDECIDED.value:
                        # python-omemo decides BTBV trust only when encrypting;
                        # Conversations also does it for a sender it first hears from.
                        await sm._make_trust_decision(frozenset({device}), "received")
                except MessageNotForUs as e:
                    if elements[ns].find(f"{{{ns}}}payload") is None:
                        # An empty OMEMO message (key exchange completion,
                        # heartbeat) for another device of this account.
                        with self._cond:
                            self.not_for_us.append((sender, SHORT[ns], mid))
                        return
                    errors.append(f"{SHORT[ns]}: {type(e).__name__}: {e}")
                    continue
                except Exception as e:
                    errors.append(f"{SHORT[ns]}: {type(e).__name__}: {e}")
                    break
                if plaintext is None:
                    with self._cond:
                        self.empty.append((sender, device.device_id, SHORT[ns]))
                        self._cond.notify_all()
                    return
                affixes = None
                if ns == V2_NS:
                    try:
                        body, affixes = parse_sce(plaintext)
                    except Exception as e:
                        errors.append(f"v2: SCE: {type(e).__name__}: {e}")
                        break
                else:
                    body = plaintext.decode("utf-8")
                self._keep(Received(sender, to, device.device_id, SHORT[ns], body, True, plain,
                                    mid, via, delayed, text, affixes))
                return
        self._keep_failure(Undecryptable(sender, [SHORT[ns] for ns in present],
                                         "; ".join(errors), mid, via, text))

    def _keep(self, item: Received) -> None:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()

    def _keep_failure(self, item: Undecryptable) -> None:
        with self._cond:
            self.undecryptable.append(item)
            self._cond.notify_all()

    # -- sending -------------------------------------------------------------
    async def _encrypt_and_send(self, to: str, body: str, namespace: str | None,
                                msg_id: str | None, fallback: str | None,
                                extra: Iterable[ElementTree.Element]) -> Sent:
        client = self._client
        plugin = client.plugin["xep_0384"]
        bare = JID(to).bare
        if namespace is None:
            order = list(self.namespaces)
        else:
            ns = LONG[namespace]
            if ns not in self.namespaces:
                raise ValueError(f"{self.jid} does not load {namespace} ({self.versions})")
            order = [ns]
        assert self._lock is not None
        async with self._lock:
            sm = await self._sm()
            # As slixmpp-omemo's encrypt_message: subscribe to / fetch the
            # device lists of non-contacts; contacts' come by PEP. Fetch
            # anyway when none is known yet (PEP notification still on its way).
            await plugin.refresh_device_lists({JID(bare)})
            if not await sm.get_device_information(bare):
                await plugin.refresh_device_lists({JID(bare)}, force_download=True)
            plaintexts: dict[str, bytes] = {}
            if V2_NS in order:
                plaintexts[V2_NS] = sce_envelope(body, self.bare, bare)
            if LEGACY_NS in order:
                plaintexts[LEGACY_NS] = body.encode("utf-8")
            messages, errors = await sm.encrypt(frozenset({bare}), plaintexts,
                                                backend_priority_order=order)
        stanza = client.make_message(mto=bare, mtype="chat")
        stanza["id"] = msg_id or client.new_id()
        used: list[str] = []
        recipients: set[tuple[str, int]] = set()
        for message in messages:
            if message.namespace == V2_NS:
                stanza.append(twomemo.etree.serialize_message(message))
            else:
                stanza.append(oldmemo.etree.serialize_message(message))
            used.append(SHORT[message.namespace])
            recipients |= {(k[0].bare_jid, k[0].device_id) for k in message.keys}
        if not used:
            raise RuntimeError(f"{self.jid}: nothing to encrypt for {bare}")
        if fallback is not None:
            stanza["body"] = fallback
        stanza.enable("store")
        eme = ElementTree.SubElement(stanza.xml, f"{{{EME_NS}}}encryption")
        eme.set("namespace", V2_NS if "v2" in used else LEGACY_NS)
        eme.set("name", "OMEMO")
        for el in extra:
            stanza.xml.append(el)
        sent = Sent(bare, body, stanza["id"], sorted(used), recipients,
                    [(SHORT.get(e.namespace, e.namespace), e.bare_jid, e.device_id,
                      f"{type(e.exception).__name__}: {e.exception}") for e in errors],
                    tostring(stanza.xml, xmlns=CLIENT_NS, top_level=True))
        stanza.send()
        with self._cond:
            self.sent.append(sent)
        return sent

    def send_encrypted(self, to: str, body: str, namespace: str | None = None,
                       msg_id: str | None = None, fallback: str | None = FALLBACK_BODY,
                       extra: Iterable[ElementTree.Element] = (), timeout: float = 20.0) -> Sent:
        """Encrypt `body` for every device of `to` (bare JID) and our own
        other devices, send it as a chat message; blocks until queued.

        Per device, the first of our versions (v2 before legacy) it supports,
        as slixmpp-omemo chooses; `namespace` ("legacy" / "v2") forces one.
        `fallback`: the plain <body/> beside the OMEMO element(s) (None: no
        plain body at all). `extra`: elements added in plaintext (receipt
        requests, chat states...). Raises python-omemo's errors
        (NoEligibleDevices when `to` has no usable device)."""
        sent: Sent = self._await(self._encrypt_and_send(to, body, namespace, msg_id, fallback,
                                                        list(extra)), timeout)
        return sent

    def send_plain(self, to: str, body: str, msg_id: str | None = None) -> None:
        """An unencrypted chat message."""

        def go() -> None:
            msg = self._client.make_message(mto=to, mbody=body, mtype="chat")
            if msg_id is not None:
                msg["id"] = msg_id
            msg.send()

        self._loop.call_soon_threadsafe(go)

    def send_raw(self, xml: str) -> None:
        """A stanza exactly as written (forgery / malformed-input tests)."""
        self._loop.call_soon_threadsafe(lambda: self._client.send_raw(xml))

    # -- what this peer knows -----------------------------------------------
    async def _devices(self, bare: str, refresh: bool) -> list[Device]:
        assert self._lock is not None
        async with self._lock:
            return await self._devices_unlocked(bare, refresh)

    async def _devices_unlocked(self, bare: str, refresh: bool) -> list[Device]:
        sm = await self._sm()
        if refresh:
            if bare == self.bare:
                for ns in self.namespaces:
                    await sm.refresh_device_list(ns, bare)
            else:
                await self._client.plugin["xep_0384"].refresh_device_lists(
                    {JID(bare)}, force_download=True)
        infos = await sm.get_device_information(bare)
        return sorted((Device(i) for i in infos), key=lambda d: d.device_id)

    def devices(self, jid: str, refresh: bool = True, timeout: float = 20.0) -> list[Device]:
        """The devices of `jid` (bare) this peer knows, after fetching its
        device lists again (`refresh`), with their trust level."""
        return self._await(self._devices(JID(jid).bare, refresh), timeout)  # type: ignore[no-any-return]

    def devices_of(self, jid: str, refresh: bool = True) -> set[int]:
        """Device ids of `jid` (bare) this peer knows (device lists fetched again)."""
        return {d.device_id for d in self.devices(jid, refresh)}

    def wait_devices(self, jid: str, count: int = 1, device_id: int | None = None,
                     timeout: float = 10.0) -> set[int]:
        """Fetch `jid`'s device lists until they hold `device_id` (or at
        least `count` devices); the ids, or TimeoutError."""
        deadline = time.monotonic() + timeout
        ids: set[int] = set()
        while time.monotonic() < deadline:
            ids = self.devices_of(jid)
            if (device_id in ids) if device_id is not None else len(ids) >= count:
                return ids
            time.sleep(0.2)
        raise TimeoutError(f"{self.jid}: {jid} shows devices {sorted(ids)} after {timeout} s")

    def trust_of(self, jid: str) -> dict[int, str]:
        """{device id: trust level name} for `jid`'s known devices
        ("BLINDLY_TRUSTED" once BTBV decided, "UNDECIDED" before first use)."""
        return {d.device_id: d.trust for d in self.devices(jid, refresh=False)}

    def set_trust(self, jid: str, device_id: int, level: str) -> None:
        """Set the trust of `jid`'s `device_id` ("TRUSTED", "DISTRUSTED",
        "UNDECIDED", "BLINDLY_TRUSTED"); a manual decision ends BTBV for `jid`."""

        async def go() -> None:
            sm = await self._sm()
            for info in await sm.get_device_information(JID(jid).bare):
                if info.device_id == device_id:
                    await sm.set_trust(info.bare_jid, info.identity_key, TrustLevel(level).value)
                    return
            raise KeyError(f"{jid} has no known device {device_id}")

        self._await(go())

    @property
    def blindly_trusted(self) -> list[tuple[str, int]]:
        """(bare JID, device id) BTBV trusted, in decision order."""
        return [(d.bare_jid, d.device_id) for d in self._client.plugin["xep_0384"].blindly_trusted]

    async def _published(self) -> dict[str, bool]:
        """Per loaded namespace: our device id is in our device list on the
        server and our bundle is there, both with access model open."""
        pubsub = self._client.plugin["xep_0060"]
        own = JID(self.bare)
        out: dict[str, bool] = {}
        for ns in self.namespaces:
            ok = False
            try:
                if ns == LEGACY_NS:
                    lists = await pubsub.get_items(own, LEGACY_DEVICES_NODE, max_items=1)
                    ids = {int(d.get("id") or 0) for d in lists.xml.iter(f"{{{LEGACY_NS}}}device")}
                    bundle = await pubsub.get_items(own, LEGACY_BUNDLE_NODE.format(self.device_id),
                                                    max_items=1)
                    nodes = [LEGACY_DEVICES_NODE, LEGACY_BUNDLE_NODE.format(self.device_id)]
                else:
                    lists = await pubsub.get_items(own, V2_DEVICES_NODE, max_items=1)
                    ids = {int(d.get("id") or 0) for d in lists.xml.iter(f"{{{V2_NS}}}device")}
                    bundle = await pubsub.get_items(own, V2_BUNDLES_NODE,
                                                    item_ids=[str(self.device_id)])
                    nodes = [V2_DEVICES_NODE, V2_BUNDLES_NODE]
                has_bundle = next(bundle.xml.iter(f"{{{ns}}}bundle"), None) is not None
                opens = [await self._access_model(n) == "open" for n in nodes]
                ok = self.device_id in ids and has_bundle and all(opens)
            except Exception:
                ok = False
            out[SHORT[ns]] = ok
        return out

    async def _access_model(self, node: str) -> str:
        iq = await self._client.plugin["xep_0060"].get_node_config(JID(self.bare), node)
        for field in iq.xml.iter("{jabber:x:data}field"):
            if field.get("var") == "pubsub#access_model":
                value = field.find("{jabber:x:data}value")
                return "" if value is None else value.text or ""
        return ""

    def published(self) -> dict[str, bool]:
        """{"legacy": ok, "v2": ok} as the server has it now (see `wait_published`)."""
        return self._await(self._published())  # type: ignore[no-any-return]

    def wait_published(self, timeout: float = 10.0) -> None:
        """Until our device list and bundle are on the server (open access)
        for each loaded version; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        state: dict[str, bool] = {}
        while time.monotonic() < deadline:
            state = self.published()
            if state and all(state.values()):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.jid}: device {self.device_id} not published: {state}")

    # -- waiting --------------------------------------------------------------
    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll `predicate()` whenever something comes in; its result (False at the deadline)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.25))
        return True

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        """The first received message matching `predicate`, or TimeoutError
        (listing what did come, undecryptable ones included)."""
        found: list[Received] = []

        def check() -> bool:
            found[:] = [m for m in self.received if predicate(m)][:1]
            return bool(found)

        if not self.wait_until(check, timeout):
            with self._cond:
                raise TimeoutError(
                    f"{self.jid}: no matching message in {timeout} s; received {self.received}, "
                    f"undecryptable {self.undecryptable}, handler errors {self.handler_errors}")
        return found[0]

    def wait_body(self, body: str, sender: str | None = None, timeout: float = 15.0) -> Received:
        """The first received message with this (decrypted) body."""
        return self.wait_for(lambda m: m.body == body and (sender is None or m.sender == sender),
                             timeout)

    def wait_undecryptable(self, timeout: float = 15.0, start: int = 0) -> Undecryptable:
        """The first undecryptable message from index `start` on, or TimeoutError."""
        if not self.wait_until(lambda: len(self.undecryptable) > start, timeout):
            raise TimeoutError(f"{self.jid}: nothing undecryptable in {timeout} s")
        with self._cond:
            return self.undecryptable[start]

    def bodies_from(self, sender: str) -> list[str]:
        """Decrypted (or plain) bodies `sender` (bare JID) sent us, in order."""
        with self._cond:
            return [m.body for m in self.received if m.sender == sender and m.body is not None]

    def wire_messages(self, direction: str | None = None) -> list[str]:
        """<message/> stanzas as they crossed the wire (`direction` "in" / "out")."""
        with self._cond:
            return [w.xml for w in self.wire if w.xml.lstrip().startswith("<message")
                    and (direction is None or w.direction == direction)]

    def sync(self, timeout: float = 10.0) -> None:
        """Round trip to the server (XEP-0199 ping)."""
        self._await(self._client.plugin["xep_0199"].ping(JID(self.bare.split("@")[-1]),
                                                  timeout=timeout), timeout + 1)

    # -- stopping ---------------------------------------------------------------
    def stop(self) -> None:
        async def bye() -> None:
            try:
                sm = self._client.plugin["xep_0384"]._sm if self._client is not None else None
                if sm is not None:
                    await asyncio.wait_for(sm.shutdown(), 2)
                if self._client is not None:
                    await asyncio.wait_for(self._client.disconnect(), 3)
            except Exception:
                pass
            finally:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._loop.stop()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(bye(), self._loop)
            self._thread.join(6)

    def __enter__(self) -> OmemoPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
