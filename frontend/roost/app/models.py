"""App state records: contacts and their presence (plain `__slots__` classes).

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


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
