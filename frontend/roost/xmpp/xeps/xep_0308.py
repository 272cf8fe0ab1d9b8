"""XEP-0308: Last Message Correction (`urn:xmpp:message-correct:0`).

`<replace id/>` names the *original* message's id (also when correcting a
correction). SECURITY: a correction is applied only when it comes from the
sender of the original (`is_valid_correction`), else anyone who saw an id
could rewrite someone else's words.
"""

from __future__ import annotations

from roost.xmpp.element import Element
from roost.xmpp.jid import normalised

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.jid import JID

NS = "urn:xmpp:message-correct:0"


def build_replace(original_id: str) -> Element:
    return Element("replace", NS, {"id": original_id})


def parse_replace(message: Element) -> str | None:
    """The id of the message `message` corrects, or None (no correction, no id,
    or an error message)."""
    if message.get("type") == "error":
        return None
    replace = message.find("replace", NS)
    return (replace.get("id") or None) if replace is not None else None


def is_valid_correction(
    original_sender: JID | str | None, correction_sender: JID | str | None
) -> bool:
    """True when both name the same sender, compared as given (normalised).

    1:1: pass bare JIDs (any of the contact's clients may correct). Groupchat:
    pass occupant JIDs (room/nick), or better the occupant ids. An invalid or
    missing address never matches.
    """
    original = normalised(original_sender)
    return original is not None and original == normalised(correction_sender)
