"""XEP-0280: Message Carbons (`urn:xmpp:carbons:2`).

SECURITY (CVE-2017-5589 family): a carbon is a copy made by our own server,
so it is accepted only when the outer message comes from our own bare JID.
Anyone else can send a message wrapping `<received/>` or `<sent/>` to put
words in a contact's mouth: `unwrap_carbon` raises `ForgedStanza` for it
and the client drops and reports it. A groupchat or error message with such
a wrapper, and a bare `<forwarded/>`, are not carbons (None): handle them
as what they are, ignoring the wrapped message. The unwrapped message is
never unwrapped again (it is what a contact sent, and may itself contain a
fake wrapper).
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import ForgedStanza, ProtocolError
from roost.xmpp.events import Record
from roost.xmpp.jid import normalised
from roost.xmpp.xeps import xep_0297, xep_0334

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.jid import JID

NS = "urn:xmpp:carbons:2"
SENT = "sent"
RECEIVED = "received"


class Carbon(Record):
    """A carbon copy: `direction` "sent" (another of our clients sent it) or
    "received" (delivered to another of our clients), and the copied `message`."""

    __slots__ = ("direction", "message")

    def __init__(self, direction: str, message: Element) -> None:
        self.direction = direction
        self.message = message


def _iq(iq_id: str, name: str) -> Element:
    iq = Element("iq", ns.CLIENT, {"type": "set", "id": iq_id})
    iq.add(name, NS)
    return iq


def build_enable(iq_id: str) -> Element:
    """`<iq type="set"><enable/></iq>` to our own server (no `to`)."""
    return _iq(iq_id, "enable")


def build_disable(iq_id: str) -> Element:
    return _iq(iq_id, "disable")


def build_carbon(direction: str, message: Element, from_jid: JID | str) -> Element:
    """A carbon as a server sends it (for tests and bots)."""
    if direction not in (SENT, RECEIVED):
        raise ValueError("direction must be 'sent' or 'received'")
    outer = Element("message", ns.CLIENT, {"from": str(from_jid)})
    outer.add(direction, NS).append(xep_0297.build_forwarded(message))
    return outer


def _own(jid_text: str | None, own: str) -> bool:
    # A missing address on the copied message is our own account's.
    if jid_text is None:
        return True
    text = normalised(jid_text)
    return text is not None and text.partition("/")[0] == own


def unwrap_carbon(message: Element, own_bare: JID | str) -> Carbon | None:
    """The carbon in `message`, None when it isn't one, or raise.

    `ForgedStanza`: the outer `from` is not exactly `own_bare`, or the copy
    contradicts its direction (a "sent" copy not from us, a "received" one
    not to us). `ProtocolError`: several wrappers, or a `<forwarded/>` that
    doesn't hold exactly one message.
    """
    wrappers = [c for c in message.children if c.ns == NS and c.name in (SENT, RECEIVED)]
    if not wrappers or message.get("type") in ("groupchat", "error"):
        return None
    own = normalised(own_bare)
    sender = message.get("from")
    if own is None or normalised(sender) != own:
        raise ForgedStanza(f"carbon from {sender}, expected {own}")
    if len(wrappers) != 1:
        raise ProtocolError("message with several carbon wrappers")
    direction = wrappers[0].name
    forwarded = wrappers[0].find_all("forwarded", xep_0297.NS)
    if len(forwarded) != 1:
        raise ProtocolError(f"<{direction}/> carbon without exactly one <forwarded/>")
    inner = xep_0297.parse_forwarded(forwarded[0]).message
    if direction == SENT and not _own(inner.get("from"), own):
        raise ForgedStanza(f"sent carbon of a message from {inner.get('from')}")
    if direction == RECEIVED and not _own(inner.get("to"), own):
        raise ForgedStanza(f"received carbon of a message to {inner.get('to')}")
    return Carbon(direction, inner)


def mark_private(message: Element) -> Element:
    """Add `<private/>` and the `<no-copy/>` hint: no carbons of this message."""
    message.add("private", NS)
    message.append(xep_0334.build_hint("no-copy"))
    return message


def is_private(message: Element) -> bool:
    return message.find("private", NS) is not None
