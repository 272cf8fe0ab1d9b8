"""XEP-0249: Direct MUC Invitations (`jabber:x:conference`).

A person invites another straight to a room, without the room relaying it
(which XEP-0045's mediated invitations do). The inviter is the message's
sender; nothing in it is vouched for by the room, so the app treats it as
a suggestion from that sender (and may ignore strangers).
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import JidError
from roost.xmpp.events import Record
from roost.xmpp.jid import JID

NS = "jabber:x:conference"


class DirectInvite(Record):
    """`room` (bare JID), with optional `password`, `reason`, and the 1:1
    `thread` it continues (`continue`="true")."""

    __slots__ = ("password", "reason", "room", "thread")

    def __init__(
        self,
        room: JID,
        password: str | None = None,
        reason: str | None = None,
        thread: str | None = None,
    ) -> None:
        self.room = room
        self.password = password
        self.reason = reason
        self.thread = thread


def build_invite(
    to: JID,
    room: JID,
    msg_id: str,
    reason: str | None = None,
    password: str | None = None,
) -> Element:
    message = Element("message", ns.CLIENT, {"to": str(to), "id": msg_id})
    x = message.add("x", NS, {"jid": str(room.bare)})
    if reason:
        x.attrs["reason"] = reason
    if password:
        x.attrs["password"] = password
    return message


def parse_invite(message: Element) -> DirectInvite | None:
    """The direct invitation in `message`, None when there is none or its
    room is not a valid room JID (room@service)."""
    if message.get("type") in ("error", "groupchat"):
        return None
    x = message.find("x", NS)
    if x is None:
        return None
    try:
        room = JID.parse(x.get("jid") or "")
    except JidError:
        return None
    if room.local is None:
        return None
    thread = x.get("thread") if x.get("continue") in ("true", "1") else None
    return DirectInvite(
        room.bare, x.get("password") or None, x.get("reason") or None, thread or None
    )
