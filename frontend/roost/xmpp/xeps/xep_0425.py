"""XEP-0425: Message Moderation, versions 0.2 and 0.3.

A room moderator asks the room to retract someone's message (named by
the room's stanza-id); the room tells every occupant with a groupchat
message from its own bare JID, and its archive keeps a tombstone in place
of the message.

Two wire versions are in use. 0.2 (`urn:xmpp:message-moderate:0`, what
Prosody 0.12's mod_muc_moderation speaks; it advertises only that):
the request and announcement wrap `<moderate/>` / `<moderated/>` in a
XEP-0422 `<apply-to/>`. 0.3 (`urn:xmpp:message-moderate:1`, with XEP-0424
retract:1): `<moderate id/>` in the request, the announcement a
`<retract id/>` holding `<moderated/>`. Send the version the room
advertises; both announcements are understood.

SECURITY: only the room itself can moderate (§Business Rules). An
announcement is believed only from the bare JID of a room we are in (the
client checks); an occupant sending one is ignored.
"""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.events import Record

NS = "urn:xmpp:message-moderate:0"  # 0.2
NS_1 = "urn:xmpp:message-moderate:1"  # 0.3
FASTEN = "urn:xmpp:fasten:0"
RETRACT = "urn:xmpp:message-retract:0"
RETRACT_1 = "urn:xmpp:message-retract:1"


class Moderation(Record):
    """The room says the message with stanza-id `archive_id` was moderated
    by `moderator` (the `by` JID text, often room/nick; None when absent)
    for `reason`; `retracted`: its content is gone (all Roost asks for);
    `occupant_id`: the moderator's XEP-0421 id when given."""

    __slots__ = ("archive_id", "moderator", "occupant_id", "reason", "retracted")

    def __init__(
        self,
        archive_id: str,
        moderator: str | None,
        reason: str | None = None,
        retracted: bool = True,
        occupant_id: str | None = None,
    ) -> None:
        self.archive_id = archive_id
        self.moderator = moderator
        self.reason = reason
        self.retracted = retracted
        self.occupant_id = occupant_id


def build_request(archive_id: str, reason: str | None = None, version: int = 0) -> Element:
    """The iq payload asking the room to retract the message `archive_id`
    (the room's stanza-id for it); `version` 0 (XEP 0.2) or 1 (XEP 0.3)."""
    if not archive_id:
        raise ValueError("moderation needs the room's stanza-id of the message")
    if version == 0:
        apply_to = Element("apply-to", FASTEN, {"id": archive_id})
        moderate = apply_to.add("moderate", NS)
        moderate.add("retract", RETRACT)
        if reason:
            moderate.add("reason", text=reason)
        return apply_to
    if version != 1:
        raise ValueError("version must be 0 or 1")
    moderate = Element("moderate", NS_1, {"id": archive_id})
    moderate.add("retract", RETRACT_1)
    if reason:
        moderate.add("reason", text=reason)
    return moderate


def _occupant_id(element: Element) -> str | None:
    child = element.find("occupant-id", "urn:xmpp:occupant-id:0")
    return None if child is None else child.get("id") or None


def parse_announcement(message: Element) -> Moderation | None:
    """The moderation a room announces in `message`, or None.

    Only the structure is read here: the caller checks the sender.
    """
    apply_to = message.find("apply-to", FASTEN)
    if apply_to is not None:
        moderated = apply_to.find("moderated", NS)
        archive_id = apply_to.get("id")
        if moderated is None or not archive_id:
            return None
        # Prosody puts <reason/> inside <moderated/>; accept it beside too.
        reason = moderated.find_text("reason", NS) or apply_to.find_text("reason", FASTEN)
        return Moderation(
            archive_id,
            moderated.get("by") or None,
            reason or None,
            moderated.find("retract", RETRACT) is not None,
            _occupant_id(moderated),
        )
    retract = message.find("retract", RETRACT_1)
    if retract is not None:
        moderated = retract.find("moderated", NS_1)
        archive_id = retract.get("id")
        if moderated is None or not archive_id:
            return None
        reason = retract.find_text("reason", RETRACT_1) or moderated.find_text("reason", NS_1)
        return Moderation(
            archive_id, moderated.get("by") or None, reason or None, True, _occupant_id(moderated)
        )
    return None


def parse_tombstone(message: Element, archive_id: str) -> Moderation | None:
    """A moderated message's tombstone in the room archive (the archived
    message itself, result id `archive_id`), or None when it isn't one."""
    moderated = message.find("moderated", NS)
    if moderated is not None and moderated.find("retracted", RETRACT) is not None:
        return Moderation(
            archive_id,
            moderated.get("by") or None,
            moderated.find_text("reason", NS) or None,
            True,
            _occupant_id(moderated),
        )
    retracted = message.find("retracted", RETRACT_1)
    moderated = None if retracted is None else retracted.find("moderated", NS_1)
    if retracted is not None and moderated is not None:
        reason = retracted.find_text("reason", RETRACT_1) or moderated.find_text("reason", NS_1)
        return Moderation(
            archive_id, moderated.get("by") or None, reason or None, True, _occupant_id(moderated)
        )
    return None
