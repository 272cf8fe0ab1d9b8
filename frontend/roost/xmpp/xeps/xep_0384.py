"""XEP-0384: OMEMO Encryption — the XMPP side only.

Two generations share this module:

- legacy OMEMO (`eu.siacs.conversations.axolotl`, XEP-0384 0.3), what
  Conversations, Gajim, Dino and Monal all speak: the plain names
  (`build_devicelist_publish`, `parse_bundle`, `LegacyEncrypted`, ...);
- OMEMO 2 (`urn:xmpp:omemo:2`, XEP-0384 0.8+), with the XEP-0420 (SCE)
  envelope its payload carries: the `omemo2` names.

What travels here: device lists and bundles (PEP items, readable by
anyone: `pubsub#access_model` open, since strangers must be able to start
a session), and the `<encrypted/>` element of a message. Keys and
ciphertexts are opaque bytes: no crypto in the core (`roost.omemo` does
it). Base64 is done here, tolerantly (some clients wrap it in lines);
text that is not base64 makes the whole element a parse failure (None),
never an exception.

SECURITY: device-list notifications are believed only from the account
whose list it is (see `devicelist_event`); the message builders
never take the plaintext: their `<body/>` is a fixed fallback.
"""

from __future__ import annotations

import base64

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import JidError
from roost.xmpp.events import Record
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0004

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# -- names ------------------------------------------------------------------

NS = ns.OMEMO_LEGACY
DEVICELIST_NODE = NS + ".devicelist"
BUNDLES_NODE = NS + ".bundles"  # + ":<device id>", one node per device
NOTIFY = DEVICELIST_NODE + "+notify"
OMEMO2_NS = ns.OMEMO_2
OMEMO2_DEVICES_NODE = OMEMO2_NS + ":devices"
OMEMO2_BUNDLES_NODE = OMEMO2_NS + ":bundles"  # one item per device, item id = device id
OMEMO2_NOTIFY = OMEMO2_DEVICES_NODE + "+notify"
SCE_NS = ns.SCE
EME_NS = "urn:xmpp:eme:0"  # XEP-0380
HINTS_NS = "urn:xmpp:hints"  # XEP-0334
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
NODE_CONFIG = "http://jabber.org/protocol/pubsub#node_config"
CURRENT = "current"  # legacy item id of the device list and of each bundle
# What a client without OMEMO shows (Conversations' wording): never the
# message itself, which only travels encrypted.
FALLBACK_BODY = (
    "I sent you an OMEMO encrypted message but your client doesn\u2019t seem to support "
    "that. Find more information on https://conversations.im/omemo"
)
# Device ids are 31-bit (XEP-0384 §5.3.1, libsignal's registration ids).
MAX_DEVICE_ID = 2**31 - 1
MAX_KEY_ID = 2**32 - 1  # prekey / signed prekey ids: xs:unsignedInt
# Legacy nodes hold one item ("current"): only the access model is asked
# for, so an existing node with other defaults still accepts the publish.
LEGACY_NODE_OPTIONS: dict[str, str | list[str] | tuple[str, ...] | bool] = {
    "pubsub#access_model": "open",
}
OMEMO2_DEVICES_OPTIONS: dict[str, str | list[str] | tuple[str, ...] | bool] = {
    "pubsub#access_model": "open",
}
# XEP-0384 §5.3.2: every device's bundle is an item of one node.
OMEMO2_BUNDLES_OPTIONS: dict[str, str | list[str] | tuple[str, ...] | bool] = {
    "pubsub#max_items": "max",
    "pubsub#access_model": "open",
}

_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DIGITS = "0123456789"


# -- records ----------------------------------------------------------------


class Device(Record):
    """One device of a device list: its `id`; the optional `label` a person
    gave it; `label_sig`, OMEMO 2's signature over the label (bytes, or
    None; legacy lists have none)."""

    __slots__ = ("id", "label", "label_sig")

    def __init__(self, id: int, label: str | None = None, label_sig: bytes | None = None) -> None:
        self.id = id
        self.label = label
        self.label_sig = label_sig


class LegacyBundle(Record):
    """A legacy device's public keys: `identity_key` (Curve25519, as the
    wire has it), signed prekey `spk` with its id `spk_id` and
    `spk_signature`, and one-time `prekeys` as (id, key) pairs."""

    __slots__ = ("identity_key", "prekeys", "spk", "spk_id", "spk_signature")

    def __init__(
        self,
        identity_key: bytes,
        spk_id: int,
        spk: bytes,
        spk_signature: bytes,
        prekeys: list[tuple[int, bytes]],
    ) -> None:
        self.identity_key = identity_key
        self.spk_id = spk_id
        self.spk = spk
        self.spk_signature = spk_signature
        self.prekeys = prekeys


class Omemo2Bundle(Record):
    """An OMEMO 2 device's public keys: `identity_key` (Ed25519), signed
    prekey `spk`/`spk_id`/`spk_signature`, one-time `prekeys` (id, key).
    A separate class from `LegacyBundle`: the key formats differ."""

    __slots__ = ("identity_key", "prekeys", "spk", "spk_id", "spk_signature")

    def __init__(
        self,
        identity_key: bytes,
        spk_id: int,
        spk: bytes,
        spk_signature: bytes,
        prekeys: list[tuple[int, bytes]],
    ) -> None:
        self.identity_key = identity_key
        self.spk_id = spk_id
        self.spk = spk
        self.spk_signature = spk_signature
        self.prekeys = prekeys


class LegacyEncrypted(Record):
    """A legacy `<encrypted/>`: sender device `sid`; `keys` as
    (recipient device id, key data, is a prekey message); the AES-GCM
    `iv`; `payload` (None for a key-transport message or heartbeat)."""

    __slots__ = ("iv", "keys", "payload", "sid")

    def __init__(
        self,
        sid: int,
        keys: list[tuple[int, bytes, bool]],
        iv: bytes,
        payload: bytes | None = None,
    ) -> None:
        self.sid = sid
        self.keys = keys
        self.iv = iv
        self.payload = payload


class Omemo2Encrypted(Record):
    """An OMEMO 2 `<encrypted/>`: sender device `sid`; `keys` as
    (recipient bare JID, device id, key data, is a key exchange);
    `payload` (None for an empty OMEMO message)."""

    __slots__ = ("keys", "payload", "sid")

    def __init__(
        self,
        sid: int,
        keys: list[tuple[JID, int, bytes, bool]],
        payload: bytes | None = None,
    ) -> None:
        self.sid = sid
        self.keys = keys
        self.payload = payload


class Envelope(Record):
    """A XEP-0420 `<envelope/>` (OMEMO 2's plaintext): the `content`
    elements (e.g. a `jabber:client` `<body/>`), random padding `rpad`,
    the affixes `from_jid`, `to_jid` and `stamp` (the `<time/>` text).

    SECURITY: a decrypted envelope counts only if `from_jid` is the
    stanza's sender (bare) — see `is_from`; otherwise a contact could
    replay somebody else's encrypted content as their own."""

    __slots__ = ("content", "from_jid", "rpad", "stamp", "to_jid")

    def __init__(
        self,
        content: list[Element],
        from_jid: JID | None,
        to_jid: JID | None = None,
        rpad: str = "",
        stamp: str | None = None,
    ) -> None:
        self.content = content
        self.from_jid = from_jid
        self.to_jid = to_jid
        self.rpad = rpad
        self.stamp = stamp

    def is_from(self, sender: JID) -> bool:
        """True when the envelope names `sender` (compared bare) as its author."""
        return self.from_jid is not None and self.from_jid.bare == sender.bare

    def body(self) -> str | None:
        """The text of the `<body/>` inside, or None."""
        return _find_body(self.content)


# -- small helpers ----------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None, allow_empty: bool = False) -> bytes | None:
    """Bytes from base64 `text`, or None when it isn't base64.

    Whitespace anywhere is dropped (some clients break lines) and missing
    padding is added; anything else outside the alphabet is a failure.
    """
    if text is None:
        return None
    compact = "".join(text.split())
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    # strip(chars) == "" iff every character is in chars: one native call
    # instead of a Python loop per character (Brython).
    if padding > 2 or body.strip(_B64_ALPHABET):
        return None
    if len(body) % 4 == 1:
        return None
    if not body:
        return b"" if allow_empty else None
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4))
    except ValueError:  # binascii.Error is a ValueError
        return None
    return data if data or allow_empty else None


def _int(text: str | None, low: int, high: int) -> int | None:
    """A decimal integer in [low, high] written canonically, else None."""
    if not text or len(text) > 10 or text.strip(_DIGITS):
        return None
    value = int(text)
    # Canonical only: "007" and "7" would name different bundle nodes.
    if str(value) != text or not low <= value <= high:
        return None
    return value


def parse_device_id(text: str | None) -> int | None:
    """A device id (1 .. 2**31-1, canonical decimal) or None."""
    return _int(text, 1, MAX_DEVICE_ID)


def _is_true(value: str | None) -> bool:
    return value in ("true", "1")


def _publish(node: str, item_id: str, payload: Element, options: dict[
        str, str | list[str] | tuple[str, ...] | bool]) -> Element:
    pubsub = Element("pubsub", ns.PUBSUB)
    publish = pubsub.add("publish", attrs={"node": node})
    publish.add("item", attrs={"id": item_id}).append(payload)
    pubsub.add("publish-options").append(xep_0004.build_submit(options, PUBLISH_OPTIONS))
    return pubsub


def _fetch(node: str, item_id: str | None = None, max_items: int | None = None) -> Element:
    pubsub = Element("pubsub", ns.PUBSUB)
    items = pubsub.add("items", attrs={"node": node})
    if max_items is not None:
        items.attrs["max_items"] = str(max_items)
    if item_id is not None:
        items.add("item", attrs={"id": item_id})
    return pubsub


def _result_items(iq: Element, node: str) -> list[Element] | None:
    """The `<item/>`s of a pubsub items result for `node`, or None."""
    if iq.get("type") != "result":
        return None
    pubsub = iq.find("pubsub", ns.PUBSUB)
    items = None if pubsub is None else pubsub.find("items", ns.PUBSUB)
    if items is None or items.get("node") != node:
        return None
    return items.find_all("item", ns.PUBSUB)


def _pick_payload(
    items: list[Element], name: str, namespace: str, item_id: str | None
) -> Element | None:
    """The payload of the item with id `item_id` (when given, else of the
    last item that has one). Legacy clients that published under another
    id than "current" are still read when `item_id` is None."""
    found = None
    for item in items:
        payload = item.find(name, namespace)
        if payload is None:
            continue
        if item_id is not None and item.get("id") == item_id:
            return payload
        found = payload
    return found


def _event_items(message: Element, node: str) -> list[Element] | None:
    event = message.find("event", ns.PUBSUB_EVENT)
    items = None if event is None else event.find("items", ns.PUBSUB_EVENT)
    if items is None or items.get("node") != node:
        return None
    return items.find_all("item", ns.PUBSUB_EVENT)


def notification_owner(message: Element, own: JID) -> JID | None:
    """Whose PEP node a notification is about, or None when it can't be
    believed (SECURITY.md, "PEP events: only from the owner").

    PEP notifications come from the owner's bare JID (XEP-0163 §4.3.2); no
    `from` means our own server, i.e. our own node. A full JID, a server
    (no localpart) or an unparsable address is not an account's PEP
    service: such a message is somebody forging one.
    """
    text = message.get("from")
    if text is None:
        return own.bare
    try:
        sender = JID.parse(text)
    except JidError:
        return None
    if sender.resource is not None or sender.local is None:
        return None
    return sender


def _find_body(elements: list[Element]) -> str | None:
    for element in elements:
        if element.name == "body" and element.ns == ns.CLIENT:
            return element.text
    return None


def build_node_config(
    node: str, options: dict[str, str | list[str] | tuple[str, ...] | bool] | None = None
) -> Element:
    """`<pubsub xmlns="…#owner"><configure/>` setting `node` to open access
    (plus `options`, e.g. `OMEMO2_BUNDLES_OPTIONS`). Send it (no `to`) when
    a publish failed with `is_precondition_not_met`, then publish again."""
    values: dict[str, str | list[str] | tuple[str, ...] | bool] = {"pubsub#access_model": "open"}
    if options:
        values.update(options)
    pubsub = Element("pubsub", ns.PUBSUB_OWNER)
    configure = pubsub.add("configure", attrs={"node": node})
    configure.append(xep_0004.build_submit(values, NODE_CONFIG))
    return pubsub


def is_precondition_not_met(iq: Element) -> bool:
    """True for a publish error saying the node's configuration differs
    from the publish-options (XEP-0060 §7.1.5: `<conflict/>` with a
    pubsub#errors `<precondition-not-met/>`)."""
    if iq.get("type") != "error":
        return False
    error = iq.find("error")
    if error is None:
        return False
    return any(child.name == "precondition-not-met" for child in error.children)


# -- legacy: device list ----------------------------------------------------


def _devices(devices: list[Device] | list[int]) -> list[Device]:
    return [d if isinstance(d, Device) else Device(d) for d in devices]


def build_devicelist(devices: list[Device] | list[int]) -> Element:
    """`<list xmlns="eu.siacs.conversations.axolotl">` of `devices` (records
    or ids). Labels are left out: XEP-0384 0.3 has none, and python-omemo
    (Gajim, slixmpp-omemo) rejects a list that carries one."""
    listing = Element("list", NS)
    for device in _devices(devices):
        listing.add("device", attrs={"id": str(device.id)})
    return listing


def parse_devicelist(listing: Element) -> list[Device]:
    """The devices of a legacy `<list/>`; bad or repeated ids are skipped."""
    return _parse_devices(listing, NS, False)


def _parse_devices(listing: Element, namespace: str, signed_labels: bool) -> list[Device]:
    found: list[Device] = []
    seen: set[int] = set()
    for element in listing.find_all("device", namespace):
        device_id = parse_device_id(element.get("id"))
        if device_id is None or device_id in seen:
            continue
        seen.add(device_id)
        label = element.get("label") or None
        label_sig = _unb64(element.get("labelsig")) if signed_labels and label else None
        found.append(Device(device_id, label, label_sig))
    return found


def build_devicelist_publish(devices: list[Device] | list[int]) -> Element:
    """`<pubsub/>` publishing our legacy device list (item "current", open
    access). Send with no `to`: our own PEP service."""
    return _publish(
        DEVICELIST_NODE, CURRENT, build_devicelist(devices), LEGACY_NODE_OPTIONS
    )


def build_devicelist_fetch() -> Element:
    """`<pubsub/>` asking for a legacy device list (send `to` the contact's
    bare JID, or with no `to` for our own)."""
    return _fetch(DEVICELIST_NODE)


def parse_devicelist_items(iq: Element) -> list[Device] | None:
    """The devices of a fetch result; None when it isn't one (an error,
    another node, an item without a `<list/>`)."""
    return _listed_devices(_result_items(iq, DEVICELIST_NODE), False)


def devicelist_event(message: Element, own: JID) -> tuple[JID, list[Device]] | None:
    """(owner's bare JID, devices) from a device-list PEP notification, or
    None when `message` is not one or can't be believed (see
    `notification_owner`). `own`: our JID (a notification without `from`
    is about our own list)."""
    return _devices_event(message, own, False)


def _listed_devices(items: list[Element] | None, v2: bool) -> list[Device] | None:
    """The devices of a device-list node's items (legacy or OMEMO 2), or None."""
    if items is None:
        return None
    if v2:
        listing = _pick_payload(items, "devices", OMEMO2_NS, CURRENT)
        return None if listing is None else parse_omemo2_devices(listing)
    listing = _pick_payload(items, "list", NS, CURRENT)
    return None if listing is None else parse_devicelist(listing)


def _devices_event(message: Element, own: JID, v2: bool) -> tuple[JID, list[Device]] | None:
    items = _event_items(message, OMEMO2_DEVICES_NODE if v2 else DEVICELIST_NODE)
    if items is None:
        return None
    owner = notification_owner(message, own)
    devices = None if owner is None else _listed_devices(items, v2)
    return None if owner is None or devices is None else (owner, devices)


# -- legacy: bundles --------------------------------------------------------


def bundle_node(device_id: int) -> str:
    """The PEP node holding the bundle of legacy device `device_id`."""
    return BUNDLES_NODE + ":" + str(device_id)


def build_bundle(bundle: LegacyBundle) -> Element:
    element = Element("bundle", NS)
    element.add("signedPreKeyPublic", attrs={"signedPreKeyId": str(bundle.spk_id)},
                text=_b64(bundle.spk))
    element.add("signedPreKeySignature", text=_b64(bundle.spk_signature))
    element.add("identityKey", text=_b64(bundle.identity_key))
    prekeys = element.add("prekeys")
    for prekey_id, key in bundle.prekeys:
        prekeys.add("preKeyPublic", attrs={"preKeyId": str(prekey_id)}, text=_b64(key))
    return element


def _parse_prekeys(
    prekeys: Element | None, name: str, namespace: str, id_attr: str, pick: int | None = None
) -> list[tuple[int, bytes]]:
    """The usable prekeys; with `pick` only one: the first usable one from
    index `pick` (mod their number) on. A sender needs one of ~100, and
    decoding them all cost ~15 ms a bundle in Brython."""
    found: list[tuple[int, bytes]] = []
    if prekeys is None:
        return found
    elements = prekeys.find_all(name, namespace)
    if pick is not None and elements:
        start = pick % len(elements)
        elements = elements[start:] + elements[:start]
    for element in elements:
        prekey_id = _int(element.get(id_attr), 0, MAX_KEY_ID)
        key = _unb64(element.text)
        if prekey_id is not None and key is not None:
            found.append((prekey_id, key))
            if pick is not None:
                break
    return found


def parse_bundle(element: Element, pick: int | None = None) -> LegacyBundle | None:
    """A `LegacyBundle` from a legacy `<bundle/>`; None without an identity
    key, a signed prekey (with id) and its signature, or any usable prekey.
    Malformed prekeys are skipped; `pick`: keep one prekey only (see
    `_parse_prekeys`: a random number from the caller, to start a session)."""
    spk_element = element.find("signedPreKeyPublic", NS)
    if spk_element is None:
        return None
    spk_id = _int(spk_element.get("signedPreKeyId"), 0, MAX_KEY_ID)
    spk = _unb64(spk_element.text)
    signature = _unb64(element.find_text("signedPreKeySignature", NS))
    identity = _unb64(element.find_text("identityKey", NS))
    prekeys = _parse_prekeys(element.find("prekeys", NS), "preKeyPublic", NS,
                             "preKeyId", pick)
    if spk_id is None or spk is None or signature is None or identity is None or not prekeys:
        return None
    return LegacyBundle(identity, spk_id, spk, signature, prekeys)


def build_bundle_publish(device_id: int, bundle: LegacyBundle) -> Element:
    """`<pubsub/>` publishing our bundle (node per device, item "current",
    open access). Send with no `to`."""
    return _publish(
        bundle_node(device_id), CURRENT, build_bundle(bundle), LEGACY_NODE_OPTIONS
    )


def build_bundle_fetch(device_id: int) -> Element:
    """`<pubsub/>` asking for the bundle of `device_id` (send `to` its
    owner's bare JID)."""
    return _fetch(bundle_node(device_id), max_items=1)


def parse_bundle_items(
    iq: Element, device_id: int | None = None, pick: int | None = None
) -> LegacyBundle | None:
    """The bundle in a fetch result (for `device_id`'s node when given,
    else any device's bundles node), or None."""
    pubsub = iq.find("pubsub", ns.PUBSUB)
    items_element = None if pubsub is None else pubsub.find("items", ns.PUBSUB)
    node = None if items_element is None else items_element.get("node")
    if device_id is None and node is not None and node.startswith(BUNDLES_NODE + ":"):
        device_id = parse_device_id(node[len(BUNDLES_NODE) + 1 :])
    if device_id is None:
        return None
    items = _result_items(iq, bundle_node(device_id))
    if items is None:
        return None
    element = _pick_payload(items, "bundle", NS, CURRENT)
    return None if element is None else parse_bundle(element, pick)


# -- legacy: messages -------------------------------------------------------


def build_encrypted(encrypted: LegacyEncrypted) -> Element:
    element = Element("encrypted", NS)
    header = element.add("header", attrs={"sid": str(encrypted.sid)})
    for rid, data, is_prekey in encrypted.keys:
        attrs = {"rid": str(rid)}
        if is_prekey:
            attrs["prekey"] = "true"
        header.add("key", attrs=attrs, text=_b64(data))
    header.add("iv", text=_b64(encrypted.iv))
    if encrypted.payload is not None:
        element.add("payload", text=_b64(encrypted.payload))
    return element


def parse_encrypted(element: Element) -> LegacyEncrypted | None:
    """A `LegacyEncrypted` from `<encrypted/>`, or None when malformed (no
    header, bad sid, no iv, any key or the payload not base64). Keys with
    a bad `rid` are skipped: they were never for us."""
    header = element.find("header", NS)
    if header is None:
        return None
    sid = parse_device_id(header.get("sid"))
    iv = _unb64(header.find_text("iv", NS))
    if sid is None or iv is None:
        return None
    keys: list[tuple[int, bytes, bool]] = []
    for key in header.find_all("key", NS):
        rid = parse_device_id(key.get("rid"))
        if rid is None:
            continue
        data = _unb64(key.text)
        if data is None:
            return None
        keys.append((rid, data, _is_true(key.get("prekey"))))
    payload_element = element.find("payload", NS)
    payload = None
    if payload_element is not None:
        payload = _unb64(payload_element.text, allow_empty=True)
        if payload is None:
            return None
    return LegacyEncrypted(sid, keys, iv, payload)


def parse_message(message: Element) -> LegacyEncrypted | None:
    """The legacy OMEMO content of `message`, or None (none, or malformed)."""
    element = message.find("encrypted", NS)
    return None if element is None else parse_encrypted(element)


def _message_children(encrypted: Element, namespace: str) -> list[Element]:
    return [
        encrypted,
        Element("store", HINTS_NS),  # XEP-0334: archive it although it has no real body
        Element("encryption", EME_NS, {"namespace": namespace, "name": "OMEMO"}),
        Element("body", ns.CLIENT, text=FALLBACK_BODY),
    ]


def message_children(encrypted: LegacyEncrypted) -> list[Element]:
    """What a `<message type="chat">` carrying `encrypted` holds: the
    `<encrypted/>`, a `<store/>` hint, the XEP-0380 `<encryption/>` marker
    and a fixed fallback `<body/>` (never the plaintext)."""
    return _message_children(build_encrypted(encrypted), NS)


def build_message(to: JID, msg_id: str, encrypted: LegacyEncrypted) -> Element:
    """A whole `<message type="chat">` to `to` (see `message_children`)."""
    return _build_message(to, msg_id, message_children(encrypted))


def _build_message(to: JID, msg_id: str, children: list[Element]) -> Element:
    message = Element("message", ns.CLIENT, {"type": "chat", "to": str(to), "id": msg_id})
    for child in children:
        message.append(child)
    return message


# -- OMEMO 2: device list ---------------------------------------------------


def build_omemo2_devices(devices: list[Device] | list[int]) -> Element:
    """`<devices xmlns="urn:xmpp:omemo:2">` of `devices` (label and its
    signature when set)."""
    listing = Element("devices", OMEMO2_NS)
    for device in _devices(devices):
        attrs = {"id": str(device.id)}
        if device.label:
            attrs["label"] = device.label
            if device.label_sig:
                attrs["labelsig"] = _b64(device.label_sig)
        listing.add("device", attrs=attrs)
    return listing


def parse_omemo2_devices(listing: Element) -> list[Device]:
    """The devices of a `<devices/>`; bad or repeated ids are skipped."""
    return _parse_devices(listing, OMEMO2_NS, True)


def build_omemo2_devices_publish(devices: list[Device] | list[int]) -> Element:
    """`<pubsub/>` publishing our OMEMO 2 device list (item "current",
    open access). Send with no `to`."""
    return _publish(
        OMEMO2_DEVICES_NODE, CURRENT, build_omemo2_devices(devices), OMEMO2_DEVICES_OPTIONS
    )


def build_omemo2_devices_fetch() -> Element:
    return _fetch(OMEMO2_DEVICES_NODE)


def parse_omemo2_devices_items(iq: Element) -> list[Device] | None:
    return _listed_devices(_result_items(iq, OMEMO2_DEVICES_NODE), True)


def omemo2_devices_event(message: Element, own: JID) -> tuple[JID, list[Device]] | None:
    """Like `devicelist_event`, for the OMEMO 2 devices node."""
    return _devices_event(message, own, True)


# -- OMEMO 2: bundles -------------------------------------------------------


def build_omemo2_bundle(bundle: Omemo2Bundle) -> Element:
    element = Element("bundle", OMEMO2_NS)
    element.add("spk", attrs={"id": str(bundle.spk_id)}, text=_b64(bundle.spk))
    element.add("spks", text=_b64(bundle.spk_signature))
    element.add("ik", text=_b64(bundle.identity_key))
    prekeys = element.add("prekeys")
    for prekey_id, key in bundle.prekeys:
        prekeys.add("pk", attrs={"id": str(prekey_id)}, text=_b64(key))
    return element


def parse_omemo2_bundle(element: Element, pick: int | None = None) -> Omemo2Bundle | None:
    """A `Bundle` from an OMEMO 2 `<bundle/>` (same rules as
    `parse_bundle`)."""
    spk_element = element.find("spk", OMEMO2_NS)
    if spk_element is None:
        return None
    spk_id = _int(spk_element.get("id"), 0, MAX_KEY_ID)
    spk = _unb64(spk_element.text)
    signature = _unb64(element.find_text("spks", OMEMO2_NS))
    identity = _unb64(element.find_text("ik", OMEMO2_NS))
    prekeys = _parse_prekeys(element.find("prekeys", OMEMO2_NS), "pk", OMEMO2_NS, "id", pick)
    if spk_id is None or spk is None or signature is None or identity is None or not prekeys:
        return None
    return Omemo2Bundle(identity, spk_id, spk, signature, prekeys)


def build_omemo2_bundle_publish(device_id: int, bundle: Omemo2Bundle) -> Element:
    """`<pubsub/>` publishing our bundle as item `device_id` of the bundles
    node (open access, many items). Send with no `to`."""
    return _publish(
        OMEMO2_BUNDLES_NODE, str(device_id), build_omemo2_bundle(bundle), OMEMO2_BUNDLES_OPTIONS
    )


def build_omemo2_bundle_fetch(device_id: int) -> Element:
    return _fetch(OMEMO2_BUNDLES_NODE, str(device_id))


def parse_omemo2_bundle_items(
    iq: Element, device_id: int, pick: int | None = None
) -> Omemo2Bundle | None:
    """The bundle of `device_id` in a fetch result (only that item), or None."""
    items = _result_items(iq, OMEMO2_BUNDLES_NODE)
    if items is None:
        return None
    for item in items:
        element = item.find("bundle", OMEMO2_NS)
        if element is not None and item.get("id") == str(device_id):
            return parse_omemo2_bundle(element, pick)
    return None


# -- OMEMO 2: messages ------------------------------------------------------


def build_omemo2_encrypted(encrypted: Omemo2Encrypted) -> Element:
    element = Element("encrypted", OMEMO2_NS)
    header = element.add("header", attrs={"sid": str(encrypted.sid)})
    groups: dict[JID, Element] = {}  # one <keys/> per recipient account, first-seen order
    for jid, rid, data, kex in encrypted.keys:
        bare = jid.bare
        if bare not in groups:
            groups[bare] = header.add("keys", attrs={"jid": str(bare)})
        attrs = {"rid": str(rid)}
        if kex:
            attrs["kex"] = "true"
        groups[bare].add("key", attrs=attrs, text=_b64(data))
    if encrypted.payload is not None:
        element.add("payload", text=_b64(encrypted.payload))
    return element


def parse_omemo2_encrypted(element: Element) -> Omemo2Encrypted | None:
    """An `Encrypted` from OMEMO 2's `<encrypted/>`, or None when malformed.
    `<keys/>` whose `jid` isn't a bare JID and keys with a bad `rid` are
    skipped; a key that isn't base64 rejects the whole element."""
    header = element.find("header", OMEMO2_NS)
    if header is None:
        return None
    sid = parse_device_id(header.get("sid"))
    if sid is None:
        return None
    keys: list[tuple[JID, int, bytes, bool]] = []
    for group in header.find_all("keys", OMEMO2_NS):
        try:
            jid = JID.parse(group.get("jid") or "")
        except JidError:
            continue
        if jid.resource is not None:
            continue
        for key in group.find_all("key", OMEMO2_NS):
            rid = parse_device_id(key.get("rid"))
            if rid is None:
                continue
            data = _unb64(key.text)
            if data is None:
                return None
            keys.append((jid, rid, data, _is_true(key.get("kex"))))
    payload_element = element.find("payload", OMEMO2_NS)
    payload = None
    if payload_element is not None:
        payload = _unb64(payload_element.text)
        if payload is None:
            return None
    return Omemo2Encrypted(sid, keys, payload)


def parse_omemo2_message(message: Element) -> Omemo2Encrypted | None:
    """The OMEMO 2 content of `message`, or None (none, or malformed)."""
    element = message.find("encrypted", OMEMO2_NS)
    return None if element is None else parse_omemo2_encrypted(element)


def omemo2_message_children(encrypted: Omemo2Encrypted) -> list[Element]:
    """Like `message_children`, for OMEMO 2."""
    return _message_children(build_omemo2_encrypted(encrypted), OMEMO2_NS)


def build_omemo2_message(to: JID, msg_id: str, encrypted: Omemo2Encrypted) -> Element:
    return _build_message(to, msg_id, omemo2_message_children(encrypted))


# -- XEP-0420 envelope (OMEMO 2 plaintext) -----------------------------------


def make_rpad(random_bytes: Callable[[int], bytes]) -> str:
    """Random padding for `<rpad/>`: 0..200 characters (XEP-0420 §4.1
    hides the content's length), from the caller's CSPRNG."""
    length = random_bytes(1)[0] % 151  # 0..150 bytes → 0..200 base64 chars
    return _b64(random_bytes(length)) if length else ""


def build_envelope(envelope: Envelope) -> Element:
    """The `<envelope xmlns="urn:xmpp:sce:1">` to encrypt (serialise it
    with `to_xml()`, UTF-8)."""
    element = Element("envelope", SCE_NS)
    content = element.add("content")
    for child in envelope.content:
        content.append(child)
    element.add("rpad", text=envelope.rpad)
    if envelope.stamp is not None:
        element.add("time", attrs={"stamp": envelope.stamp})
    if envelope.to_jid is not None:
        element.add("to", attrs={"jid": str(envelope.to_jid)})
    if envelope.from_jid is not None:
        element.add("from", attrs={"jid": str(envelope.from_jid)})
    return element


def body_envelope(body: str, from_jid: JID, to_jid: JID | None, rpad: str,
                  stamp: str | None = None) -> Envelope:
    """An `Envelope` holding a chat `<body/>` (the plaintext stays inside
    the encrypted payload, never in the stanza)."""
    return Envelope([Element("body", ns.CLIENT, text=body)], from_jid.bare, to_jid, rpad, stamp)


def parse_envelope(element: Element) -> Envelope | None:
    """An `Envelope` from a decrypted, parsed `<envelope/>`; None when it
    isn't one (no `<content/>`) or an affix JID is malformed. The caller
    checks `Envelope.is_from` against the stanza's sender."""
    if element.name != "envelope" or element.ns != SCE_NS:
        return None
    content = element.find("content", SCE_NS)
    if content is None:
        return None
    affix: dict[str, JID | None] = {"from": None, "to": None}
    for name in ("from", "to"):
        child = element.find(name, SCE_NS)
        if child is None:
            continue
        try:
            affix[name] = JID.parse(child.get("jid") or "")
        except JidError:
            return None
    time = element.find("time", SCE_NS)
    return Envelope(
        list(content.children),
        affix["from"],
        affix["to"],
        element.find_text("rpad", SCE_NS) or "",
        None if time is None else time.get("stamp"),
    )
