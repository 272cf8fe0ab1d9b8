"""XEP-0297: Stanza Forwarding (`urn:xmpp:forward:0`), as carbons and MAM use it.

Unwrapping a `<forwarded/>` says nothing about who may forward what: callers
(XEP-0280, XEP-0313) check the outer stanza's origin first.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import ProtocolError
from roost.xmpp.events import Record
from roost.xmpp.stamps import format_datetime, parse_datetime

NS = "urn:xmpp:forward:0"


class Forwarded(Record):
    """The one forwarded `message` and the XEP-0203 `stamp` (epoch seconds or None)."""

    __slots__ = ("message", "stamp")

    def __init__(self, message: Element, stamp: float | None = None) -> None:
        self.message = message
        self.stamp = stamp


def build_forwarded(message: Element, stamp: float | None = None) -> Element:
    forwarded = Element("forwarded", NS)
    if stamp is not None:
        forwarded.add("delay", ns.DELAY, {"stamp": format_datetime(stamp)})
    forwarded.append(message)
    return forwarded


def parse_forwarded(forwarded: Element) -> Forwarded:
    """Read `<forwarded/>`; `ProtocolError` unless it holds exactly one message."""
    if forwarded.name != "forwarded" or forwarded.ns != NS:
        raise ProtocolError(f"expected <forwarded/>, got <{forwarded.name}/>")
    messages = forwarded.find_all("message", ns.CLIENT)
    if len(messages) != 1:
        raise ProtocolError(f"<forwarded/> with {len(messages)} messages, expected one")
    delay = forwarded.find("delay", ns.DELAY)
    stamp_text = None if delay is None else delay.get("stamp")
    return Forwarded(messages[0], None if stamp_text is None else parse_datetime(stamp_text))
