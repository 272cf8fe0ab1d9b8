"""XEP-0410 self-ping: what each answer says about being in the room."""

from __future__ import annotations

import pytest
from roost.xmpp.xeps import xep_0410
from roost.xmpp.xmlparse import parse_xml


def answer(condition: str | None) -> str:
    if condition is None:
        return '<iq xmlns="jabber:client" type="result"/>'
    return (
        '<iq xmlns="jabber:client" type="error"><error type="cancel" by="room@muc.example.org">'
        f'<{condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>'
        '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">why</text></error></iq>'
    )


@pytest.mark.parametrize(
    ("condition", "state"),
    [
        (None, "joined"),
        ("service-unavailable", "joined"),  # joined; the pinged client lacks XEP-0199
        ("feature-not-implemented", "joined"),
        ("not-acceptable", "not-joined"),
        ("not-allowed", "not-joined"),  # what some services send instead (§3)
        ("bad-request", "not-joined"),
        ("item-not-found", "unknown"),  # a nick change in flight
        ("remote-server-not-found", "unknown"),  # our server can't reach the room
        ("remote-server-timeout", "unknown"),
        ("internal-server-error", "unknown"),
    ],
)
def test_interpret(condition: str | None, state: str) -> None:
    assert xep_0410.interpret(parse_xml(answer(condition))) == state


def test_odd_answers_are_unknown() -> None:
    assert xep_0410.interpret(parse_xml('<iq xmlns="jabber:client" type="error"/>')) == "unknown"
    assert xep_0410.interpret(parse_xml('<iq xmlns="jabber:client" type="get"/>')) == "unknown"
    assert xep_0410.build_ping().to_xml() == '<ping xmlns="urn:xmpp:ping"/>'
