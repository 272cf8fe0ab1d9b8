"""XEP-0334 hints."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.xeps.xep_0334 import HINTS, build_hint, has_hint
from roost.xmpp.xmlparse import parse_xml


def test_round_trip() -> None:
    message = Element("message", "jabber:client")
    for name in HINTS:
        message.append(build_hint(name))
    parsed = parse_xml(message.to_xml())
    assert all(has_hint(parsed, name) for name in HINTS)
    assert not has_hint(Element("message", "jabber:client"), "store")
    with pytest.raises(ValueError):
        build_hint("no-permanent-storage")
