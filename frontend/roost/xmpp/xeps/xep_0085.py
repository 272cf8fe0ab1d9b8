"""XEP-0085: Chat State Notifications (`http://jabber.org/protocol/chatstates`).

At most one state per message. A standalone notification is a message with
a state and no body; never send one in reply to an error or to someone who
didn't send us states first (XEP-0085 §5.1, the client's job).
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.jid import JID

NS = "http://jabber.org/protocol/chatstates"
STATES = ("active", "composing", "paused", "inactive", "gone")


def build_chat_state(state: str) -> Element:
    """`<composing/>` etc., to add to a message."""
    if state not in STATES:
        raise ValueError("chat state must be one of " + ", ".join(STATES))
    return Element(state, NS)


def build_chat_state_message(
    to: JID | str, state: str, id: str | None = None, message_type: str = "chat"
) -> Element:
    """A standalone notification (no body)."""
    message = Element("message", ns.CLIENT, {"to": str(to), "type": message_type})
    if id is not None:
        message.attrs["id"] = id
    message.append(build_chat_state(state))
    return message


def parse_chat_state(message: Element) -> str | None:
    """The state in `message`; None when there is none, several (not allowed,
    so none is believed), or the message is an error."""
    if message.get("type") == "error":
        return None
    states = [c.name for c in message.children if c.ns == NS and c.name in STATES]
    return states[0] if len(states) == 1 else None
