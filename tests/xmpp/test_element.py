from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.xmlparse import parse_xml


def test_builder_and_serialisation() -> None:
    msg = Element("message", "jabber:client", {"to": 'a"b@example.org', "type": "chat"})
    msg.add("body", text="1 < 2 & 3 > 2")
    msg.add("origin-id", "urn:xmpp:sid:0", {"id": "x"})
    assert msg.to_xml() == (
        '<message xmlns="jabber:client" to="a&quot;b@example.org" type="chat">'
        "<body>1 &lt; 2 &amp; 3 &gt; 2</body>"
        '<origin-id xmlns="urn:xmpp:sid:0" id="x"/></message>'
    )


def test_top_element_always_declares_its_namespace() -> None:
    assert Element("presence", "jabber:client").to_xml() == '<presence xmlns="jabber:client"/>'


def test_reading_helpers() -> None:
    root = parse_xml(
        '<iq xmlns="jabber:client" type="result"><query xmlns="jabber:iq:roster">'
        '<item jid="a@b"/><item jid="c@d"/></query></iq>'
    )
    query = root.find("query", "jabber:iq:roster")
    assert query is not None
    assert root.find("query", "other") is None
    assert [i.get("jid") for i in query.find_all("item")] == ["a@b", "c@d"]
    assert root.find_text("missing") is None
    assert [e.name for e in root.iter()] == ["iq", "query", "item", "item"]
    assert root.get("type") == "result" and root.get("nope", "d") == "d"


def test_round_trip() -> None:
    text = (
        '<message xmlns="jabber:client" type="chat" id="1"><body>héllo &amp; &lt;bye&gt;</body>'
        '<x xmlns="jabber:x:oob"><url>https://example.org/?a=1&amp;b=2</url></x></message>'
    )
    element = parse_xml(text)
    assert element.to_xml() == text
    assert parse_xml(element.to_xml()) == element
