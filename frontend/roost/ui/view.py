"""The page: login screen and main screen (contacts, chat, header).

Rendering only. It listens to `ChatApp` events and calls the app's API
(docs/architecture.md). Lists go through `window.RoostRender` (render.js) in
one call per update, fed with plain data; user text only ever reaches the DOM
through `textContent` (there or here).

The app's records are read through their documented attributes
(docs/architecture.md, "ChatApp API used by the UI"); `_contact_item`,
`_message_item` and `_render_requests` are the only places that know their
shape. Group chats (the Rooms list, the room pane, joining, the directory)
are `roost.ui.rooms.RoomsView`, which this view creates and tells about the
open conversation.
"""

from __future__ import annotations

from browser import document, window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js
from roost.ui.e2e import E2EView
from roost.ui.handlers import logged as _logged
from roost.ui.rooms import RoomsView
from roost.ui.tabs import account_key, install_tabs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PRESENCE_TEXT = {
    "online": "Online",
    "chat": "Free to chat",
    "away": "Away",
    "xa": "Away for a while",
    "dnd": "Busy",
    "offline": "Offline",
}


# Rows the chat draws at a time when it opens or pages (the list keeps a
# bounded window of rows in the DOM: render.js createMessageList).
PAGE = 50

# The cursor "after everything": asking for what is before it gives the newest.
NEWEST = (float("inf"), 0)

# Outgoing message states (app/chat.py) as shown; "failed"
# keeps its own "Not delivered" text. "queued": written while not connected,
# sent on its own once the connection is back.
STATE_TEXT = {
    "queued": "Waiting",
    "sent": "Sent",
    "server": "On server",
    "delivered": "Delivered",
    "read": "Read",
}


def _el(id_: str) -> Any:
    return document.getElementById(id_)


def _display_name(contact: Any, bare: str) -> str:
    return str(contact.display_name) if contact is not None else bare


class ChatView:
    """Binds the static DOM of index.html to a `ChatApp`."""

    def __init__(self, app: Any, tab_lock: Any) -> None:
        self.app = app
        self.render = window.RoostRender
        self.root = _el("app")
        # One tab owns the account's stream (ui/tabs.py): another tab's login
        # asks this one to step aside; "Use here" takes it back.
        self.tabs = install_tabs(tab_lock, document, self.root)
        self.tabs.set_step_aside(app.step_aside)
        self.tabs.set_resume(app.retry)
        self.form = _el("login-form")
        self.address = _el("login-address")
        self.password = _el("login-password")
        self.trusted = _el("login-trusted")
        self.submit = _el("login-submit")
        self.status = _el("login-status")
        self.login_actions = _el("login-actions")
        self.contacts = _el("contacts")
        self.contacts_empty = _el("contacts-empty")
        self.requests_box = _el("requests")
        self.log = _el("messages")
        self.chat_title = _el("chat-title")
        self.composer = _el("composer")
        self.text = _el("composer-text")
        self.notice = _el("notice")
        self.conn_state = _el("conn-state")
        # Retry in the main screen's top bar, for a session that dropped: the
        # history in memory stays (Log out would wipe an untrusted session).
        logout = _el("logout")
        self.main_retry = document.createElement("button")
        self.main_retry.id = "main-retry"
        self.main_retry.type = "button"
        self.main_retry.textContent = "Retry"
        self.main_retry.hidden = True
        logout.parentNode.insertBefore(self.main_retry, logout)
        # Archive catch-up after login (ChatApp "sync" events), announced politely.
        self.sync_state = document.createElement("span")
        self.sync_state.id = "sync-state"
        self.sync_state.className = "conn-state"
        self.sync_state.setAttribute("role", "status")
        self.sync_state.setAttribute("aria-live", "polite")
        self.sync_state.hidden = True
        logout.parentNode.insertBefore(self.sync_state, self.main_retry)
        # While ChatApp reconnects on its own: a small banner under the top bar.
        self.reconnect_banner = document.createElement("p")
        self.reconnect_banner.id = "reconnect-banner"
        self.reconnect_banner.className = "reconnect-banner"
        self.reconnect_banner.setAttribute("role", "status")
        self.reconnect_banner.setAttribute("aria-live", "polite")
        self.reconnect_banner.textContent = "Reconnecting…"
        self.reconnect_banner.hidden = True
        self.notice.parentNode.insertBefore(self.reconnect_banner, self.notice)
        # "Bob is typing…" (XEP-0085) in the chat header, for the open chat.
        self.typing_state = document.createElement("span")
        self.typing_state.id = "typing-state"
        self.typing_state.className = "typing-state"
        self.typing_state.setAttribute("role", "status")
        self.typing_state.setAttribute("aria-live", "polite")
        self.typing_state.hidden = True
        self.chat_title.parentNode.appendChild(self.typing_state)
        self.active: str | None = None
        self.screen = "login"
        # A remembered login starting (trusted device): the contact list that
        # snapshot.js drew stays until the stored data is read ("roster").
        self._hold_list = False
        # The snapshot of the list for the next start (platform/remembered.py):
        # written a moment after the list changes, and when the page goes.
        self._snapshot_timer: Any = None
        self._snapshot_items: list[dict[str, object]] = []  # the list as last drawn
        # The open chat's rows: a window over the app's store (render.js).
        options = window.Object.new()
        options.onNeedOlder = _logged("older", self._on_need_older)
        options.onNeedNewer = _logged("newer", self._on_need_newer)
        options.onGapAction = _logged("gap", self._on_gap_action)
        options.onRemoveMessage = _logged("remove", self._on_remove_message)
        options.onSendPlain = _logged("send-plain", self._on_send_plain)
        self.list = self.render.createMessageList(self.log, options)
        # While the archive is asked for older messages of the open chat:
        # the cursor of the row above which they go (None: not asking).
        self._older_at: tuple[float, int] | None = None
        # Rendering is coalesced per task: app events only record what changed
        # and one microtask draws it (a batch of frames is one task, see
        # platform/websocket.py), so a burst costs one DOM update per batch.
        self._pending: list[Any] = []  # new entries of the active chat not yet drawn
        self._contacts_dirty = False
        self._contacts_frame = False  # a redraw of the list waits for the next frame
        self._scheduled = False
        # "Remove this message?" (moderators, XEP-0425): made on first use;
        # the room and row cursor it asks about.
        self._remove_dialog: Any = None
        self._removing: tuple[str, tuple[float, int]] | None = None

        self.form.addEventListener("submit", self._on_login_submit)
        _el("login-retry").addEventListener("click", self._on_retry)
        self.main_retry.addEventListener("click", self._on_retry)
        logout.addEventListener("click", self._on_logout)
        _el("back").addEventListener("click", self._on_back)
        _el("add-contact").addEventListener("submit", self._on_add_contact)
        self.contacts.addEventListener("click", self._on_contact_click)
        self.requests_box.addEventListener("click", self._on_request_click)
        self.composer.addEventListener("submit", self._on_send)
        self.text.addEventListener("keydown", self._on_key)
        self.text.addEventListener("input", self._on_input)
        # Batched history writes (ChatApp.flush_storage) go out before the page goes.
        window.addEventListener("pagehide", self._on_pagehide)
        document.addEventListener("visibilitychange", self._on_pagehide)
        # Chat markers (XEP-0333): the open chat counts as read only while visible.
        document.addEventListener("visibilitychange", self._on_visibility)
        app.set_visible(str(document.visibilityState) == "visible")
        # A dead network is noticed at once, and its return ends the backoff.
        window.addEventListener("offline", lambda _ev: app.set_network(False))
        window.addEventListener("online", lambda _ev: app.set_network(True))
        if window.navigator.onLine is False:
            app.set_network(False)

        for name, handler in (
            ("state", self.on_state),
            ("roster", self.on_roster),
            ("contact", self.on_contact),
            ("messages", self.on_messages),
            ("message", self.on_message),
            ("loaded", self.on_loaded),
            ("history", self.on_history),
            ("gap", self.on_gap),
            ("request", self.on_request),
            ("notice", self.on_notice),
            ("sync", self.on_sync),
            ("typing", self.on_typing),
        ):
            app.on(name, _logged(name, handler))
        # Group chats (ui/rooms.py); after the handlers above, so its "state"
        # handler sees the main screen up.
        self.rooms = RoomsView(self, app)
        # End-to-end encryption of 1:1 chats: the padlock and the devices (ui/e2e.py).
        self.e2e = E2EView(self, app)
        # Notifications: the offer after login and the settings dialog (ui/push.py).
        from roost.ui.push import PushView

        self.push = PushView(self, app)

    # -- login ------------------------------------------------------------
    def login(self, address: str, password: str, trusted: bool) -> None:
        """Start a login, as the form does (also used for an early submission)."""
        address = address.strip()
        if not address or not password:
            self._status("Enter your address and password.", error=True)
            (self.address if not address else self.password).focus()
            return
        self.login_actions.hidden = True
        self._status("Connecting…")
        domain = str(self.app.platform.config.get("default_domain") or "")
        self.tabs.before_login(
            account_key(address, domain),
            lambda: self.app.login(address, password, bool(trusted)),
        )

    def _on_login_submit(self, ev: Any) -> None:
        ev.preventDefault()
        self.login(str(self.address.value), str(self.password.value), bool(self.trusted.checked))

    def _on_retry(self, _ev: Any) -> None:
        self.login_actions.hidden = True
        self.main_retry.hidden = True
        self.notice.hidden = True
        self._status("Connecting…")
        self.app.retry()

    def _on_pagehide(self, _ev: Any) -> None:
        if str(document.visibilityState) == "visible" and str(_ev.type) != "pagehide":
            return
        self.app.flush_storage()
        self._write_snapshot()

    # -- remembered login (trusted device) ---------------------------------
    def start_remembered(self, record: dict[str, object]) -> None:
        """Start the session this device remembered: the main screen at once
        (the list snapshot.js drew stays until the stored one is read), the
        last open chat from the store, the connection once this tab may use
        the account (ui/tabs.py). While another tab has the account, this
        one shows the login screen instead (with the address): logging in
        there asks the other tab to step aside, as always."""
        from roost.platform import remembered

        account = str(record.get("account") or "")
        snapshot = remembered.read_snapshot(account)
        self._hold_list = snapshot is not None and bool(self.contacts.firstChild)
        self._show_main(own=account)
        domain = str(self.app.platform.config.get("default_domain") or "")

        def proceed() -> None:
            if not self.app.start_remembered(record):
                self._hold_list = False
                self.show_login()
                return
            active = snapshot.get("active") if snapshot is not None else None
            if isinstance(active, str) and active and self.active is None:
                self.open_chat(active)

        key = account_key(account, domain)

        def owned() -> None:
            self.tabs.before_login(key, proceed)  # held already: proceeds at once

        def busy() -> None:
            self.show_login(account)

        # The lock itself, not `before_login`: a busy account must not show the panel here.
        self.tabs._lock.claim(key, owned, busy)

    def show_login(self, address: str = "", text: str = "", error: bool = False) -> None:
        """The login screen (also instead of a snapshot drawn for a login that
        is no longer remembered), with `address` filled in and `text` said."""
        self._hold_list = False
        self._show_login()
        if address:
            self.address.value = address
        self._status(text, error=error)
        if address:
            self.password.focus()

    def forgotten_elsewhere(self, account: str) -> None:
        """Another tab logged out (or its key was refused): this tab too."""
        own = self.app.own_jid
        if self.screen == "main" and own is not None and (not account or account == own):
            self._on_logout(None)

    def _snapshot_due(self) -> None:
        if self._snapshot_timer is None:
            self._snapshot_timer = window.setTimeout(self._write_snapshot, 1000)

    def _write_snapshot(self, *_args: object) -> None:
        """What the list shows, for snapshot.js to draw on the next start:
        only for a remembered login (trusted device), text only."""
        if self._snapshot_timer is not None:
            window.clearTimeout(self._snapshot_timer)
            self._snapshot_timer = None
        app = self.app
        if not getattr(app, "remembered", False) or self.screen != "main" or self._hold_list:
            return
        from roost.platform import remembered

        rows = []
        for item in self._snapshot_items:
            rows.append([item["jid"], item["name"], item["preview"], item["unread"]])
        active = self.active
        if active is not None and (app.is_room(active) or app.is_private(active)):
            active = None
        remembered.write_snapshot(
            {"account": app.own_jid, "active": active, "contacts": rows}
        )

    def _on_visibility(self, _ev: Any) -> None:
        self.app.set_visible(str(document.visibilityState) == "visible")

    def _on_input(self, _ev: Any) -> None:
        if self.active is not None and str(self.text.value).strip():
            self.app.typing(self.active)

    def on_typing(self, bare: str, *_args: object) -> None:
        """A contact started or stopped typing (ChatApp "typing" event)."""
        if bare == self.active:
            self._render_typing()

    def _render_typing(self) -> None:
        bare = self.active
        if bare is None or bare not in self.app.peers_typing:
            self.typing_state.hidden = True
            self.typing_state.textContent = ""
            return
        name = self._title(bare)
        self.typing_state.textContent = f"{name} is typing…"
        self.typing_state.hidden = False

    def _on_logout(self, _ev: Any) -> None:
        if self._snapshot_timer is not None:
            window.clearTimeout(self._snapshot_timer)
            self._snapshot_timer = None
        self.app.logout()
        self.tabs.logout()

    def _status(self, text: str, error: bool = False) -> None:
        self.status.textContent = text
        self.status.className = "status error" if error else "status"

    # -- app events ------------------------------------------------------
    def on_state(self, state: str, message: str | None = None) -> None:
        text = message or ""
        self.conn_state.textContent = {
            "online": "",
            "connecting": "Connecting…",
            "offline": "Offline",
            "error": "Disconnected",
            "elsewhere": "Open in another tab",
        }.get(state, "")  # "reconnecting": the banner says it
        self.reconnect_banner.hidden = state != "reconnecting"
        if state == "reconnecting":
            # "Reconnecting…", or for a remembered login started without a
            # network: "Offline — messages will be sent when you're back online".
            self.reconnect_banner.textContent = text or "Reconnecting…"
            if self.screen == "login":  # a remembered session: its data is shown
                self._show_main()
        if state not in ("error", "reconnecting"):
            self.main_retry.hidden = True
        if state == "online":
            self.password.value = ""
            self._status("")
            self.notice.hidden = True
            if self.screen == "main":  # back after a reconnect: keep the open chat
                self._contacts_dirty = True
                self._schedule()
                self._render_requests()
            else:
                self._show_main()
        elif state == "connecting":
            self.submit.disabled = True
            if self.screen == "login":
                self._status(text or "Connecting…")
        elif state == "reconnecting":
            # The session stays usable: what is written now waits in the outbox.
            self.submit.disabled = False
            self.notice.hidden = True
            self.main_retry.hidden = not bool(self.app.can_retry)
        elif state == "error":
            self.submit.disabled = False
            # Retry makes sense after a network problem or a server that said
            # "try again", not after a wrong password: the app knows which.
            retry = bool(self.app.can_retry)
            if not retry:
                self.tabs.logout()  # not connected, and Retry won't help: free the account
            if self.screen == "login":
                self._status(text or "Something went wrong.", error=True)
                self.login_actions.hidden = not retry
            else:
                self._notice(text or "The connection was lost.")
                self.main_retry.hidden = not retry
        else:  # offline
            self.submit.disabled = False
            address = getattr(self.app, "login_address", None)
            if address:
                # The remembered login was refused: the password, please.
                self.tabs.logout()
                self.show_login(str(address), text, error=True)
                return
            if self.screen != "login":
                self._show_login()
            self._status(text)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            window.queueMicrotask(_logged("render", self._render_pending))

    def _render_pending(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        if pending and self.active is not None:
            self._draw_new(self.active, pending)
        if self._contacts_dirty and not self._contacts_frame:
            # The list is redrawn whole: at most once per frame (a burst or a
            # catch-up hands messages over in many slices).
            self._contacts_frame = True
            window.requestAnimationFrame(_logged("contacts", self._contacts_due))

    def _contacts_due(self, *_args: object) -> None:
        self._contacts_frame = False
        if self._contacts_dirty and self.screen == "main":
            self._render_contacts()

    def on_roster(self, *_args: object) -> None:
        self._hold_list = False  # the stored list is read: it replaces the snapshot
        bare = self.active
        if bare is not None and not self.app.is_room(bare):
            # Opened before the stored contacts were read (a remembered start): its name now.
            self.chat_title.textContent = self._title(bare)
        self._contacts_dirty = True
        self._schedule()

    def on_contact(self, *_args: object) -> None:
        self._contacts_dirty = True
        self._schedule()

    def on_messages(self, bare: str, entries: list[Any]) -> None:
        """New entries in a conversation (live, carbons, archive, own)."""
        if not self.app.is_room(bare):  # rooms: ui/rooms.py redraws their list
            self._contacts_dirty = True  # previews and unread counts
        if bare == self.active:
            self._pending.extend(entries)
        self._schedule()

    def _draw_new(self, bare: str, entries: list[Any]) -> None:
        store = self.app.store
        if store is None:
            return
        older_at = self._older_at
        if older_at is not None:
            # Archive history arriving for the top: drawn with "history".
            entries = [e for e in entries if tuple(e.key) >= older_at]
        if not entries:
            return
        tail = store.latest(bare, len(entries))
        items = to_js([self._message_item(e) for e in entries])
        if len(tail) == len(entries) and all(
            a is b for a, b in zip(tail, entries, strict=True)
        ):
            added = self.list.append(items, False)  # the newest: at the bottom
            if not added and any(e.kind == "message" and e.outgoing for e in entries):
                # Scrolled back through history: one's own message brings the
                # chat back to the newest page.
                self._render_conversation(bare)
        else:
            self.list.insert(items)  # somewhere inside (archive back-fill)

    def on_message(self, bare: str, entry: Any = None, *_args: object) -> None:
        """One entry changed (its state, or a correction): redraw its row."""
        if bare != self.active or entry is None:
            return
        if entry in self._pending:
            return  # drawn soon, as it is now
        self.list.update(to_js(self._message_item(entry)))

    def on_loaded(self, bare: str) -> None:
        """The open chat's newest stored messages are in memory: show them."""
        if bare == self.active:
            self._render_conversation(bare)

    def on_history(self, bare: str, more: bool = False) -> None:
        """The store finished reading a chat, or the archive answered for older
        messages (`more`: it may have even older ones)."""
        if bare != self.active:
            return
        store = self.app.store
        older_at, self._older_at = self._older_at, None
        if store is None:
            return
        if older_at is None:
            if not store.count(bare) and more:
                # Read, and nothing stored (a new trusted device): the newest
                # page comes from the archive.
                self._render_conversation(bare)
            return
        self.list.setLoading("older", False)
        if older_at == NEWEST:
            self._render_conversation(bare)  # the first page, from the archive
            return
        entries = store.before(bare, older_at, PAGE)
        has_older = bool(entries) and bool(store.before(bare, tuple(entries[0].key), 1))
        self.list.prepend(
            to_js([self._message_item(e) for e in entries]), has_older or bool(more)
        )

    def on_gap(self, bare: str, gap: Any = None) -> None:
        """A gap was filled: its row goes."""
        if bare == self.active and gap is not None:
            self.list.remove(to_js([float(gap.stamp), int(gap.seq)]))

    def _on_need_older(self, cursor: Any) -> None:
        bare, store = self.active, self.app.store
        if bare is None or store is None:
            return
        key = (float(cursor[0]), int(cursor[1]))
        entries = store.before(bare, key, PAGE)
        if entries:
            more = bool(store.before(bare, tuple(entries[0].key), 1))
            more = more or not store.is_loaded(bare) or not store.is_complete(bare)
            self.list.prepend(to_js([self._message_item(e) for e in entries]), more)
            return
        if not store.is_loaded(bare):
            self._older_at = key  # the store is still reading: "history" follows
            return
        if self.app.load_older(bare):
            self._older_at = key
            self.list.setLoading("older", True)
        elif store.is_complete(bare):
            self.list.prepend(to_js([]), False)  # the archive has nothing older
        # else: offline or catching up: asked again when the window is redrawn

    def _on_need_newer(self, cursor: Any) -> None:
        bare, store = self.active, self.app.store
        if bare is None or store is None:
            return
        entries = store.after(bare, (float(cursor[0]), int(cursor[1])), PAGE)
        more = bool(entries) and bool(store.after(bare, tuple(entries[-1].key), 1))
        self.list.append(to_js([self._message_item(e) for e in entries]), more)

    def _on_gap_action(self, cursor: Any) -> None:
        if self.active is not None:
            self.app.fill_gap(self.active, float(cursor[0]), int(cursor[1]))

    def on_request(self, *_args: object) -> None:
        """A request arrived or was withdrawn: `app.requests` says which are left."""
        self._render_requests()

    def on_sync(self, done: int, total: int | None = None, finished: bool = True) -> None:
        """Archive catch-up progress: "Catching up… 120 of 300", hidden when done."""
        if finished:
            self.sync_state.textContent = ""
            self.sync_state.hidden = True
            store, bare = self.app.store, self.active
            if bare is not None and store is not None and not store.count(bare):
                # Opened during the catch-up with nothing here: the archive now.
                self._render_conversation(bare)
            return
        text = "Catching up…"
        if total:
            text += f" {done} of {total}"
        elif done:
            text += f" {done}"
        self.sync_state.textContent = text
        self.sync_state.hidden = False

    def on_notice(self, text: str) -> None:
        self._notice(text)

    def _notice(self, text: str) -> None:
        self.notice.textContent = text
        self.notice.hidden = not text

    # -- screens ----------------------------------------------------------
    def _show_main(self, own: str | None = None) -> None:
        self.screen = "main"
        own = own or self.app.own_jid
        _el("own-address").textContent = own or ""
        _el("login-screen").hidden = True
        _el("main-screen").hidden = False
        self.root.dataset.screen = "main"
        self.root.dataset.view = "list"
        self._render_contacts()
        self._render_requests()

    def _show_login(self) -> None:
        self.screen = "login"
        self.active = None
        self._pending = []
        self.render.renderContacts(self.contacts, to_js([]))
        self.render.renderRequests(self.requests_box, to_js([]))
        self.rooms.reset()
        self.list.clear()
        self._older_at = None
        self.chat_title.textContent = "No conversation open"
        self.text.value = ""
        _el("own-address").textContent = ""
        _el("main-screen").hidden = True
        _el("login-screen").hidden = False
        self.root.dataset.screen = "login"
        self.root.dataset.view = "list"
        self.password.value = ""

    # -- contacts ---------------------------------------------------------
    def _title(self, bare: str) -> str:
        """A conversation's name: a contact's, "nick (in Room Name)" for a
        private chat with a room occupant, else the address."""
        if self.app.is_private(bare):
            return str(self.app.conversation_title(bare))
        return _display_name(self.app.contacts.get(bare), bare)

    def _contact_item(self, bare: str, contact: Any) -> dict[str, object]:
        """One row of the list; `contact` is None for someone not in the roster."""
        presence = "offline" if contact is None else str(contact.show)
        if presence not in PRESENCE_TEXT:
            presence = "online"
        text = PRESENCE_TEXT[presence]
        if presence == "offline" and contact is not None and contact.ask == "subscribe":
            text = "Waiting for approval"
        if contact is None and self.app.is_private(bare):
            # An occupant: there while both of us are in the room.
            occupant = self.app.private_occupant(bare)
            presence = "offline" if occupant is None else str(occupant.show or "online")
            if presence not in PRESENCE_TEXT:
                presence = "online"
            text = "Not in the room" if occupant is None else PRESENCE_TEXT[presence]
        # Slice before split: a long message costs no more than a short one.
        preview = " ".join(self.app.preview(bare)[:400].split())[:80]
        return {
            "jid": bare,
            "name": self._title(bare) if contact is None else _display_name(contact, bare),
            "presence": presence,
            "presence_text": text,
            "preview": preview,
            "unread": 0 if bare == self.active else self.app.unread(bare),
            "active": bare == self.active,
        }

    def _render_contacts(self) -> None:
        """Draw the whole list: called at most once per task (see `_schedule`)."""
        if self._hold_list:
            return  # snapshot.js's list stays until the stored data is read
        self._contacts_dirty = False
        contacts = self.app.contacts
        items = [self._contact_item(b, c) for b, c in contacts.items()]
        # People who wrote to us without being in the roster are listed too
        # (rooms have their own list).
        for bare in self.app.conversation_list():
            if bare not in contacts and not self.app.is_room(bare):
                items.append(self._contact_item(bare, None))
        items.sort(key=lambda it: (it["presence"] == "offline", str(it["name"]).lower()))
        self.render.renderContacts(self.contacts, to_js(items))
        self.contacts_empty.hidden = bool(items)
        self._snapshot_items = items
        if getattr(self.app, "remembered", False):
            self._snapshot_due()

    def _on_contact_click(self, ev: Any) -> None:
        button = ev.target.closest("button[data-jid]")
        if button:
            self.open_chat(str(button.dataset.jid))

    def _render_conversation(self, bare: str) -> None:
        """Draw the chat's newest entries (its window starts again at the bottom)."""
        self._pending = []  # drawn below with the rest
        self._older_at = None
        store = self.app.store
        entries = store.latest(bare, PAGE) if store is not None else []
        more = store is not None and (
            store.count(bare) > len(entries)
            or not store.is_loaded(bare)
            or not store.is_complete(bare)
        )
        self.list.reset(to_js([self._message_item(e) for e in entries]), more, False)
        # Nothing here yet (a new device): the newest page comes from the archive.
        empty = not entries and store is not None and store.is_loaded(bare) and more
        if empty and self.app.load_older(bare):
            self._older_at = NEWEST
            self.list.setLoading("older", True)

    def open_chat(self, bare: str) -> None:
        self.active = bare
        if not self.rooms.opened(bare):  # a room draws its own header
            self.chat_title.textContent = self._title(bare)
        self._render_typing()
        kind = "chat"
        if self.app.is_room(bare):
            kind = "room"
        elif self.app.is_private(bare):
            kind = "private"
        self.e2e.opened(bare, kind)
        self.list.clear()
        self.root.dataset.view = "chat"
        self.app.open_chat(bare)  # "loaded" draws it (at once when it's in memory)
        self._render_contacts()
        self.text.focus()

    def close_chat(self) -> None:
        """No conversation open (a room just left); on a phone, the list again."""
        self.active = None
        self._pending = []
        self._older_at = None
        self.list.clear()
        self.rooms.opened(None)
        self.e2e.opened(None)
        self.chat_title.textContent = "No conversation open"
        self._render_typing()
        self.root.dataset.view = "list"
        self._render_contacts()

    def _on_back(self, _ev: Any) -> None:
        self.root.dataset.view = "list"

    def _on_add_contact(self, ev: Any) -> None:
        ev.preventDefault()
        field = _el("add-contact-address")
        address = str(field.value).strip()
        if address:
            self.app.add_contact(address)
            field.value = ""

    # -- requests ---------------------------------------------------------
    def _render_requests(self) -> None:
        contacts = self.app.contacts
        items = [
            # `status` is the requester's own words: render.js shows it as text.
            {"jid": b, "name": _display_name(contacts.get(b), b), "status": status or ""}
            for b, status in self.app.requests.items()
        ]
        self.render.renderRequests(self.requests_box, to_js(items))

    def _on_request_click(self, ev: Any) -> None:
        button = ev.target.closest("button[data-action]")
        if not button:
            return
        bare = str(button.dataset.jid)
        if str(button.dataset.action) == "approve":
            self.app.approve(bare)
        else:
            self.app.deny(bare)
        self._render_requests()

    # -- messages ---------------------------------------------------------
    def _message_item(self, entry: Any) -> dict[str, object]:
        """A row of the chat: a message, or a gap the archive couldn't fill."""
        cursor = [float(entry.stamp), int(entry.seq)]
        if entry.kind == "gap":
            return {"cursor": cursor, "kind": "gap", "id": "", "stamp": entry.stamp * 1000.0}
        state = str(entry.state)
        item: dict[str, object] = {
            "cursor": cursor,
            "kind": "message",
            "id": entry.id or "",
            "body": entry.body,
            "outgoing": bool(entry.outgoing),
            "stamp": float(entry.stamp or 0) * 1000.0,
            "edited": bool(entry.edited),
            "failed": "Not delivered" if state == "failed" else "",
            # Own messages say where they are, in words (not colour only).
            "state": STATE_TEXT.get(state, "") if entry.outgoing else "",
            "state_key": state,
        }
        room = self.rooms.active_room
        if room is not None:  # rooms: who wrote it, and whether it names us
            item["nick"] = str(self.app.display_sender(room, entry))
            item["mention"] = bool(self.app.is_mention(room, entry))
            # Moderators (XEP-0425): a "Remove" button on what the room archived.
            item["can_remove"] = bool(self.app.can_moderate(room, entry))
        omemo = entry.omemo
        if omemo is not None:
            self._e2e_fields(item, entry, omemo)
        if entry.retracted:
            # The text is gone (app/store.py); the row says so, with the reason.
            item["retracted"] = True
            item["mention"] = False
            item["retract_reason"] = str(entry.retract_reason or "")
        return item

    @staticmethod
    def _e2e_fields(item: dict[str, object], entry: Any, omemo: str) -> None:
        """OMEMO: a padlock on what went or came encrypted; for what can't be
        read, the reason in place of the text; for what couldn't be encrypted,
        the reason and the choice to send it unencrypted."""
        from roost.app.omemo import CANT_ENCRYPT, OK, WANT, reason_text

        item["encrypted"] = True
        if omemo == CANT_ENCRYPT:
            item["failed"] = "Not sent"
            item["e2e_detail"] = "Not encrypted, so not sent: " + str(entry.omemo_note or "")
            item["send_plain"] = True
            item["encrypted"] = False
        elif entry.outgoing and omemo == "check":
            # Written before the contact's devices are known (e.g. offline):
            # whether it goes encrypted is decided then; its text is ours.
            item["encrypted"] = False
        elif omemo != OK and not (omemo == WANT or (entry.outgoing and omemo == "pending")):
            item["body"] = reason_text(omemo)
            item["e2e_note"] = True

    def _on_send_plain(self, cursor: Any) -> None:
        """"Send unencrypted" on a message that couldn't be encrypted: the row
        said why, and the button says what it does, so this is the user's choice."""
        bare = self.active
        store = self.app.store
        if bare is None or store is None:
            return
        key = (float(cursor[0]), int(cursor[1]))
        for entry in store.before(bare, (key[0], key[1] + 1), 1):
            if tuple(entry.key) == key and entry.kind == "message":
                self.app.e2e.send_anyway(entry)
                return

    # -- removing a message (room moderators, XEP-0425) --------------------
    def _on_remove_message(self, cursor: Any) -> None:
        """A row's "Remove": confirm first, with an optional reason."""
        room, store = self.rooms.active_room, self.app.store
        if room is None or store is None:
            return
        key = (float(cursor[0]), int(cursor[1]))
        found = store.before(room, (key[0], key[1] + 1), 1)
        entry = found[0] if found and tuple(found[0].key) == key else None
        if entry is None or entry.kind != "message":
            return
        dialog = self._remove_dialog
        if dialog is None:
            # The rooms view's dialog helpers: out of the page while closed.
            dialog = self._remove_dialog = self.rooms._make_dialog("remove-message-template")
            dialog.querySelector("#remove-message-form").addEventListener(
                "submit", _logged("remove confirm", self._on_remove_confirm)
            )
            dialog.querySelector("#remove-message-cancel").addEventListener(
                "click", lambda _ev: dialog.close()
            )

            def closed(_ev: Any) -> None:
                if not dialog.open:
                    self._removing = None

            dialog.addEventListener("close", closed)
        who = str(self.app.display_sender(room, entry))
        # Untrusted text: set as text only (textContent), cut to a short quote.
        text = " ".join(str(entry.body)[:400].split())
        quote = text[:200] + ("…" if len(text) > 200 else "")
        dialog.querySelector("#remove-message-text").textContent = f"{who} wrote: “{quote}”"
        reason = dialog.querySelector("#remove-message-reason")
        reason.value = ""
        self._removing = (room, key)
        self.rooms._show_dialog(dialog)
        reason.focus()

    def _on_remove_confirm(self, ev: Any) -> None:
        ev.preventDefault()
        dialog, asked = self._remove_dialog, self._removing
        self._removing = None
        if dialog is None or asked is None:
            return
        reason = str(dialog.querySelector("#remove-message-reason").value).strip() or None
        dialog.close()
        # Its row (and the button that opened this) is redrawn when the room
        # announces the removal: the composer keeps the focus meanwhile.
        self.text.focus()
        self.app.moderate_message(asked[0], asked[1], reason)

    def _on_key(self, ev: Any) -> None:
        if ev.key == "Enter" and not ev.shiftKey and not ev.isComposing:
            ev.preventDefault()
            self._send()

    def _on_send(self, ev: Any) -> None:
        ev.preventDefault()
        self._send()

    def _send(self) -> None:
        text = str(self.text.value)
        if not text.strip() or self.active is None:
            return
        if self.app.send_message(self.active, text) is None:
            # Not sent (e.g. not connected): the app's notice says why, and
            # the text stays in the composer to send again.
            return
        self.text.value = ""
        self.text.focus()
