"""The page: login screen and main screen (contacts, chat, header).

Rendering only. It listens to `ChatApp` events and calls the app's API
(docs/architecture.md). Lists go through `window.RoostRender` (render.js) in
one call per update, fed with plain data; user text only ever reaches the DOM
through `textContent` (there or here).

The app's records are read through their documented attributes
(docs/architecture.md, "ChatApp API used by the UI"); `_contact_item`,
`_message_item` and `_render_requests` are the only places that know their
shape.
"""

from __future__ import annotations

from browser import document, window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js

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


# Outgoing message states (app/models.py Message.state) as shown; "failed"
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


def _logged(name: str, handler: Any) -> Any:
    """`handler`, logging its exception to the console (the app's emitter swallows it)."""

    def call(*args: object) -> None:
        try:
            handler(*args)
        except Exception as exc:
            window.console.error(f"Roost UI: {name} handler failed: {exc!r}")
            raise

    return call


class ChatView:
    """Binds the static DOM of index.html to a `ChatApp`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.render = window.RoostRender
        self.root = _el("app")
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
        # Rendering is coalesced per task: app events only record what changed
        # and one microtask draws it (a batch of frames is one task, see
        # platform/websocket.py), so a burst costs one DOM update per batch.
        self._pending: list[Any] = []  # messages of the active chat not yet drawn
        self._contacts_dirty = False
        self._scheduled = False

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

        for name, handler in (
            ("state", self.on_state),
            ("roster", self.on_roster),
            ("contact", self.on_contact),
            ("messages", self.on_messages),
            ("message", self.on_message),
            ("request", self.on_request),
            ("notice", self.on_notice),
            ("sync", self.on_sync),
            ("typing", self.on_typing),
        ):
            app.on(name, _logged(name, handler))

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
        self.app.login(address, password, bool(trusted))

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
        name = _display_name(self.app.contacts.get(bare), bare)
        self.typing_state.textContent = f"{name} is typing…"
        self.typing_state.hidden = False

    def _on_logout(self, _ev: Any) -> None:
        self.app.logout()

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
        }.get(state, "")  # "reconnecting": the banner says it
        self.reconnect_banner.hidden = state != "reconnecting"
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
            if self.screen == "login":
                self._status(text or "Something went wrong.", error=True)
                self.login_actions.hidden = not retry
            else:
                self._notice(text or "The connection was lost.")
                self.main_retry.hidden = not retry
        else:  # offline
            self.submit.disabled = False
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
        if pending:
            self.render.appendMessages(self.log, to_js([self._message_item(m) for m in pending]))
        if self._contacts_dirty:
            self._render_contacts()

    def on_roster(self, *_args: object) -> None:
        self._contacts_dirty = True
        self._schedule()

    def on_contact(self, *_args: object) -> None:
        self._contacts_dirty = True
        self._schedule()

    def on_messages(self, bare: str, messages: list[Any]) -> None:
        if bare != self.active:
            self._contacts_dirty = True  # unread counts
            self._schedule()
            return
        conversation = self.app.conversations.get(bare)
        current = conversation.messages if conversation is not None else []
        n = len(messages)
        if (
            n
            and len(current) >= n
            and all(a is b for a, b in zip(current[-n:], messages, strict=False))
        ):
            self._pending.extend(messages)
            self._schedule()
        else:  # history inserted before what is shown: draw it again
            self._render_conversation(bare)

    def on_message(self, bare: str, message: Any = None, *_args: object) -> None:
        """One message changed (failed to send, or reached the server)."""
        if bare != self.active:
            return
        # Replace just that row (updateMessage is False when it isn't drawn yet).
        if (
            message is not None
            and message.id
            and message not in self._pending
            and self.render.updateMessage(self.log, to_js(self._message_item(message)))
        ):
            return
        self._render_conversation(bare)

    def on_request(self, *_args: object) -> None:
        """A request arrived or was withdrawn: `app.requests` says which are left."""
        self._render_requests()

    def on_sync(self, done: int, total: int | None = None, finished: bool = True) -> None:
        """Archive catch-up progress: "Catching up… 120 of 300", hidden when done."""
        if finished:
            self.sync_state.textContent = ""
            self.sync_state.hidden = True
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
    def _show_main(self) -> None:
        self.screen = "main"
        own = self.app.own_jid
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
        self.render.renderMessages(self.log, to_js([]))
        self.chat_title.textContent = "No conversation open"
        self.text.value = ""
        _el("own-address").textContent = ""
        _el("main-screen").hidden = True
        _el("login-screen").hidden = False
        self.root.dataset.screen = "login"
        self.root.dataset.view = "list"
        self.password.value = ""

    # -- contacts ---------------------------------------------------------
    def _contact_item(self, bare: str, contact: Any, conversation: Any) -> dict[str, object]:
        """One row of the list; `contact` is None for someone not in the roster."""
        presence = "offline" if contact is None else str(contact.show)
        if presence not in PRESENCE_TEXT:
            presence = "online"
        text = PRESENCE_TEXT[presence]
        if presence == "offline" and contact is not None and contact.ask == "subscribe":
            text = "Waiting for approval"
        preview = ""
        unread = 0
        if conversation is not None:
            messages = conversation.messages
            if messages:
                # Slice before split: a long message costs no more than a short one.
                preview = " ".join(messages[-1].body[:400].split())[:80]
            unread = 0 if bare == self.active else conversation.unread
        return {
            "jid": bare,
            "name": _display_name(contact, bare),
            "presence": presence,
            "presence_text": text,
            "preview": preview,
            "unread": unread,
            "active": bare == self.active,
        }

    def _render_contacts(self) -> None:
        """Draw the whole list: called at most once per task (see `_schedule`)."""
        self._contacts_dirty = False
        contacts = self.app.contacts
        conversations = self.app.conversations
        items = [self._contact_item(b, c, conversations.get(b)) for b, c in contacts.items()]
        # People who wrote to us without being in the roster are listed too.
        for bare, conv in conversations.items():
            if bare not in contacts and conv.messages:
                items.append(self._contact_item(bare, None, conv))
        items.sort(key=lambda it: (it["presence"] == "offline", str(it["name"]).lower()))
        self.render.renderContacts(self.contacts, to_js(items))
        self.contacts_empty.hidden = bool(items)

    def _on_contact_click(self, ev: Any) -> None:
        button = ev.target.closest("button[data-jid]")
        if button:
            self.open_chat(str(button.dataset.jid))

    def _render_conversation(self, bare: str) -> None:
        self._pending = []  # drawn below with the rest
        conversation = self.app.conversations.get(bare)
        messages = conversation.messages if conversation is not None else []
        items = [self._message_item(m) for m in messages]
        self.render.renderMessages(self.log, to_js(items))

    def open_chat(self, bare: str) -> None:
        self.active = bare
        self.app.open_chat(bare)
        self.chat_title.textContent = _display_name(self.app.contacts.get(bare), bare)
        self._render_typing()
        self._render_conversation(bare)
        self.root.dataset.view = "chat"
        self._render_contacts()
        self.text.focus()

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
    def _message_item(self, message: Any) -> dict[str, object]:
        state = str(message.state)
        return {
            "id": message.id or "",
            "body": message.body,
            "outgoing": bool(message.outgoing),
            "stamp": float(message.stamp or 0) * 1000.0,
            "failed": "Not delivered" if state == "failed" else "",
            # Own messages say where they are, in words (not colour only).
            "state": STATE_TEXT.get(state, "") if message.outgoing else "",
            "state_key": state,
        }

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
