"""backend/proxy/framing.py alone: RFC 7395 frames ⇄ RFC 6120 stream, no I/O."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from backend.proxy.framing import (
    CLOSE_FRAME,
    FRAMING_NS,
    STREAM_ERRORS_NS,
    STREAMS_NS,
    ClientClose,
    ClientFrameTranslator,
    ClientOpen,
    ClientStanza,
    Limits,
    ServerClose,
    ServerElement,
    ServerEvent,
    ServerOpen,
    ServerStreamTranslator,
    StreamError,
    XmlElement,
    escape_attr,
    escape_text,
    serialize,
    stream_error_frame,
    stream_header,
)

OPEN = f'<open xmlns="{FRAMING_NS}" to="localhost" version="1.0"/>'
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' "
    b"version='1.0' xml:lang='en'>"
)
FEATURES = (
    b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
    b"<mechanism>SCRAM-SHA-1</mechanism></mechanisms>"
    b"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>"
    b"</stream:features>"
)
MESSAGE = (
    b"<message from='bob@localhost/x' to='alice@localhost' type='chat' id='a&amp;b'>"
    b"<body>1 &lt; 2 &amp;&amp; &quot;q&quot; &#x263A; \xc3\xa9</body>"
    b"<x:data xmlns:x='urn:example:x' x:attr='v'/></message>"
)
SESSION = HEADER + FEATURES + b"\n " + MESSAGE + b" </stream:stream>"


def client() -> ClientFrameTranslator:
    c = ClientFrameTranslator()
    c.receive(OPEN)
    return c


def frames(events: list[ServerEvent]) -> list[str]:
    return [e.frame for e in events]


def feed_all(data: bytes, step: int | None = None,
             translator: ServerStreamTranslator | None = None) -> list[str]:
    t = translator or ServerStreamTranslator()
    out: list[str] = []
    if step is None:
        return frames(t.feed(data))
    for i in range(0, len(data), step):
        out += frames(t.feed(data[i:i + step]))
    return out


def error_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(StreamError) as info:
        call()
    return info.value.condition


# -- client → server ------------------------------------------------------


def test_open_becomes_stream_header() -> None:
    c = ClientFrameTranslator()
    event = c.receive(
        f'<open xmlns="{FRAMING_NS}" to="example.org" version="1.0" xml:lang="de"/>'
    )
    assert isinstance(event, ClientOpen)
    assert (event.to, event.lang, event.from_) == ("example.org", "de", None)
    assert event.header == (
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        b"xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0' "
        b"xml:lang='de'>"
    )
    assert c.state == "open"


def test_header_attributes_are_escaped() -> None:
    header = stream_header("a'b<c", lang='x"y')
    assert b"to='a&apos;b&lt;c'" in header
    assert b"xml:lang='x&quot;y'" in header
    ET.fromstring(header + b"</stream:stream>")  # still well-formed


def test_close_becomes_stream_end_and_ends_the_stream() -> None:
    c = client()
    event = c.receive(f'<close xmlns="{FRAMING_NS}"/>')
    assert isinstance(event, ClientClose)
    assert event.data == b"</stream:stream>"
    assert error_of(lambda: c.receive('<presence xmlns="jabber:client"/>')) == "bad-format"


def test_stanza_is_reserialised_with_escaping() -> None:
    c = client()
    event = c.receive(
        '<message xmlns="jabber:client" to="bob@localhost" id="x&apos;y">'
        "<body>a &amp; b &lt; c &gt; d &#10; \u263a</body>"
        '<thread parent="p&#9;q">t</thread></message>'
    )
    assert isinstance(event, ClientStanza)
    assert event.data.decode() == (
        '<message xmlns="jabber:client" to="bob@localhost" id="x\'y">'
        "<body>a &amp; b &lt; c &gt; d \n \u263a</body>"
        '<thread parent="p&#9;q">t</thread></message>'
    )
    assert event.element.local == "message"


def test_prefixes_and_declarations_are_kept() -> None:
    event = client().receive(
        '<iq xmlns="jabber:client" type="get" id="1"><p:query xmlns:p="urn:x" p:a="1">'
        "<p:item/></p:query></iq>"
    )
    assert isinstance(event, ClientStanza)
    assert event.data == (
        b'<iq xmlns="jabber:client" type="get" id="1"><p:query xmlns:p="urn:x" p:a="1">'
        b"<p:item/></p:query></iq>"
    )


def test_restart_is_another_open() -> None:
    c = client()
    c.receive('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AGEAYg==</auth>')
    event = c.receive(OPEN)
    assert isinstance(event, ClientOpen)
    assert event.header.startswith(b"<?xml version='1.0'?><stream:stream")


def test_xml_declaration_in_a_frame_is_tolerated() -> None:
    event = client().receive("<?xml version='1.0'?><presence xmlns='jabber:client'/>")
    assert isinstance(event, ClientStanza)
    assert event.data == b'<presence xmlns="jabber:client"/>'


@pytest.mark.parametrize(
    ("frame", "condition"),
    [
        ("<foo", "not-well-formed"),
        ("", "not-well-formed"),
        ("just text", "not-well-formed"),
        ('<presence xmlns="jabber:client"/><presence xmlns="jabber:client"/>', "not-well-formed"),
        ('<presence xmlns="jabber:client"></message>', "not-well-formed"),
        ('<!DOCTYPE presence><presence xmlns="jabber:client"/>', "restricted-xml"),
        ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "restricted-xml"),
        ('<!-- c --><presence xmlns="jabber:client"/>', "restricted-xml"),
        ('<presence xmlns="jabber:client"><!-- c --></presence>', "restricted-xml"),
        ('<?php x ?><presence xmlns="jabber:client"/>', "restricted-xml"),
        ('<presence xmlns="jabber:client"><?pi?></presence>', "restricted-xml"),
        ('<message xmlns="jabber:client"><body>&nbsp;</body></message>', "restricted-xml"),
        ('<message xmlns="jabber:client" a="&x;"/>', "restricted-xml"),
        ('<message xmlns="jabber:client"><body><![CDATA[x]]></body></message>',
         "restricted-xml"),
        ("<message/>", "invalid-namespace"),
        ("<p:message/>", "bad-namespace-prefix"),
        ('<foo xmlns="jabber:client"/>', "bad-format"),
        ('<starttls xmlns="urn:ietf:params:xml:ns:xmpp-tls"/>', "policy-violation"),
        ('<compress xmlns="http://jabber.org/protocol/compress"/>', "policy-violation"),
        ('<message xmlns="jabber:server"/>', "policy-violation"),
        (f'<features xmlns="{STREAMS_NS}"/>', "bad-format"),
        (f'<bogus xmlns="{FRAMING_NS}"/>', "bad-format"),
        (f'<open xmlns="{FRAMING_NS}" to="x" version="2.0"/>', "unsupported-version"),
        (f'<open xmlns="{FRAMING_NS}" to="x"><x/></open>', "bad-format"),
    ],
)
def test_bad_client_frames(frame: str, condition: str) -> None:
    c = client()
    assert error_of(lambda: c.receive(frame)) == condition


def test_stanza_before_open_is_refused() -> None:
    c = ClientFrameTranslator()
    assert error_of(lambda: c.receive('<presence xmlns="jabber:client"/>')) == "bad-format"
    assert error_of(lambda: c.receive(f'<close xmlns="{FRAMING_NS}"/>')) == "bad-format"


def test_client_limits() -> None:
    c = ClientFrameTranslator(Limits(max_stanza_size=100, max_depth=3, max_attributes=3))
    c.receive(OPEN)
    assert isinstance(c.receive('<presence xmlns="jabber:client"><a><b/></a></presence>'),
                      ClientStanza)
    assert error_of(lambda: c.receive(
        '<presence xmlns="jabber:client"><a><b><c/></b></a></presence>')) == "policy-violation"
    assert error_of(lambda: c.receive(
        '<presence xmlns="jabber:client" a="1" b="2" c="3"/>')) == "policy-violation"
    assert error_of(lambda: c.receive(
        '<presence xmlns="jabber:client">' + "x" * 100 + "</presence>")) == "policy-violation"
    # Bytes, not characters: 40 three-byte characters are 120 bytes.
    assert error_of(lambda: c.receive("\u263a" * 40)) == "policy-violation"


def test_billion_laughs_is_refused_before_expansion() -> None:
    lol = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<message xmlns="jabber:client"><body>&lol2;</body></message>'
    )
    assert error_of(lambda: client().receive(lol)) == "restricted-xml"


# -- server → client ------------------------------------------------------


EXPECTED = [
    f'<open xmlns="{FRAMING_NS}" from="localhost" id="s1" version="1.0" xml:lang="en"/>',
    f'<stream:features xmlns:stream="{STREAMS_NS}">'
    '<mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism>'
    "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
    '<message xmlns="jabber:client" from="bob@localhost/x" to="alice@localhost" type="chat" '
    'id="a&amp;b"><body>1 &lt; 2 &amp;&amp; "q" \u263a \u00e9</body>'
    '<x:data xmlns:x="urn:example:x" x:attr="v"/></message>',
    CLOSE_FRAME,
]


def test_whole_session_in_one_chunk() -> None:
    assert feed_all(SESSION) == EXPECTED


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_any_split_gives_the_same_frames(step: int) -> None:
    # step 1 splits inside every tag, entity and multi-byte UTF-8 character.
    assert feed_all(SESSION, step) == EXPECTED


def test_every_split_point_of_two_chunks() -> None:
    for i in range(len(SESSION) + 1):
        t = ServerStreamTranslator()
        assert frames(t.feed(SESSION[:i]) + t.feed(SESSION[i:])) == EXPECTED, i


def test_frames_stand_alone() -> None:
    for frame in feed_all(SESSION):
        ET.fromstring(frame)  # each one is a complete document


def test_events_carry_parsed_data() -> None:
    events = ServerStreamTranslator().feed(SESSION)
    opened, features, message, closed = events
    assert isinstance(opened, ServerOpen)
    assert (opened.from_, opened.id, opened.version, opened.lang) == (
        "localhost", "s1", "1.0", "en")
    assert isinstance(features, ServerElement)
    assert features.element.ns == STREAMS_NS
    assert isinstance(message, ServerElement)
    assert message.element.get("type") == "chat"
    assert isinstance(closed, ServerClose)


def test_starttls_and_compression_are_hidden_from_the_browser() -> None:
    frame = feed_all(HEADER + FEATURES)[1]
    assert "starttls" not in frame and "compress" not in frame


def test_features_kept_when_not_stripping() -> None:
    t = ServerStreamTranslator(strip_features=frozenset())
    assert "starttls" in frames(t.feed(HEADER + FEATURES))[1]


def test_stream_error_frame_carries_stream_prefix() -> None:
    data = HEADER + (
        b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        b"</stream:error></stream:stream>"
    )
    got = feed_all(data)
    assert got[1] == (
        f'<stream:error xmlns:stream="{STREAMS_NS}"><not-authorized xmlns="{STREAM_ERRORS_NS}"/>'
        "</stream:error>"
    )
    assert got[2] == CLOSE_FRAME


def test_other_prefixes_from_the_header_are_carried() -> None:
    header = HEADER.replace(b"id='s1'", b"xmlns:db='jabber:server:dialback' id='s1'")
    data = header + b"<db:result from='a' to='b'/><message><db:x/><body/></message>"
    got = feed_all(data)
    assert got[1] == '<db:result xmlns:db="jabber:server:dialback" from="a" to="b"/>'
    assert got[2] == ('<message xmlns="jabber:client" xmlns:db="jabber:server:dialback">'
                      "<db:x/><body/></message>")


def test_redeclared_namespaces_are_not_duplicated() -> None:
    data = HEADER + b"<message xmlns='jabber:client'><body/></message>"
    assert feed_all(data)[1] == '<message xmlns="jabber:client"><body/></message>'


def test_unprefixed_child_of_prefixed_top_gets_default_namespace() -> None:
    data = HEADER + b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" \
        b"<ver/></stream:features>"
    got = feed_all(data)[1]
    assert got.startswith('<stream:features xmlns="jabber:client" xmlns:stream=')
    root = ET.fromstring(got)
    assert root[1].tag == "{jabber:client}ver"


def test_whitespace_keepalives_are_ignored() -> None:
    t = ServerStreamTranslator(Limits(max_stanza_size=1000))
    assert len(t.feed(HEADER)) == 1
    for _ in range(3000):  # far more keepalive bytes than the stanza limit
        assert t.feed(b" ") == []
    assert len(t.feed(b"<presence/>")) == 1


def test_restart_expects_a_new_document() -> None:
    t = ServerStreamTranslator()
    first = frames(t.feed(HEADER + b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"))
    assert len(first) == 2
    t.restart()
    second = frames(t.feed(HEADER.replace(b"s1", b"s2") + b"<stream:features/>"))
    assert second[0].startswith(f'<open xmlns="{FRAMING_NS}" from="localhost" id="s2"')
    assert second[1] == f'<stream:features xmlns:stream="{STREAMS_NS}"/>'


def test_second_header_without_restart_is_an_error() -> None:
    t = ServerStreamTranslator()
    t.feed(HEADER)
    with pytest.raises(StreamError):
        t.feed(HEADER)


def test_data_after_close() -> None:
    t = ServerStreamTranslator()
    t.feed(HEADER + b"</stream:stream>")
    assert t.feed(b" \n") == []
    assert error_of(lambda: t.feed(b"<x/>")) == "not-well-formed"


@pytest.mark.parametrize(
    ("data", "condition"),
    [
        (b"<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>",
         "invalid-namespace"),
        (b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
         b"xmlns='jabber:server'>", "invalid-namespace"),
        (b"<html>", "invalid-namespace"),
        (HEADER + b"<!DOCTYPE x>", "not-well-formed"),
        (b"<!DOCTYPE stream:stream>" + HEADER, "restricted-xml"),
        (HEADER + b"<!-- comment -->", "restricted-xml"),
        (HEADER + b"<?pi data?>", "restricted-xml"),
        (HEADER + b"<message><body>&amp;&custom;</body></message>", "restricted-xml"),
        (HEADER + b"text between stanzas", "bad-format"),
        (HEADER + b"<message></presence>", "not-well-formed"),
        (HEADER + b"<x:y/>", "bad-namespace-prefix"),
        (HEADER + b"<message>\xff</message>", "not-well-formed"),
    ],
)
def test_bad_server_streams(data: bytes, condition: str) -> None:
    assert error_of(lambda: feed_all(data)) == condition


def test_bad_server_stream_detected_byte_by_byte() -> None:
    assert error_of(lambda: feed_all(HEADER + b"<!-- x -->", step=1)) == "restricted-xml"


def test_server_stanza_size_limit_while_streaming() -> None:
    t = ServerStreamTranslator(Limits(max_stanza_size=1000))
    t.feed(HEADER)
    t.feed(b"<message><body>")
    # Refused as soon as the open stanza exceeds the limit, not at its end.
    assert error_of(lambda: [t.feed(b"x" * 100) for _ in range(20)]) == "policy-violation"


def test_server_unfinished_tag_is_bounded_too() -> None:
    t = ServerStreamTranslator(Limits(max_stanza_size=1000))
    t.feed(HEADER + b"<message")
    assert error_of(lambda: [t.feed(b" " * 100) for _ in range(20)]) == "policy-violation"


def test_server_stanza_at_the_limit_passes() -> None:
    limits = Limits(max_stanza_size=1000)
    body = b"<message><body>" + b"x" * 900 + b"</body></message>"
    assert len(feed_all(HEADER + body + body, translator=ServerStreamTranslator(limits))) == 3


def test_server_depth_and_attribute_limits() -> None:
    limits = Limits(max_depth=4, max_attributes=8)
    deep = b"<a><b><c><d><e/></d></c></b></a>"
    assert error_of(lambda: ServerStreamTranslator(limits).feed(HEADER + deep)) == \
        "policy-violation"
    ok = b"<a><b><c><d/></c></b></a>"
    assert len(ServerStreamTranslator(limits).feed(HEADER + ok)) == 2
    many = b"<a a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9'/>"
    assert error_of(lambda: ServerStreamTranslator(limits).feed(HEADER + many)) == \
        "policy-violation"


# -- serialisation helpers -------------------------------------------------


def test_escaping() -> None:
    assert escape_text("<a & b>\r") == "&lt;a &amp; b&gt;&#13;"
    assert escape_attr('"<&>\t\n') == "&quot;&lt;&amp;&gt;&#9;&#10;"


def test_serialize_round_trips_through_a_parser() -> None:
    el = XmlElement("x", "urn:a", "x", [("", "urn:a")], [("k", 'v"&<\n')],
                    ["t<&>", XmlElement("y", "urn:a", "y")])
    parsed = ET.fromstring(serialize(el))
    assert parsed.get("k") == 'v"&<\n'
    assert parsed.text == "t<&>"


def test_stream_error_frame() -> None:
    frame = stream_error_frame("policy-violation", "too <big>")
    root = ET.fromstring(frame)
    assert root.tag == f"{{{STREAMS_NS}}}error"
    assert root[0].tag == f"{{{STREAM_ERRORS_NS}}}policy-violation"
    assert root[1].text == "too <big>"
    assert stream_error_frame("host-unknown") == (
        f'<error xmlns="{STREAMS_NS}"><host-unknown xmlns="{STREAM_ERRORS_NS}"/></error>'
    )
