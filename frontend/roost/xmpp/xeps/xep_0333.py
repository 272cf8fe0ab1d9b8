"""XEP-0333: Chat Markers (`urn:xmpp:chat-markers:0`).

A marker names the `id` of the marked message: the message's own id in 1:1
chats, the room's stanza-id in a groupchat. Send markers only for messages
that were `<markable/>`, never for error messages. A marker is only
meaningful for a message we sent to its sender: the client checks that the
marked id is one of ours, sent to that bare JID (or room).
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.events import Record
from roost.xmpp.xeps import xep_0334

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.jid import JID

NS = "urn:xmpp:chat-markers:0"
MARKERS = ("received", "displayed", "acknowledged")


class Marker(Record):
    """`kind` (one of `MARKERS`) for the message whose id is `id`."""

    __slots__ = ("id", "kind")

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id


def build_markable() -> Element:
    return Element("markable", NS)


def is_markable(message: Element) -> bool:
    return message.get("type") != "error" and message.find("markable", NS) is not None


def build_marker(kind: str, marked_id: str) -> Element:
    if kind not in MARKERS:
        raise ValueError("marker must be one of " + ", ".join(MARKERS))
    return Element(kind, NS, {"id": marked_id})


def build_marker_message(
    to: JID | str, id: str, kind: str, marked_id: str, message_type: str = "chat"
) -> Element:
    """A message carrying only a marker, with a `<store/>` hint so archives keep it
    (other clients of the reader learn what was read)."""
    message = Element("message", ns.CLIENT, {"to": str(to), "id": id, "type": message_type})
    message.append(build_marker(kind, marked_id))
    message.append(xep_0334.build_hint("store"))
    return message


def parse_marker(message: Element) -> Marker | None:
    """The marker in `message`, or None (none, no id, or in an error message)."""
    if message.get("type") == "error":
        return None
    for child in message.children:
        if child.ns == NS and child.name in MARKERS:
            marked = child.get("id")
            return Marker(child.name, marked) if marked else None
    return None
