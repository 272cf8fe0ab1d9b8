"""`ChatApp`: the headless application the UI drives (docs/architecture.md).

It owns the session state (contacts, conversations, subscription requests),
drives one `XmppClient` over a platform `Connection`, and tells the UI what
changed through named events. No browser, no I/O of its own: everything
outside goes through the injected platform.

Messages live in a `MessageStore` (app/store.py): deduplicated (XEP-0359),
ordered, persisted on a trusted device. Nothing is lost across drops and
reloads because (docs/architecture.md, "Lossless messaging"):

- every outgoing message goes through the store's outbox and stays there
  until the server acknowledges it (XEP-0198); it is re-sent, under its own
  id, only when the server may not have it;
- inbound messages are acknowledged to the server only once they are stored
  (`ack_after_confirm`);
- the XEP-0198 resumption state is kept (in IndexedDB on a trusted device),
  so a dropped connection, or a reload, resumes the same session: the
  server re-sends what we hadn't acknowledged;
- when resumption is impossible, the archive (XEP-0313) fills in from the
  last archive id seen, and a gap the archive can't cover is marked.

Secrets: the password lives only in memory (for `retry()` and automatic
reconnects), is never stored, and is dropped on `logout()`.
"""

from __future__ import annotations

from roost.app.e2e import E2E, E2E_EVENTS
from roost.app.events import Emitter
from roost.app.models import Contact, Presence
from roost.app.push import PUSH_EVENTS, PushManager
from roost.app.rooms import ROOM_EVENTS, Room, RoomManager
from roost.app.store import GLOBAL, Gap, MessageStore, StoredMessage
from roost.xmpp.client import XmppClient
from roost.xmpp.element import clean_text
from roost.xmpp.errors import (
    AuthError,
    JidError,
    LoginTimeout,
    NetworkError,
    ProtocolError,
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
    ChatMessage,
    ChatReceived,
    ChatSent,
    ChatState,
    Closed,
    GroupchatReceived,
    Marker,
    MessageFailed,
    NeedSaltedPassword,
    Online,
    PresenceChanged,
    Receipt,
    Resumed,
    ResumeFailed,
    RosterChanged,
    RosterLoaded,
    SmFailed,
    SubscriptionChanged,
    SubscriptionRequest,
)
from roost.xmpp.jid import JID
from roost.xmpp.sasl import ScramKey, scram_mechanism

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from roost.app.ports import Connection, MessageStorage, Platform
    from roost.app.room_admin import RoomAdmin
    from roost.app.store import Entry
    from roost.xmpp.events import Record

OFFLINE = "offline"
CONNECTING = "connecting"
ONLINE = "online"
ERROR = "error"
# A session that was online lost its connection and is being re-established
# on its own (backoff below); contacts, conversations and the outbox stay.
RECONNECTING = "reconnecting"
RECONNECTING_MESSAGE = "Reconnecting…"
# Another tab of this browser took over the account (ui/tabs.py): this one
# disconnected and keeps what it shows; `retry()` takes the account back.
ELSEWHERE = "elsewhere"
ELSEWHERE_MESSAGE = "Roost is open in another tab."
# A remembered login (trusted device) starting without a network: the session
# shows what is stored, and what is written waits in the outbox.
OFFLINE_MESSAGE = "Offline — messages will be sent when you're back online"
# The remembered login was refused (the password was changed elsewhere, or
# the server's SCRAM salt or iteration count changed): it is forgotten.
KEY_REJECTED_MESSAGE = (
    "Roost couldn't log you in with this device's saved login: your password "
    "may have changed. Enter your password to continue."
)
# A trusted login over SASL PLAIN: there is no key to keep, only the password.
PLAIN_ONLY_NOTICE = (
    "This server only accepts a plain password, so Roost can't remember your "
    "login on this device: you'll be asked for your password next time."
)
# Automatic reconnect: RECONNECT_FIRST · 2^n seconds, at most RECONNECT_MAX,
# each delay spread by ±RECONNECT_JITTER (so many clients don't return at once;
# the result is still capped at RECONNECT_MAX).
RECONNECT_FIRST = 1.0
RECONNECT_MAX = 60.0
RECONNECT_JITTER = 0.3

# Outgoing message states (StoredMessage.state), in order; never backwards.
# "queued": written while not connected (or not yet handed to the socket);
# "sent": handed to the connection; "server": acknowledged (XEP-0198) or seen
# in the archive; "delivered": a XEP-0184 receipt or XEP-0333 received
# marker; "read": a displayed marker for it or a later message. "failed": bounced.
QUEUED = "queued"
SENT = "sent"
SERVER = "server"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
RECEIVED = "received"
STATE_RANK = {QUEUED: 0, SENT: 1, SERVER: 2, DELIVERED: 3, READ: 4}

ROSTER_STORE = "roster"
META_STORE = "meta"
# meta: the XEP-0198 state of the last session, so a reload can resume it.
RESUME_KEY = "resume"
# Resumption state is written at most this often (it changes with every stanza).
RESUME_SAVE_DELAY = 0.25

# A login that hasn't reached Online by then is given up (LoginTimeout, which
# offers Retry): a server that accepts the socket and then says nothing would
# otherwise leave "Connecting…" on screen for good.
LOGIN_TIMEOUT = 30.0

# Dead-connection detection (XEP-0199): after PING_IDLE seconds without a
# frame from the server we ping it; no frame within PING_TIMEOUT after that
# and the connection counts as lost (a laptop waking up, a dead NAT entry).
PING_IDLE = 60.0
PING_TIMEOUT = 20.0
# A resumed session must answer the <r/> sent right after <resumed/> within
# this time, else it is abandoned for a fresh one (see `_probe_resumed`).
RESUME_PROBE_TIMEOUT = 10.0

# Archive catch-up (XEP-0313) after login: pages of ARCHIVE_PAGE; with no
# cursor (nothing seen on this device yet) the last ARCHIVE_HISTORY messages.
ARCHIVE_PAGE = 100
ARCHIVE_HISTORY = 200
# A reloaded tab with no stored cursor fetches from this long before its first
# catch-up began (clocks differ between the browser and the server).
FIRST_SYNC_MARGIN = 600.0
# Live messages wait for the catch-up to end (so they follow it), but not for
# one that has made no progress (no archive page) for this long.
HOLD_MAX = 10.0
# Paging back in one conversation's archive (scrolling up).
HISTORY_PAGE = 50

# Typing (XEP-0085): "composing" at most once per COMPOSING_EVERY seconds of
# continued typing, "paused" after PAUSED_AFTER seconds without a keystroke;
# a contact's "composing" is shown for at most TYPING_TIMEOUT seconds.
COMPOSING_EVERY = 10.0
PAUSED_AFTER = 5.0
TYPING_TIMEOUT = 30.0

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# Live stanzas that wait for a running catch-up (all those the server must
# get acks for in order: XEP-0198 confirms count the oldest first).
_HELD = (ChatReceived, ChatSent, GroupchatReceived)


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
    history filled in on a new device, which nobody expects to read as new.

    `early`: the query waiting went out before our initial presence (held,
    so the server keeps offline messages back). The server answers it from
    the archive as it is then, but routes messages to our bare JID to this
    session only once it has handled our presence: one archived in between
    goes to our other resources (an old session still hibernating for
    XEP-0198 resumption) or offline, never to us. So the catch-up ends only
    with a page asked for after the presence (`_sync_tail`): from then on,
    what the archive gets also comes to us live, and the cursor can follow
    live messages without passing over one never fetched."""

    __slots__ = (
        "after", "created", "done", "early", "finished", "forward", "holding", "missed",
        "newest", "page", "query_id", "total",
    )

    def __init__(self) -> None:
        self.query_id: str | None = None
        self.after: str | None = None  # the cursor the catch-up started from
        self.early = False
        self.forward = True
        self.page: list[ArchiveMessage] = []
        self.done = 0
        self.total: int | None = None
        self.newest: tuple[str, float] | None = None  # (archive id, stamp)
        self.finished = False
        self.missed = False
        self.created: set[int] = set()  # id() of the messages this catch-up added
        self.holding = True  # live messages wait for it (see HOLD_MAX)


class _History:
    """A query for older messages of one conversation (scrolling up), or for
    the messages of a gap (`gap`)."""

    __slots__ = ("gap", "jid", "page", "query_id")

    def __init__(self, jid: str, query_id: str, gap: Gap | None = None) -> None:
        self.jid = jid
        self.query_id = query_id
        self.gap = gap
        self.page: list[ArchiveMessage] = []


def _no_payload(chat: ChatMessage) -> bool:
    """An OMEMO key-transport message (heartbeat, new session): no text in it."""
    for part in (chat.encrypted, chat.encrypted2):
        if part is not None and part.payload is not None:  # type: ignore[attr-defined]
            return False
    return True


def _values(result: object) -> list[dict[str, object]]:
    # Storage.all gives {key: value}; only dict values are ours.
    values = result.values() if isinstance(result, dict) else ()
    return [v for v in values if isinstance(v, dict)]


class ChatApp:
    """One account's chat session. See docs/architecture.md for events and API."""

    __slots__ = (
        "_address",
        "_attempts",
        "_client",
        "_composing_at",
        "_conn",
        "_deadline",
        "_derived",
        "_emitter",
        "_fresh_after_error",
        "_generation",
        "_held",
        "_history",
        "_hold_timer",
        "_key",
        "_last_inbound",
        "_marked",
        "_on_ready",
        "_opened",
        "_outbox_due",
        "_password",
        "_paused_timer",
        "_ping_timer",
        "_pinged_at",
        "_probe_seen",
        "_probe_timer",
        "_ready",
        "_reconnect_timer",
        "_resumable",
        "_resume",
        "_resume_asked",
        "_resume_timer",
        "_resuming",
        "_room_pages",
        "_roster_ready",
        "_roster_saved",
        "_state_peers",
        "_storage",
        "_storage_key",
        "_stream_resumed",
        "_sync",
        "_synced",
        "_typing_to",
        "active",
        "contacts",
        "e2e",
        "last_error",
        "login_address",
        "message",
        "network_up",
        "own_jid",
        "peers_typing",
        "platform",
        "push",
        "remembered",
        "requests",
        "rooms",
        "state",
        "store",
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
        self.requests: dict[str, str | None] = {}  # bare JID → status text
        # Messages, gaps, cursors, the outbox (None before the first login).
        self.store: MessageStore | None = None
        self._emitter = Emitter(self._subscriber_failed)
        self._client: XmppClient | None = None
        self._conn: Connection | None = None
        # Bumped whenever a connection is dropped, so late callbacks from an
        # old socket (or an old PBKDF2 run) are recognised and ignored.
        self._generation = 0
        self._opened = False
        self._address: JID | None = None
        self._password: str | None = None
        # Remembered login (trusted devices): the SCRAM key this session logs
        # in with instead of the password (then `_password` is ""), and the
        # one this page derived from the password (kept once Online).
        self._key: ScramKey | None = None
        self._derived: ScramKey | None = None
        # This session's login is remembered on this device; the address to
        # offer on the login screen after a remembered login was refused.
        self.remembered = False
        self.login_address: str | None = None
        self._storage: MessageStorage | None = None
        self._storage_key: tuple[str, bool] | None = None
        # The stored data (outbox, cursors, resumption state) is read: only
        # then may a connection start (it decides what to resume and re-send).
        self._ready = True
        self._on_ready: Callable[[], None] | None = None
        # The roster is known (from the server, or stored, for a resumed session).
        self._roster_ready = False
        # This session's roster is in trusted storage (so a later page may resume it).
        self._roster_saved = False
        self._deadline: object = None  # LOGIN_TIMEOUT timer of the connection attempt
        # XEP-0198: the last session's resumption state (None: start afresh);
        # `_resuming`: the current connection was made with it.
        self._resume: dict[str, object] | None = None
        self._resuming = False
        # The connection that just ended had sent <resume/> (`_fresh_start_helps`).
        self._resume_asked = False
        self._resume_timer: object = None
        # The current stream is a resumed one; a fresh session was started
        # because resuming failed (don't loop: that one must reach Online).
        self._stream_resumed = False
        self._fresh_after_error = False
        self._outbox_due = False  # send the outbox once this batch of events is handled
        # Archive catch-up (None: none running); `_synced`: one finished on
        # this page (a resumed session then missed nothing), and per-chat
        # history queries (scrolling up) by query id.
        self._sync: _Sync | None = None
        self._synced = False
        self._history: dict[str, _History] = {}
        # Live messages that came during the catch-up (handled after it).
        self._held: list[Record] = []
        self._hold_timer: object = None
        # Automatic reconnect: True once this session was online (until logout
        # or another account); the pending attempt's timer; failed attempts.
        self._resumable = False
        self._reconnect_timer: object = None
        self._attempts = 0
        # The browser says it has a network (the UI reports online/offline).
        self.network_up = True
        # Liveness (XEP-0199): when the last frame came, when we pinged.
        self._last_inbound = 0.0
        self._pinged_at = 0.0
        self._ping_timer: object = None
        self._probe_timer: object = None
        self._probe_seen = 0  # the stream's <a/> count when the probe started
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
        # Group chats (app/rooms.py): their state, joins, history, directory.
        self.rooms = RoomManager(self)
        # End-to-end encryption (OMEMO) on trusted devices: app/e2e.py.
        self.e2e = E2E(self)
        # Web Push while Roost is closed, on trusted devices (app/push.py).
        self.push = PushManager(self)
        # Room archive pages being received, by query id (see _on_archive_*).
        self._room_pages: dict[str, list[ArchiveMessage]] = {}

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
        if self.state in (RECONNECTING, ELSEWHERE) and self._password is not None:
            return True  # Retry connects at once instead of waiting for the timer
        if self.state != ERROR or self._password is None or error is None:
            return False
        if isinstance(error, NetworkError):
            return True
        if isinstance(error, StreamError):
            return error.retryable
        return isinstance(error, AuthError) and error.condition == "temporary-auth-failure"

    # -- session ----------------------------------------------------------------
    def parse_address(self, address: str) -> str:
        """The bare JID `address` means ("alice" gets the default domain); raises JidError."""
        return str(self._parse_address(address))

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
        self._key = None  # a password login: a new key is derived (and remembered, if trusted)
        self._derived = None
        self.login_address = None
        self.trusted = bool(trusted)
        self._use_storage(str(jid), self.trusted)
        self.e2e.login(str(jid), self.trusted)
        self.push.login(str(jid), self.trusted)
        self._set_state(RECONNECTING if self._resumable else CONNECTING,
                        RECONNECTING_MESSAGE if self._resumable else "")
        self._when_ready(lambda: self._connect(url, jid, password))

    def retry(self) -> None:
        """Log in again with the remembered credentials (after a connection error)."""
        if self._address is None or self._password is None:
            return
        if self._key is not None:
            self._connect_with_key()
            return
        self.login(str(self._address), self._password, self.trusted)

    def start_remembered(self, record: object) -> bool:
        """Start the session this trusted device remembered, without a password.

        `record` is what `platform.remember_login` was given: the account
        and its SCRAM key. The stored contacts, conversations and outbox
        load at once and the session counts as one that was online: what is
        written waits in the outbox, a lost connection is retried with
        backoff, and without a network ("offline") it connects when the UI
        reports the network back (`set_network`). A key the server refuses
        is forgotten (`KEY_REJECTED_MESSAGE`, state "offline").
        False (and the record forgotten) when the record is unusable.
        """
        url = self.platform.config.get("websocket_url")
        try:
            if not isinstance(record, dict):
                raise ValueError("not a record")
            account = record.get("account")
            if not isinstance(account, str):
                raise ValueError("no account")
            jid = self._parse_address(account)
            key = ScramKey.from_record(record)
        except (ValueError, JidError):
            self.platform.remember_login(None)
            return False
        if not isinstance(url, str) or not url:
            self._set_error(None, "Roost isn't set up yet: no server address is configured.")
            return False
        self._drop_connection()
        self._address = jid
        self._password = ""  # never known here: the key stands in for it
        self._key = key
        self._derived = None
        self.login_address = None
        self.trusted = True
        self._use_storage(str(jid), True)
        self.e2e.login(str(jid), True)
        self.push.login(str(jid), True)
        self.own_jid = str(jid)
        self.remembered = True
        self._resumable = True  # like a session that was online (see above)
        self._attempts = 0
        self._connect_with_key()
        return True

    def _connect_with_key(self) -> None:
        """(Re)connect a remembered session now, or say it waits for the network."""
        url = self.platform.config.get("websocket_url")
        address = self._address
        if address is None or not isinstance(url, str) or not url:
            return
        self._drop_connection()
        if not self.network_up:
            self._set_state(RECONNECTING, OFFLINE_MESSAGE)
            return
        self._set_state(RECONNECTING, RECONNECTING_MESSAGE)
        self._when_ready(lambda: self._connect(url, address, ""))

    def step_aside(self) -> None:
        """Another tab takes this account over: disconnect, keep everything shown.

        The stream is closed without ending the XEP-0198 session, so the tab
        taking over resumes it (the stored state is current: written here).
        """
        self._save_resume(now=True)
        if self.store is not None:
            self.store.flush()
        self._drop_connection()
        self._set_state(ELSEWHERE, ELSEWHERE_MESSAGE)

    def logout(self) -> None:
        """Say goodbye to the server, forget the password, wipe untrusted storage."""
        self.push.logout()  # disable + unregister go out before the stream closes
        client = self._client
        if client is not None and self._conn is not None:
            if client.online:
                client.send_presence(available=False)
            client.close()
            self._flush()
        self._drop_connection()
        self._resumable = False
        self._forget_resume()
        self.platform.stash(self._stash_key(), None)
        self.flush_storage()
        if self.trusted:
            # Logging out forgets the remembered login (here and in other tabs).
            self.platform.remember_login(None)
        self._key = None
        self._derived = None
        self.remembered = False
        self.login_address = None
        self._address = None
        self._password = None
        if self._storage is not None and not self.trusted:
            self._storage.destroy()
        self._storage = None
        self._storage_key = None
        self.store = None
        self.e2e.logout()
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

    def _when_ready(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the stored data is read (at once when it is)."""
        if self._ready:
            self._on_ready = None
            fn()
        else:
            self._on_ready = fn

    def _connect(self, url: str, jid: JID, password: str) -> None:
        self._generation += 1
        generation = self._generation
        self._opened = False
        self._roster_ready = False
        self._roster_saved = False
        resume = self._resume
        # With a cursor, the catch-up query goes before the initial presence
        # (`_on_online`): it brings all that was missed, and the server keeps
        # its offline copies back. Without one (a new device) it brings only
        # the newest ARCHIVE_HISTORY, so the offline messages, the ones that
        # count as unread there, still come.
        store = self.store
        hold = store is not None and store.cursor(GLOBAL) is not None
        # A remembered key logs in with its own SCRAM mechanism only (never PLAIN).
        mechanisms = (self._key.mechanism,) if self._key is not None else None
        try:
            client = XmppClient(
                jid, password, is_secure_url(url), random_bytes=self.platform.random_bytes,
                mechanisms=mechanisms, resume=resume, ack_after_confirm=True, carbons=True,
                hold_presence=hold, caps=True,
            )
        except ValueError:  # a stored state that doesn't fit: start afresh
            self._forget_resume()
            resume = None
            client = XmppClient(
                jid, password, is_secure_url(url), random_bytes=self.platform.random_bytes,
                mechanisms=mechanisms, ack_after_confirm=True, carbons=True,
                hold_presence=hold, caps=True,
            )
        self._client = client
        self._resuming = resume is not None
        if self._resumable:  # back to a session that was online: keep saying so
            if self.state != RECONNECTING or self.message != RECONNECTING_MESSAGE:
                self._set_state(RECONNECTING, RECONNECTING_MESSAGE)
        elif self.state != CONNECTING:
            self._set_state(CONNECTING)
        self._deadline = self.platform.call_later(
            LOGIN_TIMEOUT, lambda: self._login_timed_out(generation)
        )

        def on_open() -> None:
            if generation == self._generation and self._client is not None:
                self._opened = True
                self._last_inbound = self.platform.now()
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
        client = self._client
        if client is not None and client.online:
            self._save_resume(client)  # the copy taken as the connection ends
        self._resume_asked = client is not None and client.resume_asked and self._resuming
        self._generation += 1
        self._on_ready = None
        self._cancel_deadline()
        self._cancel_reconnect()
        self._cancel_ping()
        self._cancel_probe()
        conn = self._conn
        self._conn = None
        self._client = None
        self._history = {}
        self._room_pages = {}
        self.rooms.on_offline()
        self._held = []  # never confirmed: the server sends them again
        self._cancel_hold()
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
        frames = client.take_output()
        if not frames:
            return
        for frame in frames:
            conn.send(frame)
        if client.online:
            self._save_resume(client)

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
        if (
            self._key is not None
            and isinstance(error, AuthError)
            and error.condition not in ("temporary-auth-failure", "key-derivation")
        ):
            self._key_rejected()
            return
        if self._fresh_start_helps(error):
            # Resuming went wrong (a saved state older than what the server
            # saw, or a server that broke the stream right after resuming):
            # a fresh session at once, once; the outbox is re-sent and the
            # archive fills in.
            self._forget_resume()
            self._stream_resumed = False
            self._fresh_after_error = True
            self._attempts = 0
            if self.state not in (CONNECTING, RECONNECTING):
                self._set_state(RECONNECTING, RECONNECTING_MESSAGE)
            self._schedule_reconnect(0.0)
            return
        # A resume attempt (also a new page's first) goes on like an online
        # session: the session waits on the server, trying again may help.
        resumable = self._resumable or self._resuming
        if not resumable or self._password is None or self._address is None:
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
        self._schedule_reconnect(delay)
        if self.state != RECONNECTING:
            self._set_state(RECONNECTING, RECONNECTING_MESSAGE)

    def _fresh_start_helps(self, error: RoostError) -> bool:
        if self._password is None or self._address is None or self._fresh_after_error:
            return False
        if not (self._resuming or self._stream_resumed):
            return False
        if isinstance(error, StreamError) and not error.retryable:
            return error.condition != "conflict"  # signed in elsewhere: a person decides
        if isinstance(error, AuthError):
            return False  # the password: a person decides
        if isinstance(error, ProtocolError):
            return True
        # The link went (a NetworkError, or a retryable stream error such as
        # the connection manager's remote-connection-failed when its TCP
        # connection to the server breaks): the session hibernates on the
        # server, so the next connection resumes it. Starting afresh instead
        # leaves it hibernating, and messages to our bare JID routed to it
        # reach us only through the archive. Only a stream that ended while
        # our <resume/> waited for its answer may have ended because of it
        # (Prosody closes on one it can't take): then afresh, at once. (A
        # cut just then looks the same; Prosody 0.12 has dropped the session
        # by the next attempt anyway: it answers item-not-found.)
        return self._resume_asked

    def _schedule_reconnect(self, delay: float) -> None:
        self._cancel_reconnect()
        self._reconnect_timer = self.platform.call_later(delay, self._reconnect)

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
        if address is None or password is None or not isinstance(url, str) or not url:
            return
        if self.state not in (RECONNECTING, CONNECTING) or not self.network_up:
            return  # offline: `set_network(True)` tries again
        self._drop_connection()
        # Once the stored data is read (a remembered session starting offline
        # may get the network back before that).
        self._when_ready(lambda: self._connect(url, address, password))

    def _cancel_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            self.platform.cancel(self._reconnect_timer)
            self._reconnect_timer = None

    def set_network(self, up: bool) -> None:
        """The browser went offline / online (the UI, from window events).

        Offline: a socket may stay open without working for minutes, so the
        connection counts as lost at once. Online: reconnect now, not at the
        end of the backoff.
        """
        up = bool(up)
        was_up, self.network_up = self.network_up, up
        if not up and was_up and self._client is not None and self._resumable:
            self._drop_connection()
            self._lost(NetworkError(True, "the device is offline"))
        elif up and not was_up and self.state == RECONNECTING:
            self._attempts = 0
            self._schedule_reconnect(0.0)
        if not up and self.state == RECONNECTING and self.message != OFFLINE_MESSAGE:
            self._set_state(RECONNECTING, OFFLINE_MESSAGE)

    # -- liveness (XEP-0199) ----------------------------------------------------------
    def _arm_ping(self, delay: float) -> None:
        self._cancel_ping()
        self._ping_timer = self.platform.call_later(delay, self._check_alive)

    def _cancel_ping(self) -> None:
        if self._ping_timer is not None:
            self.platform.cancel(self._ping_timer)
            self._ping_timer = None

    def _probe_resumed(self, client: XmppClient) -> None:
        """A resumed session counts once the server answers the <r/> the
        stream sent with it. Prosody 0.12 resumes a session whose connection
        was cut inside a stanza with its old input parser still inside that
        stanza: everything sent afterwards is swallowed (no acks, no replies,
        messages never go out) while its messages still come to us. No <a/>
        in time: start afresh (the outbox is re-sent, the archive fills in)."""
        self._cancel_probe()
        self._probe_seen = client.acks_received

        def check() -> None:
            self._probe_timer = None
            if client is self._client and client.acks_received == self._probe_seen:
                self._fail(ProtocolError("the resumed session doesn't answer"))

        self._probe_timer = self.platform.call_later(RESUME_PROBE_TIMEOUT, check)

    def _probe_answered(self, client: XmppClient) -> None:
        """An <a/> came: the resumed session reads us."""
        if self._probe_timer is not None and client.acks_received != self._probe_seen:
            self._cancel_probe()

    def _cancel_probe(self) -> None:
        if self._probe_timer is not None:
            self.platform.cancel(self._probe_timer)
            self._probe_timer = None

    def _check_alive(self) -> None:
        """Ping after PING_IDLE quiet seconds; no frame PING_TIMEOUT later: lost."""
        self._ping_timer = None
        client = self._client
        if client is None or not client.online:
            return
        now = self.platform.now()
        if self._pinged_at > self._last_inbound:  # asked, and nothing came back
            if now - self._pinged_at >= PING_TIMEOUT:
                self._pinged_at = 0.0
                self._fail(NetworkError(True, "the server stopped answering"))
                return
            self._arm_ping(self._pinged_at + PING_TIMEOUT - now)
            return
        quiet = now - self._last_inbound
        if quiet < PING_IDLE:
            self._arm_ping(PING_IDLE - quiet)
            return
        client.ping()
        self._pinged_at = now
        self._flush()
        self._arm_ping(PING_TIMEOUT)

    def _on_frame(self, text: str) -> None:
        client = self._client
        if client is None:
            return
        self._last_inbound = self.platform.now()
        try:
            element = self.platform.parse(text)
        except XmlError as exc:
            self._fail(exc)
            return
        events = client.receive(element)
        if self._probe_timer is not None:
            self._probe_answered(client)
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
        client = self._client
        stored = 0  # events the server may forget only once they are stored
        for event in events:
            if self._client is None:
                return  # the session ended while handling an earlier event
            if isinstance(event, _HELD) and self._catching_up():
                # Held until the archive caught up: placed after it, in the
                # order the server sent them (and acked to it only then).
                self._held.append(event)
                continue
            if event.needs_confirm:
                stored += 1
            if isinstance(event, ChatReceived):
                self._on_chat(event.message)
            elif isinstance(event, ChatSent):
                self._on_chat_sent(event.message)
            elif isinstance(event, ArchiveMessage):
                self._on_archive_message(event)
            elif isinstance(event, ArchiveDone):
                self._on_archive_done(event)
            elif isinstance(event, (ArchiveGap, ArchiveFailed)):
                self._on_archive_failed(event)
            elif isinstance(event, Acked):
                self._on_acked(event.ids)
            elif isinstance(event, PresenceChanged):
                self._on_presence(event)
            elif isinstance(event, NeedSaltedPassword):
                self._derive(event)
            elif isinstance(event, Online):
                self._on_online(str(event.jid.bare), resumed=False)
            elif isinstance(event, Resumed):
                self._on_online(str(event.jid.bare), resumed=True)
            elif isinstance(event, ResumeFailed):
                self._forget_resume()  # that session is gone; a fresh one follows (Online)
            elif isinstance(event, SmFailed):
                self._no_acks()
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
                peer = self._peer_conversation(event.from_jid)
                if peer is not None:
                    self._on_receipt(peer, event.id, DELIVERED)
            elif isinstance(event, Marker):
                kind = DELIVERED if event.kind == "received" else READ
                peer = self._peer_conversation(event.from_jid)
                if peer is not None:
                    self._on_receipt(peer, event.id, kind)
            elif isinstance(event, ChatState):
                peer = self._peer_conversation(event.from_jid)
                if peer is not None:
                    self._on_chat_state(peer, event.state)
            elif isinstance(event, PUSH_EVENTS) and self.push.handle(event):
                pass  # answers to Web Push setup (app/push.py)
            elif isinstance(event, E2E_EVENTS) and self.e2e.handle(event):
                pass  # OMEMO's PEP answers and device lists
            elif isinstance(event, ROOM_EVENTS):
                self.rooms.handle(event)
            elif isinstance(event, Closed):
                self._on_stream_closed(event)
            # Dropped: forged or malformed input, already refused by the core.
        if stored and client is not None and client is self._client:
            self._confirm_when_stored(client, stored)
        if self._outbox_due and self._client is not None:
            # After the whole batch: `Resumed` comes before the `Acked` for
            # what the server already had, which must leave the outbox first.
            self._outbox_due = False
            self._send_outbox()

    def _no_acks(self) -> None:
        """The server refused stream management: messages already handed over
        will never be acked, and "sent" is as far as we'll know for them."""
        store = self.store
        if store is not None:
            sent = [m.id for m in store.outbox() if m.state == SENT and m.id is not None]
            for m in store.acked(sent):
                store.set_state(m, SENT)
                self._emit("message", m.conversation, m)

    def _catching_up(self) -> bool:
        sync = self._sync
        return sync is not None and not sync.finished and sync.holding

    def _cancel_hold(self) -> None:
        if self._hold_timer is not None:
            self.platform.cancel(self._hold_timer)
            self._hold_timer = None

    def _arm_hold(self, sync: _Sync) -> None:
        """(Re)start the HOLD_MAX wait: at the start and after every archive
        page. A big catch-up on a slow page takes longer than HOLD_MAX in all
        while progressing, and live messages let through early end up before
        the archived ones still coming (the chaos test saw 0950 before 0500)."""
        self._cancel_hold()
        if sync.holding and not sync.finished:
            self._hold_timer = self.platform.call_later(
                HOLD_MAX, lambda: self._stop_holding(sync)
            )

    def _stop_holding(self, sync: _Sync) -> None:
        """A catch-up with no page for HOLD_MAX (stuck): live messages show now
        (their place among the archive's may be off; none is lost)."""
        self._hold_timer = None
        if self._probe_timer is not None:
            # The catch-up may be stuck because the resumed session swallows
            # our queries: the probe decides (a fresh session catches up
            # again), and live messages let through now would go before
            # the ones it brings.
            self._arm_hold(sync)
            return
        if sync is self._sync and not sync.finished and sync.holding:
            sync.holding = False
            self._release_held(sync)
            self._flush()

    def _release_held(self, sync: _Sync) -> None:
        """The catch-up is over: handle the messages that came meanwhile.

        One the catch-up already added as history (no cursor: not counted as
        unread) but that came to us as a message (offline storage) is unread.
        """
        held, self._held = self._held, []
        client, store = self._client, self.store
        if not held or client is None or store is None:
            return
        for event in held:
            if isinstance(event, ChatReceived):
                chat = event.message
                bare = str(chat.from_jid.bare)
                known = store.known(bare, bare, chat.archive_id, chat.origin_id, chat.id)
                if known is not None and id(known) in sync.created and not sync.missed:
                    sync.created.discard(id(known))
                    if self.active != bare:
                        store.set_unread(bare, store.unread(bare) + 1)
                self._on_chat(chat)
            elif isinstance(event, ChatSent):
                self._on_chat_sent(event.message)
            else:
                self.rooms.handle(event)
        self._confirm_when_stored(client, sum(1 for e in held if e.needs_confirm))

    def _confirm_when_stored(self, client: XmppClient, n: int) -> None:
        """XEP-0198: count `n` received stanzas as handled once the store has
        written them (a reload before that gets them again: resumption, archive)."""
        store = self.store
        generation = self._generation

        def confirm() -> None:
            if generation == self._generation and client is self._client:
                client.confirm_handled(n)
                self._flush()
                self._save_resume(client)  # a reload resumes after what is stored

        if store is None:
            confirm()
        else:
            store.after_write(confirm)

    def _on_online(self, own: str, resumed: bool) -> None:
        client = self._client
        if client is None:
            return
        self._cancel_deadline()
        self.own_jid = own
        self._remember_login()
        self._resumable = True
        self._attempts = 0
        self._resuming = False
        self._stream_resumed = resumed
        if not resumed:
            self._fresh_after_error = False
        if resumed:
            # The same session: nothing was missed, unacknowledged stanzas
            # come again. The roster is the one we have (stored, or shown).
            self._roster_ready = True
            self._roster_saved = True
            for contact in self.contacts.values():
                contact.resources.clear()  # presence comes again (a reload lost it)
            self._probe_resumed(client)
        # A session that isn't resumable would keep the outbox waiting for acks
        # that never come: then "sent" is as far as we can know.
        self._set_state(ONLINE)
        self._arm_ping(PING_IDLE)
        if resumed or not self.visible:
            # A resumed session keeps the server's CSI state of before.
            client.set_active(self.visible)
        if not resumed or not self._synced:
            # A new session, or one whose catch-up didn't finish: (again) from
            # the cursor. `_synced` means this session's catch-up finished.
            sync = self._sync = _Sync()  # waits for the roster (and stored data)
            self._synced = False
            self._arm_hold(sync)
        self._outbox_due = True  # sent at the end of this batch (see _handle)
        self._maybe_sync()
        # After the archive query: the server then leaves out offline
        # messages (the catch-up brings them), instead of pushing copies.
        # What it archives after answering that query and before handling
        # this presence doesn't come to us: the catch-up asks once more
        # (`_Sync.early`).
        client.send_initial_presence()
        self.rooms.on_online(resumed)  # after our presence: joins, bookmarks
        self.e2e.online(resumed)  # OMEMO: this device announced, keys published
        self.push.online(resumed)  # Web Push: registered and enabled (XEP-0357)
        self._save_resume(client, now=True)

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
        key = self._key
        if key is not None:
            # Remembered login: the stored key, if the server still asks for it.
            client = self._client
            if not key.fits(event.hash_name, event.salt, event.iterations):
                self._key_rejected()
            elif client is not None:
                self._flush()
                self._handle(client.provide_salted_password(key.salted_password))
                self._flush()
            return

        def done(salted: bytes) -> None:
            client = self._client
            if generation == self._generation and client is not None:
                try:  # kept (if trusted) once the server has accepted it
                    self._derived = ScramKey(
                        scram_mechanism(event.hash_name), event.salt, event.iterations, salted
                    )
                except (KeyError, ValueError):
                    self._derived = None
                self._flush()
                self._handle(client.provide_salted_password(salted))
                self._flush()

        def failed(exc: Exception) -> None:
            if generation == self._generation:
                self._fail(AuthError("key-derivation", str(exc)))

        self.platform.pbkdf2(event.hash_name, password, event.salt, event.iterations, done, failed)

    def _remember_login(self) -> None:
        """Online after a password login on a trusted device: keep its SCRAM
        key (never the password), so the next start needs no password. From
        now on this session's reconnects use the key too, and the password
        leaves memory. Over PLAIN there is no key: say it can't be remembered."""
        if not self.trusted or self._key is not None or self._address is None:
            return
        derived, self._derived = self._derived, None
        if derived is None:  # SASL PLAIN
            self.remembered = False
            self.platform.remember_login(None)
            self._emit("notice", PLAIN_ONLY_NOTICE)
            return
        record: dict[str, object] = {"account": str(self._address)}
        record.update(derived.to_record())
        self.platform.remember_login(record)
        self._key = derived
        self._password = ""
        self.remembered = True

    def _key_rejected(self) -> None:
        """The server refused the remembered key (the password was changed
        elsewhere, or its SCRAM salt or count): forget it, and ask for the
        password with the address filled in. What is stored stays, so a
        password login as the same account carries on (outbox included)."""
        address = str(self._address or "")
        self.platform.remember_login(None)
        client = self._client
        if client is not None:
            client.close()
            self._flush()
        self._drop_connection()
        self._key = None
        self._derived = None
        self.remembered = False
        self._resumable = False
        self._password = None
        self._forget_resume()
        self.login_address = address
        self._set_state(OFFLINE, KEY_REJECTED_MESSAGE)

    def _on_roster(self, event: RosterLoaded) -> None:
        self._roster_ready = True
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
        storage, store = self._storage, self.store
        if storage is not None and store is not None and self.trusted:
            # One transaction: a page closed meanwhile leaves the old roster
            # or the new one, never part of it. Until it is written, the
            # session's resumption state isn't stored (a resumed session
            # doesn't fetch the roster again).
            deletes: list[tuple[str, object]] = [(ROSTER_STORE, b) for b in old if b not in fresh]
            puts: list[tuple[str, object, object]] = [
                (ROSTER_STORE, b, c.to_store()) for b, c in fresh.items()
            ]

            def roster_written() -> None:
                if self.store is store:
                    self._roster_saved = True
                    self._save_resume(now=True)

            storage.write(puts, deletes, roster_written)
        self._emit("roster")
        self._maybe_sync()

    def _on_roster_push(self, event: RosterChanged) -> None:
        item = event.item
        bare = str(item.jid)
        storage = self._storage if self.trusted else None
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

    # -- messages in ----------------------------------------------------------------
    def _add(
        self,
        bare: str,
        sender: str,
        chat: ChatMessage,
        stamp: float,
        outgoing: bool,
        state: str,
        archive_id: str | None,
        older: bool = False,
        live: bool = True,
    ) -> tuple[StoredMessage, bool] | None:
        """Put a message into the store; None without a store.

        One that carries OMEMO goes in without text (never the sender's
        fallback body) and is decrypted after (app/e2e.py); a key-transport
        one (no payload) isn't a message: only the session takes it.
        """
        store = self.store
        if store is None:
            return None
        encrypted = chat.encrypted or chat.encrypted2  # legacy, or OMEMO 2
        if encrypted is not None and not self.rooms.is_private(bare):
            author = (self.own_jid or "") if outgoing else bare
            if _no_payload(chat):
                self.e2e.received(bare, author, chat, None, live)
                return None
            added = store.add(
                bare, sender, "", stamp, id=chat.id, outgoing=outgoing, state=state,
                archive_id=archive_id, origin_id=chat.origin_id, replaces=chat.replaces,
                older=older,
            )
            if added[1] and added[0].kind == "message":
                self.e2e.received(bare, author, chat, added[0], True)
            return added
        return store.add(
            bare, sender, chat.body, stamp, id=chat.id, outgoing=outgoing, state=state,
            archive_id=archive_id, origin_id=chat.origin_id, replaces=chat.replaces,
            older=older,
        )

    def _shown(self, bare: str, m: StoredMessage, created: bool, unread: bool) -> None:
        """Tell the UI about a stored message: a new one, or a corrected one."""
        store = self.store
        if store is None:
            return
        if not created or m.kind != "message":
            return  # a copy of a known one, or a correction waiting for its message
        if unread and self.active != bare:
            store.set_unread(bare, store.unread(bare) + 1)
        self._read_stored(store, bare)
        self._emit("messages", bare, [m])

    @staticmethod
    def _read_stored(store: MessageStore, bare: str) -> None:
        """A conversation that gets messages is read from storage (in the
        background), so a copy of a stored message is merged soon, not only
        when the chat is opened."""
        if not store.is_loaded(bare):
            store.load_conversation(bare)

    def _live_stamp(self, bare: str, delay: float | None) -> float:
        """The time of a message that came over the stream: its XEP-0203 delay
        (offline storage, a resumed session's re-sends) or now, but never
        before what the conversation already shows: the stream delivers in
        order, while delay stamps are whole seconds of the server's clock
        and now is this device's (they needn't agree)."""
        # Whole seconds, like the server's stamps: ties are then broken by the
        # order things arrived in (the store's seq), not by two clocks.
        stamp = delay if delay is not None else float(int(self.platform.now()))
        store = self.store
        last = store.last_stamp(bare) if store is not None else 0.0
        return max(stamp, last)

    def _conversation_of(self, peer: JID | None, marked: bool, live: bool) -> str | None:
        """The conversation a chat message with `peer` goes to: a private one
        with a room occupant (room@service/nick, app/rooms.py), else the
        peer's bare JID; None when it goes nowhere (a chat message from a
        room's JID that is no private message: never into the room's own
        conversation, which holds only what the room sends as groupchat)."""
        if peer is None:
            return None
        key = self.rooms.private_key(peer, marked, live)
        if key is not None:
            return key
        bare = str(peer.bare)
        return None if self.rooms.is_room(bare) else bare

    def _peer_conversation(self, jid: JID) -> str | None:
        """The conversation of a receipt, marker or chat state from `jid`."""
        return self._conversation_of(jid, False, True)

    def _on_chat(self, chat: ChatMessage) -> None:
        # A private message counts only from a room we are in (SECURITY.md:
        # room@service/nick is anyone's address otherwise).
        bare = self._conversation_of(chat.from_jid, chat.muc_private, True)
        if not chat.body or bare is None:
            return
        if chat.chat_state is not None and not self.rooms.is_private(bare):
            self._state_peers.add(bare)
        self._set_typing(bare, False)  # the message is what they were typing
        stamp = self._live_stamp(bare, chat.stamp)
        added = self._add(bare, bare, chat, stamp, False, RECEIVED, chat.archive_id)
        self._seen_archive_id(chat.archive_id, stamp)
        if added is None:
            return
        m, created = added
        if chat.replaces:
            if created and m.kind == "message":
                self._emit("message", bare, m)  # corrected in place (XEP-0308)
            return
        m.markable = m.markable or chat.markable
        self._shown(bare, m, created, unread=True)
        if created:
            self._mark_displayed()

    def _on_chat_sent(self, chat: ChatMessage) -> None:
        """A message the user sent from another client (a XEP-0280 sent carbon)."""
        if not chat.body or chat.to_jid is None:
            return
        # Ours to an occupant (our other client wrote it): the private conversation.
        bare = self._conversation_of(chat.to_jid, chat.muc_private, False)
        if bare is None or bare == self.own_jid:
            return  # a note to self: not a 1:1 conversation
        stamp = self._live_stamp(bare, chat.stamp)
        sender = self.own_jid or str(chat.from_jid.bare)
        added = self._add(bare, sender, chat, stamp, True, SERVER, chat.archive_id)
        if added is None:
            return
        m, created = added
        if chat.replaces:
            if created and m.kind == "message":
                self._emit("message", bare, m)
            return
        self._shown(bare, m, created, unread=False)

    # -- archive catch-up (XEP-0313) ---------------------------------------------
    def _maybe_sync(self) -> None:
        """Start the catch-up once online and the stored data is read (so
        dedup sees what the device has). The roster asked for at login comes
        before the archive's answer (the server answers in order)."""
        sync, client, store = self._sync, self._client, self.store
        if (
            sync is None
            or sync.query_id is not None
            or sync.finished
            or client is None
            or not client.online
            or store is None
            or not store.ready
        ):
            return
        cursor = store.cursor(GLOBAL)
        after = cursor.archive_id if cursor is not None else None
        sync.missed = after is not None
        sync.after = after
        # No cursor stored: this device's first catch-up, or a reload of its
        # tab before any catch-up was committed. The tab remembers (sync)
        # when its first one began: from then on everything is fetched, not
        # only the newest ARCHIVE_HISTORY (messages came meanwhile).
        began = None if after is not None else self._first_sync_began()
        if after is not None:
            sync.forward = True
            sync.query_id = client.query_archive(after_id=after, max=ARCHIVE_PAGE)
        elif began is not None:
            sync.forward = True
            sync.query_id = client.query_archive(
                start=began - FIRST_SYNC_MARGIN, max=ARCHIVE_PAGE
            )
        else:
            sync.forward = False
            sync.query_id = client.query_archive(before_last=True, max=ARCHIVE_PAGE)
        sync.early = client.presence_held
        self._emit("sync", 0, None, False)

    def _on_archive_message(self, event: ArchiveMessage) -> None:
        room_page = self._room_pages.get(event.query_id)
        if room_page is not None or self.rooms.owns_query(event.query_id) is not None:
            if room_page is None:
                room_page = self._room_pages[event.query_id] = []
            room_page.append(event)
            return
        sync = self._sync
        if sync is not None and event.query_id == sync.query_id:
            sync.page.append(event)
            return
        history = self._history.get(event.query_id)
        if history is not None:
            history.page.append(event)

    def _on_archive_done(self, event: ArchiveDone) -> None:
        sync, client = self._sync, self._client
        if client is None or self._room_archive_done(event):
            return
        if sync is None or event.query_id != sync.query_id:
            self._on_history_done(event)
            return
        page, sync.page = sync.page, []
        self._when_loaded(page, lambda: self._archive_page_done(sync, client, event, page))

    def _when_loaded(self, page: list[ArchiveMessage], fn: Callable[[], None]) -> None:
        """Run `fn` once the conversations of `page` are read from storage:
        dedup and order need what is stored, not only what is in memory."""
        store, own = self.store, self.own_jid
        if store is None:
            return
        missing: set[str] = set()
        for event in page:
            chat = event.message
            if not isinstance(chat, ChatMessage):
                continue  # a room's (its own queries: app/rooms.py)
            peer = chat.to_jid if event.direction == "out" else chat.from_jid
            bare = self._conversation_of(peer, chat.muc_private, False) or ""
            if bare and bare != own and not store.is_loaded(bare):
                missing.add(bare)
        if not missing:
            fn()
            return
        generation = self._generation
        left = [len(missing)]

        def one_loaded() -> None:
            left[0] -= 1
            if left[0] == 0 and generation == self._generation and self.store is store:
                fn()

        for bare in missing:
            store.load_conversation(bare, on_done=one_loaded)

    def _archive_page_done(
        self, sync: _Sync, client: XmppClient, event: ArchiveDone, page: list[ArchiveMessage]
    ) -> None:
        if sync is not self._sync or client is not self._client:
            return
        self._insert_archived(
            page, sync.missed, sync.created, after_known=sync.forward and sync.missed
        )
        sync.done += len(page)
        if event.count is not None and sync.total is None:
            sync.total = event.count if sync.forward else min(event.count, ARCHIVE_HISTORY)
        if sync.total is not None and sync.total < sync.done:
            sync.total = sync.done
        newest = None
        if page and event.last is not None:
            stamp = page[-1].stamp
            newest = (event.last, stamp if stamp is not None else self.platform.now())
        if sync.forward:
            if newest is not None:
                sync.newest = newest
            more = not event.complete and event.last is not None
            if more:
                sync.query_id = client.query_archive(after_id=event.last, max=ARCHIVE_PAGE)
        else:
            if sync.newest is None:
                sync.newest = newest  # the first page back is the newest
            left = ARCHIVE_HISTORY - sync.done
            more = not event.complete and event.first is not None and left > 0
            if more:
                sync.query_id = client.query_archive(
                    before_id=event.first, max=min(ARCHIVE_PAGE, left)
                )
        if more:
            sync.early = client.presence_held
        else:
            more = self._sync_tail(sync, client)
        if more:
            self._arm_hold(sync)  # progress: live messages keep waiting for it
            self._flush()  # also when run later, once storage was read
            self._emit("sync", sync.done, sync.total, False)
        else:
            self._finish_sync()

    def _room_archive_done(self, event: ArchiveDone | ArchiveGap | ArchiveFailed) -> bool:
        """A room's archive page is complete: hand it to the rooms once the
        room's stored messages are read (dedup). True when it was a room's."""
        room = self.rooms.owns_query(event.query_id)
        page = self._room_pages.pop(event.query_id, [])
        store = self.store
        if room is None or store is None:
            return room is not None
        generation = self._generation

        def loaded() -> None:
            if generation == self._generation and self.store is store:
                self.rooms.on_archive_page(room, page, event)
                self._flush()

        store.load_conversation(room.jid, on_done=loaded)
        return True

    def _on_archive_failed(self, event: ArchiveGap | ArchiveFailed) -> None:
        sync, client = self._sync, self._client
        if client is None or self._room_archive_done(event):
            return
        if sync is None or event.query_id != sync.query_id:
            self._on_history_failed(event)
            return
        page, sync.page = sync.page, []
        self._when_loaded(page, lambda: self._archive_page_failed(sync, client, event, page))

    def _archive_page_failed(
        self,
        sync: _Sync,
        client: XmppClient,
        event: ArchiveGap | ArchiveFailed,
        page: list[ArchiveMessage],
    ) -> None:
        if sync is not self._sync or client is not self._client:
            return
        self._insert_archived(
            page, sync.missed, sync.created, after_known=sync.forward and sync.missed
        )
        if isinstance(event, ArchiveGap) and sync.forward:
            # The cursor fell out of the archive: what came between is gone
            # from the server. Say so in every conversation, then take the
            # archive's last messages.
            self._mark_gaps()
            sync.forward = False
            sync.query_id = client.query_archive(before_last=True, max=ARCHIVE_PAGE)
            sync.early = client.presence_held
            self._flush()  # also when run later, once storage was read
            return
        self._finish_sync()

    def _first_sync_began(self) -> float | None:
        """When this tab's first catch-up without a cursor began (trusted only),
        noted now if this is it: None then."""
        if not self.trusted:
            return None
        key = "roost-first-sync:" + str(self._address or "")
        began = self.platform.unstash(key)
        if isinstance(began, (int, float)) and not isinstance(began, bool):
            return float(began)
        self.platform.stash(key, self.platform.now())
        return None

    def _sync_tail(self, sync: _Sync, client: XmppClient) -> bool:
        """The catch-up's pages are in, but the last was asked for before our
        initial presence (`_Sync.early`): ask once more, after the newest
        archive id seen (or the starting cursor). True when it asked."""
        if not sync.early:
            return False
        anchor = sync.newest[0] if sync.newest is not None else sync.after
        if anchor is not None:
            sync.forward = True
            sync.query_id = client.query_archive(after_id=anchor, max=ARCHIVE_PAGE)
        else:  # an empty archive, asked backwards: the same again
            sync.query_id = client.query_archive(before_last=True, max=ARCHIVE_PAGE)
        # Sent after the presence `_on_online` sent right after the first
        # query (this runs on that query's answer), so never early again.
        sync.early = client.presence_held
        return True

    def _mark_gaps(self) -> None:
        store = self.store
        if store is None:
            return
        cursor = store.cursor(GLOBAL)
        after = cursor.archive_id if cursor is not None else None
        for bare in store.conversations():
            # Also conversations not read from storage yet: their last activity.
            stamp = store.last_stamp(bare)
            if stamp:
                gap = store.add_gap(bare, stamp, after, None)
                self._emit("messages", bare, [gap])

    def _finish_sync(self) -> None:
        sync, store = self._sync, self.store
        if sync is None:
            return
        sync.finished = True
        sync.query_id = None
        self._synced = True
        self._cancel_hold()
        self._release_held(sync)
        if sync.newest is not None and store is not None:
            store.set_cursor(GLOBAL, sync.newest[0], sync.newest[1])
        self._emit("sync", sync.done, sync.total, True)

    def _seen_archive_id(self, archive_id: str | None, stamp: float) -> None:
        """A live message's archive id: the new cursor, once caught up."""
        sync, store = self._sync, self.store
        if archive_id is not None and store is not None and (sync is None or sync.finished):
            store.set_cursor(GLOBAL, archive_id, stamp)

    def _insert_archived(
        self, page: list[ArchiveMessage], missed: bool, created: set[int] | None = None,
        older: bool = False, after_known: bool = False,
    ) -> list[str]:
        """Put a page of archived messages into the store (deduplicated against
        what is there: live copies, offline copies, stored history); tell the
        UI once per conversation. Returns the conversations that changed.

        `after_known`: a catch-up page from the cursor, so every new message
        in it came after all the conversation holds: none goes before its
        last one. Live copies carry this device's clock (whole seconds, taken
        when the busy page got to them, often a second after the server's
        archive time); the archive's own times alone put messages missed live
        before ones received live just ahead of them (the chaos test)."""
        own = self.own_jid or ""
        now = self.platform.now()
        store = self.store
        if store is None:
            return []
        created_in: dict[str, list[Entry]] = {}
        # Archive stamps as they are: ties (whole seconds) go by the order
        # the archive gave them in (the store's seq), and live messages wait
        # for the catch-up (`_held`), so they follow it.
        # Paging back (`older`): newest first, each placed before the known ones.
        for event in reversed(page) if older else page:
            chat = event.message
            if not isinstance(chat, ChatMessage) or not chat.body:
                continue
            outgoing = event.direction == "out"
            # Private messages with occupants go to their own conversation
            # (our archive keeps them under the room's bare JID).
            peer = chat.to_jid if outgoing else chat.from_jid
            found = self._conversation_of(peer, chat.muc_private, False)
            if found is None:
                continue
            bare = found
            sender = own if outgoing else bare
            if not bare or bare == own:
                continue  # a note to self: not a 1:1 conversation
            stamp = event.stamp if event.stamp is not None else now
            if after_known:
                stamp = max(stamp, store.last_stamp(bare))
            state = SERVER if outgoing else RECEIVED
            added = self._add(
                bare, sender, chat, stamp, outgoing, state, event.archive_id, older, live=False
            )
            if added is None:
                continue
            m, is_new = added
            if not is_new or m.kind != "message":
                continue
            if chat.replaces:
                self._emit("message", bare, m)
                continue
            m.markable = chat.markable and not outgoing
            created_in.setdefault(bare, []).append(m)
            if created is not None:
                created.add(id(m))
        for bare, entries in created_in.items():
            if older:
                entries.reverse()
            self._read_stored(store, bare)
            if missed and self.active != bare:
                incoming = sum(
                    1 for m in entries if isinstance(m, StoredMessage) and not m.outgoing
                )
                if incoming:
                    store.set_unread(bare, store.unread(bare) + incoming)
            self._emit("messages", bare, entries)
        if created_in:
            self._mark_displayed()
        return list(created_in)

    # -- one conversation's older history (scrolling up) -----------------------------
    def load_older(self, bare: str) -> bool:
        """Ask the archive for the page before the oldest message of `bare`.

        True when a query went out ("history" follows); False when there is
        nothing older, one is running, the catch-up is, or we're not online.
        """
        client, store = self._client, self.store
        if client is None or not client.online or store is None or store.is_complete(bare):
            return False
        if self.rooms.is_private(bare):
            # Our archive files them under the room, mixed with every other
            # occupant's: the catch-up after login brings them, no paging back.
            store.set_complete(bare)
            return False
        if self._catching_up():
            # Messages that came meanwhile (offline storage) are held until the
            # catch-up ends and may be this chat's newest: page back after them.
            return False
        for history in self._history.values():
            if history.jid == bare:
                return False
        oldest = store.oldest_archive_id(bare)
        query_id = self._archive_before(client, bare, oldest)
        self._flush()
        self._history[query_id] = _History(bare, query_id)
        return True

    def fill_gap(self, bare: str, stamp: float, seq: int) -> bool:
        """Ask the archive for the messages of the gap at (stamp, seq) of `bare`
        (the gap row's button): paging back from the message after it."""
        client, store = self._client, self.store
        if client is None or not client.online or store is None:
            self._emit("notice", "You're not connected right now.")
            return False
        gap = None
        for candidate in store.gaps(bare):
            if candidate.key == (stamp, seq):
                gap = candidate
        if gap is None or any(h.gap is gap for h in self._history.values()):
            return False
        after = [e for e in store.after(bare, gap.key, 20) if isinstance(e, StoredMessage)]
        before_id = None
        for m in after:
            if m.archive_id:
                before_id = m.archive_id
                break
        query_id = self._archive_before(client, bare, before_id)
        self._flush()
        self._history[query_id] = _History(bare, query_id, gap)
        return True

    def _archive_before(self, client: XmppClient, bare: str, before_id: str | None) -> str:
        """A page of `bare`'s history before `before_id` (None: the newest):
        a room's own archive, or ours filtered by the contact."""
        if self.rooms.is_room(bare):
            return client.query_archive(
                room=bare, before_id=before_id, before_last=before_id is None, max=HISTORY_PAGE
            )
        if self.rooms.is_private(bare):
            bare = bare[: bare.find("/")]  # archived under the room: each goes to its own chat
        return client.query_archive(
            with_jid=bare, before_id=before_id, before_last=before_id is None, max=HISTORY_PAGE
        )

    def _insert_history(self, history: _History) -> None:
        if self.rooms.is_room(history.jid):
            self.rooms.insert_history(history.jid, history.page)
        else:
            self._insert_archived(history.page, False, older=True)

    def _on_history_done(self, event: ArchiveDone) -> None:
        history = self._history.pop(event.query_id, None)
        store = self.store
        if history is None or store is None:
            return
        gap = history.gap
        self._insert_history(history)
        if gap is not None:
            # Filled when the page reaches back past the gap; else it stays
            # (narrower: newer messages came) for another try, or for good
            # when the archive has nothing older: it no longer holds them.
            if any((r.stamp or 0.0) <= gap.stamp for r in history.page):
                store.fill_gap(gap)
                self._emit("gap", history.jid, gap)
            elif event.complete or not history.page:
                self._emit("notice", "Those messages are no longer on the server.")
            return
        if event.complete or event.first is None:
            store.set_complete(history.jid)
        self._emit("history", history.jid, not store.is_complete(history.jid))

    def _on_history_failed(self, event: ArchiveGap | ArchiveFailed) -> None:
        history = self._history.pop(event.query_id, None)
        if history is None:
            return
        self._insert_history(history)
        if history.gap is None:
            self._emit("history", history.jid, False)
        if isinstance(event, ArchiveFailed):
            self._emit("notice", "Older messages couldn't be loaded from the server.")

    # -- states of own messages -------------------------------------------------------
    def _on_acked(self, ids: list[str]) -> None:
        """XEP-0198: the server has these messages: out of the outbox, "server"."""
        store = self.store
        if store is None:
            return
        done = store.acked(ids)
        for m in done:
            self._emit("message", m.conversation, m)
        if done:
            # Out of the tab's copy only once storage has them as sent: a
            # reload before that would find them nowhere but in the archive.
            store.after_write(self._stash_outbox)

    def _advance(self, m: StoredMessage, state: str) -> bool:
        """Move an own message's state forward (never from queued or failed)."""
        store = self.store
        current = STATE_RANK.get(m.state)
        if store is None or current is None or current == 0 or current >= STATE_RANK[state]:
            return False
        store.set_state(m, state)
        return True

    def _on_receipt(self, bare: str, message_id: str, state: str) -> None:
        """A receipt ("delivered") or displayed marker ("read") from `bare` for
        our message `message_id` (the core checked we sent it to `bare`).
        States only move forward; "read" (XEP-0333) also covers every earlier
        own message of the conversation."""
        store, own = self.store, self.own_jid
        if store is None or own is None:
            return
        m = store.find(bare, message_id, own)
        if m is None or not m.outgoing:
            return
        changed = [m] if self._advance(m, state) else []
        if state == READ:
            key = m.key
            while True:
                earlier = store.before(bare, key, 100)
                if not earlier:
                    break
                done = False
                for entry in reversed(earlier):
                    if not isinstance(entry, StoredMessage) or not entry.outgoing:
                        continue
                    if entry.state == READ:
                        done = True  # everything before it was read too
                        break
                    if self._advance(entry, READ):
                        changed.append(entry)
                if done:
                    break
                key = earlier[0].key
        for entry in changed:
            self._emit("message", bare, entry)

    def _on_message_failed(self, event: MessageFailed) -> None:
        store = self.store
        if event.id is None or store is None:
            return
        m = store.fail(event.id)
        if m is None and self.own_jid is not None:
            # No longer in the outbox (acked): a bounce still outranks the ack.
            for bare in store.conversations():
                m = store.find(bare, event.id, self.own_jid)
                if m is not None:
                    break
            if m is not None and m.outgoing:
                store.set_state(m, FAILED)
        if m is not None and m.outgoing:
            self._emit("message", m.conversation, m)
            if self.rooms.is_private(m.conversation):
                # The room bounced it (most often: they left the room).
                self._emit("notice", self.rooms.private_failed(
                    m.conversation, event.error.condition))
            else:
                self._emit("notice", event.error.user_message)

    # -- typing and markers ---------------------------------------------------------
    def _on_chat_state(self, bare: str, state: str) -> None:
        if not self.rooms.is_private(bare):
            # Only they get ours (XEP-0085 §5.1); never occupants (private
            # messages): our typing stays out of rooms.
            self._state_peers.add(bare)
        self._set_typing(bare, state == "composing")

    def _set_typing(self, bare: str, typing: bool) -> None:
        """Show / stop showing that `bare` is typing (event `("typing", bare, bool)`);
        a "composing" without a follow-up ends after TYPING_TIMEOUT."""
        timer = self.peers_typing.pop(bare) if bare in self.peers_typing else None
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
        bare, client, store = self.active, self._client, self.store
        if bare is None or not self.visible or client is None or not client.online:
            return
        if self.rooms.is_room(bare) or self.rooms.is_private(bare):
            return  # no markers to a room, nor through it to an occupant
        if store is None:
            return
        latest = store.latest(bare, 50)
        for i in range(len(latest) - 1, -1, -1):
            entry = latest[i]
            if not isinstance(entry, StoredMessage) or entry.outgoing:
                continue
            if not entry.markable or entry.id is None:
                continue
            if self._marked.get(bare) != entry.id:
                self._marked[bare] = entry.id
                client.send_marker(bare, "displayed", entry.id)
                self._flush()
            return

    def set_visible(self, visible: bool) -> None:
        """The page became visible / hidden (the UI, from document.visibilityState).

        Hidden: tell the server we're inactive (XEP-0352), so it may hold back
        presence noise; visible: active again, and the open chat is read.
        """
        self.visible = bool(visible)
        client = self._client
        if client is not None and client.online:
            client.set_active(self.visible)
            self._flush()
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

    def send_message(self, bare_jid: str, text: str) -> StoredMessage | None:
        """Send `text` to `bare_jid`; returns the new outgoing message.

        It goes into the outbox first (stored on a trusted device) under an id
        of its own, which it keeps when it goes out, and leaves the outbox
        only when the server has it: "queued" while offline, then "sent",
        "server". None (and a notice) when it can't even be queued.
        """
        if not text.strip():
            return None
        private = self.rooms.is_private(bare_jid)
        # A private conversation is an occupant's JID (room@service/nick).
        jid = self.rooms.private_jid(bare_jid) if private else self._bare(bare_jid)
        store = self.store
        if jid is None:
            if private:
                self._emit("notice", "That is not an address in a room.")
            return None
        client = self._client
        online = client is not None and client.online
        refusal = self.rooms.private_refusal(str(jid)) if private else None
        room = None if private else self.rooms.rooms.get(str(jid))
        if room is not None and not room.want:
            refusal = "You're not in this room. Join it first."
        if refusal is not None:
            self._emit("notice", refusal)
            return None
        if store is None or (not online and not self._resumable):
            self._emit("notice", "You're not connected right now.")
            return None
        # What is shown here is what the other side gets (see clean_text).
        text = clean_text(text)
        bare = str(jid)
        sender = self.own_jid or str(self._address or "")
        if self._typing_to == bare:
            self._stop_typing()  # the message itself carries <active/>
        message_id = "r" + self.platform.random_bytes(12).hex()
        stamp = self._live_stamp(bare, None)
        m = store.queue(bare, sender, text, stamp, message_id)
        if room is not None:
            m.omemo = self.e2e.room_mode(bare)  # OMEMO in members-only, non-anonymous rooms
        elif not private:
            # "want": encrypted before it goes (app/e2e.py); "check": decided
            # once the contact's devices are known; None: plaintext.
            m.omemo = self.e2e.outgoing_mode(bare)
        # Written now, not with the next batch, and kept in the tab too: a
        # reload right after Enter (before IndexedDB commits) must find it.
        store.flush()
        self._stash_outbox()
        self._emit("messages", bare, [m])
        if online:
            self._send_outbox()
        return m

    def _send_outbox(self) -> None:
        """Send what the outbox holds, oldest first, each under its own id:
        queued messages, and "sent" ones this stream doesn't carry (after a
        reconnect that couldn't resume, or a resumed state older than them)."""
        client, store = self._client, self.store
        if client is None or not client.online or store is None:
            return
        carried = set(client.unacked_ids())  # sent on this stream, not yet acked
        sent: list[str] = []
        for m in store.outbox():
            if m.id is None or m.id in carried or (m.state != QUEUED and m.state != SENT):
                continue
            if m.omemo is not None:
                # The padlock was on: encrypted first, then sent (app/e2e.py),
                # or failed with the reason. Never as plaintext from here.
                self.e2e.send(m)
                continue
            if self.rooms.is_room(m.conversation):
                if not self.rooms.send(m):
                    continue  # waits until the room is joined
            elif self.rooms.is_private(m.conversation):
                outcome = self.rooms.send_private(m)
                if outcome == "wait":
                    continue  # waits until the room is joined
                if outcome == "failed":  # we left the room: it can't go
                    store.fail(m.id)
                    self._emit("message", m.conversation, m)
                    continue
            else:
                client.send_chat(m.conversation, m.body, id=m.id)
            store.mark_sent(m.id)
            sent.append(m.id)
            self._emit("message", m.conversation, m)
        # XEP-0198: ask at once, so "received by the server" shows promptly.
        if sent and not client.request_ack() and not client.sm_active:
            # No stream management: "sent" is as far as we'll ever know, and
            # keeping them in the outbox would send them again.
            for m in store.acked(sent):
                store.set_state(m, SENT)
        self._flush()

    def open_chat(self, bare_jid: str) -> None:
        """Make `bare_jid` the active conversation, mark it read and read its
        stored history: "loaded" (bare) follows once its newest messages are
        in the store (at once when they already are)."""
        store = self.store
        self.active = bare_jid
        self.rooms.opened(bare_jid)
        if not self.rooms.is_room(bare_jid) and not self.rooms.is_private(bare_jid):
            self.e2e.conversation_opened(bare_jid)  # its devices: the padlock's default
        if store is None:
            self._emit("loaded", bare_jid)
            return
        store.set_unread(bare_jid, 0)

        def first_page() -> None:
            if self.store is store:
                self._emit("loaded", bare_jid)
                self._mark_displayed()

        def all_read() -> None:
            if self.store is store:
                self._emit("history", bare_jid, not store.is_complete(bare_jid))

        store.load_conversation(bare_jid, first_page, all_read)

    def messages(self, bare_jid: str) -> list[StoredMessage]:
        """The messages of a conversation held in memory, oldest first."""
        store = self.store
        if store is None:
            return []
        return [
            e for e in store.latest(bare_jid, store.count(bare_jid))
            if isinstance(e, StoredMessage)
        ]

    def unread(self, bare_jid: str) -> int:
        return 0 if self.store is None or bare_jid == self.active else self.store.unread(bare_jid)

    def preview(self, bare_jid: str) -> str:
        return "" if self.store is None else self.store.preview(bare_jid)

    # -- group chats (app/rooms.py) ----------------------------------------------------
    def join_room(
        self, address: str, nick: str | None = None, password: str | None = None
    ) -> str | None:
        """Join the room at `address` ("room@server" or an xmpp:…?join link);
        its bare JID, or None (and a notice) when it isn't a room address."""
        return self.rooms.join(address, nick, password)

    def leave_room(self, room: str) -> None:
        self.rooms.leave(room)

    def rooms_list(self) -> list[str]:
        return self.rooms.room_list()

    def room(self, room: str) -> Room | None:
        return self.rooms.rooms.get(room)

    def is_room(self, bare: str) -> bool:
        return self.rooms.is_room(bare)

    def display_sender(self, room: str, m: StoredMessage) -> str:
        return self.rooms.display_sender(room, m)

    def is_mention(self, room: str, m: StoredMessage) -> bool:
        return self.rooms.is_mention(room, m)

    def browse_rooms(self, domain: str | None = None) -> None:
        self.rooms.browse(domain)

    def kick(self, room: str, nick: str, reason: str | None = None) -> None:
        self.rooms.kick(room, nick, reason)

    def ban(self, room: str, nick: str, reason: str | None = None) -> None:
        self.rooms.ban(room, nick, reason)

    def set_subject(self, room: str, subject: str) -> None:
        self.rooms.set_subject(room, subject)

    @property
    def room_admin(self) -> RoomAdmin:
        """Invitations, creating and configuring rooms, members (app/room_admin.py)."""
        return self.rooms.admin

    # -- private messages with occupants, moderation (app/rooms.py) -------------------
    def is_private(self, key: str) -> bool:
        """`key` is a private conversation with a room occupant (room@service/nick)."""
        return self.rooms.is_private(key)

    def open_private(self, room: str, nick: str) -> str | None:
        """The private conversation with `nick` in `room` (to `open_chat`); None
        when that is no valid occupant address."""
        return self.rooms.open_private(room, nick)

    def conversation_title(self, key: str) -> str:
        """How a conversation is named: "nick (in Room Name)" for a private one,
        a room's name, a contact's name, else the address."""
        if self.rooms.is_private(key):
            return self.rooms.private_title(key)
        room = self.rooms.rooms.get(key)
        if room is not None:
            return room.name
        contact = self.contacts.get(key)
        return contact.display_name if contact is not None else key

    def private_occupant(self, key: str) -> object:
        """The occupant of a private conversation while they are in the room
        (`RoomOccupant`: nick, show, ...), else None."""
        return self.rooms.private_occupant(key)

    def can_moderate(self, room: str, m: object) -> bool:
        """`m` of `room` may be removed by us (moderator, and the room archived it)."""
        return self.rooms.can_moderate(room, m)

    def moderate_message(
        self, room: str, message_key: tuple[float, int], reason: str | None = None
    ) -> bool:
        """Ask `room` to remove the message at `message_key` ((stamp, seq), the
        row's cursor) for everyone (XEP-0425); True when asked. Its row
        changes when the room announces it; a refusal is a notice."""
        return self.rooms.moderate(room, (float(message_key[0]), int(message_key[1])), reason)

    def conversation_list(self) -> list[str]:
        """Conversations with messages, most recent first."""
        store = self.store
        if store is None:
            return []
        return [
            b for b in store.conversations()
            if (store.count(b) or store.preview(b)) and not self.rooms.is_room(b)
        ]

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
        self.requests = {}
        self.own_jid = None
        self.active = None
        self._marked = {}
        self._state_peers = set()
        self._synced = False
        self._resume = None
        self.rooms.reset()

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
        store = self.store = MessageStore(
            storage, self.platform.call_later, self.platform.cancel, persist=trusted
        )
        if trusted:
            store.on_committed = self._stash_outbox
        self._ready = False
        pending = [2 if trusted else 1]

        def one_done() -> None:
            pending[0] -= 1
            if pending[0] == 0 and self.store is store:
                self._ready = True
                fn, self._on_ready = self._on_ready, None
                if fn is not None:
                    fn()
                self._maybe_sync()

        def got_resume(value: object) -> None:
            if self.store is store and isinstance(value, dict) and self._resume is None:
                self._resume = value
            one_done()

        def loaded() -> None:
            if self.store is store:
                self._emit("roster")  # previews and unread counts are known now
            one_done()

        if trusted:
            # Before the load and before anything typed now: the stashed
            # messages are older, so they must get the earlier seqs.
            self._unstash_outbox(store)
        store.load(loaded)
        if trusted:
            storage.get(META_STORE, RESUME_KEY, got_resume)
            storage.all(ROSTER_STORE, lambda result: self._loaded_roster(store, result))

    def _loaded_roster(self, store: MessageStore, result: object) -> None:
        if store is not self.store or self._roster_ready:
            return  # logged out meanwhile, or the server's roster is newer
        for value in _values(result):
            if "jid" in value:
                contact = Contact.from_store(value)
                self.contacts.setdefault(contact.jid, contact)
        self._emit("roster")

    def _stash_key(self) -> str:
        return "roost-outbox:" + str(self._address or "")

    def _stash_outbox(self) -> None:
        """Trusted device: own messages whose record may not be in IndexedDB
        yet (the outbox, and sent ones in a write not yet committed), kept
        synchronously in the tab's session storage too: IndexedDB writes
        don't survive a reload that comes before they commit."""
        store = self.store
        if store is None or not self.trusted:
            return
        items = [
            [m.id, m.conversation, m.body, m.stamp, m.state, m.omemo]
            for m in store.unconfirmed()
            if m.id is not None and m.kind == "message"
        ]
        self.platform.stash(self._stash_key(), items or None)

    def _unstash_outbox(self, store: MessageStore) -> None:
        """Before the store loads: what the tab kept goes back in, in its
        order; waiting ones into the outbox (same ids: a message the server
        already has is recognised as a copy), the others with their state.
        Copies of stored records merge with them at the stored place."""
        items = self.platform.unstash(self._stash_key())
        sender = str(self._address or "")
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, list) or len(item) not in (4, 5, 6):
                continue
            msg_id, bare, body, stamp = item[:4]
            state = item[4] if len(item) >= 5 else QUEUED
            # OMEMO: one that was to go encrypted still must (never plaintext).
            omemo = item[5] if len(item) == 6 else None
            if not (isinstance(msg_id, str) and isinstance(bare, str) and isinstance(body, str)):
                continue
            if not isinstance(stamp, (int, float)) or store.find(bare, msg_id, sender) is not None:
                continue
            if state in (QUEUED, SENT):
                m = store.queue(bare, sender, body, float(stamp), msg_id)
                if isinstance(omemo, str):
                    m.omemo = "want" if omemo in ("want", "pending", "ok") else omemo
            elif state in (SERVER, DELIVERED, READ, FAILED):
                m, _created = store.add(bare, sender, body, float(stamp), id=msg_id,
                                        outgoing=True, state=state, origin_id=msg_id)
                if isinstance(omemo, str):
                    m.omemo = omemo

    def _save_resume(self, client: XmppClient | None = None, now: bool = False) -> None:
        """Keep the XEP-0198 state of `client` (default: the current one):
        in memory for the next connection, and, on a trusted device, in
        storage for the next page (written at most every RESUME_SAVE_DELAY)."""
        client = client or self._client
        if client is None:
            return
        state = client.resume_state()
        if state is None:
            return
        self._resume = state
        storage = self._storage
        if storage is None or not self.trusted or not self._roster_saved:
            return
        if now:
            if self._resume_timer is not None:
                self.platform.cancel(self._resume_timer)
                self._resume_timer = None
            storage.put(META_STORE, RESUME_KEY, state)
        elif self._resume_timer is None:
            self._resume_timer = self.platform.call_later(
                RESUME_SAVE_DELAY, self._write_resume
            )

    def _write_resume(self) -> None:
        self._resume_timer = None
        client = self._client
        if client is not None and client.online:
            self._save_resume(client, now=True)
        elif self._resume is not None and self._storage is not None and self.trusted:
            self._storage.put(META_STORE, RESUME_KEY, self._resume)

    def _forget_resume(self) -> None:
        self._resume = None
        self._resuming = False
        if self._resume_timer is not None:
            self.platform.cancel(self._resume_timer)
            self._resume_timer = None
        if self._storage is not None and self.trusted:
            self._storage.delete(META_STORE, RESUME_KEY)

    def flush_storage(self) -> None:
        """Write pending changes now (the UI calls it when the page is hidden)."""
        if self.store is not None:
            self.store.flush()
        if self._resume_timer is not None:
            self._write_resume()
