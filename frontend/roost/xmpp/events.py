"""What `XmppClient.receive()` reports, and the records those events carry.

Plain classes with `__slots__` (no dataclasses: Brython import cost). `Record`
gives them value equality and a readable repr, which transcript tests rely on.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roost.xmpp.errors import StanzaError, XmppError
    from roost.xmpp.jid import JID


class Record:
    """Value equality and repr over `__slots__`.

    `needs_confirm` (a class attribute, not a field): true for events whose
    content the app stores. With `XmppClient(..., ack_after_confirm=True)` the
    stanza behind such an event is acknowledged to the server (XEP-0198) only
    after `XmppClient.confirm_handled()`.
    """

    __slots__: tuple[str, ...] = ()
    needs_confirm = False

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


# -- records ----------------------------------------------------------------


class RosterItem(Record):
    """One roster entry (RFC 6121 §2.1.2). `subscription` is none/to/from/both/remove."""

    __slots__ = ("ask", "groups", "jid", "name", "subscription")

    def __init__(
        self,
        jid: JID,
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


class ChatMessage(Record):
    """A received chat/normal message with a body.

    `stamp` is seconds since the epoch from a XEP-0203 `<delay/>`, or None when
    the message was not delayed (the receiver's clock applies). `archive_id`:
    the XEP-0359 stanza-id our own account's archive gave it (only when set
    `by` our own bare JID: trusted), or the XEP-0313 result id of an archived
    message; None otherwise. Deduplicate on it first.

    `origin_id`: the sender's XEP-0359 `<origin-id/>` (only as good as the
    sender: dedup it scoped to the sender's bare JID). `replaces`: the id
    of the message this one corrects (XEP-0308 `<replace id/>`: the
    original's id, also when correcting a correction). Not checked here:
    apply a correction only when it comes from the original's sender
    (`xep_0308.is_valid_correction`; the store does).
    """

    __slots__ = (
        "archive_id", "body", "chat_state", "from_jid", "id", "markable", "origin_id",
        "replaces", "stamp", "thread", "to_jid", "type",
    )

    def __init__(
        self,
        id: str | None,
        from_jid: JID,
        to_jid: JID | None,
        body: str,
        type: str = "normal",
        thread: str | None = None,
        stamp: float | None = None,
        archive_id: str | None = None,
        markable: bool = False,
        chat_state: str | None = None,
        origin_id: str | None = None,
        replaces: str | None = None,
    ) -> None:
        self.id = id
        self.origin_id = origin_id
        self.replaces = replaces
        self.archive_id = archive_id
        self.markable = markable
        self.chat_state = chat_state
        self.from_jid = from_jid
        self.to_jid = to_jid
        self.body = body
        self.type = type
        self.thread = thread
        self.stamp = stamp


# -- events -----------------------------------------------------------------


class NeedSaltedPassword(Record):
    """Compute PBKDF2(hash_name, password_utf8, salt, iterations) and pass it to
    `XmppClient.provide_salted_password()`. `hash_name` is "sha1" or "sha256"."""

    __slots__ = ("hash_name", "iterations", "salt")

    def __init__(self, hash_name: str, salt: bytes, iterations: int) -> None:
        self.hash_name = hash_name
        self.salt = salt
        self.iterations = iterations


class Online(Record):
    """Authenticated and bound as `jid` (a full JID); roster and presence were sent."""

    __slots__ = ("jid",)

    def __init__(self, jid: JID) -> None:
        self.jid = jid


class RosterLoaded(Record):
    """The full roster, answering our roster get."""

    __slots__ = ("items",)

    def __init__(self, items: list[RosterItem]) -> None:
        self.items = items


class RosterChanged(Record):
    """A roster push; `item.subscription == "remove"` for removals."""

    __slots__ = ("item",)

    def __init__(self, item: RosterItem) -> None:
        self.item = item


class PresenceChanged(Record):
    """Presence of one full JID. `show` is None (plain available) or away/chat/dnd/xa."""

    __slots__ = ("available", "jid", "priority", "show", "status")

    def __init__(
        self,
        jid: JID,
        available: bool,
        show: str | None = None,
        status: str | None = None,
        priority: int = 0,
    ) -> None:
        self.jid = jid
        self.available = available
        self.show = show
        self.status = status
        self.priority = priority


class SubscriptionRequest(Record):
    """`jid` (bare) asks to see our presence."""

    __slots__ = ("jid", "status")

    def __init__(self, jid: JID, status: str | None = None) -> None:
        self.jid = jid
        self.status = status


class SubscriptionChanged(Record):
    """`kind` is subscribed, unsubscribe or unsubscribed, from `jid` (bare)."""

    __slots__ = ("jid", "kind")

    def __init__(self, jid: JID, kind: str) -> None:
        self.jid = jid
        self.kind = kind


class ChatReceived(Record):
    """A chat/normal message with a body. Store it, then `confirm_handled()`
    when the client was made with `ack_after_confirm=True`."""

    __slots__ = ("message",)
    needs_confirm = True

    def __init__(self, message: ChatMessage) -> None:
        self.message = message


class ChatSent(Record):
    """A chat/normal message with a body that the user sent from another of
    their clients (a XEP-0280 "sent" carbon): `message.from_jid` is that
    client's full JID (our own account), `message.to_jid` the peer. Stored
    like `ChatReceived`, so it needs confirming the same way."""

    __slots__ = ("message",)
    needs_confirm = True

    def __init__(self, message: ChatMessage) -> None:
        self.message = message


class MessageFailed(Record):
    """A message we sent (by id) bounced with an error."""

    __slots__ = ("error", "id")

    def __init__(self, id: str | None, error: StanzaError) -> None:
        self.id = id
        self.error = error


class Receipt(Record):
    """XEP-0184: `from_jid` received our message `id`. Only for an id we sent
    recently (`MAX_SENT_IDS`) to `from_jid`'s bare JID; anything else is `Dropped`."""

    __slots__ = ("from_jid", "id")

    def __init__(self, from_jid: JID, id: str) -> None:
        self.from_jid = from_jid
        self.id = id


class Marker(Record):
    """XEP-0333: `from_jid` marked our message `id` as `kind` ("received",
    "displayed" or "acknowledged"); checked like `Receipt`."""

    __slots__ = ("from_jid", "id", "kind")

    def __init__(self, from_jid: JID, kind: str, id: str) -> None:
        self.from_jid = from_jid
        self.kind = kind
        self.id = id


class ChatState(Record):
    """XEP-0085: a standalone chat state notification (no body) from `from_jid`:
    `state` is active/composing/paused/inactive/gone. A state inside a message
    with a body is `ChatMessage.chat_state` instead."""

    __slots__ = ("from_jid", "state")

    def __init__(self, from_jid: JID, state: str) -> None:
        self.from_jid = from_jid
        self.state = state


class Dropped(Record):
    """A stanza was refused as forged or malformed; `reason` is for developers."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Closed(Record):
    """The stream is over. `error` is None for an orderly close."""

    __slots__ = ("error",)

    def __init__(self, error: XmppError | None = None) -> None:
        self.error = error


# -- XEP-0313 message archive ---------------------------------------------------


class ArchiveMessage(Record):
    """One message of our own archive, answering `XmppClient.query_archive()`.

    `archive_id`: the archive's id (also `message.archive_id`); `stamp`: when
    the archive got it (epoch seconds, None when it didn't say); `direction`:
    "out" when the archived message is from our own account, else "in".
    """

    __slots__ = ("archive_id", "direction", "message", "query_id", "stamp")

    def __init__(
        self,
        query_id: str,
        archive_id: str,
        stamp: float | None,
        message: ChatMessage,
        direction: str,
    ) -> None:
        self.query_id = query_id
        self.archive_id = archive_id
        self.stamp = stamp
        self.message = message
        self.direction = direction


class ArchiveDone(Record):
    """The page of query `query_id` is complete (its `<fin/>`): `complete`
    (nothing more in the paging direction), `last` / `first` archive ids of
    the page (None when empty), `count` (the total the archive reported, or
    None)."""

    __slots__ = ("complete", "count", "first", "last", "query_id")

    def __init__(
        self,
        query_id: str,
        complete: bool,
        last: str | None = None,
        count: int | None = None,
        first: str | None = None,
    ) -> None:
        self.query_id = query_id
        self.complete = complete
        self.last = last
        self.count = count
        self.first = first


class ArchiveGap(Record):
    """The id query `query_id` paged from is no longer in the archive
    (`item-not-found`): what came between is lost to this client."""

    __slots__ = ("query_id",)

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id


class ArchiveFailed(Record):
    """Query `query_id` failed otherwise (e.g. no archive on this server)."""

    __slots__ = ("error", "query_id")

    def __init__(self, query_id: str, error: XmppError) -> None:
        self.query_id = query_id
        self.error = error


# -- XEP-0198 stream management ------------------------------------------------


class SmEnabled(Record):
    """The server enabled stream management. `id` is the resumption id (None
    when not `resumable`); `max` the server's resumption window in seconds or
    None; `location` where it prefers resumption (rarely usable over WebSocket)."""

    __slots__ = ("id", "location", "max", "resumable")

    def __init__(
        self,
        id: str | None,
        resumable: bool,
        max: int | None = None,
        location: str | None = None,
    ) -> None:
        self.id = id
        self.resumable = resumable
        self.max = max
        self.location = location


class SmFailed(Record):
    """The server refused `<enable/>`; acks and resumption are off for this stream."""

    __slots__ = ("condition",)

    def __init__(self, condition: str) -> None:
        self.condition = condition


class Acked(Record):
    """The server acknowledged these messages (ids as returned by `send_chat`,
    oldest first): they reached the server."""

    __slots__ = ("ids",)

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids


class Resumed(Record):
    """The previous session (from `resume=`) continues as `jid`: no roster or
    presence was sent, nothing was missed; unacknowledged stanzas were re-sent."""

    __slots__ = ("jid",)

    def __init__(self, jid: JID) -> None:
        self.jid = jid


class ResumeFailed(Record):
    """Resumption was refused (`condition`); a fresh session is being bound
    (`Online` follows). `ids`: messages of the old session the server may not
    have received, oldest first; re-send them with the same ids if wanted."""

    __slots__ = ("condition", "ids")

    def __init__(self, ids: list[str], condition: str = "item-not-found") -> None:
        self.ids = ids
        self.condition = condition
