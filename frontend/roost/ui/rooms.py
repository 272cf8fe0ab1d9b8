"""Group chats in the page: the Rooms list, the room pane, joining, the directory.

`RoomsView` is created by `ChatView` (ui/view.py), which hands it a room when
one is opened (`opened`) and asks it for `active_room` when it draws message
rows. It reads the app's room records (`app.room(jid)`: jid, name, nick,
state, error, error_kind, subject, occupants, mentions, is_moderator,
is_owner) and directory items (jid, name, description, occupants) and calls
`join_room`, `leave_room`, `browse_rooms`, `kick`, `ban`, `set_subject`,
and `open_private` (an occupant's "Message" button opens the private chat).

Lists (rooms, occupants, directory) are drawn by render.js in one call each,
at most once per frame. Room names, nicks, subjects and descriptions are
untrusted: they only reach the DOM as text (render.js, `textContent`) or
through `setAttribute` on inert attributes.

Dialogs (join, directory, kick/ban) and the retry form are `<template>`s in
index.html, put in the page only while shown: their "Room address" and
password fields never stand beside the login form's "Address" and
"Password".

Join links: Roost opened as `<page>#xmpp:room@server?join` joins that room
once logged in. ui/links.py reads every `xmpp:` link (the location hash) and
hands join links to `join_from_link`.
"""

from __future__ import annotations

from browser import document, window  # type: ignore[import-not-found]

from roost.platform.jsdata import to_js
from roost.ui.handlers import logged
from roost.ui.links import LinkView
from roost.ui.room_admin import RoomAdminView

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ROLE_GROUPS = (
    ("moderator", "Moderators"),
    ("participant", "Participants"),
    ("visitor", "Visitors"),
)
AFFILIATION_TEXT = {"owner": "Owner", "admin": "Admin", "member": "Member"}
PRESENCE_TEXT = {
    "online": "Online",
    "chat": "Free to chat",
    "away": "Away",
    "xa": "Away for a while",
    "dnd": "Busy",
}
# The short label of a room that is not simply joined, in the Rooms list.
STATE_TEXT = {"joining": "Joining…", "left": "Not joined"}
ERROR_LABEL = {"kicked": "Removed", "banned": "Banned"}
# Error kinds a retry may fix, with the field it needs (None: none).
RETRY_FIELD: dict[str, str | None] = {
    "conflict": "nick",
    "password": "password",
    "unreachable": None,
    "kicked": None,
    "other": None,
}
SUBJECT_MAX = 1000  # characters of a subject shown in the header
# Directory rows drawn at a time: a big server lists thousands; the filter
# narrows them down.
DIRECTORY_LIMIT = 300


def _el(id_: str) -> Any:
    return document.getElementById(id_)


def _closest(node: Any, selector: str) -> Any:
    """`node.closest(selector)`, or None (Brython's DOMNode raises KeyError for none)."""
    try:
        return node.closest(selector) or None
    except KeyError:
        return None


def _field(item: Any, name: str) -> Any:
    """An attribute of an app record, or a key of a plain dict."""
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)


def _logged(name: str, handler: Any) -> Any:
    return logged("rooms " + name, handler)


def _mount(template_id: str) -> Any:
    """A fresh copy of a `<template>`'s element, not yet in the page."""
    return _el(template_id).content.firstElementChild.cloneNode(True)


class RoomsView:
    """The group chat parts of the main screen (see the module docstring)."""

    def __init__(self, view: Any, app: Any) -> None:
        self.view = view
        self.app = app
        self.render = window.RoostRender
        self.list = _el("rooms")
        self.title = _el("chat-title")
        self.subject = _el("room-subject")
        self.actions = _el("room-actions")
        self.toggle = _el("occupants-toggle")
        self.panel = _el("occupants-panel")
        self.occupants = _el("occupants")
        self.subject_form = _el("subject-form")
        self.subject_text = _el("subject-text")
        self.banner = _el("room-banner")
        self.status = _el("room-status")
        self.error = _el("room-error")
        self.retry_slot = _el("room-retry-slot")
        self.send_button = _el("send")
        self.active_room: str | None = None
        self._known: frozenset[str] = frozenset()  # the rooms listed, for the contacts list
        # What the banner shows now: redrawn (and the retry form rebuilt)
        # only when it changes, so a presence doesn't wipe what is typed.
        self._banner_key: tuple[object, ...] | None = None
        self._retry: Any = None  # the retry form, while in the page
        self._retry_kind: str | None = None
        # Redraws wait for the next frame: a join brings a presence per occupant.
        self._dirty: set[str] = set()
        self._frame = False
        # Notices the app emits while a join is asked for (why it refused).
        self._captured: list[str] | None = None
        self._link: tuple[str, str | None] | None = None  # (join link, password): ui/links.py
        # Dialogs, made on first use.
        self._join: Any = None
        self._directory: Any = None
        self._confirm: Any = None
        self._confirming: tuple[str, str, str] | None = None  # (action, room, nick)
        # The directory: the current search's rooms by JID, and their JS copy.
        self._dir_asked = False
        self._dir_want = ""
        self._dir_domain = ""
        self._dir_state = ""
        self._dir_error: str | None = None
        self._dir_rooms: dict[str, dict[str, object]] = {}
        self._dir_js: Any = None

        _el("join-room-open").addEventListener("click", _logged("join", self._on_join_open))
        _el("browse-rooms-open").addEventListener(
            "click", _logged("browse", self._on_directory_open)
        )
        self.list.addEventListener("click", _logged("open", self._on_room_click))
        self.toggle.addEventListener("click", _logged("toggle", self._on_toggle))
        _el("occupants-close").addEventListener("click", _logged("close", self._on_panel_close))
        self.panel.addEventListener("keydown", _logged("keys", self._on_panel_key))
        self.occupants.addEventListener("click", _logged("moderate", self._on_occupant_click))
        self.subject_form.addEventListener("submit", _logged("subject", self._on_subject))
        _el("leave-room").addEventListener("click", _logged("leave", self._on_leave))
        # Invitations, new rooms, room options, settings, members.
        self.admin = RoomAdminView(self)

        for name, handler in (
            ("state", self.on_state),
            ("rooms", self.on_rooms),
            ("room", self.on_room),
            ("messages", self.on_messages),
            ("directory", self.on_directory),
            ("notice", self.on_notice),
        ):
            app.on(name, _logged(name, handler))
        # xmpp: links and shares (ui/links.py): after the handlers above, so
        # its "state" handler sees the rooms drawn.
        self.links = LinkView(view, app, self)

    # -- app events -------------------------------------------------------
    def on_state(self, state: str, *_args: object) -> None:
        if state == "online" and self.view.screen == "main":
            self._render_rooms()
            self._join_link()

    def on_rooms(self, *_args: object) -> None:
        self._mark("rooms")

    def on_room(self, room: str, *_args: object) -> None:
        self._dirty.add("rooms")  # its state label, mentions
        if room == self.active_room:
            self._dirty.add("room")
        self._mark(None)

    def on_messages(self, bare: str, *_args: object) -> None:
        if bare != self.view.active and self.app.is_room(bare):
            self._mark("rooms")  # unread counts

    def on_directory(
        self, domain: str, state: str, rooms: Any = None, error: str | None = None
    ) -> None:
        """Directory results: progressively while "loading", then "done" or "error"."""
        domain = str(domain or "")
        want = self._dir_want
        if not self._dir_asked or (
            want and domain.lower() != want and not domain.lower().endswith("." + want)
        ):
            return  # no search asked for, or what an earlier search still finds
        self._dir_domain = domain
        self._dir_state = str(state)
        self._dir_error = error
        for item in rooms or []:
            jid = str(_field(item, "jid") or "")
            if not jid:
                continue
            count = _field(item, "occupants")
            self._dir_rooms[jid] = {
                "jid": jid,
                "name": str(_field(item, "name") or ""),
                "description": str(_field(item, "description") or ""),
                "occupants": int(count) if count is not None else None,
            }
        self._dir_js = None
        self._mark("directory")

    def on_notice(self, text: str, *_args: object) -> None:
        if self._captured is not None:
            self._captured.append(str(text))

    # -- drawing, once per frame ------------------------------------------
    def _mark(self, what: str | None) -> None:
        if what is not None:
            self._dirty.add(what)
        if not self._frame:
            self._frame = True
            window.requestAnimationFrame(_logged("frame", self._on_frame))

    def _on_frame(self, *_args: object) -> None:
        self._frame = False
        dirty, self._dirty = self._dirty, set()
        if self.view.screen != "main":
            return
        if "rooms" in dirty:
            self._render_rooms()
        if "room" in dirty and self.active_room is not None:
            self._render_room()
        if "directory" in dirty and self._directory is not None:
            self._render_directory()

    def _room_item(self, jid: str) -> dict[str, object]:
        room = self.app.room(jid)
        state = str(room.state) if room is not None else "left"
        text = STATE_TEXT.get(state, "")
        if state == "error":
            text = ERROR_LABEL.get(str(room.error_kind), "Couldn't join")
        active = jid == self.view.active
        return {
            "jid": jid,
            "name": str(room.name or jid) if room is not None else jid,
            "address": jid,
            "state": state,
            "state_text": text,
            "unread": 0 if active else int(self.app.unread(jid) or 0),
            "mentions": 0 if active or room is None else int(room.mentions or 0),
            "active": active,
        }

    def _render_rooms(self) -> None:
        self._dirty.discard("rooms")
        jids = [str(jid) for jid in self.app.rooms_list()]
        items = [self._room_item(jid) for jid in jids]
        self.render.renderRooms(self.list, to_js(items))
        known = frozenset(jids)
        if known != self._known:
            # A stored conversation listed among the contacts before the
            # bookmarks said it is a room (after a reload) leaves that list.
            self._known = known
            self.view.on_contact()

    # -- the room pane ----------------------------------------------------
    def opened(self, bare: str | None) -> bool:
        """The view opened `bare` (None: nothing): set the pane up; True for a room."""
        room = bare if bare is not None and self.app.is_room(bare) else None
        self.active_room = room
        self._banner_key = None
        self._close_panel(False)
        if room is None:
            self.subject.hidden = True
            self.actions.hidden = True
            self.banner.hidden = True
            self._drop_retry()
            self._enable_composer(True)
        else:
            self._render_room()
        if self.view.screen == "main":
            self._render_rooms()  # the highlighted row
        return room is not None

    def open_room(self, jid: str) -> None:
        self.view.open_chat(jid)

    def _render_room(self) -> None:
        self._dirty.discard("room")
        jid = self.active_room
        if jid is None:
            return
        room = self.app.room(jid)
        self.title.textContent = str(room.name or jid) if room is not None else jid
        # One line (the full text in its title); slice before split: a huge
        # subject costs no more than a long one.
        full = str(room.subject or "") if room is not None else ""
        subject = " ".join(full[:SUBJECT_MAX].split()) + ("…" if len(full) > SUBJECT_MAX else "")
        self.subject.textContent = subject
        self.subject.title = subject  # the whole of it, where the line cuts it short
        self.subject.hidden = not subject
        self.actions.hidden = False
        count = len(room.occupants) if room is not None else 0
        self.toggle.textContent = f"Occupants ({count})"
        state = str(room.state) if room is not None else "left"
        self.toggle.hidden = state != "joined"
        if state != "joined" and not self.panel.hidden:
            self._close_panel(False)
        self._enable_composer(state == "joined")
        self._render_banner(jid, room, state)
        if not self.panel.hidden:
            self._render_occupants()

    def _enable_composer(self, on: bool) -> None:
        self.view.text.disabled = not on
        self.view.text.placeholder = "Message" if on else "You can write once you're in the room"
        self.send_button.disabled = not on

    def _render_banner(self, jid: str, room: Any, state: str) -> None:
        kind = str(room.error_kind or "other") if room is not None and state == "error" else ""
        error = str(room.error or "") if room is not None and state == "error" else ""
        key = (jid, state, kind, error)
        if key == self._banner_key:
            return
        was = self._banner_key
        self._banner_key = key
        self.status.textContent = ""
        self.error.textContent = ""
        self._drop_retry()
        if state == "joined":
            self.banner.hidden = True
            if was is not None and was[0] == jid and self._focus_is_free():
                self.view.text.focus()  # just got in: ready to write
            return
        self.banner.hidden = False
        if state == "joining":
            self.status.textContent = "Joining the room…"
        elif state == "error":
            self.error.textContent = error or "Couldn't join this room."
            if kind in RETRY_FIELD:
                self._show_retry(kind, room)
        else:  # left, or a bookmark not joined
            self.status.textContent = "You are not in this room."
            self._show_retry("left", room)

    def _show_retry(self, kind: str, room: Any) -> None:
        """The form under a failed join: a new nickname, the password, or just a button."""
        form = _mount("room-retry-template")
        label = form.querySelector("#room-retry-label")
        field = form.querySelector("#room-retry-field")
        button = form.querySelector("#room-retry-submit")
        need = RETRY_FIELD.get(kind)
        if need == "nick":
            label.textContent = "New nickname"
            field.value = str(room.nick or "") if room is not None else ""
        elif need == "password":
            label.textContent = "Room password"
            field.type = "password"
        else:
            label.remove()
            field.remove()
        button.textContent = {"left": "Join", "kicked": "Join again"}.get(kind, "Try again")
        form.addEventListener("submit", _logged("retry", self._on_retry))
        self.retry_slot.appendChild(form)
        self._retry = form
        self._retry_kind = kind
        if need is not None and self._focus_is_free():
            field.focus()
            if need == "nick":
                field.select()

    def _drop_retry(self) -> None:
        if self._retry is not None:
            self._retry.remove()
            self._retry = None
            self._retry_kind = None

    def _focus_is_free(self) -> bool:
        """The focus may move: the user is not typing somewhere, nor in a dialog."""
        focused = document.activeElement
        if focused is None:
            return True
        return str(focused.tagName) not in ("INPUT", "TEXTAREA", "SELECT") and not bool(
            _closest(focused, "dialog")
        )

    def _on_retry(self, ev: Any) -> None:
        ev.preventDefault()
        jid, form = self.active_room, self._retry
        if jid is None or form is None:
            return
        room = self.app.room(jid)
        nick = str(room.nick) if room is not None and room.nick else None
        password = None
        field = form.querySelector("#room-retry-field")
        need = RETRY_FIELD.get(self._retry_kind or "")
        if need == "nick":
            nick = str(field.value).strip() or None
            if nick is None:
                field.focus()
                return
        elif need == "password":
            password = str(field.value)
            field.value = ""
            if not password:
                field.focus()
                return
        self._banner_key = None  # drawn again, whatever the app says next
        self.app.join_room(jid, nick, password)
        self._render_room()

    def _on_room_click(self, ev: Any) -> None:
        button = _closest(ev.target, "button[data-room]")
        if button:
            self.open_room(str(button.dataset.room))

    def _on_leave(self, _ev: Any) -> None:
        jid = self.active_room
        if jid is None:
            return
        self.app.leave_room(jid)
        self.view.close_chat()
        _el("join-room-open").focus()

    # -- occupants --------------------------------------------------------
    def _on_toggle(self, _ev: Any) -> None:
        if self.panel.hidden:
            self._open_panel()
        else:
            self._close_panel(True)

    def _open_panel(self) -> None:
        jid = self.active_room
        room = self.app.room(jid) if jid is not None else None
        if room is None:
            return
        self.panel.hidden = False
        self.toggle.setAttribute("aria-expanded", "true")
        self.subject_form.hidden = not room.is_moderator
        self.subject_text.value = str(room.subject or "")
        self._render_occupants()

    def _close_panel(self, focus: bool) -> None:
        self.panel.hidden = True
        self.toggle.setAttribute("aria-expanded", "false")
        if focus:
            self.toggle.focus()

    def _on_panel_close(self, _ev: Any) -> None:
        self._close_panel(True)

    def _on_panel_key(self, ev: Any) -> None:
        if ev.key == "Escape":
            ev.preventDefault()
            self._close_panel(True)

    def _render_occupants(self) -> None:
        jid = self.active_room
        room = self.app.room(jid) if jid is not None else None
        if room is None:
            self.render.renderOccupants(self.occupants, to_js([]))
            return
        self.subject_form.hidden = not room.is_moderator
        groups: dict[str, list[dict[str, object]]] = {role: [] for role, _ in ROLE_GROUPS}
        own = str(room.nick or "")
        moderator = bool(room.is_moderator)
        owner = bool(room.is_owner)
        for occupant in room.occupants.values():
            nick = str(occupant.nick)
            affiliation = str(occupant.affiliation or "none")
            is_self = nick == own
            # XEP-0045: a moderator can't remove an owner, nor an admin unless an owner.
            protected = affiliation == "owner" or (affiliation == "admin" and not owner)
            allowed = moderator and not is_self and not protected
            show = str(occupant.show or "online")
            role = str(occupant.role)
            groups.get(role, groups["participant"]).append(
                {
                    "nick": nick,
                    "presence": show,
                    "presence_text": PRESENCE_TEXT.get(show, "Online"),
                    "affiliation_text": AFFILIATION_TEXT.get(affiliation, ""),
                    "jid": str(occupant.jid or "").split("/", 1)[0],  # the person, not the device
                    "self": is_self,
                    # A private chat with them (XEP-0045 §7.5); not with oneself.
                    "message": not is_self,
                    "kick": allowed,
                    "ban": allowed,
                }
            )
        data = []
        for role, title in ROLE_GROUPS:
            items = groups[role]
            items.sort(key=lambda it: str(it["nick"]).lower())
            data.append({"title": title, "items": items})
        self.render.renderOccupants(self.occupants, to_js(data))

    def _on_occupant_click(self, ev: Any) -> None:
        button = _closest(ev.target, "button[data-action]")
        jid = self.active_room
        if not button or jid is None:
            return
        action, nick = str(button.dataset.action), str(button.dataset.nick)
        if action == "message":
            key = self.app.open_private(jid, nick)
            if key is not None:
                self.view.open_chat(str(key))  # closes the panel, focuses the composer
            return
        self._ask_moderation(action, jid, nick)

    def _on_subject(self, ev: Any) -> None:
        ev.preventDefault()
        if self.active_room is not None:
            self.app.set_subject(self.active_room, str(self.subject_text.value).strip())

    # -- kick / ban: confirmed first --------------------------------------
    def _ask_moderation(self, action: str, room: str, nick: str) -> None:
        dialog = self._confirm
        if dialog is None:
            dialog = self._confirm = self._make_dialog("confirm-template")
            dialog.querySelector("#moderation-form").addEventListener(
                "submit", _logged("confirm", self._on_confirm)
            )
            dialog.querySelector("#moderation-cancel").addEventListener(
                "click", lambda _ev: dialog.close()
            )
        ban = action == "ban"
        dialog.querySelector("#moderation-title").textContent = (
            f"Ban {nick}?" if ban else f"Kick {nick}?"
        )
        dialog.querySelector("#moderation-text").textContent = (
            "They leave the room and can't come back until the ban is lifted."
            if ban
            else "They leave the room now. They can join again."
        )
        dialog.querySelector("#moderation-confirm").textContent = "Ban" if ban else "Kick"
        reason = dialog.querySelector("#moderation-reason")
        reason.value = ""
        self._confirming = (action, room, nick)
        self._show_dialog(dialog)
        reason.focus()

    def _on_confirm(self, ev: Any) -> None:
        ev.preventDefault()
        dialog, asked = self._confirm, self._confirming
        self._confirming = None
        if dialog is None or asked is None:
            return
        action, room, nick = asked
        reason = str(dialog.querySelector("#moderation-reason").value).strip() or None
        dialog.close()
        if action == "ban":
            self.app.ban(room, nick, reason)
        else:
            self.app.kick(room, nick, reason)

    # -- dialogs ----------------------------------------------------------
    def _make_dialog(self, template_id: str) -> Any:
        dialog = _mount(template_id)

        def closed(_ev: Any) -> None:
            if not dialog.open:
                dialog.remove()  # out of the page until shown again

        dialog.addEventListener("close", closed)
        return dialog

    def _show_dialog(self, dialog: Any) -> None:
        if not dialog.isConnected:
            self.view.root.appendChild(dialog)
        if not dialog.open:
            dialog.showModal()  # modal: focus stays inside, Escape closes, focus returns

    def _close_dialogs(self) -> None:
        for dialog in (self._join, self._directory, self._confirm):
            if dialog is not None and dialog.open:
                dialog.close()

    # -- join a room ------------------------------------------------------
    def _on_join_open(self, _ev: Any) -> None:
        self.show_join()

    def show_join(self, address: str = "") -> None:
        dialog = self._join
        if dialog is None:
            dialog = self._join = self._make_dialog("join-room-template")
            dialog.querySelector("#join-room-form").addEventListener(
                "submit", _logged("join", self._on_join_submit)
            )
            dialog.querySelector("#join-cancel").addEventListener(
                "click", lambda _ev: dialog.close()
            )
        own = str(self.app.own_jid or "")
        local = own.split("@", 1)[0] if "@" in own else ""
        nick = dialog.querySelector("#join-nick")
        nick.placeholder = local
        dialog.querySelector("#join-nick-hint").textContent = (
            f"Leave it empty to use “{local}”." if local else "Leave it empty to use your name."
        )
        dialog.querySelector("#join-error").textContent = ""
        field = dialog.querySelector("#join-address")
        if address:
            field.value = address
        self._show_dialog(dialog)
        field.focus()

    def _join_with(
        self, address: str, nick: str | None = None, password: str | None = None
    ) -> tuple[str | None, str]:
        """`app.join_room`, with the notice it emits when it refuses (its reason)."""
        self._captured = []
        try:
            room = self.app.join_room(address, nick, password)
        finally:
            captured, self._captured = self._captured, None
        if room is None:
            if captured:
                self.view.on_notice("")  # said where the user is looking instead
            return None, (captured[-1] if captured else "That is not a room address.")
        return str(room), ""

    def _on_join_submit(self, ev: Any) -> None:
        ev.preventDefault()
        dialog = self._join
        address_field = dialog.querySelector("#join-address")
        nick_field = dialog.querySelector("#join-nick")
        password_field = dialog.querySelector("#join-password")
        error = dialog.querySelector("#join-error")
        address = str(address_field.value).strip()
        if not address:
            error.textContent = "Enter the room's address."
            address_field.focus()
            return
        nick = str(nick_field.value).strip() or None
        password = str(password_field.value) or None
        room, reason = self._join_with(address, nick, password)
        password_field.value = ""
        if room is None:
            error.textContent = reason
            address_field.focus()
            return
        error.textContent = ""
        address_field.value = ""
        nick_field.value = ""
        dialog.close()
        self.open_room(room)

    def join_from_link(self, uri: str, password: str | None = None) -> None:
        """Join the room of an `xmpp:…?join` link now, or once online (ui/links.py)."""
        self._link = (uri, password)
        if self.view.screen == "main" and str(self.app.state) == "online":
            self._join_link()

    def _join_link(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        room, reason = self._join_with(link[0], None, link[1])
        if room is None:
            self.view.on_notice(reason)
        else:
            self.open_room(room)

    # -- the directory ----------------------------------------------------
    def _on_directory_open(self, _ev: Any) -> None:
        dialog = self._directory
        if dialog is None:
            dialog = self._directory = self._make_dialog("directory-template")
            dialog.querySelector("#directory-form").addEventListener(
                "submit", _logged("search", self._on_directory_search)
            )
            dialog.querySelector("#directory-close").addEventListener(
                "click", lambda _ev: dialog.close()
            )
            dialog.querySelector("#directory-filter").addEventListener(
                "input", _logged("filter", lambda _ev: self._render_directory())
            )
            dialog.querySelector("#directory-list").addEventListener(
                "click", _logged("pick", self._on_directory_join)
            )
        own = str(self.app.own_jid or "")
        domain = dialog.querySelector("#directory-domain")
        domain.placeholder = own.split("@", 1)[1] if "@" in own else ""
        self._show_dialog(dialog)
        domain.focus()
        if not self._dir_asked:
            self._search("")  # one's own server's rooms, at once

    def _on_directory_search(self, ev: Any) -> None:
        ev.preventDefault()
        self._search(str(self._directory.querySelector("#directory-domain").value))

    def _search(self, domain: str) -> None:
        domain = domain.strip()
        self._dir_asked = True
        self._dir_want = domain.lower()
        self._dir_domain = domain
        self._dir_state = "loading"
        self._dir_error = None
        self._dir_rooms = {}
        self._dir_js = None
        self._render_directory()
        self.app.browse_rooms(domain or None)

    def _render_directory(self) -> None:
        dialog = self._directory
        if dialog is None:
            return
        self._dirty.discard("directory")
        if self._dir_js is None:
            # In the app's order: rows don't move under the pointer as details come in.
            self._dir_js = to_js(list(self._dir_rooms.values()))
        ul = dialog.querySelector("#directory-list")
        needle = str(dialog.querySelector("#directory-filter").value)
        drawn = self.render.renderDirectory(ul, self._dir_js, needle, DIRECTORY_LIMIT)
        shown, matched, total = int(drawn.shown), int(drawn.matched), len(self._dir_rooms)
        where = self._dir_domain or "your server"
        state = self._dir_state
        status = dialog.querySelector("#directory-status")
        loading = state == "loading"
        if loading:
            # One sentence while results come in: a live count would chatter.
            text = f"Looking for rooms on {where}…"
        elif state == "error":
            text = ""
        elif not total:
            text = f"No rooms found on {where}."
        else:
            text = f"{total} room{'' if total == 1 else 's'} on {where}."
            if needle.strip():
                text += f" {matched} match{'es' if matched == 1 else ''} the filter."
        if shown < matched:
            text += f" Showing the first {shown}: type in Filter to narrow them down."
        status.textContent = text
        status.classList.toggle("busy", loading)
        ul.setAttribute("aria-busy", "true" if loading else "false")
        error = dialog.querySelector("#directory-error")
        if state == "error":
            error.textContent = self._dir_error or f"Couldn't list the rooms on {where}."
        elif loading:
            error.textContent = ""  # a new search: the last one's error is old news

    def _on_directory_join(self, ev: Any) -> None:
        button = _closest(ev.target, "button[data-room]")
        if not button:
            return
        room, reason = self._join_with(str(button.dataset.room))
        if room is None:
            self._directory.querySelector("#directory-error").textContent = reason
            return
        self._directory.close()
        self.open_room(room)

    # -- logout -----------------------------------------------------------
    def reset(self) -> None:
        """Back to the login screen: nothing of the session stays drawn."""
        self._close_dialogs()
        self.admin.reset()
        self.opened(None)
        self.render.renderRooms(self.list, to_js([]))
        self._known = frozenset()
        self.render.renderOccupants(self.occupants, to_js([]))
        self._dir_asked = False
        self._dir_rooms = {}
        self._dir_js = None
        self._dir_state = ""
        if self._directory is not None:
            self._directory.querySelector("#directory-domain").value = ""
            self._directory.querySelector("#directory-filter").value = ""
            self._render_directory()
