"""XEP-0359: Unique and Stable Stanza IDs (`urn:xmpp:sid:0`).

`<stanza-id id by/>` is added by the entity named in `by` (our server for
1:1, the room for MUC). Anyone can put one in a message they send, so a
stanza-id is trusted only when `by` is an entity we trust to have set it
(SECURITY.md: own bare JID, or the room, after disco shows it supports
`urn:xmpp:sid:0`). `<origin-id id/>` is set by the sending client and is
only as good as the sender.

Deduplication keys are strings `kind "\\n" scope "\\n" value` (JIDs can't
contain a newline, the value is last): storable as JSON, hashable. Compare
two messages with `is_duplicate`, which looks only at the strongest kind of
key both have: (from, id) pairs are reused by some clients, so they must
not veto a match on a stanza-id.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.events import Record
from roost.xmpp.jid import JID, normalised

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

NS = ns.SID
STANZA_ID = "stanza-id"
ORIGIN_ID = "origin-id"
MESSAGE_ID = "id"


class StanzaId(Record):
    """One `<stanza-id/>`: `id` as assigned by `by` (a normalised JID)."""

    __slots__ = ("by", "id")

    def __init__(self, id: str, by: str) -> None:
        self.id = id
        self.by = by


def build_origin_id(origin_id: str) -> Element:
    return Element(ORIGIN_ID, NS, {"id": origin_id})


def build_stanza_id(stanza_id: str, by: JID | str) -> Element:
    return Element(STANZA_ID, NS, {"id": stanza_id, "by": str(by)})


def parse_stanza_ids(message: Element) -> list[StanzaId]:
    """Every well-formed `<stanza-id/>` (non-empty id, valid `by`), trusted or not."""
    found: list[StanzaId] = []
    for child in message.find_all(STANZA_ID, NS):
        stanza_id = child.get("id")
        by = normalised(child.get("by"))
        if stanza_id and by is not None:
            found.append(StanzaId(stanza_id, by))
    return found


def parse_origin_id(message: Element) -> str | None:
    child = message.find(ORIGIN_ID, NS)
    return (child.get("id") or None) if child is not None else None


def _trusted(trusted_by: Iterable[JID | str]) -> set[str]:
    found = set()
    for j in trusted_by:  # a loop: nested generators cost a raise each under Brython
        text = normalised(j)
        if text is not None:
            found.add(text)
    return found


def trusted_stanza_id(message: Element, trusted_by: Iterable[JID | str]) -> str | None:
    """The stanza-id set by one of `trusted_by`, or None.

    `trusted_by`: our own bare JID for 1:1 messages, the room's JID for a
    groupchat one; never the sender. Two different ids claiming the same
    trusted `by` (the server should have stripped the sender's) mean neither
    can be told genuine: None.
    """
    trusted = _trusted(trusted_by)
    chosen: StanzaId | None = None
    for stanza_id in parse_stanza_ids(message):
        if stanza_id.by not in trusted:
            continue
        if chosen is not None and chosen.id != stanza_id.id:
            return None
        chosen = stanza_id
    return None if chosen is None else chosen.id


def _key(kind: str, scope: str, value: str) -> str:
    return kind + "\n" + scope + "\n" + value


def _sender_scope(message: Element, default_from: JID | str | None) -> str:
    # A groupchat sender is the occupant (room/nick); a 1:1 sender is the account.
    sender = message.get("from")
    text = normalised(default_from if sender is None else sender)
    if text is None:
        return ""
    if message.get("type") == "groupchat":
        return text
    return text.partition("/")[0]


def dedup_keys(
    message: Element,
    trusted_by: Iterable[JID | str],
    default_from: JID | str | None = None,
    archive: tuple[JID | str, str] | None = None,
) -> list[str]:
    """The keys to deduplicate `message` on, strongest first.

    1. the stanza-id set by a trusted entity (`trusted_stanza_id`), keyed by
       that entity; `archive=(archive_jid, archive_id)` adds the XEP-0313
       result id, which is the archive's stanza-id;
    2. the origin-id, scoped to the sender (a sender can only collide with
       itself): the bare JID, or the occupant JID for groupchat;
    3. the message `id`, scoped the same way.

    `default_from` stands for a missing `from` (our own bare JID for a
    received stanza; for a message we sent, our bare JID or room/nick, so
    its echo from a carbon, the archive or the room gets the same keys).
    """
    keys: list[str] = []
    trusted = _trusted(trusted_by)
    if archive is not None:
        archive_jid = normalised(archive[0])
        if archive_jid is not None and archive[1]:
            keys.append(_key(STANZA_ID, archive_jid, archive[1]))
            trusted.discard(archive_jid)  # the result id is that archive's stanza-id
    for by in sorted(trusted):
        stanza_id = trusted_stanza_id(message, (by,))
        if stanza_id is not None:
            keys.append(_key(STANZA_ID, by, stanza_id))
    scope = _sender_scope(message, default_from)
    origin_id = parse_origin_id(message)
    if origin_id is not None:
        keys.append(_key(ORIGIN_ID, scope, origin_id))
    msg_id = message.get("id")
    if msg_id:
        keys.append(_key(MESSAGE_ID, scope, msg_id))
    return keys


def is_duplicate(keys: Iterable[str], other_keys: Iterable[str]) -> bool:
    """True when two key lists (from `dedup_keys`) name the same message.

    The first kind-and-scope both lists have decides; weaker keys are not
    consulted then. With nothing in common, they are different messages.
    """
    other: dict[str, set[str]] = {}
    for key in other_keys:
        slot, value = _split_key(key)
        other.setdefault(slot, set()).add(value)
    for key in keys:
        slot, value = _split_key(key)
        if slot in other:
            return value in other[slot]
    return False


def _split_key(key: str) -> tuple[str, str]:
    # Kind and scope hold no newline; the value (an attribute) may.
    kind, _, rest = key.partition("\n")
    scope, _, value = rest.partition("\n")
    return kind + "\n" + scope, value
