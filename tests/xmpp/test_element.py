from __future__ import annotations

import pytest
from roost.xmpp.element import Element, clean_text, escape_attr, escape_text
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


FFFD = "\ufffd"


@pytest.mark.parametrize(
    "char",
    [chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]]
    + ["\ud800", "\udfff", "\ufffe", "\uffff"],
)
def test_characters_xml_forbids_are_replaced(char: str) -> None:
    """A body "hi\\x0b" used to make the server answer not-well-formed and end the session."""
    msg = Element("message", "jabber:client", {"id": "a" + char})
    msg.add("body", text="hi" + char + "!")
    xml = msg.to_xml()
    assert char not in xml
    # What comes out is well-formed XML 1.0 (expat is strict about this)...
    parsed = parse_xml(xml)
    # ...and says U+FFFD where the character was (not dropped: no joined words).
    assert parsed.find_text("body") == "hi" + FFFD + "!"
    assert parsed.get("id") == "a" + FFFD


def test_allowed_whitespace_survives_the_round_trip() -> None:
    msg = Element("message", "jabber:client", {"data": "a\tb\nc\rd  e"})
    msg.add("body", text="one\r\ntwo\rthree\n\tfour")
    xml = msg.to_xml()
    # A parser normalises raw \r (text) and \t \n \r (attributes): references keep them.
    assert '"a&#9;b&#10;c&#13;d  e"' in xml
    assert "<body>one&#13;\ntwo&#13;three\n\tfour</body>" in xml
    parsed = parse_xml(xml)
    assert parsed.get("data") == "a\tb\nc\rd  e"
    assert parsed.find_text("body") == "one\r\ntwo\rthree\n\tfour"


def test_clean_text_leaves_ordinary_text_alone() -> None:
    for text in ["", "plain", "émoji 👩\u200d💻 and NBSP\u00a0", "tab\tnl\ncr\r", "\u2028\ue000"]:
        assert clean_text(text) == text
    assert clean_text("a\x00b\x0bc\x00") == f"a{FFFD}b{FFFD}c{FFFD}"
    assert escape_text("\x00<&>\r") == f"{FFFD}&lt;&amp;&gt;&#13;"
    assert escape_attr('\x1f"\t') == f"{FFFD}&quot;&#9;"
