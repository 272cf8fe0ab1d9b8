"""XEP-0410: MUC Self-Ping (Schrödinger's Chat).

A room that restarted, or lost us over a broken server-to-server link,
forgets us without telling. A XEP-0199 ping to our own occupant JID
(room/our-nick) tells: the room answers it (or passes it to one of our
clients) only while we are an occupant.

Reading the answer: a result, or the pinged client not knowing pings
(`service-unavailable`, `feature-not-implemented`), means still joined.
`not-acceptable` (and `not-allowed` / `bad-request`, which §3 notes some
services send instead) means not joined: join again. Everything else,
`item-not-found` (a nick change in flight) and our own server failing to
reach the room (`remote-server-*`) among them, says nothing for sure:
keep the room and ping again later.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element

JOINED = "joined"
NOT_JOINED = "not-joined"
UNKNOWN = "unknown"
STATES = (JOINED, NOT_JOINED, UNKNOWN)
# A service that answers the room's pings itself says so on the room's disco#info.
OPTIMIZATION = "http://jabber.org/protocol/muc#self-ping-optimization"

_STILL_JOINED = ("service-unavailable", "feature-not-implemented")
_NOT_JOINED = ("not-acceptable", "not-allowed", "bad-request")


def build_ping() -> Element:
    """The iq payload; send it as a get to room/our-nick."""
    return Element("ping", ns.PING)


def error_condition(iq: Element) -> str | None:
    """The defined condition of an error iq (None when it names none)."""
    error = iq.find("error")
    if error is None:
        return None
    for child in error.children:
        if child.ns == ns.STANZAS and child.name != "text":
            return child.name
    return None


def interpret(iq: Element) -> str:
    """`JOINED`, `NOT_JOINED` or `UNKNOWN` for the answer to a self-ping."""
    kind = iq.get("type")
    if kind == "result":
        return JOINED
    if kind != "error":
        return UNKNOWN
    condition = error_condition(iq)
    if condition in _STILL_JOINED:
        return JOINED
    if condition in _NOT_JOINED:
        return NOT_JOINED
    return UNKNOWN
