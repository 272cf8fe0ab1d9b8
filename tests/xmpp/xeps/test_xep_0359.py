"""XEP-0359 stanza ids: trust only a trusted `by`; deduplication keys."""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.jid import JID
from roost.xmpp.xeps import xep_0359
from roost.xmpp.xeps.xep_0359 import (
    StanzaId,
    dedup_keys,
    is_duplicate,
    parse_origin_id,
    parse_stanza_ids,
    trusted_stanza_id,
)
from roost.xmpp.xmlparse import parse_xml

OWN = "alice@example.org"
ROOM = "lounge@rooms.example.org"
# A 1:1 message as Prosody 0.12 delivers it with mod_mam: the server adds
# its stanza-id (by our bare JID) after the sender's origin-id.
PROSODY_LIVE = (
    '<message xmlns="jabber:client" from="bob@example.org/phone" to="alice@example.org"'
    ' type="chat" id="b-17"><body>hi</body>'
    '<origin-id xmlns="urn:xmpp:sid:0" id="b-17"/>'
    '<stanza-id xmlns="urn:xmpp:sid:0" id="5DcoXyRUjB1mQ_Ex" by="alice@example.org"/>'
    "</message>"
)


def test_round_trip() -> None:
    message = Element("message", "jabber:client", {"id": "m1"})
    message.append(xep_0359.build_origin_id("o-1"))
    message.append(xep_0359.build_stanza_id("s-1", JID.parse("Alice@Example.org")))
    parsed = parse_xml(message.to_xml())
    assert parse_origin_id(parsed) == "o-1"
    assert parse_stanza_ids(parsed) == [StanzaId("s-1", OWN)]
    assert trusted_stanza_id(parsed, {OWN}) == "s-1"


def test_prosody_live_message() -> None:
    message = parse_xml(PROSODY_LIVE)
    assert trusted_stanza_id(message, {OWN}) == "5DcoXyRUjB1mQ_Ex"
    assert trusted_stanza_id(message, {JID.parse(OWN)}) == "5DcoXyRUjB1mQ_Ex"
    assert parse_origin_id(message) == "b-17"


def test_foreign_by_is_never_trusted() -> None:
    # The sender adds a stanza-id "by" itself, its server or another account.
    for by in ("bob@example.org", "example.org", "alice@example.org/phone", "not a jid@"):
        message = parse_xml(
            f'<message xmlns="jabber:client" from="bob@example.org/phone">'
            f'<stanza-id xmlns="urn:xmpp:sid:0" id="forged" by="{by}"/></message>'
        )
        assert trusted_stanza_id(message, {OWN}) is None
    # Trusting the room doesn't make our own account's id trusted, nor the reverse.
    live = parse_xml(PROSODY_LIVE)
    assert trusted_stanza_id(live, {ROOM}) is None
    assert trusted_stanza_id(live, set()) is None


def test_case_of_by_is_normalised() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client">'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="x" by="ALICE@Example.ORG"/></message>'
    )
    assert trusted_stanza_id(message, {OWN}) == "x"


def test_two_ids_claiming_the_trusted_by_are_ambiguous() -> None:
    # A server that failed to strip the sender's copy: neither can be believed.
    message = parse_xml(
        '<message xmlns="jabber:client" from="eve@evil.example/x">'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="planted" by="alice@example.org"/>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="real" by="alice@example.org"/></message>'
    )
    assert trusted_stanza_id(message, {OWN}) is None
    assert dedup_keys(message, {OWN}) == []


def test_missing_or_empty_parts_are_skipped() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client">'
        '<stanza-id xmlns="urn:xmpp:sid:0" by="alice@example.org"/>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="" by="alice@example.org"/>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="n"/>'
        '<origin-id xmlns="urn:xmpp:sid:0"/></message>'
    )
    assert parse_stanza_ids(message) == []
    assert parse_origin_id(message) is None
    assert dedup_keys(message, {OWN}) == []


def test_groupchat_trusts_the_room() -> None:
    message = parse_xml(
        '<message xmlns="jabber:client" from="lounge@rooms.example.org/bob" type="groupchat"'
        ' id="g1"><body>hey</body>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="r-9" by="lounge@rooms.example.org"/>'
        '<stanza-id xmlns="urn:xmpp:sid:0" id="forged" by="alice@example.org"/></message>'
    )
    assert trusted_stanza_id(message, {ROOM}) == "r-9"
    assert dedup_keys(message, {ROOM}) == [
        "stanza-id\nlounge@rooms.example.org\nr-9",
        # Scoped to the occupant, not the room: one occupant can't shadow another.
        "id\nlounge@rooms.example.org/bob\ng1",
    ]


def test_dedup_keys_order_and_scope() -> None:
    keys = dedup_keys(parse_xml(PROSODY_LIVE), {OWN})
    assert keys == [
        "stanza-id\nalice@example.org\n5DcoXyRUjB1mQ_Ex",
        "origin-id\nbob@example.org\nb-17",
        "id\nbob@example.org\nb-17",
    ]
    # No `from`: our own account, when the caller says so.
    sent = parse_xml('<message xmlns="jabber:client" to="bob@example.org" id="a1"/>')
    assert dedup_keys(sent, {OWN}) == ["id\n\na1"]
    assert dedup_keys(sent, {OWN}, default_from=OWN) == ["id\nalice@example.org\na1"]
    # An archive result's id is that archive's stanza-id (listed once).
    archived = dedup_keys(parse_xml(PROSODY_LIVE), {OWN}, archive=(OWN, "5DcoXyRUjB1mQ_Ex"))
    assert archived == keys


def test_is_duplicate_uses_the_strongest_shared_key() -> None:
    live = dedup_keys(parse_xml(PROSODY_LIVE), {OWN})
    # The same message from the archive (Prosody stores it without stanza-id).
    archived_message = parse_xml(PROSODY_LIVE)
    archived_message.children = [c for c in archived_message.children if c.name != "stanza-id"]
    archived = dedup_keys(archived_message, {OWN}, archive=(OWN, "5DcoXyRUjB1mQ_Ex"))
    assert is_duplicate(live, archived)
    assert is_duplicate(archived, live)
    # A client that reuses ids: same (from, id), different archive ids -> two messages.
    other = dedup_keys(parse_xml(PROSODY_LIVE), {OWN}, archive=(OWN, "another"))
    other_message = parse_xml(PROSODY_LIVE.replace("5DcoXyRUjB1mQ_Ex", "another"))
    assert not is_duplicate(live, dedup_keys(other_message, {OWN}))
    assert not is_duplicate(live, other)
    # Nothing in common: different messages.
    assert not is_duplicate(live, ["id\ncarol@example.org\nb-17"])
    assert not is_duplicate([], live)


def test_own_sent_message_matches_its_carbon_and_archive_copy() -> None:
    sent = Element("message", "jabber:client", {"to": "bob@example.org", "id": "a1"})
    sent.append(xep_0359.build_origin_id("a1"))
    stored = dedup_keys(sent, {OWN}, default_from=OWN)
    echo = parse_xml(
        '<message xmlns="jabber:client" from="alice@example.org/roost-1" to="bob@example.org"'
        ' id="a1"><origin-id xmlns="urn:xmpp:sid:0" id="a1"/></message>'
    )
    assert is_duplicate(stored, dedup_keys(echo, {OWN}, archive=(OWN, "s-5")))


def test_forged_origin_id_from_someone_else_is_not_a_duplicate() -> None:
    ours = dedup_keys(parse_xml(PROSODY_LIVE), set())
    eve = parse_xml(PROSODY_LIVE.replace("bob@example.org/phone", "eve@evil.example/x"))
    assert not is_duplicate(ours, dedup_keys(eve, set()))


def test_ids_with_newlines_stay_whole() -> None:
    message = Element("message", "jabber:client", {"from": "bob@example.org/a", "id": "x\ny"})
    keys = dedup_keys(parse_xml(message.to_xml()), set())
    assert keys == ["id\nbob@example.org\nx\ny"]
    assert is_duplicate(keys, keys)
    assert not is_duplicate(keys, ["id\nbob@example.org\nx"])
