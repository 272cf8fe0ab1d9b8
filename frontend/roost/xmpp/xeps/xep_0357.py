"""XEP-0357: Push Notifications (`urn:xmpp:push:0`), and registering with
Roost's push component (`urn:roost:push:0`).

XEP-0357 leaves it to the "app server" how a client gets the node and secret
it passes to its own server in `<enable/>`. Roost's push component hands
them out for a Web Push subscription, over XMPP so that the user's own
server vouches for who asks (it stamps `from`):

    → <iq type="set" to="push.example.org"><register xmlns="urn:roost:push:0"
          device="…" endpoint="https://…" p256dh="…" auth="…" privacy="text"/></iq>
    ← <iq type="result"><registered xmlns="urn:roost:push:0" node="…" secret="…"/></iq>
    → <iq type="set"><enable xmlns="urn:xmpp:push:0" jid="push.example.org" node="…">
          <x xmlns="jabber:x:data" type="submit">… publish-options: secret …</x></enable></iq>

and on logout `<disable/>` to the own server and `<unregister node/>` to
the component. `<rooms node><room jid nick/>…</rooms>` tells the component
the rooms this browser is in: their messages notify quietly unless they
mention the nick (a hibernating session stays in its rooms). Registering again for
the same account and `device` keeps the node and replaces endpoint, keys and
privacy.

`privacy` says what a notification may carry: "text" (sender and message
text), "sender" (sender only), "none" (just "New message"). The component
applies it before encrypting, so the push vendor sees no more than that.
"""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.errors import ProtocolError
from roost.xmpp.events import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NS = "urn:xmpp:push:0"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
# Roost's push component (backend/push): the registration of a Web Push subscription.
REGISTER_NS = "urn:roost:push:0"
PRIVACY_TEXT = "text"
PRIVACY_SENDER = "sender"
PRIVACY_NONE = "none"
PRIVACY = (PRIVACY_TEXT, PRIVACY_SENDER, PRIVACY_NONE)
# Attributes of <register/>, all required and non-empty.
_REGISTER_ATTRS = ("device", "endpoint", "p256dh", "auth", "privacy")


class Enable(Record):
    """An `<enable/>`: the app server's `jid`, its `node`, and the
    publish-options form's values (`options`: var → first value)."""

    __slots__ = ("jid", "node", "options")

    def __init__(self, jid: str, node: str, options: dict[str, str]) -> None:
        self.jid = jid
        self.node = node
        self.options = options


class Registration(Record):
    """A `<register/>`: one browser's (`device`) Web Push subscription
    (`endpoint`, `p256dh` and `auth` base64url) and its `privacy`."""

    __slots__ = ("auth", "device", "endpoint", "p256dh", "privacy")

    def __init__(self, device: str, endpoint: str, p256dh: str, auth: str, privacy: str) -> None:
        self.device = device
        self.endpoint = endpoint
        self.p256dh = p256dh
        self.auth = auth
        self.privacy = privacy


class Registered(Record):
    """The component's answer: the `node` to enable and its `secret`."""

    __slots__ = ("node", "secret")

    def __init__(self, node: str, secret: str) -> None:
        self.node = node
        self.secret = secret


def supports_push(features: list[str]) -> bool:
    """True when an account's disco#info features offer XEP-0357."""
    return NS in features


# -- XEP-0357 -----------------------------------------------------------------
def build_enable(jid: str, node: str, options: Mapping[str, str] | None = None) -> Element:
    """`<enable/>` for an iq set to our own account; `options` (the secret)
    go in a publish-options form, which the server copies into every push."""
    from roost.xmpp.xeps import xep_0004

    enable = Element("enable", NS, {"jid": jid, "node": node})
    if options:
        enable.append(xep_0004.build_submit(dict(options), PUBLISH_OPTIONS))
    return enable


def build_disable(jid: str, node: str | None = None) -> Element:
    """`<disable/>`: this node of the app server (every node of it when None)."""
    attrs = {"jid": jid}
    if node is not None:
        attrs["node"] = node
    return Element("disable", NS, attrs)


def parse_enable(element: Element) -> Enable:
    """An `<enable/>` (what a server receives); raises ProtocolError without jid or node."""
    from roost.xmpp.xeps import xep_0004

    jid, node = element.get("jid"), element.get("node")
    if element.name != "enable" or element.ns != NS or not jid or not node:
        raise ProtocolError("enable without jid or node")
    form = xep_0004.find_form(element, PUBLISH_OPTIONS)
    options: dict[str, str] = {}
    if form is not None:
        for var, values in form.values().items():
            if var != xep_0004.FORM_TYPE and values:
                options[var] = values[0]
    return Enable(jid, node, options)


def parse_disable(element: Element) -> tuple[str, str | None]:
    """(jid, node or None) of a `<disable/>`; raises ProtocolError without jid."""
    jid = element.get("jid")
    if element.name != "disable" or element.ns != NS or not jid:
        raise ProtocolError("disable without jid")
    return jid, element.get("node") or None


# -- registering with Roost's push component ----------------------------------------
def build_register(
    device: str, endpoint: str, p256dh: str, auth: str, privacy: str
) -> Element:
    """`<register/>` for an iq set to the push component."""
    if privacy not in PRIVACY:
        raise ValueError("privacy must be one of " + ", ".join(PRIVACY))
    return Element("register", REGISTER_NS, {
        "device": device, "endpoint": endpoint, "p256dh": p256dh, "auth": auth,
        "privacy": privacy,
    })


def parse_register(element: Element) -> Registration:
    """A `<register/>`; raises ProtocolError when an attribute is missing or
    `privacy` is not one of PRIVACY (the component answers bad-request)."""
    if element.name != "register" or element.ns != REGISTER_NS:
        raise ProtocolError("not a push registration")
    values = [element.get(name) or "" for name in _REGISTER_ATTRS]
    if not all(values):
        raise ProtocolError("push registration without " + _REGISTER_ATTRS[values.index("")])
    if values[4] not in PRIVACY:
        raise ProtocolError("unknown push privacy")
    return Registration(values[0], values[1], values[2], values[3], values[4])


def build_registered(node: str, secret: str) -> Element:
    """The component's `<registered/>` (the payload of its result iq)."""
    return Element("registered", REGISTER_NS, {"node": node, "secret": secret})


def parse_registered(iq: Element) -> Registered:
    """The `<registered/>` in the component's result iq; raises ProtocolError
    when it is missing or lacks node or secret."""
    registered = iq.find("registered", REGISTER_NS)
    if registered is None:
        raise ProtocolError("push registration answer without <registered/>")
    node, secret = registered.get("node"), registered.get("secret")
    if not node or not secret:
        raise ProtocolError("push registration answer without node or secret")
    return Registered(node, secret)


def build_unregister(node: str) -> Element:
    """`<unregister/>` for an iq set to the push component."""
    return Element("unregister", REGISTER_NS, {"node": node})


def parse_unregister(element: Element) -> str:
    """The node of an `<unregister/>`; raises ProtocolError without one."""
    node = element.get("node")
    if element.name != "unregister" or element.ns != REGISTER_NS or not node:
        raise ProtocolError("unregister without node")
    return node


def build_rooms(node: str, rooms: Mapping[str, str]) -> Element:
    """`<rooms/>` for an iq set to the push component: room bare JID → our nick."""
    element = Element("rooms", REGISTER_NS, {"node": node})
    for jid in sorted(rooms):
        element.append(Element("room", REGISTER_NS, {"jid": jid, "nick": rooms[jid]}))
    return element


def parse_rooms(element: Element) -> tuple[str, dict[str, str]]:
    """The node and rooms of a `<rooms/>`; raises ProtocolError when malformed."""
    node = element.get("node")
    if element.name != "rooms" or element.ns != REGISTER_NS or not node:
        raise ProtocolError("rooms without node")
    rooms: dict[str, str] = {}
    for room in element.children:
        jid, nick = room.get("jid"), room.get("nick")
        if room.name != "room" or room.ns != REGISTER_NS or not jid or not nick:
            raise ProtocolError("room without jid or nick")
        rooms[jid] = nick
    return node, rooms
