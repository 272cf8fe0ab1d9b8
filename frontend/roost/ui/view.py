"""The page: login screen and main screen (contacts, chat, header).

Rendering only. It listens to `ChatApp` events and calls the app's API
(docs/architecture.md). Lists go through `window.RoostRender` (render.js) in
one call per update, fed with plain data; user text only ever reaches the DOM
through `textContent` (there or here).

The app's records are read defensively (`getattr` with defaults) so the view
survives additions to them; `_contact_item` and `_message_item` are the only
places that know their shape.
"""

from __future__ import annotations

from browser import document, window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js
from roost.xmpp.errors import NetworkError

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


def _el(id_: str) -> Any:
    return document.getElementById(id_)


def _bare(jid: object) -> str:
    bare = getattr(jid, "bare", None)
    if bare is not None and not isinstance(bare, str) and not callable(bare):
        return str(bare)
    text = str(jid)
    return text.split("/", 1)[0]


def _presence_of(contact: object) -> str:
    """online/chat/away/xa/dnd/offline for a contact record (`Contact.show`)."""
    show = getattr(contact, "show", None)
    if isinstance(show, str) and show in PRESENCE_TEXT:
        return show
    return "online" if show else "offline"


def _display_name(contact: object, bare: str) -> str:
    name = getattr(contact, "display_name", None) or getattr(contact, "name", None)
    if callable(name):
        name = name()
    return str(name) if name else bare


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
        self.active: str | None = None
        self.screen = "login"
        # Rendering is coalesced per task: app events only record what changed
        # and one microtask draws it (a batch of frames is one task, see
        # platform/websocket.py), so a burst costs one DOM update per batch.
        self._pending: list[Any] = []  # messages of the active chat not yet drawn
        self._contacts_dirty = False
        self._scheduled = False
        # Messages that mean "the network failed": only then is Retry offered.
        self._network_messages = (
            NetworkError(False).user_message,
            NetworkError(True).user_message,
        )

        self.form.addEventListener("submit", self._on_login_submit)
        _el("login-retry").addEventListener("click", self._on_retry)
        _el("logout").addEventListener("click", self._on_logout)
        _el("back").addEventListener("click", self._on_back)
        _el("add-contact").addEventListener("submit", self._on_add_contact)
        self.contacts.addEventListener("click", self._on_contact_click)
        self.requests_box.addEventListener("click", self._on_request_click)
        self.composer.addEventListener("submit", self._on_send)
        self.text.addEventListener("keydown", self._on_key)
        # Batched history writes (ChatApp.flush_storage) go out before the page goes.
        window.addEventListener("pagehide", self._on_pagehide)
        document.addEventListener("visibilitychange", self._on_pagehide)

        for name, handler in (
            ("state", self.on_state),
            ("roster", self.on_roster),
            ("contact", self.on_contact),
            ("messages", self.on_messages),
            ("message", self.on_message),
            ("request", self.on_request),
            ("notice", self.on_notice),
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
        self.notice.hidden = True
        self._status("Connecting…")
        self.app.retry()

    def _on_pagehide(self, _ev: Any) -> None:
        if str(document.visibilityState) == "visible" and str(_ev.type) != "pagehide":
            return
        flush = getattr(self.app, "flush_storage", None)
        if flush is not None:
            flush()

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
        }.get(state, "")
        if state == "online":
            self.password.value = ""
            self._status("")
            self.notice.hidden = True
            self._show_main()
        elif state == "connecting":
            self.submit.disabled = True
            if self.screen == "login":
                self._status(text or "Connecting…")
        elif state == "error":
            self.submit.disabled = False
            retry = self._can_retry(text)
            if self.screen == "login":
                self._status(text or "Something went wrong.", error=True)
                self.login_actions.hidden = not retry
            else:
                self._notice(text or "The connection was lost.")
        else:  # offline
            self.submit.disabled = False
            if self.screen != "login":
                self._show_login()
            self._status(text)

    def _can_retry(self, message: str) -> bool:
        """Retry makes sense after a network problem, not after a wrong password."""
        error = getattr(self.app, "last_error", None)
        if error is not None:
            return isinstance(error, NetworkError)
        return message in self._network_messages

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
        bare = _bare(bare)
        if bare != self.active:
            self._contacts_dirty = True  # unread counts
            self._schedule()
            return
        conversation = self._conversation(bare)
        current = getattr(conversation, "messages", None) or []
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

    def on_message(self, bare: str, *_args: object) -> None:
        """One message changed (e.g. failed to send)."""
        if _bare(bare) == self.active:
            self._render_conversation(self.active)

    def on_request(self, *_args: object) -> None:
        self._render_requests()

    def on_notice(self, text: str) -> None:
        self._notice(text)

    def _notice(self, text: str) -> None:
        self.notice.textContent = text
        self.notice.hidden = not text

    # -- screens ----------------------------------------------------------
    def _show_main(self) -> None:
        self.screen = "main"
        own = getattr(self.app, "own_jid", None)
        _el("own-address").textContent = _bare(own) if own else ""
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
    def _contact_map(self) -> dict[str, Any]:
        contacts = getattr(self.app, "contacts", None) or {}
        if isinstance(contacts, dict):
            return {_bare(k): v for k, v in contacts.items()}
        return {_bare(getattr(c, "jid", c)): c for c in contacts}

    def _contact_item(self, bare: str, contact: Any) -> dict[str, object]:
        presence = _presence_of(contact)
        text = PRESENCE_TEXT.get(presence, "Offline")
        ask = getattr(contact, "ask", None)
        if presence == "offline" and ask == "subscribe":
            text = "Waiting for approval"
        messages = self._messages_of(bare)
        preview = " ".join(str(messages[-1].body).split())[:80] if messages else ""
        return {
            "jid": bare,
            "name": _display_name(contact, bare) if contact is not None else bare,
            "presence": presence,
            "presence_text": text,
            "preview": preview,
            "unread": 0 if bare == self.active else self._unread(bare),
            "active": bare == self.active,
        }

    def _render_contacts(self) -> None:
        self._contacts_dirty = False
        contacts = self._contact_map()
        items = [self._contact_item(b, c) for b, c in contacts.items()]
        # People who wrote to us without being in the roster are listed too.
        conversations = getattr(self.app, "conversations", None) or {}
        for bare, conv in conversations.items():
            if bare not in contacts and getattr(conv, "messages", None):
                items.append(self._contact_item(bare, None))
        items.sort(key=lambda it: (it["presence"] == "offline", str(it["name"]).lower()))
        self.render.renderContacts(self.contacts, to_js(items))
        self.contacts_empty.hidden = bool(items)

    def _on_contact_click(self, ev: Any) -> None:
        button = ev.target.closest("button[data-jid]")
        if button:
            self.open_chat(str(button.dataset.jid))

    def _conversation(self, bare: str) -> Any:
        conversations = getattr(self.app, "conversations", None) or {}
        return conversations.get(bare) if isinstance(conversations, dict) else None

    def _messages_of(self, bare: str) -> list[Any]:
        return list(getattr(self._conversation(bare), "messages", None) or [])

    def _unread(self, bare: str) -> int:
        return int(getattr(self._conversation(bare), "unread", 0) or 0)

    def _render_conversation(self, bare: str) -> None:
        self._pending = []  # drawn below with the rest
        items = [self._message_item(m) for m in self._messages_of(bare)]
        self.render.renderMessages(self.log, to_js(items))

    def open_chat(self, bare: str) -> None:
        self.active = bare
        self.app.open_chat(bare)
        contact = self._contact_map().get(bare)
        self.chat_title.textContent = _display_name(contact, bare) if contact else bare
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
        contacts = self._contact_map()
        requests = getattr(self.app, "requests", None) or {}
        items = [
            {"jid": b, "name": _display_name(contacts[b], b) if b in contacts else b}
            for b in requests
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
    def _is_outgoing(self, message: Any) -> bool:
        outgoing = getattr(message, "outgoing", None)
        if outgoing is not None:
            return bool(outgoing)
        direction = getattr(message, "direction", None)
        if direction is not None:
            return direction in ("out", "outgoing", "sent")
        sender = getattr(message, "from_jid", None)
        own = getattr(self.app, "own_jid", None)
        return sender is not None and own is not None and _bare(sender) == _bare(own)

    def _message_item(self, message: Any) -> dict[str, object]:
        stamp = getattr(message, "stamp", None) or getattr(message, "time", None) or 0
        failed = "Not delivered" if getattr(message, "state", "") == "failed" else ""
        return {
            "id": str(getattr(message, "id", "") or ""),
            "body": str(getattr(message, "body", "") or ""),
            "outgoing": self._is_outgoing(message),
            "stamp": float(stamp) * 1000.0,
            "failed": failed,
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
        self.app.send_message(self.active, text)
        self.text.value = ""
        self.text.focus()
