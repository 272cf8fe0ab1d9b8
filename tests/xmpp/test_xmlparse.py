from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.errors import XmlError
from roost.xmpp.xmlparse import parse_xml


def test_namespaces_prefixes_and_xml_lang() -> None:
    element = parse_xml(
        '<stream:features xmlns:stream="http://etherx.jabber.org/streams">\n  '
        '<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl">'
        "<mechanism>PLAIN</mechanism></mechanisms>\n"
        "</stream:features>"
    )
    assert (element.name, element.ns, element.text) == (
        "features",
        "http://etherx.jabber.org/streams",
        "",  # formatting whitespace between children is dropped
    )
    mech = element.find("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
    assert mech is not None and mech.find_text("mechanism") == "PLAIN"
    body = parse_xml('<body xmlns="jabber:client" xml:lang="de"> hallo </body>')
    assert body.attrs == {"xml:lang": "de"} and body.text == " hallo "


def test_predefined_and_character_references_are_fine() -> None:
    element = parse_xml("<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;</a>")
    assert element == Element("a", "", text="<>&\"'AB")


@pytest.mark.parametrize(
    "text",
    [
        '<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>',
        "<!DOCTYPE a><a/>",
        '<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        "<a><!-- hidden --></a>",
        "<a><?php evil ?></a>",
        "<a>&nbsp;</a>",
        "<a>&undefined;</a>",
        "<a>",
        "<a></b>",
        "",
        "text only",
        "<a/><b/>",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(XmlError):
        parse_xml(text)


def test_billion_laughs_is_refused_before_expansion() -> None:
    lol = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<lolz>&lol2;</lolz>"
    )
    with pytest.raises(XmlError):
        parse_xml(lol)
