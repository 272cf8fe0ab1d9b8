"""XEP-0421: Anonymous unique occupant identifiers for MUCs (`urn:xmpp:occupant-id:0`).

A room that supports it stamps every occupant presence and groupchat
message with `<occupant-id id/>`: the same id for the same participant
across nick changes and sessions, so corrections, moderation and
"who said this" can follow a person rather than a nick.

SECURITY: the room replaces any occupant-id a sender puts in, but only if
it supports this XEP. In a room that doesn't advertise the feature on its
disco#info, an occupant-id is whatever the sender wrote: not to be trusted.
`parse_occupant_id(..., trusted=False)` returns None for that reason.
"""

from __future__ import annotations

from roost.xmpp.element import Element

NS = "urn:xmpp:occupant-id:0"


def build_occupant_id(occupant_id: str) -> Element:
    return Element("occupant-id", NS, {"id": occupant_id})


def parse_occupant_id(stanza: Element, trusted: bool = True) -> str | None:
    """The occupant id in `stanza` (a room presence or groupchat message).

    `trusted`: the room advertised `NS` (see the module docstring); when
    False the answer is always None. Several different ids (the room
    should have removed all but its own) can't be told apart: None.
    """
    if not trusted:
        return None
    found: str | None = None
    for child in stanza.find_all("occupant-id", NS):
        value = child.get("id")
        if not value:
            continue
        if found is not None and found != value:
            return None
        found = value
    return found
