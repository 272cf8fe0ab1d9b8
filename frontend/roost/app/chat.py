"""`ChatApp`: the headless application the UI drives (docs/architecture.md).

It owns the session state (contacts, conversations, subscription requests),
drives one `XmppClient` over a platform `Connection`, and tells the UI what
changed through named events. No browser, no I/O of its own: everything
outside goes through the injected platform.

Secrets: the password lives only in memory (for `retry()`), is never
stored, and is dropped on `logout()`.
"""

from __future__ import annotations

from roost.app.events import Emitter
from roost.app.models import Contact, Conversation, Message, Presence
from roost.xmpp.client import XmppClient
from roost.xmpp.element import clean_text
from roost.xmpp.errors import (
    AuthError,
    JidError,
    LoginTimeout,
    NetworkError,
    RoostError,
    StreamError,
    XmlError,
)
from roost.xmpp.events import (
    Acked,
    ArchiveDone,
    ArchiveFailed,
    ArchiveGap,
    ArchiveMessage,
    ChatReceived,
    ChatSent,
    ChatState,
    Closed,
    Marker,
    MessageFailed,
    NeedSaltedPassword,
    Online,
    PresenceChanged,
    Receipt,
    RosterChanged,
    RosterLoaded,
    SubscriptionChanged,
    SubscriptionRequest,
)
from roost.xmpp.jid import JID

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.app.ports import Connection, Platform, Storage
    from roost.xmpp.events import Record

OFFLINE = "offline"
CONNECTING = "connecting"
ONLINE = "online"
ERROR = "error"
# A session that was online lost its connection and is being re-established
# on its own (backoff below); contacts, conversations and the outbox stay.
RECONNECTING = "reconnecting"
RECONNECTING_MESSAGE = "Reconnecting…"
# Automatic reconnect: RECONNECT_FIRST · 2^n seconds, at most RECONNECT_MAX,
# each delay spread by ±RECONNECT_JITTER (so many clients don't return at once;
# the result is still capped at RECONNECT_MAX).
RECONNECT_FIRST = 1.0
RECONNECT_MAX = 60.0
RECONNECT_JITTER = 0.3
# An outgoing message written while not connected: sent, in order and under
# its id, once the connection is back (Message.state).
QUEUED = "queued"

ROSTER_STORE = "roster"
MESSAGES_STORE = "messages"
# A conversation is written back as a whole (one record per conversation), so
# writes are batched: at most one per conversation per STORE_DELAY seconds.
# A burst of n messages would otherwise rewrite the list n times (O(n²)).
STORE_DELAY = 0.25
# A login that hasn't reached Online by then is given up (LoginTimeout, which
# offers Retry): a server that accepts the socket and then says nothing would
# otherwise leave "Connecting…" on screen for good.
LOGIN_TIMEOUT = 30.0

# Archive catch-up (XEP-0313) after login: pages of ARCHIVE_PAGE; with no
# cursor (nothing seen on this device yet) the last ARCHIVE_HISTORY messages.
ARCHIVE_PAGE = 100
ARCHIVE_HISTORY = 200
META_STORE = "meta"
CURSOR_KEY = "archive_cursor"  # meta: the newest archive id seen (trusted storage)

# Sent message ids remembered until the server acknowledges them (XEP-0198).
MAX_AWAITING_ACK = 5000

# Outgoing message states in order (Message.state); a state never goes back.
# "delivered": a XEP-0184 receipt (or XEP-0333 received marker); "read": a
# XEP-0333 displayed marker for it or a later message. "failed" is apart.
STATE_RANK = {QUEUED: 0, "sent": 1, "server": 2, "delivered": 3, "read": 4}
# Typing (XEP-0085): "composing" at most once per COMPOSING_EVERY seconds of
# continued typing, "paused" after PAUSED_AFTER seconds without a keystroke;
# a contact's "composing" is shown for at most TYPING_TIMEOUT seconds.
COMPOSING_EVERY = 10.0
PAUSED_AFTER = 5.0
TYPING_TIMEOUT = 30.0

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def is_secure_url(url: str) -> bool:
    """True for wss:, or ws: to a loopback host (no network to eavesdrop on).

    A relative URL counts as insecure: the page's scheme isn't known here, and
    the only thing lost is PLAIN (SCRAM never needs a secure transport).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return False
    if scheme.lower() == "wss":
        return True
    if scheme.lower() != "ws":
        return False
    authority = rest
    for stop in "/?#":
        authority = authority.partition(stop)[0]
    host = authority.rpartition("@")[2]
    host = host.partition("]")[0] + "]" if host.startswith("[") else host.partition(":")[0]
    return host.lower() in _LOOPBACK_HOSTS


class _Sync:
    """One archive catch-up: the query waiting for its fin, the page being
    received, how many came, the total the archive reported, and the newest
    archive id (the cursor to keep). `missed`: there was a cursor, so what
    arrives was missed since the last visit (unread); without one it is old
    history filled in on a new device, which nobody expects to read as new."""

    __slots__ = ("done", "finished", "forward", "missed", "newest", "page", "query_id", "total")

    def __init__(self) -> None:
        self.query_id: str | None = None
        self.forward = True
        self.page: list[ArchiveMessage] = []
        self.done = 0
        self.total: int | None = None
        self.newest: str | None = None
        self.finished = False
        self.missed = False


def _values(result: object) -> list[dict[str, object]]:
    # Storage.all gives {key: value}; only dict values are ours.
    values = result.values() if isinstance(result, dict) else ()
    return [v for v in values if isinstance(v, dict)]


class ChatApp:
    """One account's chat session. See docs/architecture.md for events and API."""

    __slots__ = (
        "_address",
        "_attempts",
        "_awaiting_ack",
        "_client",
        "_composing_at",
        "_conn",
        "_cursor",
        "_cursor_loaded",
        "_deadline",
        "_dirty",
        "_emitter",
        "_generation",
        "_history_loaded",
        "_marked",
        "_opened",
        "_outbox",
        "_password",
        "_paused_timer",
        "_reconnect_timer",
        "_resumable",
        "_roster_from_server",
        "_state_peers",
        "_storage",
        "_storage_key",
        "_store_timer",
        "_sync",
        "_typing_to",
        "active",
        "contacts",
        "conversations",
        "last_error",
        "message",
        "own_jid",
        "peers_typing",
        "platform",
        "requests",
        "state",
        "trusted",
        "visible",
    )

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.state = OFFLINE
        self.message = ""  # the text that went with the last "state" event
        # The error behind the last "error" state (None for other states, or
        # an error that isn't a RoostError, e.g. no server configured).
        self.last_error: RoostError | None = None
        self.own_jid: str | None = None  # bare JID once online
        self.trusted = False
        self.active: str | None = None  # bare JID of the open chat
        self.contacts: dict[str, Contact] = {}
        self.conversations: dict[str, Conversation] = {}
        self.requests: dict[str, str | None] = {}  # bare JID → status text
        self._emitter = Emitter(self._subscriber_failed)
        self._client: XmppClient | None = None
        self._conn: Connection | None = None
        # Bumped whenever a connection is dropped, so late callbacks from an
        # old socket (or an old PBKDF2 run) are recognised and ignored.
        self._generation = 0
        self._opened = False
        self._address: JID | None = None
        self._password: str | None = None
        self._storage: Storage | None = None
        self._storage_key: tuple[str, bool] | None = None
        self._roster_from_server = False
        self._dirty: dict[str, Conversation] = {}  # conversations not yet written
        self._store_timer: object = None
        # False while a trusted storage's stored history is being read: the
        # conversations in memory hold only the new messages then, and writing
        # one would replace its stored history. Writes wait for the merge.
        self._history_loaded = True
        self._deadline: object = None  # LOGIN_TIMEOUT timer of the connection attempt
        # id → bare JID of our messages (this session) the server hasn't acked yet
        self._awaiting_ack: dict[str, str] = {}
        # Archive catch-up: the newest archive id seen (None: none yet), whether
        # the stored one was read, and the running catch-up (None: none).
        self._cursor: str | None = None
        self._cursor_loaded = True
        self._sync: _Sync | None = None
        # Automatic reconnect: True once this session was online (until logout
        # or another account); the pending attempt's timer; failed attempts.
        self._resumable = False
        self._reconnect_timer: object = None
        self._attempts = 0
        # Outgoing messages (state QUEUED) waiting for a connection, oldest first.
        self._outbox: list[Message] = []
        # The page is visible (the UI sets it from document.visibilityState):
        # only then does the open chat count as read by the peer (XEP-0333).
        self.visible = True
        # bare JID → id of the last message we sent a "displayed" marker for.
        self._marked: dict[str, str] = {}
        # Typing (XEP-0085): contacts typing now (bare → their timeout timer);
        # peers who sent us chat states (only they get ours, XEP-0085 §5.1);
        # whom we told "composing", when, and the timer that sends "paused".
        self.peers_typing: dict[str, object] = {}
        self._state_peers: set[str] = set()
        self._typing_to: str | None = None
        self._composing_at = 0.0
        self._paused_timer: object = None

    # -- events ---------------------------------------------------------------
    def on(self, name: str, callback: Callable[..., object]) -> None:
        """Subscribe to an app event (see docs/architecture.md for names)."""
        self._emitter.on(name, callback)

    def _emit(self, name: str, *args: object) -> None:
        self._emitter.emit(name, *args)

    def _subscriber_failed(self, name: str, exc: Exception) -> None:
        if name != "notice":  # a failing notice handler must not loop
            self._emit("notice", "Something went wrong while updating the screen.")

    def _set_state(self, state: str, message: str = "") -> None:
        self.state = state
        self.message = message
        if state not in (ERROR, RECONNECTING):
            self.last_error = None
        self._emit("state", state, message)

    def _set_error(self, error: RoostError | None, message: str | None = None) -> None:
        """Enter the error state because of `error` (its message unless one is given)."""
        self.last_error = error
        if message is None:
            message = error.user_message if error is not None else "Something went wrong."
        self._set_state(ERROR, message)

    @property
    def can_retry(self) -> bool:
        """True when `retry()` may help: a network problem, or a server error that
        says "try again" (not a wrong password or a refusal)."""
        error = self.last_error
        if self.state == RECONNECTING and self._password is not None:
            return True  # Retry connects at once instead of waiting for the timer
        if self.state != ERROR or self._password is None or error is None:
            return False
        if isinstance(error, NetworkError):
            return True
        if isinstance(error, StreamError):
            return error.retryable
        return isinstance(error, AuthError) and error.condition == "temporary-auth-failure"

    # -- session ----------------------------------------------------------------
    def login(self, address: str, password: str, trusted: bool = False) -> None:
        """Connect as `address` ("alice" gets the configured default domain)."""
        self._drop_connection()
        try:
            jid = self._parse_address(address)
        except JidError as exc:
            self._set_error(exc)
            return
        url = self.platform.config.get("websocket_url")
        if not isinstance(url, str) or not url:
            self._set_error(None, "Roost isn't set up yet: no server address is configured.")
            return
        self._address = jid
        self._password = password
        self.trusted = bool(trusted)
        self._use_storage(str(jid), self.trusted)
        self._connect(url, jid, password)

    def retry(self) -> None:
        """Log in again with the remembered credentials (after a connection error)."""
        if self._address is None or self._password is None:
            return
        self.login(str(self._address), self._password, self.trusted)

    def logout(self) -> None:
        """Say goodbye to the server, forget the password, wipe untrusted storage."""
        client = self._client
        if client is not None and self._conn is not None:
            if client.online:
                client.send_presence(available=False)
            client.close()
            self._flush()
        self._drop_connection()
        self._resumable = False
        self.flush_storage()
        self._address = None
        self._password = None
        if self._storage is not None and not self.trusted:
            self._storage.destroy()
        self._storage = None
        self._storage_key = None
        self._reset_data()
        self._set_state(OFFLINE)
        self._emit("roster")

    def _parse_address(self, address: str) -> JID:
        address = address.strip()
        if "@" not in address:
            domain = self.platform.config.get("default_domain")
            if not isinstance(domain, str) or not domain:
                raise JidError("no domain and no default_domain")
            address = address + "@" + domain
        jid = JID.parse(address)
        if jid.local is None:
            raise JidError("no localpart")
        return jid.bare

    def _connect(self, url: str, jid: JID, password: str) -> None:
        self._generation += 1
        generation = self._generation
        self._opened = False
        self._roster_from_server = False
        # XEP-0198 acks without resumption: this app doesn't keep resume_state()
        # yet, and a resumable session would linger on the server after a tab
        # closes, holding the messages sent to it meanwhile.
        self._client = XmppClient(
            jid, password, is_secure_url(url), random_bytes=self.platform.random_bytes,
            sm_resume=False, carbons=True,
        )
        if self._resumable:  # back to a session that was online: keep saying so
            self._set_state(RECONNECTING, RECONNECTING_MESSAGE)
        else:
            self._set_state(CONNECTING)
        self._deadline = self.platform.call_later(
            LOGIN_TIMEOUT, lambda: self._login_timed_out(generation)
        )

        def on_open() -> None:
            if generation == self._generation and self._client is not None:
                self._opened = True
                self._client.start()
                self._flush()

        def on_frame(text: str) -> None:
            if generation == self._generation:
                self._on_frame(text)

        def on_close(error: NetworkError | None = None) -> None:
            if generation == self._generation:
                self._on_socket_closed(error)

        conn = self.platform.connect(url, on_open, on_frame, on_close)
        if generation == self._generation:  # on_close may already have run
            self._conn = conn

    def _login_timed_out(self, generation: int) -> None:
        self._deadline = None
        if generation == self._generation and self.state in (CONNECTING, RECONNECTING):
            self._fail(LoginTimeout(LOGIN_TIMEOUT))

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self.platform.cancel(self._deadline)
            self._deadline = None

    def _drop_connection(self) -> None:
        """Forget the current socket and client; ignore anything they still say."""
        self._generation += 1
        self._cancel_deadline()
        self._cancel_reconnect()
        conn = self._conn
        self._conn = None
        self._client = None
        # Acks belong to the stream: what wasn't acked stays "sent".
        self._awaiting_ack = {}
        if self._sync is not None:
            self._sync = None
            self._emit("sync", 0, None, True)
        if conn is not None:
            conn.close()
        self._stop_typing()
        for bare in list(self.peers_typing):
            self._set_typing(bare, False)
        had_presence = False
        for contact in self.contacts.values():
            had_presence = had_presence or bool(contact.resources)
            contact.resources.clear()
        if had_presence:
            self._emit("roster")

    def _flush(self) -> None:
        client, conn = self._client, self._conn
        if client is None or conn is None:
            return
        for frame in client.take_output():
            conn.send(frame)

    def _fail(self, error: RoostError) -> None:
        """End the session because of `error` and show its message."""
        client = self._client
        if client is not None:
            client.close()
            self._flush()
        self._drop_connection()
        self._lost(error)

    def _lost(self, error: RoostError) -> None:
        """The connection ended because of `error`: reconnect on our own when
        the session was online and trying again may help, else show the error."""
        if not self._resumable or self._password is None or self._address is None:
            self._set_error(error)
            return
        if isinstance(error, NetworkError):
            retryable = True
        elif isinstance(error, StreamError):
            retryable = error.retryable  # never after `conflict` (signed in elsewhere)
        else:
            retryable = False  # auth errors, protocol errors: a person decides
        if not retryable:
            self._set_error(error)
            return
        self.last_error = error
        delay = self.reconnect_delay(self._attempts)
        self._attempts += 1
        self._reconnect_timer = self.platform.call_later(delay, self._reconnect)
        if self.state != RECONNECTING:
            self._set_state(RECONNECTING, RECONNECTING_MESSAGE)

    def reconnect_delay(self, attempt: int) -> float:
        """Seconds before automatic attempt `attempt` (0 first): exponential,
        capped, ±RECONNECT_JITTER from the platform's randomness."""
        base = min(RECONNECT_MAX, RECONNECT_FIRST * 2.0 ** min(attempt, 30))
        spread = int.from_bytes(self.platform.random_bytes(2), "big") / 65535.0  # 0…1
        delay = base * (1.0 - RECONNECT_JITTER + 2.0 * RECONNECT_JITTER * spread)
        return min(RECONNECT_MAX, delay)

    def _reconnect(self) -> None:
        self._reconnect_timer = None
        url = self.platform.config.get("websocket_url")
        address, password = self._address, self._password
        if self.state != RECONNECTING or address is None or password is None:
            return
        if not isinstance(url, str) or not url:
            return
        self._drop_connection()
        self._connect(url, address, password)

    def _cancel_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            self.platform.cancel(self._reconnect_timer)
            self._reconnect_timer = None

    def _on_frame(self, text: str) -> None:
        client = self._client
        if client is None:
            return
        try:
            element = self.platform.parse(text)
        except XmlError as exc:
            self._fail(exc)
            return
        events = client.receive(element)
        self._flush()  # replies first: handling may end the session
        self._handle(events)
        self._flush()

    def _on_socket_closed(self, error: NetworkError | None) -> None:
        opened = self._opened
        self._conn = None  # already closed: don't close it again
        self._drop_connection()
        self._lost(error or NetworkError(opened))

    # -- XMPP events --------------------------------------------------------------
    def _handle(self, events: list[Record]) -> None:
        for event in events:
            if self._client is None:
                return  # the session ended while handling an earlier event
            if isinstance(event, ChatReceived):
                self._on_chat(event)
            elif isinstance(event, ChatSent):
                self._on_chat_sent(event)
            elif isinstance(event, ArchiveMessage):
                self._on_archive_message(event)
            elif isinstance(event, ArchiveDone):
                self._on_archive_done(event)
            elif isinstance(event, (ArchiveGap, ArchiveFailed)):
                self._on_archive_failed(event)
            elif isinstance(event, Acked):
                self._on_acked(event)
            elif isinstance(event, PresenceChanged):
                self._on_presence(event)
            elif isinstance(event, NeedSaltedPassword):
                self._derive(event)
            elif isinstance(event, Online):
                self._cancel_deadline()
                self.own_jid = str(event.jid.bare)
                self._sync = _Sync()  # waits for the roster (and stored data)
                self._resumable = True
                self._attempts = 0
                self._set_state(ONLINE)
                self._send_outbox()
            elif isinstance(event, RosterLoaded):
                self._on_roster(event)
            elif isinstance(event, RosterChanged):
                self._on_roster_push(event)
            elif isinstance(event, SubscriptionRequest):
                bare = str(event.jid)
                self.requests[bare] = event.status
                self._emit("request", bare)
            elif isinstance(event, SubscriptionChanged):
                self._on_subscription_changed(event)
            elif isinstance(event, MessageFailed):
                self._on_message_failed(event)
            elif isinstance(event, Receipt):
                self._on_receipt(str(event.from_jid.bare), event.id, "delivered")
            elif isinstance(event, Marker):
                kind = "delivered" if event.kind == "received" else "read"
                self._on_receipt(str(event.from_jid.bare), event.id, kind)
            elif isinstance(event, ChatState):
                self._on_chat_state(str(event.from_jid.bare), event.state)
            elif isinstance(event, Closed):
                self._on_stream_closed(event)
            # Dropped: forged or malformed input, already refused by the core.

    def _on_stream_closed(self, event: Closed) -> None:
        self._flush()
        self._drop_connection()
        # Our own close goes through logout(), which has already dropped the
        # client, so any Closed seen here was the server's doing.
        self._lost(event.error or NetworkError(True, "server closed the stream"))

    def _on_subscription_changed(self, event: SubscriptionChanged) -> None:
        bare = str(event.jid)
        # A requester who takes their request back (unsubscribe), or cancels
        # what they had (unsubscribed), has no request left to answer.
        if event.kind in ("unsubscribe", "unsubscribed") and bare in self.requests:
            del self.requests[bare]
            self._emit("request", bare)
        self._emit("contact", bare)

    def _derive(self, event: NeedSaltedPassword) -> None:
        generation = self._generation
        password = (self._password or "").encode("utf-8")

        def done(salted: bytes) -> None:
            client = self._client
            if generation == self._generation and client is not None:
                self._flush()
                self._handle(client.provide_salted_password(salted))
                self._flush()

        def failed(exc: Exception) -> None:
            if generation == self._generation:
                self._fail(AuthError("key-derivation", str(exc)))

        self.platform.pbkdf2(event.hash_name, password, event.salt, event.iterations, done, failed)

    def _on_roster(self, event: RosterLoaded) -> None:
        self._roster_from_server = True
        old = self.contacts
        fresh: dict[str, Contact] = {}
        for item in event.items:
            bare = str(item.jid)
            contact = old.get(bare)
            if contact is None:
                contact = Contact.from_item(item)
            else:
                contact.update(item)
            fresh[bare] = contact
        self.contacts = fresh
        storage = self._storage
        if storage is not None:
            for bare in old:
                if bare not in fresh:
                    storage.delete(ROSTER_STORE, bare)
            for bare, contact in fresh.items():
                storage.put(ROSTER_STORE, bare, contact.to_store())
        self._emit("roster")
        self._maybe_sync()

    def _on_roster_push(self, event: RosterChanged) -> None:
        item = event.item
        bare = str(item.jid)
        storage = self._storage
        if item.subscription == "remove":
            self.contacts.pop(bare, None)
            if storage is not None:
                storage.delete(ROSTER_STORE, bare)
        else:
            contact = self.contacts.get(bare)
            if contact is None:
                contact = self.contacts[bare] = Contact.from_item(item)
            else:
                contact.update(item)
            if storage is not None:
                storage.put(ROSTER_STORE, bare, contact.to_store())
        self._emit("roster")
        self._emit("contact", bare)

    def _on_presence(self, event: PresenceChanged) -> None:
        bare = str(event.jid.bare)
        contact = self.contacts.get(bare)
        if contact is None:
            return  # our own other devices, or someone not in the roster
        resource = event.jid.resource or ""
        if event.available:
            contact.resources[resource] = Presence(
                event.show or "online", event.status, event.priority
            )
        elif resource:
            if contact.resources.pop(resource, None) is None:
                return  # a resource we never saw: nothing changed
        elif contact.resources:
            contact.resources.clear()  # unavailable from the bare JID: all gone
        else:
            return
        self._emit("contact", bare)

    def _on_chat(self, event: ChatReceived) -> None:
        chat = event.message
        bare = str(chat.from_jid.bare)
        if not chat.body:
            return
        conversation = self._conversation(bare)
        self._seen_archive_id(chat.archive_id)
        known = conversation.find_same(chat.archive_id, bare, chat.id)
        if known is not None:  # an offline copy of what the archive gave, or the reverse
            if known.archive_id is None and chat.archive_id is not None:
                known.archive_id = chat.archive_id
                self._store_conversation(conversation)
            return
        if chat.chat_state is not None:
            self._state_peers.add(bare)
        self._set_typing(bare, False)  # the message is what they were typing
        stamp = chat.stamp if chat.stamp is not None else self.platform.now()
        message = Message(
            chat.id, bare, bare, chat.body, False, stamp, "received", chat.archive_id
        )
        message.markable = chat.markable
        conversation.messages.append(message)
        if self.active != bare:
            conversation.unread += 1
        self._store_conversation(conversation)
        self._emit("messages", bare, [message])
        self._mark_displayed()

    def _on_chat_sent(self, event: ChatSent) -> None:
        """A message the user sent from another client (a XEP-0280 sent carbon)."""
        chat = event.message
        if not chat.body or chat.to_jid is None:
            return
        bare = str(chat.to_jid.bare)
        conversation = self._conversation(bare)
        if chat.id is not None and conversation.find(chat.id) is not None:
            return  # already shown
        if conversation.find_same(chat.archive_id, self.own_jid or "", chat.id) is not None:
            return
        stamp = chat.stamp if chat.stamp is not None else self.platform.now()
        sender = self.own_jid or str(chat.from_jid.bare)
        message = Message(chat.id, bare, sender, chat.body, True, stamp, "sent")
        conversation.messages.append(message)
        self._store_conversation(conversation)
        self._emit("messages", bare, [message])

    # -- archive catch-up (XEP-0313) ---------------------------------------------
    def _maybe_sync(self) -> None:
        """Start the catch-up once online, the roster arrived, and the stored
        history and cursor are read (so dedup sees what the device has)."""
        sync, client = self._sync, self._client
        if (
            sync is None
            or sync.query_id is not None
            or sync.finished
            or client is None
            or not client.online
            or not self._roster_from_server
            or not self._history_loaded
            or not self._cursor_loaded
        ):
            return
        sync.missed = self._cursor is not None
        if self._cursor is not None:
            sync.forward = True
            sync.query_id = client.query_archive(after_id=self._cursor, max=ARCHIVE_PAGE)
        else:
            sync.forward = False
            sync.query_id = client.query_archive(before_last=True, max=ARCHIVE_PAGE)
        self._emit("sync", 0, None, False)

    def _on_archive_message(self, event: ArchiveMessage) -> None:
        sync = self._sync
        if sync is not None and event.query_id == sync.query_id:
            sync.page.append(event)

    def _on_archive_done(self, event: ArchiveDone) -> None:
        sync, client = self._sync, self._client
        if sync is None or event.query_id != sync.query_id or client is None:
            return
        page, sync.page = sync.page, []
        self._insert_archived(page)
        sync.done += len(page)
        if event.count is not None and sync.total is None:
            sync.total = event.count if sync.forward else min(event.count, ARCHIVE_HISTORY)
        if sync.total is not None and sync.total < sync.done:
            sync.total = sync.done
        if sync.forward:
            if event.last is not None:
                sync.newest = event.last
            more = not event.complete and event.last is not None
            if more:
                sync.query_id = client.query_archive(after_id=event.last, max=ARCHIVE_PAGE)
        else:
            if sync.newest is None:
                sync.newest = event.last  # the first page back is the newest
            left = ARCHIVE_HISTORY - sync.done
            more = not event.complete and event.first is not None and left > 0
            if more:
                sync.query_id = client.query_archive(
                    before_id=event.first, max=min(ARCHIVE_PAGE, left)
                )
        if more:
            self._emit("sync", sync.done, sync.total, False)
        else:
            self._finish_sync()

    def _on_archive_failed(self, event: ArchiveGap | ArchiveFailed) -> None:
        sync, client = self._sync, self._client
        if sync is None or event.query_id != sync.query_id or client is None:
            return
        page, sync.page = sync.page, []
        self._insert_archived(page)
        if isinstance(event, ArchiveGap) and sync.forward:
            # The cursor fell out of the archive: take its last messages instead.
            sync.forward = False
            sync.query_id = client.query_archive(before_last=True, max=ARCHIVE_PAGE)
            return
        self._finish_sync()

    def _finish_sync(self) -> None:
        sync = self._sync
        if sync is None:
            return
        sync.finished = True
        sync.query_id = None
        if sync.newest is not None:
            self._save_cursor(sync.newest)
        self._emit("sync", sync.done, sync.total, True)

    def _seen_archive_id(self, archive_id: str | None) -> None:
        """A live message's archive id: the new cursor, once caught up."""
        sync = self._sync
        if archive_id is not None and sync is not None and sync.finished:
            self._save_cursor(archive_id)

    def _save_cursor(self, archive_id: str) -> None:
        self._cursor = archive_id
        if self._storage is not None and self.trusted:
            self._storage.put(META_STORE, CURSOR_KEY, archive_id)

    def _insert_archived(self, page: list[ArchiveMessage]) -> None:
        """Put a page of archived messages into their conversations, in time
        order, skipping what is already there (live, offline copy, stored)."""
        own = self.own_jid or ""
        now = self.platform.now()
        missed = self._sync is not None and self._sync.missed
        changed: dict[str, list[Message]] = {}
        for event in page:
            chat = event.message
            if not chat.body:
                continue
            outgoing = event.direction == "out"
            if outgoing:
                if chat.to_jid is None:
                    continue
                bare, sender = str(chat.to_jid.bare), own
            else:
                bare = sender = str(chat.from_jid.bare)
            if not bare or bare == own:
                continue  # a note to self: not a 1:1 conversation
            conversation = self._conversation(bare)
            known = conversation.find_same(event.archive_id, sender, chat.id)
            if known is not None:
                if known.archive_id is None:
                    known.archive_id = event.archive_id
                    self._store_conversation(conversation)
                continue
            stamp = event.stamp if event.stamp is not None else now
            message = Message(
                chat.id, bare, sender, chat.body, outgoing, stamp,
                "server" if outgoing else "received", event.archive_id,
            )
            message.markable = chat.markable and not outgoing
            conversation.insert(message)
            if not outgoing and self.active != bare and missed:
                conversation.unread += 1
            changed.setdefault(bare, []).append(message)
        # Only the new ones: when they aren't the conversation's last messages
        # (inserted by time), the UI sees that and draws the whole chat again.
        for bare, messages in changed.items():
            self._store_conversation(self._conversation(bare))
            self._emit("messages", bare, messages)
        if changed:
            self._mark_displayed()

    def _on_acked(self, event: Acked) -> None:
        """XEP-0198: the server has these messages: "sent" → "server"."""
        for message_id in event.ids:
            bare = self._awaiting_ack.pop(message_id, None)
            conversation = None if bare is None else self.conversations.get(bare)
            message = None if conversation is None else conversation.find(message_id)
            if conversation is None or message is None or message.state != "sent":
                continue  # e.g. already failed: a bounce outranks the ack
            message.state = "server"
            self._store_conversation(conversation)
            self._emit("message", conversation.jid, message)

    def _on_receipt(self, bare: str, message_id: str, state: str) -> None:
        """A receipt ("delivered") or displayed marker ("read") from `bare` for
        our message `message_id` (the core checked we sent it to `bare`).
        States only move forward; "read" (XEP-0333) also covers every earlier
        own message of the conversation."""
        conversation = self.conversations.get(bare)
        if conversation is None:
            return
        messages = conversation.messages
        index = len(messages) - 1
        while index >= 0 and not (messages[index].outgoing and messages[index].id == message_id):
            index -= 1
        if index < 0:
            return
        rank = STATE_RANK[state]
        changed: list[Message] = []
        for message in messages[: index + 1] if state == "read" else [messages[index]]:
            current = STATE_RANK.get(message.state)
            # Not a queued one (never sent), not a failed one, never backwards.
            if message.outgoing and current is not None and 0 < current < rank:
                message.state = state
                changed.append(message)
        if changed:
            self._store_conversation(conversation)
            for message in changed:
                self._emit("message", bare, message)

    def _on_chat_state(self, bare: str, state: str) -> None:
        self._state_peers.add(bare)
        self._set_typing(bare, state == "composing")

    def _set_typing(self, bare: str, typing: bool) -> None:
        """Show / stop showing that `bare` is typing (event `("typing", bare, bool)`);
        a "composing" without a follow-up ends after TYPING_TIMEOUT."""
        timer = self.peers_typing.pop(bare, None)
        if timer is not None:
            self.platform.cancel(timer)
        if typing:
            self.peers_typing[bare] = self.platform.call_later(
                TYPING_TIMEOUT, lambda: self._set_typing(bare, False)
            )
        if typing or timer is not None:
            self._emit("typing", bare, typing)

    def _mark_displayed(self) -> None:
        """XEP-0333: the open chat of a visible page is read: send "displayed"
        for its newest markable incoming message, once."""
        bare, client = self.active, self._client
        if bare is None or not self.visible or client is None or not client.online:
            return
        conversation = self.conversations.get(bare)
        if conversation is None:
            return
        for message in reversed(conversation.messages):
            if message.outgoing or not message.markable or message.id is None:
                continue
            if self._marked.get(bare) != message.id:
                self._marked[bare] = message.id
                client.send_marker(bare, "displayed", message.id)
                self._flush()
            return

    def set_visible(self, visible: bool) -> None:
        """The page became visible / hidden (the UI, from document.visibilityState)."""
        self.visible = bool(visible)
        if self.visible:
            self._mark_displayed()

    def typing(self, bare_jid: str) -> None:
        """The user typed in the chat with `bare_jid` (the UI calls it on input):
        "composing" at most once per COMPOSING_EVERY s of continued typing,
        "paused" PAUSED_AFTER s after the last keystroke; only to contacts who
        sent us chat states (XEP-0085 §5.1)."""
        client = self._client
        if bare_jid not in self._state_peers or client is None or not client.online:
            return
        if self._typing_to is not None and self._typing_to != bare_jid:
            self._stop_typing("paused")
        now = self.platform.now()
        if self._typing_to is None or now - self._composing_at >= COMPOSING_EVERY:
            client.send_chat_state(bare_jid, "composing")
            self._flush()
            self._typing_to = bare_jid
            self._composing_at = now
        if self._paused_timer is not None:
            self.platform.cancel(self._paused_timer)
        self._paused_timer = self.platform.call_later(
            PAUSED_AFTER, lambda: self._stop_typing("paused")
        )

    def _stop_typing(self, state: str | None = None) -> None:
        """Forget that we are composing; send `state` (e.g. "paused") if given."""
        if self._paused_timer is not None:
            self.platform.cancel(self._paused_timer)
            self._paused_timer = None
        bare, self._typing_to = self._typing_to, None
        client = self._client
        if state is not None and bare is not None and client is not None and client.online:
            client.send_chat_state(bare, state)
            self._flush()

    def _on_message_failed(self, event: MessageFailed) -> None:
        if event.id is None:
            return
        for conversation in self.conversations.values():
            message = conversation.find(event.id)
            if message is not None and message.outgoing:
                message.state = "failed"
                self._store_conversation(conversation)
                self._emit("message", conversation.jid, message)
                self._emit("notice", event.error.user_message)
                return

    # -- UI actions ---------------------------------------------------------------
    def _online_client(self) -> XmppClient | None:
        client = self._client
        if client is None or not client.online:
            self._emit("notice", "You're not connected right now.")
            return None
        return client

    def _bare(self, address: str) -> JID | None:
        try:
            return JID.parse(address.strip()).bare
        except JidError as exc:
            self._emit("notice", exc.user_message)
            return None

    def send_message(self, bare_jid: str, text: str) -> Message | None:
        """Send `text` to `bare_jid`; returns the new outgoing message (state "sent")."""
        if not text.strip():
            return None
        jid = self._bare(bare_jid)
        if jid is None:
            return None
        client = self._client
        online = client is not None and client.online
        if not online and not self._resumable:
            self._emit("notice", "You're not connected right now.")
            return None
        # What is shown here is what the other side gets (see clean_text).
        text = clean_text(text)
        bare = str(jid)
        sender = self.own_jid or str(self._address or "")
        if self._typing_to == str(jid):
            self._stop_typing()  # the message itself carries <active/>
        if client is not None and online and not self._outbox:
            message_id = client.send_chat(jid, text)
            # XEP-0198: ask at once, so "received by the server" shows promptly.
            client.request_ack()
            self._flush()
            self._await_ack(message_id, bare)
            message = Message(message_id, bare, sender, text, True, self.platform.now(), "sent")
        else:
            # Not connected (or older ones still waiting): queue it, in order,
            # under an id of its own that it keeps when it goes out.
            message_id = "q-" + self.platform.random_bytes(12).hex()
            message = Message(message_id, bare, sender, text, True, self.platform.now(), QUEUED)
            self._outbox.append(message)
        conversation = self._conversation(bare)
        conversation.messages.append(message)
        self._store_conversation(conversation)
        self._emit("messages", bare, [message])
        if online and self._outbox:
            self._send_outbox()
        return message

    def _await_ack(self, message_id: str, bare: str) -> None:
        awaiting = self._awaiting_ack
        awaiting[message_id] = bare
        if len(awaiting) > MAX_AWAITING_ACK:  # a server that never acks
            del awaiting[next(iter(awaiting))]

    def _send_outbox(self) -> None:
        """Send the queued messages, oldest first, each once, under its own id."""
        client = self._client
        if client is None or not client.online or not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        sent = False
        for message in outbox:
            if message.state != QUEUED or message.id is None:
                continue  # never twice (a state that changed meanwhile)
            message.state = "sent"
            client.send_chat(message.conversation, message.body, id=message.id)
            self._await_ack(message.id, message.conversation)
            sent = True
            conversation = self._conversation(message.conversation)
            self._store_conversation(conversation)
            self._emit("message", conversation.jid, message)
        if sent:
            client.request_ack()
        self._flush()

    def open_chat(self, bare_jid: str) -> Conversation:
        """Make `bare_jid` the active conversation and mark it read."""
        conversation = self._conversation(bare_jid)
        self.active = bare_jid
        conversation.unread = 0
        self._mark_displayed()
        return conversation

    def add_contact(self, bare_jid: str, name: str | None = None) -> None:
        """Add to the roster and ask for presence; the server's push updates `contacts`."""
        jid = self._bare(bare_jid)
        client = self._online_client()
        if jid is None or client is None:
            return
        client.set_roster_item(jid, name or None)
        client.subscribe(jid)
        self._flush()

    def approve(self, bare_jid: str) -> None:
        """Accept a subscription request (and ask for theirs: see XmppClient.approve)."""
        self._answer_request(bare_jid, True)

    def deny(self, bare_jid: str) -> None:
        """Refuse a subscription request."""
        self._answer_request(bare_jid, False)

    def _answer_request(self, bare_jid: str, accept: bool) -> None:
        jid = self._bare(bare_jid)
        client = self._online_client()
        if jid is None or client is None:
            return
        if accept:
            client.approve(jid)
        else:
            client.deny(jid)
        self._flush()
        self.requests.pop(str(jid), None)
        self._emit("roster")

    # -- storage ------------------------------------------------------------------
    def _reset_data(self) -> None:
        self.contacts = {}
        self.conversations = {}
        self.requests = {}
        self.own_jid = None
        self.active = None
        self._outbox = []
        self._marked = {}
        self._state_peers = set()

    def _use_storage(self, account: str, trusted: bool) -> None:
        key = (account, trusted)
        if self._storage is not None and self._storage_key == key:
            return  # a retry: same account, same storage, keep what we have
        self.flush_storage()  # pending writes belong to the previous account
        if self._storage is not None and self._storage_key and not self._storage_key[1]:
            self._storage.destroy()  # switching away from an untrusted session
        self._reset_data()
        self._resumable = False
        storage = self.platform.open_storage(account, trusted)
        self._storage = storage
        self._storage_key = key
        self._history_loaded = not trusted  # an untrusted (memory) store starts empty
        self._cursor = None
        self._cursor_loaded = not trusted
        self._sync = None
        if trusted:
            storage.get(META_STORE, CURSOR_KEY, lambda value: self._loaded_cursor(storage, value))
            storage.all(ROSTER_STORE, lambda result: self._loaded_roster(storage, result))
            storage.all(MESSAGES_STORE, lambda result: self._loaded_messages(storage, result))

    def _loaded_cursor(self, storage: Storage, value: object) -> None:
        if storage is not self._storage:
            return
        if isinstance(value, str) and value and self._cursor is None:
            self._cursor = value
        self._cursor_loaded = True
        self._maybe_sync()

    def _loaded_roster(self, storage: Storage, result: object) -> None:
        if storage is not self._storage or self._roster_from_server:
            return  # logged out meanwhile, or the server's roster is newer
        for value in _values(result):
            if "jid" in value:
                contact = Contact.from_store(value)
                self.contacts.setdefault(contact.jid, contact)
        self._emit("roster")

    def _loaded_messages(self, storage: Storage, result: object) -> None:
        if storage is not self._storage:
            return
        queued: list[Message] = []
        for value in _values(result):
            bare = value.get("jid")
            stored = value.get("messages")
            if not isinstance(bare, str) or not isinstance(stored, list):
                continue
            conversation = self._conversation(bare)
            live_ids = {m.id for m in conversation.messages if m.id is not None}
            history = [
                Message.from_store(bare, v)
                for v in stored
                if isinstance(v, dict) and (v.get("id") is None or v.get("id") not in live_ids)
            ]
            if history:
                conversation.messages[:0] = history
                self._emit("messages", bare, history)
                # Written while offline before a reload: they go out on this login.
                queued.extend(m for m in history if m.outgoing and m.state == QUEUED)
        # Conversations changed while loading now hold history + new: write them.
        self._history_loaded = True
        if self._dirty and self._store_timer is None:
            self._store_timer = self.platform.call_later(STORE_DELAY, self._write_dirty)
        if queued:
            queued.sort(key=lambda m: m.stamp)
            self._outbox[:0] = queued
            self._send_outbox()
        self._maybe_sync()

    def _conversation(self, bare: str) -> Conversation:
        conversation = self.conversations.get(bare)
        if conversation is None:
            conversation = self.conversations[bare] = Conversation(bare)
        return conversation

    def _store_conversation(self, conversation: Conversation) -> None:
        """Write `conversation` soon (batched; see STORE_DELAY)."""
        if self._storage is None:
            return
        self._dirty[conversation.jid] = conversation
        if self._store_timer is None and self._history_loaded:
            self._store_timer = self.platform.call_later(STORE_DELAY, self._write_dirty)

    def _write_dirty(self) -> None:
        self._store_timer = None
        storage = self._storage
        if storage is None:
            self._dirty = {}
            return
        if not self._history_loaded:
            return  # kept in _dirty: written once the stored history is merged
        dirty, self._dirty = self._dirty, {}
        for conversation in dirty.values():
            storage.put(MESSAGES_STORE, conversation.jid, conversation.to_store())

    def flush_storage(self) -> None:
        """Write pending conversations now (the UI calls it when the page is hidden).

        Not before the stored history is loaded: a write then would replace it.
        """
        if self._store_timer is not None:
            self.platform.cancel(self._store_timer)
        self._write_dirty()
