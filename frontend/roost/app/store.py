"""`MessageStore`: the local message store (docs/architecture.md, "Local message store").

Sans-I/O over the injected `Storage`: every conversation has an in-memory
index ordered by `(stamp, seq)` (two parallel lists, binary search, so an
insert is one `list.insert` and a page is one slice), plus the dedup maps
of XEP-0359. A message is the same as a known one when

1. its archive stanza-id matches (ids assigned by the own account or the
   room, validated by the caller: SECURITY.md), else
2. its origin-id matches one from the same sender (even under another
   archive id: a message re-sent after a broken connection is archived
   twice and is still one message), else
3. (sender bare JID, message id) matches, unless the known message has a
   *different* archive id (ids that aren't origin-ids get reused). A later copy enriches
the known one (archive id, origin id, state) and never adds an entry.

`seq` is unique in the account and increases with insertion; it breaks ties
between equal stamps and is the record's key in storage. Writes are batched:
changes are collected and written in one `Storage.write` per `STORE_DELAY`
(trusted storage only; an untrusted session keeps everything in memory).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from roost.app.ports import MessageStorage

MESSAGE = "message"
GAP = "gap"
CORRECTION = "correction"  # a XEP-0308 correction, applied to its target

QUEUED = "queued"
SENT = "sent"
SERVER = "server"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
RECEIVED = "received"
# A later copy may move a message's state forward, never back.
# What a message removed by a room moderator (XEP-0425) shows instead.
RETRACTED_TEXT = "This message was removed by a moderator."
_STATE_RANK = {QUEUED: 0, FAILED: 1, SENT: 2, SERVER: 3, DELIVERED: 4, READ: 5, RECEIVED: 0}

GLOBAL = ""  # the cursor key of the account's own archive
STORE_DELAY = 0.25  # seconds: writes within it are coalesced into one transaction
FIRST_PAGE = 50  # records read first when a conversation is loaded
# The rest is read in pages of REST_PAGE: one page is one task, so a long
# history never blocks the page for long while it is read.
REST_PAGE = 500
PREVIEW_CHARS = 200
# Moderations remembered per conversation for messages not in memory yet.
MAX_PENDING_RETRACTIONS = 500

_MESSAGES = "messages"
_OUTBOX = "outbox"
_CURSORS = "cursors"
_CONVERSATIONS = "conversations"


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


class StoredMessage:
    """One message of a conversation (or, `kind == "correction"`, a correction).

    Reads like `models.Message` (id, conversation, sender, body, outgoing,
    stamp, state) plus `archive_id`, `origin_id`, `replaces` (the id this
    corrects, XEP-0308), `edited` (id of the last correction applied) and
    `seq`. `key` = (stamp, seq) orders a conversation. `retracted`: a room
    moderator removed it (XEP-0425): `body` is then RETRACTED_TEXT (the
    text itself is gone) and `retract_reason` the moderator's reason, if any.

    OMEMO (app/omemo.py): `omemo` is None for a plaintext message, else a
    code: "ok" (sent encrypted / decrypted), "want" (outgoing, to be
    encrypted before it leaves), "pending" (being decrypted: `sealed` holds
    this device's part of it, so a reload can try again), or why it can't be
    read or sent (`roost.app.omemo.REASONS`; `omemo_note` holds a sentence
    when the reason has details). `omemo_device`: the sender's device id.
    """

    __slots__ = (
        "archive_id",
        "body",
        "conversation",
        "edited",
        "id",
        "kind",
        "markable",
        "omemo",
        "omemo_device",
        "omemo_note",
        "origin_id",
        "outgoing",
        "replaces",
        "retract_reason",
        "retracted",
        "sealed",
        "sender",
        "seq",
        "stamp",
        "state",
    )

    def __init__(
        self,
        conversation: str,
        sender: str,
        body: str,
        stamp: float,
        id: str | None = None,
        outgoing: bool = False,
        state: str | None = None,
        archive_id: str | None = None,
        origin_id: str | None = None,
        replaces: str | None = None,
        seq: int = 0,
    ) -> None:
        self.kind = CORRECTION if replaces else MESSAGE
        self.seq = seq
        self.conversation = conversation
        self.id = id
        self.sender = sender
        self.body = body
        self.stamp = stamp
        self.outgoing = outgoing
        self.state = state or (SENT if outgoing else RECEIVED)
        self.archive_id = archive_id
        self.origin_id = origin_id
        self.replaces = replaces
        self.edited: str | None = None
        self.retracted = False
        self.retract_reason: str | None = None
        self.omemo: str | None = None
        self.omemo_device: int | None = None
        self.omemo_note: str | None = None
        self.sealed: dict[str, object] | None = None
        # Incoming with a XEP-0333 <markable/>: a "displayed" marker may be
        # sent for it. Memory only: old history is never marked again.
        self.markable = False

    @property
    def key(self) -> tuple[float, int]:
        return (self.stamp, self.seq)

    def __repr__(self) -> str:
        return f"StoredMessage({self.seq}, {self.sender!r}, {self.body!r}, {self.state!r})"

    def to_store(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "conversation": self.conversation,
            "id": self.id,
            "sender": self.sender,
            "body": self.body,
            "stamp": self.stamp,
            "outgoing": self.outgoing,
            "state": self.state,
            "archive_id": self.archive_id,
            "origin_id": self.origin_id,
            "replaces": self.replaces,
            "edited": self.edited,
            "retracted": self.retracted,
            "retract_reason": self.retract_reason,
            "omemo": self.omemo,
            "omemo_device": self.omemo_device,
            "omemo_note": self.omemo_note,
            "sealed": self.sealed,
        }

    @classmethod
    def from_store(cls, value: dict[str, object]) -> StoredMessage:
        record = cls(
            str(value.get("conversation") or ""),
            str(value.get("sender") or ""),
            str(value.get("body") or ""),
            _float(value.get("stamp")),
            _opt_str(value.get("id")),
            bool(value.get("outgoing")),
            _opt_str(value.get("state")),
            _opt_str(value.get("archive_id")),
            _opt_str(value.get("origin_id")),
            _opt_str(value.get("replaces")),
            int(value.get("seq") or 0),  # type: ignore[call-overload]
        )
        record.edited = _opt_str(value.get("edited"))
        record.retracted = bool(value.get("retracted"))
        record.retract_reason = _opt_str(value.get("retract_reason"))
        record.omemo = _opt_str(value.get("omemo"))
        device = value.get("omemo_device")
        record.omemo_device = device if isinstance(device, int) else None
        record.omemo_note = _opt_str(value.get("omemo_note"))
        sealed = value.get("sealed")
        record.sealed = sealed if isinstance(sealed, dict) else None
        return record


class Gap:
    """Messages the archive holds between `after_id` and `before_id` that we don't.

    Sits in the conversation's order at (stamp, seq): after the messages
    known when it was made with a stamp <= `stamp`.
    """

    __slots__ = ("after_id", "before_id", "conversation", "seq", "stamp")

    kind = GAP

    def __init__(
        self,
        conversation: str,
        stamp: float,
        after_id: str | None,
        before_id: str | None,
        seq: int = 0,
    ) -> None:
        self.conversation = conversation
        self.stamp = stamp
        self.after_id = after_id
        self.before_id = before_id
        self.seq = seq

    @property
    def key(self) -> tuple[float, int]:
        return (self.stamp, self.seq)

    def __repr__(self) -> str:
        return f"Gap({self.seq}, {self.after_id!r}..{self.before_id!r})"

    def to_store(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "kind": GAP,
            "conversation": self.conversation,
            "stamp": self.stamp,
            "after_id": self.after_id,
            "before_id": self.before_id,
        }

    @classmethod
    def from_store(cls, value: dict[str, object]) -> Gap:
        return cls(
            str(value.get("conversation") or ""),
            _float(value.get("stamp")),
            _opt_str(value.get("after_id")),
            _opt_str(value.get("before_id")),
            int(value.get("seq") or 0),  # type: ignore[call-overload]
        )


if TYPE_CHECKING:
    Entry = StoredMessage | Gap


class Cursor:
    """How far an archive has been synced: the last archive id seen and its stamp."""

    __slots__ = ("archive_id", "stamp")

    def __init__(self, archive_id: str | None, stamp: float) -> None:
        self.archive_id = archive_id
        self.stamp = stamp

    def to_store(self) -> dict[str, object]:
        return {"archive_id": self.archive_id, "stamp": self.stamp}


def _bisect(keys: list[tuple[float, int]], key: tuple[float, int]) -> int:
    """The leftmost index whose key is >= `key`."""
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


class _Conversation:
    """The in-memory index of one conversation."""

    __slots__ = (
        "by_archive",
        "by_id",
        "by_origin",
        "complete",
        "corrections",
        "items",
        "jid",
        "keys",
        "load_state",
        "on_loaded",
        "preview",
        "retractions",
        "stamp",
        "unread",
    )

    def __init__(self, jid: str) -> None:
        self.jid = jid
        self.keys: list[tuple[float, int]] = []  # (stamp, seq), ascending
        self.items: list[Entry] = []  # parallel to keys
        self.by_archive: dict[str, StoredMessage] = {}
        self.by_origin: dict[tuple[str, str], StoredMessage] = {}
        self.by_id: dict[tuple[str, str], StoredMessage] = {}
        # Corrections whose target isn't known yet: (sender, target id) → correction.
        self.corrections: dict[tuple[str, str], StoredMessage] = {}
        # Moderations (XEP-0425) of archive ids not in memory yet (a room's
        # conversation not read from storage, or history still on its way):
        # archive id → reason. Applied when that message comes in.
        self.retractions: dict[str, str | None] = {}
        self.load_state = 0  # 0: not loaded, 1: loading, 2: loaded
        self.on_loaded: list[Callable[[], None]] = []
        self.stamp = 0.0  # last activity
        self.unread = 0
        # The archive has nothing older than the oldest message here.
        self.complete = False
        # The newest message's text, as stored (shown before the records are read).
        self.preview = ""

    def summary(self) -> dict[str, object]:
        """The `conversations` record: enough to list it before its messages are read."""
        return {
            "jid": self.jid,
            "stamp": self.stamp,
            "unread": self.unread,
            "complete": self.complete,
            "preview": self.last_text(),
        }

    def last_text(self) -> str:
        """The newest message's text (at most PREVIEW_CHARS), for the contact list."""
        for entry in reversed(self.items):
            if isinstance(entry, StoredMessage):
                if entry.omemo is not None and entry.omemo not in ("ok", "want"):
                    return "Encrypted message"  # not readable (yet): never the fallback text
                return entry.body[:PREVIEW_CHARS]
        return self.preview

    def insert(self, entry: Entry) -> None:
        key = entry.key
        keys = self.keys
        if not keys or keys[-1] < key:
            keys.append(key)
            self.items.append(entry)
        else:
            i = _bisect(keys, key)
            keys.insert(i, key)
            self.items.insert(i, entry)
        if entry.stamp > self.stamp:
            self.stamp = entry.stamp

    def insert_block(self, entries: list[Entry]) -> None:
        """Insert entries sorted by key; a block older than all known ones is one splice."""
        if not entries:
            return
        if not self.keys or entries[-1].key < self.keys[0]:
            self.keys[0:0] = [e.key for e in entries]
            self.items[0:0] = entries
            if entries[-1].stamp > self.stamp:
                self.stamp = entries[-1].stamp
            return
        for entry in entries:
            self.insert(entry)

    def remove(self, entry: Entry) -> bool:
        i = _bisect(self.keys, entry.key)
        if i < len(self.items) and self.items[i] is entry:
            del self.keys[i]
            del self.items[i]
            return True
        return False

    def register(self, m: StoredMessage) -> None:
        if m.archive_id:
            self.by_archive.setdefault(m.archive_id, m)
        if m.origin_id:
            self.by_origin.setdefault((m.sender, m.origin_id), m)
        if m.id:
            self.by_id.setdefault((m.sender, m.id), m)

    def unregister(self, m: StoredMessage) -> None:
        if m.archive_id and self.by_archive.get(m.archive_id) is m:
            del self.by_archive[m.archive_id]
        if m.origin_id and self.by_origin.get((m.sender, m.origin_id)) is m:
            del self.by_origin[(m.sender, m.origin_id)]
        if m.id and self.by_id.get((m.sender, m.id)) is m:
            del self.by_id[(m.sender, m.id)]

    def find_same(
        self, sender: str, archive_id: str | None, origin_id: str | None, msg_id: str | None
    ) -> StoredMessage | None:
        """The known message this one is a copy of (XEP-0359 rules, module docstring)."""
        if archive_id:
            found = self.by_archive.get(archive_id)
            if found is not None:
                return found
        if origin_id:
            # A sender's origin-id is unique (XEP-0359) whatever the archive
            # says: a message sent twice (a re-send after a connection broke)
            # is archived twice, under two archive ids, and is still one.
            found = self.by_origin.get((sender, origin_id))
            if found is not None:
                return found
        if msg_id:
            found = self.by_id.get((sender, msg_id))
            if found is not None and (
                not archive_id or not found.archive_id or found.archive_id == archive_id
            ):
                return found
        return None


class MessageStore:
    """Messages, gaps, sync cursors and the outbox of one account.

    `storage` is the platform `Storage` (v2 API: `write`, `query`, `latest`,
    `before`); `call_later`/`cancel` are the platform's timers. With
    `persist` (default: `storage.trusted`) changes are written, batched;
    otherwise nothing is written and `load` finds nothing.
    """

    __slots__ = (
        "_call_later",
        "_cancel",
        "_conversations",
        "_cursors",
        "_deletes",
        "_dirty",
        "_dirty_conversations",
        "_dirty_cursors",
        "_inflight",
        "_low_seq",
        "_next_seq",
        "_outbox",
        "_outbox_deletes",
        "_outbox_dirty",
        "_provisional",
        "_timer",
        "_waiting",
        "on_committed",
        "persist",
        "ready",
        "storage",
    )

    def __init__(
        self,
        storage: MessageStorage,
        call_later: Callable[[float, Callable[[], object]], object],
        cancel: Callable[[Any], None],
        persist: bool | None = None,
    ) -> None:
        self.storage = storage
        self._call_later = call_later
        self._cancel = cancel
        self.persist = bool(getattr(storage, "trusted", False)) if persist is None else persist
        self._conversations: dict[str, _Conversation] = {}
        self._cursors: dict[str, Cursor] = {}
        self._outbox: list[StoredMessage] = []  # oldest first
        self._next_seq = 1
        # History paged in backwards gets seqs below every stored one (0, -1,
        # -2, …): at an equal stamp it then sorts before what came earlier.
        self._low_seq = 1
        # Until `load` has read the highest stored seq, new entries get
        # provisional seqs (renumbered then) and nothing is written.
        self.ready = not self.persist
        self._provisional: list[Entry] = []
        self._dirty: dict[int, Entry] = {}  # id(entry) → entry, to put
        self._deletes: set[int] = set()  # seqs to delete from `messages`
        self._outbox_dirty: dict[int, StoredMessage] = {}
        self._outbox_deletes: set[int] = set()
        self._dirty_cursors: set[str] = set()
        self._dirty_conversations: set[str] = set()
        self._timer: object = None
        self._waiting: list[Callable[[], None]] = []  # after_write callbacks
        # Own messages in a write not yet committed: id(m) → (m, writes).
        self._inflight: dict[int, tuple[StoredMessage, int]] = {}
        # Called when a write with own messages in it has committed.
        self.on_committed: Callable[[], None] | None = None

    # -- loading -------------------------------------------------------------------
    def load(self, cb: Callable[[], None] | None = None) -> None:
        """Read the highest seq, the cursors, the outbox and the conversation list.

        Messages are read per conversation (`load_conversation`).
        """
        if not self.persist:
            self.ready = True
            if cb is not None:
                cb()
            return
        pending = [5]

        def one_done() -> None:
            pending[0] -= 1
            if pending[0] == 0:
                self._loaded()
                if cb is not None:
                    cb()

        def got_first(values: list[object]) -> None:
            for v in values:
                if isinstance(v, dict):
                    self._low_seq = min(self._low_seq, int(v.get("seq") or 0))
            one_done()

        def got_last(values: list[object]) -> None:
            for v in values:
                if isinstance(v, dict):
                    self._next_seq = max(self._next_seq, int(v.get("seq") or 0) + 1)
            one_done()

        def got_cursors(result: dict[object, object]) -> None:
            for key, v in result.items():
                if isinstance(v, dict) and str(key) not in self._cursors:
                    self._cursors[str(key)] = Cursor(
                        _opt_str(v.get("archive_id")), _float(v.get("stamp"))
                    )
            one_done()

        def got_outbox(result: dict[object, object]) -> None:
            # (Dedup is by message ids: seqs given before the load are provisional.)
            stored = [StoredMessage.from_store(v) for v in result.values() if isinstance(v, dict)]
            stored.sort(key=lambda m: m.seq)
            older: list[StoredMessage] = []
            for m in stored:
                self._next_seq = max(self._next_seq, m.seq + 1)
                conv = self._conv(m.conversation)
                same = conv.find_same(m.sender, m.archive_id, m.origin_id, m.id)
                if same is None:
                    conv.register(m)
                    conv.insert(m)
                    older.append(m)
                else:  # queued again before the load (from the tab's stash)
                    self._enrich(same, m.archive_id, m.origin_id, m.id, m.state)
                    self._keep_stored_place(conv, same, m.seq)
            # What was stored is older than anything queued before the load.
            self._outbox[:0] = older
            one_done()

        def got_conversations(result: dict[object, object]) -> None:
            for key, v in result.items():
                conv = self._conv(str(key))
                if isinstance(v, dict):
                    conv.stamp = max(conv.stamp, _float(v.get("stamp")))
                    unread = v.get("unread")
                    if isinstance(unread, int) and not conv.unread:
                        conv.unread = unread
                    conv.complete = conv.complete or bool(v.get("complete"))
                    if not conv.items:
                        conv.preview = str(v.get("preview") or "")
            one_done()

        self.storage.query(_MESSAGES, None, None, None, got_last, reverse=True, limit=1)
        self.storage.all(_CURSORS, got_cursors)
        self.storage.all(_OUTBOX, got_outbox)
        self.storage.all(_CONVERSATIONS, got_conversations)
        self.storage.query(_MESSAGES, None, None, None, got_first, limit=1)

    def _loaded(self) -> None:
        """Give provisional entries real seqs (after every stored one), then write."""
        self.ready = True
        provisional, self._provisional = self._provisional, []
        touched: dict[str, _Conversation] = {}
        for entry in provisional:
            entry.seq = self._next_seq
            self._next_seq += 1
            touched[entry.conversation] = self._conversations[entry.conversation]
        for conv in touched.values():
            conv.items.sort(key=lambda e: e.key)
            conv.keys = [e.key for e in conv.items]
        if provisional:
            self._schedule()

    def load_conversation(
        self,
        jid: str,
        on_page: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        first: int = FIRST_PAGE,
    ) -> None:
        """Read a conversation's stored records into the index.

        The newest `first` come in one range query (`on_page()`: enough to
        show the chat), the rest in a second one (`on_done()`). Stored records
        go through the same dedup as new ones: a copy that arrived live in
        the meantime is merged, not doubled. Loaded conversations call back
        at once.
        """
        conv = self._conv(jid)
        if conv.load_state == 2 or not self.persist:
            conv.load_state = 2
            if on_page is not None:
                on_page()
            if on_done is not None:
                on_done()
            return
        if on_done is not None:
            conv.on_loaded.append(on_done)
        if conv.load_state == 1:
            if on_page is not None:
                on_page()
            return
        conv.load_state = 1

        def finished() -> None:
            conv.load_state = 2
            callbacks, conv.on_loaded = conv.on_loaded, []
            for fn in callbacks:
                fn()

        def read_before(values: list[object], page: int) -> None:
            if len(values) < page:
                finished()
                return
            oldest = values[0]
            key = (
                (_float(oldest.get("stamp")), int(oldest.get("seq") or 0))
                if isinstance(oldest, dict)
                else (0.0, 0)
            )
            self.storage.before(jid, key, REST_PAGE, got_rest)

        def got_rest(values: list[object]) -> None:
            self._merge_stored(conv, values)
            read_before(values, REST_PAGE)

        def got_latest(values: list[object]) -> None:
            self._merge_stored(conv, values)
            if on_page is not None:
                on_page()
            read_before(values, first)

        self.storage.latest(jid, first, got_latest)

    def _merge_stored(self, conv: _Conversation, values: list[object]) -> None:
        block: list[Entry] = []
        gap_seqs: set[int] | None = None
        for v in values:
            if not isinstance(v, dict):
                continue
            seq = int(v.get("seq") or 0)
            self._next_seq = max(self._next_seq, seq + 1)
            self._low_seq = min(self._low_seq, seq)
            if seq in self._deletes:
                continue  # removed here, not yet from storage
            if v.get("kind") == GAP:
                if gap_seqs is None:
                    gap_seqs = {e.seq for e in conv.items if isinstance(e, Gap)}
                if seq not in gap_seqs:
                    block.append(Gap.from_store(v))
                continue
            m = StoredMessage.from_store(v)
            if m.conversation != conv.jid:
                continue
            same = conv.find_same(m.sender, m.archive_id, m.origin_id, m.id)
            if same is not None:
                if same.seq != m.seq:  # stored twice: keep the one in memory
                    self._enrich(same, m.archive_id, m.origin_id, m.id, m.state)
                    self._keep_stored_place(conv, same, m.seq)
                continue
            conv.register(m)
            if m.kind == CORRECTION:
                continue  # already applied to its target before it was stored
            self._retract_pending(conv, m, None)
            block.append(m)
        conv.insert_block(block)

    def _keep_stored_place(self, conv: _Conversation, entry: Entry, stored_seq: int) -> None:
        """`entry` (in memory) and a stored record at `stored_seq` are one
        message: keep one record, at the earlier place. Ties between equal
        stamps go by seq, so a message queued again after a reload (a new,
        later seq) must not move behind messages written after it."""
        provisional = entry in self._provisional
        if not provisional and stored_seq >= entry.seq:
            self._deletes.add(stored_seq)
            self._schedule()
            return
        old = entry.seq
        shown = conv.remove(entry)  # corrections aren't in the index
        entry.seq = stored_seq
        if shown:
            conv.insert(entry)
        if provisional:
            self._provisional.remove(entry)
        else:
            self._deletes.add(old)
            if isinstance(entry, StoredMessage) and entry in self._outbox:
                self._outbox_deletes.add(old)
        self._touch(entry)

    # -- messages ------------------------------------------------------------------
    def _conv(self, jid: str) -> _Conversation:
        conv = self._conversations.get(jid)
        if conv is None:
            conv = self._conversations[jid] = _Conversation(jid)
        return conv

    def _new_seq(self, entry: Entry, older: bool = False) -> None:
        if older and self.ready:
            self._low_seq -= 1
            entry.seq = self._low_seq
            return
        entry.seq = self._next_seq
        self._next_seq += 1
        if not self.ready:
            self._provisional.append(entry)

    def add(
        self,
        conversation: str,
        sender: str,
        body: str,
        stamp: float,
        *,
        id: str | None = None,
        outgoing: bool = False,
        state: str | None = None,
        archive_id: str | None = None,
        origin_id: str | None = None,
        replaces: str | None = None,
        older: bool = False,
    ) -> tuple[StoredMessage, bool]:
        """Add a message (live, carbon, or archived); returns (record, created).

        `older`: it comes from paging back (history before what is known):
        at an equal stamp it goes before what is there (add such a page
        newest first).

        `created` is False when it was a copy of a known message (which may
        have been enriched: archive id, origin id, a later state). A
        correction (`replaces`, XEP-0308) from the message's own sender
        changes the target's body and `edited` and returns the target.
        `archive_id` must be a stanza-id the caller has checked (by = own
        account, or the room for a groupchat).
        """
        conv = self._conv(conversation)
        same = conv.find_same(sender, archive_id, origin_id, id)
        if same is not None:
            if self._enrich(same, archive_id, origin_id, id, state):
                self._touch(same)
                if _STATE_RANK.get(same.state, -1) >= _STATE_RANK[SERVER]:
                    self._drop_from_outbox(same)  # the server has it (its archive says so)
            if same.kind == CORRECTION:
                target = self._target(conv, same)
                return (target or same), False
            return same, False
        m = StoredMessage(
            conversation, sender, body, stamp, id, outgoing, state, archive_id, origin_id, replaces
        )
        self._new_seq(m, older)
        conv.register(m)
        if m.kind == CORRECTION:
            self._touch(m)  # stored, for dedup; not shown
            target = self._target(conv, m)
            if target is None:
                conv.corrections[(sender, replaces or "")] = m
                return m, True
            self._apply_correction(target, m)
            return target, True
        conv.insert(m)
        self._touch(m)
        pending = self._pending_correction(conv, m)
        if pending is not None:
            self._apply_correction(m, pending)
        self._retract_pending(conv, m, None)
        self._dirty_conversations.add(conversation)
        return m, True

    def known(
        self,
        conversation: str,
        sender: str,
        archive_id: str | None,
        origin_id: str | None,
        id: str | None,
    ) -> StoredMessage | None:
        """The message in memory `add` would take this one for (no change made)."""
        conv = self._conversations.get(conversation)
        if conv is None:
            return None
        return conv.find_same(sender, archive_id, origin_id, id)

    def _target(self, conv: _Conversation, correction: StoredMessage) -> StoredMessage | None:
        ref = correction.replaces or ""
        target = conv.by_origin.get((correction.sender, ref)) or conv.by_id.get(
            (correction.sender, ref)
        )
        return target if target is not None and target.kind == MESSAGE else None

    def _pending_correction(self, conv: _Conversation, m: StoredMessage) -> StoredMessage | None:
        corrections = conv.corrections
        if not corrections:
            return None  # nearly always: skip the lookups (this runs per message)
        for ref in (m.origin_id, m.id):
            if ref:
                found = corrections.pop((m.sender, ref), None)
                if found is not None:
                    return found
        return None

    def _apply_correction(self, target: StoredMessage, correction: StoredMessage) -> None:
        if target.sender != correction.sender:
            return  # only the author may correct (XEP-0308 §7)
        if target.retracted:
            return  # removed by a moderator: a correction doesn't bring text back
        target.body = correction.body
        target.edited = correction.id or correction.origin_id
        self._touch(target)

    def _enrich(
        self,
        m: StoredMessage,
        archive_id: str | None,
        origin_id: str | None,
        msg_id: str | None,
        state: str | None,
    ) -> bool:
        conv = self._conv(m.conversation)
        changed = False
        if archive_id and not m.archive_id:
            m.archive_id = archive_id
            conv.by_archive.setdefault(archive_id, m)
            changed = True
        elif archive_id:
            conv.by_archive.setdefault(archive_id, m)  # a second archive copy of it
        if archive_id and conv.retractions and self._retract_pending(conv, m, archive_id):
            changed = True
        if origin_id and not m.origin_id:
            m.origin_id = origin_id
            conv.by_origin.setdefault((m.sender, origin_id), m)
            changed = True
        if msg_id and not m.id:
            m.id = msg_id
            conv.by_id.setdefault((m.sender, msg_id), m)
            changed = True
        if state and _STATE_RANK.get(state, -1) > _STATE_RANK.get(m.state, -1):
            m.state = state
            changed = True
        return changed

    def find(self, conversation: str, id: str, sender: str | None = None) -> StoredMessage | None:
        """A message by its id or origin id (any sender unless `sender` is given)."""
        conv = self._conversations.get(conversation)
        if conv is None:
            return None
        if sender is not None:
            return conv.by_origin.get((sender, id)) or conv.by_id.get((sender, id))
        for table in (conv.by_origin, conv.by_id):
            for (_s, ref), m in table.items():
                if ref == id:
                    return m
        return None

    def retract(
        self, conversation: str, archive_id: str, reason: str | None = None
    ) -> StoredMessage | None:
        """A moderator removed the message with this archive id (XEP-0425):
        its text goes, here and in storage (a placeholder stays, so the
        thread still reads, with the reason). Returns the message changed;
        None when it was already removed or isn't in memory: then the
        removal waits for it (a stored record read later, a copy from the
        archive), so a message is never shown again after its removal."""
        conv = self._conv(conversation)
        m = conv.by_archive.get(archive_id)
        if m is None or m.kind != MESSAGE:
            pending = conv.retractions
            if archive_id not in pending and len(pending) >= MAX_PENDING_RETRACTIONS:
                del pending[next(iter(pending))]
            pending[archive_id] = reason
            return None
        if m.retracted:
            return None
        self._retract(conv, m, reason)
        return m

    def _retract_pending(
        self, conv: _Conversation, m: StoredMessage, archive_id: str | None
    ) -> bool:
        """Apply a removal that came before message `m` (by its archive id,
        or `archive_id`, another archive copy of it)."""
        pending = conv.retractions
        if not pending or m.kind != MESSAGE or m.retracted:
            return False
        for key in (m.archive_id, archive_id):
            if key and key in pending:
                self._retract(conv, m, pending.pop(key))
                return True
        return False

    def _retract(self, conv: _Conversation, m: StoredMessage, reason: str | None) -> None:
        m.body = RETRACTED_TEXT
        m.edited = None
        m.retracted = True
        m.retract_reason = reason or None
        self._touch(m)
        # Its corrections hold the text too (stored for dedup): emptied as well.
        refs = {ref for ref in (m.id, m.origin_id) if ref}
        for table in (conv.by_origin, conv.by_id):
            for record in table.values():
                if (record.kind == CORRECTION and record.sender == m.sender
                        and record.replaces in refs and record.body):
                    record.body = ""
                    self._touch(record)

    def set_state(self, message: StoredMessage, state: str) -> None:
        """Set a message's state (e.g. failed after a bounce, read after a marker)."""
        if message.state != state:
            message.state = state
            self._touch(message)

    # -- paging (the UI) -----------------------------------------------------------
    def latest(self, conversation: str, n: int) -> list[Entry]:
        """The newest `n` entries (messages and gaps), oldest first."""
        conv = self._conversations.get(conversation)
        if conv is None or n <= 0:
            return []
        return conv.items[-n:]

    def before(self, conversation: str, key: tuple[float, int], n: int) -> list[Entry]:
        """The `n` entries just older than `key` (an entry's `.key`), oldest first."""
        conv = self._conversations.get(conversation)
        if conv is None or n <= 0:
            return []
        i = _bisect(conv.keys, key)
        return conv.items[max(0, i - n) : i]

    def after(self, conversation: str, key: tuple[float, int], n: int) -> list[Entry]:
        """The `n` entries just newer than `key`, oldest first."""
        conv = self._conversations.get(conversation)
        if conv is None or n <= 0:
            return []
        i = _bisect(conv.keys, key)
        if i < len(conv.keys) and conv.keys[i] == key:
            i += 1
        return conv.items[i : i + n]

    def count(self, conversation: str) -> int:
        conv = self._conversations.get(conversation)
        return 0 if conv is None else len(conv.items)

    def conversations(self) -> list[str]:
        """Known conversations, most recent activity first."""
        convs = sorted(self._conversations.values(), key=lambda c: c.stamp, reverse=True)
        return [c.jid for c in convs]

    def last_stamp(self, conversation: str) -> float:
        """When the conversation last had a message (0.0: never), loaded or not."""
        conv = self._conversations.get(conversation)
        return 0.0 if conv is None else conv.stamp

    def unread(self, conversation: str) -> int:
        conv = self._conversations.get(conversation)
        return 0 if conv is None else conv.unread

    def set_unread(self, conversation: str, n: int) -> None:
        conv = self._conv(conversation)
        if conv.unread != n:
            conv.unread = n
            self._dirty_conversations.add(conversation)
            self._schedule()

    def preview(self, conversation: str) -> str:
        """The newest message's text (also before the conversation is read)."""
        conv = self._conversations.get(conversation)
        return "" if conv is None else conv.last_text()

    def is_complete(self, conversation: str) -> bool:
        """True once the archive has nothing older than what is here."""
        conv = self._conversations.get(conversation)
        return conv is not None and conv.complete

    def set_complete(self, conversation: str) -> None:
        conv = self._conv(conversation)
        if not conv.complete:
            conv.complete = True
            self._dirty_conversations.add(conversation)
            self._schedule()

    def oldest_archive_id(self, conversation: str) -> str | None:
        """The archive id of the oldest message here that has one (paging back)."""
        conv = self._conversations.get(conversation)
        if conv is None:
            return None
        for entry in conv.items:
            if isinstance(entry, StoredMessage) and entry.archive_id:
                return entry.archive_id
        return None

    def is_loaded(self, conversation: str) -> bool:
        conv = self._conversations.get(conversation)
        return not self.persist or (conv is not None and conv.load_state == 2)

    # -- gaps ----------------------------------------------------------------------
    def add_gap(
        self, conversation: str, stamp: float, after_id: str | None, before_id: str | None
    ) -> Gap:
        """Mark archive messages between `after_id` and `before_id` as missing.

        Placed after the known entries with a stamp <= `stamp` (use the stamp
        of the last message before the gap).
        """
        gap = Gap(conversation, stamp, after_id, before_id)
        self._new_seq(gap)
        self._conv(conversation).insert(gap)
        self._touch(gap)
        return gap

    def gaps(self, conversation: str) -> list[Gap]:
        conv = self._conversations.get(conversation)
        if conv is None:
            return []
        return [e for e in conv.items if isinstance(e, Gap)]

    def fill_gap(self, gap: Gap, after_id: str | None = None, stamp: float | None = None) -> None:
        """The archive gave (part of) the gap: remove it, or, with `after_id`,
        narrow it to start after that id (moved to `stamp`)."""
        conv = self._conv(gap.conversation)
        if not conv.remove(gap):
            return
        if after_id is None:
            self._dirty.pop(id_of(gap), None)
            self._forget(gap, self._deletes)
            return
        gap.after_id = after_id
        if stamp is not None:
            gap.stamp = stamp
        # A fresh seq puts it after every entry known now with that stamp.
        self._dirty.pop(id_of(gap), None)
        self._forget(gap, self._deletes)
        self._new_seq(gap)
        conv.insert(gap)
        self._touch(gap)

    def _forget(self, entry: Entry, deletes: set[int]) -> None:
        """Delete `entry` from storage (a provisional one was never written)."""
        for i, e in enumerate(self._provisional):
            if e is entry:
                if deletes is self._deletes:
                    del self._provisional[i]
                return
        deletes.add(entry.seq)
        self._schedule()

    # -- sync cursors ----------------------------------------------------------------
    def cursor(self, conversation: str = GLOBAL) -> Cursor | None:
        """The sync cursor of a conversation's archive (a room), or GLOBAL (own account)."""
        return self._cursors.get(conversation)

    def set_cursor(self, conversation: str, archive_id: str | None, stamp: float) -> None:
        """Record the newest archive id seen; an older stamp never moves it back."""
        old = self._cursors.get(conversation)
        if old is not None and stamp < old.stamp:
            return
        self._cursors[conversation] = Cursor(archive_id, stamp)
        self._dirty_cursors.add(conversation)
        self._schedule()

    # -- outbox ------------------------------------------------------------------------
    def queue(
        self, conversation: str, sender: str, body: str, stamp: float, id: str
    ) -> StoredMessage:
        """A message composed here, state `queued`, kept in the outbox until acked.

        `id` is stable (also the origin-id): resending after a reload uses
        it again, so the server and peers can recognise a repeat.
        """
        m, _created = self.add(
            conversation, sender, body, stamp, id=id, outgoing=True, state=QUEUED, origin_id=id
        )
        if m not in self._outbox:
            self._outbox.append(m)
            self._outbox_dirty[id_of(m)] = m
            self._schedule()
        return m

    def outbox(self) -> list[StoredMessage]:
        """Messages not yet acknowledged by the server, oldest first (send in this order)."""
        return list(self._outbox)

    def mark_sent(self, message_id: str) -> StoredMessage | None:
        """Handed to the connection (still in the outbox until acked)."""
        for m in self._outbox:
            if m.id == message_id:
                if _STATE_RANK[SENT] > _STATE_RANK.get(m.state, -1):
                    m.state = SENT
                    self._touch(m)
                return m
        return None

    def acked(self, message_ids: Iterable[str]) -> list[StoredMessage]:
        """The server has them (XEP-0198): out of the outbox, state `server`."""
        wanted = set(message_ids)
        done = [m for m in self._outbox if m.id in wanted]
        if not done:
            return []
        for m in done:
            self._drop_from_outbox(m)
            if _STATE_RANK[SERVER] > _STATE_RANK.get(m.state, -1):
                m.state = SERVER
            self._touch(m)
        return done

    def _drop_from_outbox(self, m: StoredMessage) -> None:
        for i, queued in enumerate(self._outbox):
            if queued is m:
                del self._outbox[i]
                self._outbox_dirty.pop(id_of(m), None)
                self._forget(m, self._outbox_deletes)
                return

    def fail(self, message_id: str) -> StoredMessage | None:
        """The server refused it: state `failed`, out of the outbox."""
        for m in self._outbox:
            if m.id == message_id:
                self._drop_from_outbox(m)
                m.state = FAILED
                self._touch(m)
                return m
        return None

    def pending_decryption(self) -> list[StoredMessage]:
        """Loaded messages still waiting to be decrypted (OMEMO, `sealed` kept)."""
        found: list[StoredMessage] = []
        for conv in self._conversations.values():
            for entry in conv.items:
                if isinstance(entry, StoredMessage) and entry.omemo == "pending" and entry.sealed:
                    found.append(entry)
        return found

    def messages_from_device(
        self, conversation: str, device_id: int, omemo: str
    ) -> list[StoredMessage]:
        """Loaded messages of `conversation` from OMEMO device `device_id` in state `omemo`."""
        conv = self._conversations.get(conversation)
        if conv is None:
            return []
        return [
            m for m in conv.items
            if isinstance(m, StoredMessage) and m.omemo == omemo and m.omemo_device == device_id
        ]

    def requeue(self, m: StoredMessage) -> None:
        """A failed message of ours goes back to the outbox (the user chose to
        send it again, e.g. unencrypted after encryption couldn't be done)."""
        if m.id is None or m in self._outbox:
            return
        m.state = QUEUED
        self._outbox.append(m)
        self._touch(m)

    def changed(self, m: StoredMessage) -> None:
        """`m` was changed in place (decrypted, say): write it with the next batch."""
        self._touch(m)

    # -- persistence -------------------------------------------------------------------
    def _touch(self, entry: Entry) -> None:
        self._dirty[id_of(entry)] = entry
        if isinstance(entry, StoredMessage) and entry in self._outbox:
            self._outbox_dirty[id_of(entry)] = entry
        self._dirty_conversations.add(entry.conversation)
        self._schedule()

    def _schedule(self) -> None:
        if self.persist and self.ready and self._timer is None:
            self._timer = self._call_later(STORE_DELAY, self._write)

    def _write(self) -> None:
        self._timer = None
        if not self.persist or not self.ready:
            return
        puts: list[tuple[str, object, object]] = []
        deletes: list[tuple[str, object]] = [(_MESSAGES, seq) for seq in sorted(self._deletes)]
        deletes.extend((_OUTBOX, seq) for seq in sorted(self._outbox_deletes))
        own: list[StoredMessage] = []
        for entry in self._dirty.values():
            puts.append((_MESSAGES, entry.seq, entry.to_store()))
            if isinstance(entry, StoredMessage) and entry.outgoing:
                own.append(entry)
        for m in self._outbox_dirty.values():
            puts.append((_OUTBOX, m.seq, m.to_store()))
        for key in self._dirty_cursors:
            cursor = self._cursors.get(key)
            if cursor is not None:
                puts.append((_CURSORS, key, cursor.to_store()))
        for jid in self._dirty_conversations:
            conv = self._conversations.get(jid)
            if conv is not None:
                puts.append((_CONVERSATIONS, jid, conv.summary()))
        self._dirty = {}
        self._deletes = set()
        self._outbox_dirty = {}
        self._outbox_deletes = set()
        self._dirty_cursors = set()
        self._dirty_conversations = set()
        waiting, self._waiting = self._waiting, []
        if own:
            for m in own:
                ref = id_of(m)
                self._inflight[ref] = (m, self._inflight.get(ref, (m, 0))[1] + 1)
            waiting.insert(0, lambda: self._committed(own))
        done = None if not waiting else (lambda: _run_all(waiting))
        if puts or deletes:
            self.storage.write(puts, deletes, done)
        elif done is not None:
            done()

    def _committed(self, own: list[StoredMessage]) -> None:
        for m in own:
            key = id_of(m)
            m_, writes = self._inflight.get(key, (m, 1))
            if writes <= 1:
                self._inflight.pop(key, None)
            else:
                self._inflight[key] = (m_, writes - 1)
        if self.on_committed is not None:
            self.on_committed()

    def unconfirmed(self) -> list[StoredMessage]:
        """Own messages whose latest record may not be in storage yet (the
        outbox, changed ones, ones in a write not yet committed), by seq: what
        a reload right now could lose."""
        found: dict[int, StoredMessage] = {id_of(m): m for m in self._outbox}
        for entry in self._dirty.values():
            if isinstance(entry, StoredMessage) and entry.outgoing:
                found[id_of(entry)] = entry
        for m, _writes in self._inflight.values():
            found[id_of(m)] = m
        if self.ready:
            return sorted(found.values(), key=lambda m: m.seq)
        # Before the load: provisional seqs are small and come after stored ones.
        later = {id_of(e) for e in self._provisional}
        for entry in self._provisional:
            if isinstance(entry, StoredMessage) and entry.outgoing:
                found[id_of(entry)] = entry
        return sorted(found.values(), key=lambda m: (id_of(m) in later, m.seq))

    def after_write(self, cb: Callable[[], None]) -> None:
        """Call `cb` once everything changed so far is written (at once when
        nothing is persisted): XEP-0198 acks for received messages wait for it."""
        if not self.persist:
            cb()
            return
        self._waiting.append(cb)
        if self.ready and self._timer is None:
            self._timer = self._call_later(STORE_DELAY, self._write)

    def flush(self) -> None:
        """Write pending changes now (page hidden, logout)."""
        if self._timer is not None:
            self._cancel(self._timer)
        self._write()

    def pending_writes(self) -> int:
        """How many records wait to be written (tests, diagnostics)."""
        return len(self._dirty) + len(self._deletes) + len(self._outbox_dirty)


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    for cb in callbacks:
        cb()


def id_of(entry: object) -> int:
    return id(entry)
