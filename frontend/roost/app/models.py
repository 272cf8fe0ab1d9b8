"""App state records: contacts, conversations, messages (plain `__slots__` classes).

They convert to and from plain dicts/lists for `Storage` (structured clone in
IndexedDB, copies in memory).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.events import RosterItem

OFFLINE = "offline"
ONLINE = "online"
# Which resource represents a contact when priorities tie: the most reachable.
_SHOW_RANK = {"chat": 5, ONLINE: 4, "dnd": 3, "away": 2, "xa": 1}


class Presence:
    """One resource's presence. `show` is online/chat/away/dnd/xa."""

    __slots__ = ("priority", "show", "status")

    def __init__(self, show: str = ONLINE, status: str | None = None, priority: int = 0) -> None:
        self.show = show
        self.status = status
        self.priority = priority


class Contact:
    """A roster entry plus the presence of each of its online resources."""

    __slots__ = ("ask", "groups", "jid", "name", "resources", "subscription")

    def __init__(
        self,
        jid: str,
        name: str | None = None,
        subscription: str = "none",
        ask: str | None = None,
        groups: list[str] | None = None,
    ) -> None:
        self.jid = jid
        self.name = name
        self.subscription = subscription
        self.ask = ask
        self.groups: list[str] = list(groups) if groups else []
        self.resources: dict[str, Presence] = {}

    @classmethod
    def from_item(cls, item: RosterItem) -> Contact:
        return cls(str(item.jid), item.name, item.subscription, item.ask, item.groups)

    def update(self, item: RosterItem) -> None:
        """Take the roster fields of `item`; presence is kept."""
        self.name = item.name
        self.subscription = item.subscription
        self.ask = item.ask
        self.groups = list(item.groups)

    @property
    def display_name(self) -> str:
        return self.name or self.jid

    def _best(self) -> Presence | None:
        best = None
        for presence in self.resources.values():
            if best is None or (presence.priority, _SHOW_RANK.get(presence.show, 0)) > (
                best.priority,
                _SHOW_RANK.get(best.show, 0),
            ):
                best = presence
        return best

    @property
    def show(self) -> str:
        """offline, or the show of the highest-priority resource (online/chat/away/dnd/xa)."""
        best = self._best()
        return OFFLINE if best is None else best.show

    @property
    def status(self) -> str | None:
        best = self._best()
        return None if best is None else best.status

    def to_store(self) -> dict[str, object]:
        return {
            "jid": self.jid,
            "name": self.name,
            "subscription": self.subscription,
            "ask": self.ask,
            "groups": list(self.groups),
        }

    @classmethod
    def from_store(cls, value: dict[str, object]) -> Contact:
        groups = value.get("groups")
        return cls(
            str(value["jid"]),
            _opt_str(value.get("name")),
            str(value.get("subscription") or "none"),
            _opt_str(value.get("ask")),
            [str(g) for g in groups] if isinstance(groups, list) else None,
        )


class Message:
    """One message of a conversation. `state`: queued/sent/server/delivered/
    read/failed (outgoing; "server": the server acknowledged it, XEP-0198;
    "delivered": a XEP-0184 receipt; "read": a XEP-0333 displayed marker) or
    received. `archive_id`:
    its id in our own archive (XEP-0313/0359, trusted), when known."""

    __slots__ = (
        "archive_id", "body", "conversation", "id", "markable", "outgoing", "sender", "stamp",
        "state",
    )

    def __init__(
        self,
        id: str | None,
        conversation: str,
        sender: str,
        body: str,
        outgoing: bool,
        stamp: float,
        state: str,
        archive_id: str | None = None,
    ) -> None:
        self.id = id
        self.archive_id = archive_id
        self.conversation = conversation
        self.sender = sender
        self.body = body
        self.outgoing = outgoing
        self.stamp = stamp
        self.state = state
        # Incoming, with a XEP-0333 <markable/>: a "displayed" marker may be
        # sent for it. In memory only (not stored: old history isn't re-marked).
        self.markable = False

    def __repr__(self) -> str:
        return f"Message({self.sender!r}, {self.body!r}, {self.state!r})"

    def to_store(self) -> dict[str, object]:
        value: dict[str, object] = {
            "id": self.id,
            "sender": self.sender,
            "body": self.body,
            "outgoing": self.outgoing,
            "stamp": self.stamp,
            "state": self.state,
        }
        if self.archive_id is not None:
            value["archive_id"] = self.archive_id
        return value

    @classmethod
    def from_store(cls, conversation: str, value: dict[str, object]) -> Message:
        stamp = value.get("stamp")
        return cls(
            _opt_str(value.get("id")),
            conversation,
            str(value.get("sender") or ""),
            str(value.get("body") or ""),
            bool(value.get("outgoing")),
            float(stamp) if isinstance(stamp, (int, float)) else 0.0,
            str(value.get("state") or "received"),
            _opt_str(value.get("archive_id")),
        )


class Conversation:
    """The messages exchanged with one bare JID, oldest first."""

    __slots__ = ("jid", "messages", "unread")

    def __init__(self, jid: str) -> None:
        self.jid = jid
        self.messages: list[Message] = []
        self.unread = 0

    def find(self, message_id: str) -> Message | None:
        for message in reversed(self.messages):
            if message.id == message_id:
                return message
        return None

    def find_same(
        self, archive_id: str | None, sender: str, message_id: str | None
    ) -> Message | None:
        """The message already here that is this one, or None (XEP-0359 order:
        the archive id decides when both have one; else the same sender's id)."""
        for message in reversed(self.messages):
            if archive_id is not None and message.archive_id is not None:
                if message.archive_id == archive_id:
                    return message
                continue  # two archive ids: two messages
            if message_id is not None and message.id == message_id and message.sender == sender:
                return message
        return None

    def insert(self, message: Message) -> bool:
        """Insert in stamp order (after equal stamps); True when it went last."""
        messages = self.messages
        i = len(messages)
        while i and messages[i - 1].stamp > message.stamp:
            i -= 1
        messages.insert(i, message)
        return i == len(messages) - 1

    def to_store(self) -> dict[str, object]:
        return {"jid": self.jid, "messages": [m.to_store() for m in self.messages]}


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
