"""XEP-0334: Message Processing Hints (`urn:xmpp:hints`)."""

from __future__ import annotations

from roost.xmpp.element import Element

NS = "urn:xmpp:hints"
HINTS = ("no-permanent-store", "no-store", "no-copy", "store")


def build_hint(name: str) -> Element:
    """`<no-copy/>`, `<store/>`, ...; `name` is one of `HINTS`."""
    if name not in HINTS:
        raise ValueError("hint must be one of " + ", ".join(HINTS))
    return Element(name, NS)


def has_hint(message: Element, name: str) -> bool:
    return message.find(name, NS) is not None
