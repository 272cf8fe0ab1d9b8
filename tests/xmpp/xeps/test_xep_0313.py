"""XEP-0313 MAM v2: queries, results only for our queries from the archive queried, fin."""

from __future__ import annotations

import pytest
from roost.xmpp.element import Element
from roost.xmpp.errors import ForgedStanza, ProtocolError
from roost.xmpp.jid import JID
from roost.xmpp.xeps.xep_0313 import (
    ArchivedMessage,
    Fin,
    build_next_page,
    build_query,
    build_result,
    is_item_not_found,
    parse_fin,
    parse_result,
)
from roost.xmpp.xeps.xep_0359 import trusted_stanza_id
from roost.xmpp.xmlparse import parse_xml

OWN = "alice@example.org"
ROOM = "lounge@rooms.example.org"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"

# Prosody 0.12 (mod_mam) answering a query on our own archive: the result
# message has no `from`; the archived copy keeps the stanza-id by our JID.
PROSODY_RESULT = (
    '<message xmlns="jabber:client" to="alice@example.org/roost-0303">'
    '<result xmlns="urn:xmpp:mam:2" queryid="q1" id="8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27">'
    '<forwarded xmlns="urn:xmpp:forward:0">'
    '<delay xmlns="urn:xmpp:delay" stamp="2024-05-01T10:00:00Z"/>'
    '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org"'
    ' type="chat" id="b-1"><body>archived hello</body>'
    '<stanza-id xmlns="urn:xmpp:sid:0" id="8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27"'
    ' by="alice@example.org"/></message>'
    "</forwarded></result></message>"
)
PROSODY_FIN = (
    '<iq xmlns="jabber:client" type="result" id="iq1" to="alice@example.org/roost-0303">'
    '<fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm">'
    '<first index="0">8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27</first>'
    "<last>0b3f1b6e-4f0d-4a55-9d1b-9d3c2f7a8e11</last></set></fin></iq>"
)


def room_result(from_attr: str, queryid: str = "q2") -> Element:
    return parse_xml(
        f'<message xmlns="jabber:client" {from_attr} to="alice@example.org/roost-0303">'
        f'<result xmlns="urn:xmpp:mam:2" queryid="{queryid}" id="r-7">'
        '<forwarded xmlns="urn:xmpp:forward:0">'
        '<delay xmlns="urn:xmpp:delay" stamp="2024-05-01T10:00:00.250Z"/>'
        '<message xmlns="jabber:client" from="lounge@rooms.example.org/bob" type="groupchat">'
        "<body>in the room</body></message></forwarded></result></message>"
    )


def test_build_query_exact() -> None:
    iq = build_query("iq1", "q1", with_jid="bob@example.org", start=1714557600.9, max=50)
    assert iq.to_xml() == (
        '<iq xmlns="jabber:client" type="set" id="iq1">'
        '<query xmlns="urn:xmpp:mam:2" queryid="q1"><x xmlns="jabber:x:data" type="submit">'
        '<field var="FORM_TYPE" type="hidden"><value>urn:xmpp:mam:2</value></field>'
        '<field var="with"><value>bob@example.org</value></field>'
        '<field var="start"><value>2024-05-01T10:00:00Z</value></field></x>'
        '<set xmlns="http://jabber.org/protocol/rsm"><max>50</max></set></query></iq>'
    )


def rsm(iq: Element) -> Element:
    query = iq.find("query", MAM)
    assert query is not None
    found = query.find("set", RSM)
    assert found is not None
    return found


def test_build_query_paging_round_trip() -> None:
    iq = parse_xml(build_query("iq2", "q2", after_id="a-1", to=JID.parse(ROOM)).to_xml())
    assert iq.get("to") == ROOM
    assert rsm(iq).find_text("after", RSM) == "a-1"
    assert rsm(iq).find("before", RSM) is None
    assert rsm(iq).find_text("max", RSM) == "100"
    fields = iq.find("query", MAM).find("x", "jabber:x:data").find_all("field")  # type: ignore[union-attr]
    assert [f.get("var") for f in fields] == ["FORM_TYPE"]
    # "" asks for the last page: an empty <before/>; None leaves it out.
    last_page = parse_xml(build_query("iq3", "q3", before_id="").to_xml())
    before = rsm(last_page).find("before", RSM)
    assert before is not None and before.text == ""
    older = parse_xml(build_query("iq4", "q4", before_id="b-9").to_xml())
    assert rsm(older).find_text("before", RSM) == "b-9"
    assert last_page.get("to") is None
    with pytest.raises(ValueError):
        build_query("iq5", "q5", max=-1)


def test_prosody_result_for_own_archive() -> None:
    for expected in ({"q1": OWN}, {"q1": None}, {"q1": JID.parse(OWN)}):
        result = parse_result(parse_xml(PROSODY_RESULT), expected, OWN)
        assert result is not None
        assert result.query_id == "q1"
        assert result.archive_id == "8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27"
        assert result.archive_jid == OWN
        assert result.stamp == 1714557600.0
        assert result.message.find_text("body", "jabber:client") == "archived hello"
        # The archived stanza-id (by our account) is the archive id.
        assert trusted_stanza_id(result.message, {OWN}) == result.archive_id


def test_result_from_own_bare_jid() -> None:
    # ejabberd stamps the result with our bare JID.
    message = parse_xml(
        PROSODY_RESULT.replace("<message ", '<message from="alice@example.org" ', 1)
    )
    assert parse_result(message, {"q1": OWN}, OWN) is not None


def test_round_trip() -> None:
    inner = Element("message", "jabber:client", {"from": "bob@example.org/a", "type": "chat"})
    inner.add("body", text="x < y")
    built = build_result("q9", "arch-1", inner, 1714557600.0, None)
    parsed = parse_result(parse_xml(built.to_xml()), {"q9": OWN}, OWN)
    assert parsed == ArchivedMessage("q9", "arch-1", 1714557600.0, inner, OWN)


def test_room_result() -> None:
    result = parse_result(room_result(f'from="{ROOM}"'), {"q2": ROOM}, OWN)
    assert result is not None
    assert result.archive_jid == ROOM
    assert result.stamp == 1714557600.25


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # A queryid we never sent (or already finished).
        (PROSODY_RESULT.replace('queryid="q1"', 'queryid="guess"'), {"q1": OWN}),
        (PROSODY_RESULT.replace(' queryid="q1"', ""), {"q1": OWN}),
        (PROSODY_RESULT, {}),
        # Someone else's "archive" answering our query.
        (PROSODY_RESULT.replace("<message ", '<message from="bob@example.org" ', 1), {"q1": OWN}),
        (PROSODY_RESULT.replace("<message ", '<message from="example.org" ', 1), {"q1": OWN}),
        (
            PROSODY_RESULT.replace("<message ", '<message from="alice@example.org/x" ', 1),
            {"q1": OWN},
        ),
        # Our own archive answering for the room query, or no `from` for it.
        (
            PROSODY_RESULT.replace("<message ", '<message from="alice@example.org" ', 1),
            {"q1": ROOM},
        ),
        (PROSODY_RESULT, {"q1": ROOM}),
    ],
)
def test_forged_results(message: str, expected: dict[str, str | None]) -> None:
    with pytest.raises(ForgedStanza):
        parse_result(parse_xml(message), expected, OWN)


def test_forged_room_results() -> None:
    # An occupant (room/nick) is not the room; another room is not the room queried.
    for from_attr in (f'from="{ROOM}/eve"', 'from="other@rooms.example.org"', ""):
        with pytest.raises(ForgedStanza):
            parse_result(room_result(from_attr), {"q2": ROOM}, OWN)


def test_not_a_result() -> None:
    plain = parse_xml(
        '<message xmlns="jabber:client" from="bob@example.org"><body>x</body></message>'
    )
    assert parse_result(plain, {"q1": OWN}, OWN) is None
    # MAM v1 namespace (`urn:xmpp:mam:1`) is not what we asked for.
    v1 = parse_xml(PROSODY_RESULT.replace(MAM, "urn:xmpp:mam:1"))
    assert parse_result(v1, {"q1": OWN}, OWN) is None


@pytest.mark.parametrize(
    "message",
    [
        PROSODY_RESULT.replace(' id="8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27">', ">", 1),
        '<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" queryid="q1" id="x"/>'
        "</message>",
        '<message xmlns="jabber:client"><result xmlns="urn:xmpp:mam:2" queryid="q1" id="x">'
        '<forwarded xmlns="urn:xmpp:forward:0"/></result></message>',
    ],
)
def test_malformed_results(message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_result(parse_xml(message), {"q1": OWN}, OWN)
    assert not isinstance(info.value, ForgedStanza)


def test_result_without_delay_has_no_stamp() -> None:
    message = parse_xml(
        PROSODY_RESULT.replace('<delay xmlns="urn:xmpp:delay" stamp="2024-05-01T10:00:00Z"/>', "")
    )
    result = parse_result(message, {"q1": OWN}, OWN)
    assert result is not None and result.stamp is None


def test_prosody_fin() -> None:
    assert parse_fin(parse_xml(PROSODY_FIN)) == Fin(
        True,
        "8e5cd3f0-8bd3-4b9b-a6c6-1c2c6e4e2e27",
        "0b3f1b6e-4f0d-4a55-9d1b-9d3c2f7a8e11",
        None,
        True,
    )


def test_fin_variants() -> None:
    fin = parse_fin(
        parse_xml(
            '<iq xmlns="jabber:client" type="result" id="i"><fin xmlns="urn:xmpp:mam:2"'
            ' stable="false"><set xmlns="http://jabber.org/protocol/rsm"><first>a</first>'
            "<last>b</last><count>120</count></set></fin></iq>"
        )
    )
    assert fin == Fin(False, "a", "b", 120, False)
    empty = parse_fin(
        parse_xml(
            '<iq xmlns="jabber:client" type="result" id="i"><fin xmlns="urn:xmpp:mam:2"'
            ' complete="1"><set xmlns="http://jabber.org/protocol/rsm"><count>0</count></set>'
            "</fin></iq>"
        )
    )
    assert empty == Fin(True, None, None, 0, True)
    bare = parse_fin(
        parse_xml(
            '<iq xmlns="jabber:client" type="result" id="i"><fin xmlns="urn:xmpp:mam:2"/></iq>'
        )
    )
    assert bare == Fin(False)


@pytest.mark.parametrize(
    "xml",
    [
        '<iq xmlns="jabber:client" type="result" id="i"/>',
        '<iq xmlns="jabber:client" type="error" id="i"><fin xmlns="urn:xmpp:mam:2"/></iq>',
        '<iq xmlns="jabber:client" type="result" id="i"><fin xmlns="urn:xmpp:mam:1"/></iq>',
    ],
)
def test_no_fin(xml: str) -> None:
    with pytest.raises(ProtocolError):
        parse_fin(parse_xml(xml))


def test_item_not_found_is_a_gap() -> None:
    gone = parse_xml(
        '<iq xmlns="jabber:client" type="error" id="i"><error type="cancel">'
        '<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
    )
    assert is_item_not_found(gone)
    other = parse_xml(
        '<iq xmlns="jabber:client" type="error" id="i"><error type="cancel">'
        '<feature-not-implemented xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>'
    )
    assert not is_item_not_found(other)
    assert not is_item_not_found(parse_xml(PROSODY_FIN))


def test_next_page() -> None:
    assert build_next_page(Fin(True, "a", "b"), "i2", "q2") is None
    assert build_next_page(Fin(False), "i2", "q2") is None
    page = build_next_page(Fin(False, "a", "b"), "i2", "q2", with_jid="bob@example.org", max=10)
    assert page is not None
    assert page == build_query("i2", "q2", with_jid="bob@example.org", after_id="b", max=10)


class FakeArchive:
    """An archive of ids 0..n-1 that answers queries the way MAM/RSM does."""

    def __init__(self, n: int) -> None:
        self.ids = [f"id{i}" for i in range(n)]

    def answer(self, iq: Element) -> tuple[list[Element], Element]:
        query = iq.find("query", MAM)
        assert query is not None
        page_set = query.find("set", RSM)
        assert page_set is not None
        limit = int(page_set.find_text("max", RSM) or "0")
        after = page_set.find_text("after", RSM)
        start = self.ids.index(after) + 1 if after is not None else 0
        page = self.ids[start : start + limit]
        results = [
            build_result(
                query.get("queryid") or "",
                archive_id,
                Element("message", "jabber:client", {"from": "bob@example.org/a"}),
                1714557600.0 + n,
                None,
            )
            for n, archive_id in enumerate(page)
        ]
        fin = Element("iq", "jabber:client", {"type": "result", "id": iq.get("id") or ""})
        fin_el = fin.add("fin", MAM)
        if start + limit >= len(self.ids):
            fin_el.attrs["complete"] = "true"
        rsm_set = fin_el.add("set", RSM)
        if page:
            rsm_set.add("first", text=page[0])
            rsm_set.add("last", text=page[-1])
        rsm_set.add("count", text=str(len(self.ids)))
        return results, fin


def test_forward_paging_collects_everything_once() -> None:
    archive = FakeArchive(23)
    seen: list[str] = []
    query: Element | None = build_query("i0", "q0", max=5)
    n = 0
    while query is not None:
        query_id = query.find("query", MAM).get("queryid")  # type: ignore[union-attr]
        assert query_id is not None
        results, fin_iq = archive.answer(parse_xml(query.to_xml()))
        for result in results:
            parsed = parse_result(parse_xml(result.to_xml()), {query_id: None}, OWN)
            assert parsed is not None
            seen.append(parsed.archive_id)
        n += 1
        query = build_next_page(parse_fin(parse_xml(fin_iq.to_xml())), f"i{n}", f"q{n}", max=5)
    assert seen == archive.ids
    assert n == 5
