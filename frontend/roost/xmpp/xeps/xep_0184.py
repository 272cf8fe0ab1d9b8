"""XEP-0184: Message Delivery Receipts (`urn:xmpp:receipts`).

A receipt is sent only for a 1:1 (chat/normal) message that asks for one and
has an id: never for groupchat (XEP-0184 §5.5), never for an error, never
for a message without `<request/>` (`receipt_for` applies these rules). The
client also sends none for carbons of messages we sent or for archive
results, and (XEP-0184 §8) only to contacts who may see our presence.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.jid import JID

NS = "urn:xmpp:receipts"
REQUEST = "request"
RECEIVED = "received"


def build_request() -> Element:
    """`<request/>`, to add to an outgoing message that has an id."""
    return Element(REQUEST, NS)


def build_receipt(to: JID | str, id: str, msg_id: str) -> Element:
    """The receipt message (`id`: its own id) acknowledging message `msg_id`."""
    message = Element("message", ns.CLIENT, {"to": str(to), "id": id})
    message.add(RECEIVED, NS, {"id": msg_id})
    return message


def parse_receipt(message: Element) -> tuple[str, str] | None:
    """("request", the message's id) or ("received", the acknowledged id).

    None when there is neither, or no id to go with it. A receipt without
    an `id` attribute (XEP-0184 before 1.1) acknowledges the message id.
    """
    received = message.find(RECEIVED, NS)
    if received is not None:
        acked = received.get("id") or message.get("id")
        return (RECEIVED, acked) if acked else None
    if message.find(REQUEST, NS) is not None:
        msg_id = message.get("id")
        return (REQUEST, msg_id) if msg_id else None
    return None


def receipt_for(message: Element, id: str) -> Element | None:
    """The receipt to send back for `message` (with `id` as its id), or None
    when none may be sent (see the module docstring)."""
    if message.get("type", "normal") not in ("chat", "normal"):
        return None
    sender = message.get("from")
    parsed = parse_receipt(message)
    if sender is None or parsed is None or parsed[0] != REQUEST:
        return None
    return build_receipt(sender, id, parsed[1])
