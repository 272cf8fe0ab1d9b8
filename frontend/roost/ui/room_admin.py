"""Room administration in the page: invitations (the cards above the Rooms
list, and the invite form), "New room", "Room options" (nickname, autojoin,
forget), the settings dialog (create and edit) and the members dialog.

`RoomAdminView` is made by `RoomsView` (ui/rooms.py) and uses its dialog
helpers; it talks to `app.room_admin` (app/room_admin.py) and listens to the
app events "invites", "room_create", "room_settings", "room_members",
"room_invite_sent". Everything a room or a person says about itself (names,
reasons, addresses) reaches the DOM as text only (`textContent`).
"""

from __future__ import annotations

from browser import document  # type: ignore[import-not-found]

from roost.ui.handlers import logged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SETTINGS = ("name", "description", "public", "members_only", "non_anonymous", "persistent",
            "moderated", "password")
_CHECKS = ("public", "members_only", "non_anonymous", "persistent", "moderated")
MEMBER_GROUPS = (
    ("owner", "Owners"),
    ("admin", "Admins"),
    ("member", "Members"),
    ("outcast", "Banned"),
)
# What a new room starts as: a small private group that stays.
NEW_ROOM = {"public": False, "members_only": True, "non_anonymous": True, "persistent": True,
            "moderated": False}


def _logged(name: str, handler: Any) -> Any:
    return logged("room admin " + name, handler)


def _node(tag: str, text: str = "", cls: str = "") -> Any:
    node = document.createElement(tag)
    if text:
        node.textContent = text
    if cls:
        node.className = cls
    return node


class RoomAdminView:
    """See the module docstring."""

    def __init__(self, rooms: Any) -> None:
        self.rooms = rooms  # RoomsView
        self.app = rooms.app
        self.invites_box = document.getElementById("room-invites")
        self._options: Any = None
        self._settings: Any = None
        self._members: Any = None
        # What the settings dialog is for: ("create", None) or ("edit", room).
        self._settings_for: tuple[str, str | None] = ("edit", None)
        self._creating: str | None = None  # the room a "create" waits for
        self._members_for: str | None = None
        # The user typed an address: the name no longer suggests one.
        self._address_typed = False

        document.getElementById("create-room-open").addEventListener(
            "click", _logged("create", lambda _ev: self.show_create())
        )
        document.getElementById("room-options-open").addEventListener(
            "click", _logged("options", lambda _ev: self.show_options())
        )
        self.invites_box.addEventListener("click", _logged("invite card", self._on_invite_card))
        for name, handler in (
            ("invites", self.on_invites),
            ("room_create", self.on_create),
            ("room_settings", self.on_settings),
            ("room_members", self.on_members),
            ("room_invite_sent", self.on_invite_sent),
            ("room", self.on_room),
        ):
            self.app.on(name, _logged(name, handler))

    @property
    def _admin(self) -> Any:
        return self.app.room_admin

    # -- invitations received ---------------------------------------------
    def on_invites(self, *_args: object) -> None:
        self._render_invites()

    def _render_invites(self) -> None:
        box = self.invites_box
        box.replaceChildren()
        for i, invite in enumerate(self._admin.invites):
            card = _node("div", cls="request invite")
            card.setAttribute("role", "group")
            text = _node("p", cls="request-text")
            text.id = f"invite-{i}-text"
            who = str(invite.inviter or "Someone")
            text.textContent = f"{who} invites you to the room {invite.room}"
            card.setAttribute("aria-labelledby", text.id)
            card.appendChild(text)
            if invite.reason:
                card.appendChild(_node("p", str(invite.reason), "request-status"))
            for action, label, cls in (("join", "Join", "approve"), ("dismiss", "Dismiss", "deny")):
                button = _node("button", label, cls)
                button.type = "button"
                button.dataset.action = action
                button.dataset.room = str(invite.room)
                card.appendChild(button)
            box.appendChild(card)

    def _on_invite_card(self, ev: Any) -> None:
        target = ev.target
        if str(target.tagName) != "BUTTON":
            return
        room = str(target.dataset.room)
        if str(target.dataset.action) == "join":
            joined = self._admin.accept(room)
            if joined:
                self.rooms.open_room(str(joined))
        else:
            self._admin.dismiss(room)
            document.getElementById("join-room-open").focus()

    # -- room options -----------------------------------------------------
    def show_options(self) -> None:
        jid = self.rooms.active_room
        room = self.app.room(jid) if jid is not None else None
        if room is None:
            return
        dialog = self._options
        if dialog is None:
            dialog = self._options = self.rooms._make_dialog("room-options-template")
            q = dialog.querySelector
            q("#invite-form").addEventListener("submit", _logged("invite", self._on_invite))
            q("#nick-form").addEventListener("submit", _logged("nick", self._on_nick))
            q("#autojoin-field").addEventListener("change", _logged("autojoin", self._on_autojoin))
            q("#room-settings-open").addEventListener(
                "click", _logged("settings", lambda _ev: self.show_settings())
            )
            q("#room-members-open").addEventListener(
                "click", _logged("members", lambda _ev: self.show_members())
            )
            q("#forget-room").addEventListener("click", _logged("forget", self._on_forget))
            q("#room-options-close").addEventListener("click", lambda _ev: dialog.close())
        q = dialog.querySelector
        q("#room-options-title").textContent = str(room.name or jid)
        q("#room-options-address").textContent = str(jid)
        q("#invite-status").textContent = ""
        q("#nick-status").textContent = ""
        q("#nick-field").value = str(room.nick or "")
        q("#autojoin-field").checked = bool(room.autojoin)
        joined = str(room.state) == "joined"
        q("#invite-form").hidden = not joined
        q("#nick-form").hidden = not joined
        q("#room-settings-open").hidden = not (joined and room.is_owner)
        me = room.occupants.get(room.nick) if joined else None
        admin = me is not None and str(me.affiliation) in ("owner", "admin")
        q("#room-members-open").hidden = not admin
        contacts = q("#invite-contacts")
        contacts.replaceChildren()
        for bare in sorted(self.app.contacts):
            option = document.createElement("option")
            option.value = str(bare)
            contacts.appendChild(option)
        self.rooms._show_dialog(dialog)
        (q("#invite-address") if joined else q("#room-options-close")).focus()

    def _on_invite(self, ev: Any) -> None:
        ev.preventDefault()
        q = self._options.querySelector
        address = q("#invite-address")
        status = q("#invite-status")
        jid = self.rooms.active_room
        if jid is None:
            return
        if not str(address.value).strip():
            status.textContent = "Enter the address of the person to invite."
            address.focus()
            return
        problem = self._admin.invite(jid, str(address.value), str(q("#invite-reason").value))
        status.classList.toggle("error", problem is not None)
        if problem is not None:
            status.textContent = str(problem)
            address.focus()

    def on_invite_sent(self, room: str, invitee: str, *_args: object) -> None:
        dialog = self._options
        if dialog is None or not dialog.open:
            return
        q = dialog.querySelector
        q("#invite-status").textContent = f"Invitation sent to {invitee}."
        q("#invite-address").value = ""
        q("#invite-reason").value = ""

    def _on_nick(self, ev: Any) -> None:
        ev.preventDefault()
        jid = self.rooms.active_room
        if jid is None:
            return
        q = self._options.querySelector
        problem = self._admin.change_nick(jid, str(q("#nick-field").value))
        status = q("#nick-status")
        status.classList.toggle("error", problem is not None)
        status.textContent = str(problem) if problem else "Asked the room…"

    def on_room(self, room: str, *_args: object) -> None:
        members = self._members
        if members is not None and members.open and room == self._members_for:
            picked = str(members.querySelector("#role-nick").value)
            self._fill_nicks(self.app.room(room))
            members.querySelector("#role-nick").value = picked  # roles changed, not the pick
        dialog = self._options
        if dialog is None or not dialog.open or room != self.rooms.active_room:
            return
        current = self.app.room(room)
        status = dialog.querySelector("#nick-status")
        if current is not None and str(status.textContent) == "Asked the room…":
            field = dialog.querySelector("#nick-field")
            if str(current.nick) == str(field.value).strip():
                status.textContent = f"You are now {current.nick} here."

    def _on_autojoin(self, ev: Any) -> None:
        jid = self.rooms.active_room
        if jid is not None:
            self._admin.set_autojoin(jid, bool(ev.target.checked))

    def _on_forget(self, _ev: Any) -> None:
        jid = self.rooms.active_room
        if jid is None:
            return
        self._options.close()
        self._admin.forget(jid)
        self.rooms.view.close_chat()
        document.getElementById("join-room-open").focus()

    # -- settings: create a room, or change one ---------------------------
    def _settings_dialog(self) -> Any:
        dialog = self._settings
        if dialog is None:
            dialog = self._settings = self.rooms._make_dialog("room-settings-template")
            q = dialog.querySelector
            q("#room-settings-form").addEventListener(
                "submit", _logged("settings submit", self._on_settings_submit)
            )
            q("#room-settings-cancel").addEventListener("click", lambda _ev: dialog.close())
            q("#settings-name").addEventListener("input", _logged("name", self._on_name_input))
            q("#settings-address").addEventListener(
                "input", _logged("address", self._on_address_input)
            )
        return dialog

    def _show_fields(self, offered: list[str] | None) -> None:
        """Show only the settings the room offers (None: all)."""
        q = self._settings.querySelector
        for name in SETTINGS:
            hide = offered is not None and name not in offered
            for node in self._settings.querySelectorAll(f'[data-setting="{name}"]'):
                node.hidden = hide
            q(f"#settings-{name}").disabled = hide

    def _fill(self, values: dict[str, object]) -> None:
        q = self._settings.querySelector
        for name in SETTINGS:
            field = q(f"#settings-{name}")
            value = values.get(name)
            if name in _CHECKS:
                field.checked = bool(value)
            else:
                field.value = "" if value is None else str(value)

    def _read(self) -> Any:
        from roost.app.room_admin import RoomSettings

        q = self._settings.querySelector
        values: dict[str, Any] = {}
        for name in SETTINGS:
            field = q(f"#settings-{name}")
            if field.disabled:
                continue
            values[name] = bool(field.checked) if name in _CHECKS else str(field.value)
        values["name"] = str(values.get("name", "")).strip() if "name" in values else None
        return RoomSettings(**values)

    def show_create(self) -> None:
        dialog = self._settings_dialog()
        q = dialog.querySelector
        self._settings_for = ("create", None)
        self._creating = None
        self._address_typed = False
        self._admin.discover_service()
        q("#room-settings-title").textContent = "New room"
        q("#room-settings-submit").textContent = "Create room"
        q("#settings-address-box").hidden = False
        q("#settings-address").value = ""
        q("#settings-address-hint").textContent = (
            f"The room's address: this name @{self._admin.default_service()}, or a full "
            "room@service address."
        )
        q("#room-settings-status").textContent = ""
        q("#room-settings-error").textContent = ""
        self._show_fields(None)
        self._fill(dict(NEW_ROOM))
        self._busy(False)
        self.rooms._show_dialog(dialog)
        q("#settings-name").focus()

    def _on_address_input(self, _ev: Any) -> None:
        self._address_typed = True

    def _on_name_input(self, _ev: Any) -> None:
        if self._settings_for[0] != "create" or self._address_typed:
            return
        from roost.app.room_admin import room_local

        q = self._settings.querySelector
        q("#settings-address").value = room_local(str(q("#settings-name").value))

    def show_settings(self) -> None:
        jid = self.rooms.active_room
        if jid is None:
            return
        if self._options is not None and self._options.open:
            self._options.close()
        dialog = self._settings_dialog()
        q = dialog.querySelector
        self._settings_for = ("edit", jid)
        room = self.app.room(jid)
        q("#room-settings-title").textContent = f"Settings of {room.name if room else jid}"
        q("#room-settings-submit").textContent = "Save"
        q("#settings-address-box").hidden = True
        q("#room-settings-error").textContent = ""
        self._show_fields([])
        self._busy(True, "Loading the room's settings…")
        self.rooms._show_dialog(dialog)
        q("#room-settings-cancel").focus()
        self._admin.load_settings(jid)

    def _busy(self, on: bool, text: str = "") -> None:
        q = self._settings.querySelector
        q("#room-settings-submit").disabled = on
        status = q("#room-settings-status")
        status.textContent = text
        status.classList.toggle("busy", on)
        q("#room-settings-form").setAttribute("aria-busy", "true" if on else "false")

    def _on_settings_submit(self, ev: Any) -> None:
        ev.preventDefault()
        q = self._settings.querySelector
        kind, jid = self._settings_for
        q("#room-settings-error").textContent = ""
        settings = self._read()
        if kind == "create":
            address = str(q("#settings-address").value).strip()
            if not address:
                from roost.app.room_admin import room_local

                address = room_local(str(settings.name or ""))
            if not address:
                q("#room-settings-error").textContent = "Give the room a name or an address."
                q("#settings-name").focus()
                return
            self._busy(True, "Creating the room…")
            self._creating = self._admin.create(address, settings)
            if self._creating is None:
                self._busy(False)
        elif jid is not None:
            self._busy(True, "Saving…")
            self._admin.save_settings(jid, settings)

    def on_create(self, room: str, state: str, error: str | None = None, *_args: object) -> None:
        dialog = self._settings
        if dialog is None or self._settings_for[0] != "create":
            return
        if self._creating is not None and room != self._creating:
            return
        q = dialog.querySelector
        if state == "error":
            self._busy(False)
            q("#room-settings-error").textContent = str(error or "The room could not be made.")
            if self._creating is not None and self.app.room(self._creating) is not None:
                dialog.close()  # joined someone else's after all: the notice says so
                self.rooms.open_room(self._creating)
                self.rooms.view.on_notice(str(error))
            else:
                q("#settings-address").focus()
            self._creating = None
        elif state == "done":
            self._creating = None
            self._busy(False)
            if dialog.open:
                dialog.close()
            self.rooms.open_room(str(room))
        elif state == "creating":
            self._busy(True, "Setting the room up…")

    def on_settings(self, room: str, state: str, settings: Any = None,
                    error: str | None = None, *_args: object) -> None:
        dialog = self._settings
        kind, jid = self._settings_for
        if dialog is None or kind != "edit" or room != jid or not dialog.open:
            return
        q = dialog.querySelector
        if state == "ready" and settings is not None:
            offered = list(settings.offered())
            self._show_fields(offered)
            self._fill({name: getattr(settings, name) for name in SETTINGS})
            self._busy(False)
            q("#settings-name" if "name" in offered else "#room-settings-cancel").focus()
        elif state == "saved":
            self._busy(False)
            dialog.close()
            self.rooms.view.on_notice("The room's settings are saved.")
        elif state == "error":
            self._busy(False)
            q("#room-settings-error").textContent = str(error or "That didn't work.")

    # -- members ------------------------------------------------------------
    def show_members(self) -> None:
        jid = self.rooms.active_room
        if jid is None:
            return
        if self._options is not None and self._options.open:
            self._options.close()
        dialog = self._members
        if dialog is None:
            dialog = self._members = self.rooms._make_dialog("room-members-template")
            q = dialog.querySelector
            q("#room-members-close").addEventListener("click", lambda _ev: dialog.close())
            q("#member-add-form").addEventListener("submit", _logged("add", self._on_member_add))
            q("#room-members-lists").addEventListener(
                "click", _logged("member remove", self._on_member_remove)
            )
            q("#role-form").addEventListener(
                "submit", _logged("grant", lambda ev: self._on_role(ev, "moderator"))
            )
            q("#role-revoke").addEventListener(
                "click", _logged("revoke", lambda ev: self._on_role(ev, "participant"))
            )
        q = dialog.querySelector
        self._members_for = jid
        room = self.app.room(jid)
        q("#room-members-title").textContent = f"Members of {room.name if room else jid}"
        q("#room-members-error").textContent = ""
        q("#room-members-lists").replaceChildren()
        self._fill_nicks(room)
        self._members_status("Loading the member lists…", True)
        self.rooms._show_dialog(dialog)
        q("#member-address").focus()
        self._admin.load_members(jid)

    def _fill_nicks(self, room: Any) -> None:
        select = self._members.querySelector("#role-nick")
        select.replaceChildren()
        if room is None:
            return
        for nick in sorted(room.occupants, key=lambda n: str(n).lower()):
            if nick == room.nick:
                continue
            occupant = room.occupants[nick]
            option = document.createElement("option")
            option.value = str(nick)
            role = " (moderator)" if str(occupant.role) == "moderator" else ""
            option.textContent = f"{nick}{role}"
            select.appendChild(option)

    def _members_status(self, text: str, busy: bool) -> None:
        status = self._members.querySelector("#room-members-status")
        status.textContent = text
        status.classList.toggle("busy", busy)

    def on_members(self, room: str, state: str, members: Any = None,
                   error: str | None = None, *_args: object) -> None:
        dialog = self._members
        if dialog is None or room != self._members_for or not dialog.open:
            return
        q = dialog.querySelector
        if state == "error":
            self._members_status("", False)
            q("#room-members-error").textContent = str(error or "Couldn't read the members.")
        else:
            self._members_status("Loading the member lists…" if state == "loading" else "",
                                 state == "loading")
        box = q("#room-members-lists")
        box.replaceChildren()
        for affiliation, title in MEMBER_GROUPS:
            known = members is not None and affiliation in members
            people = list(members[affiliation]) if known else []
            section = _node("section", cls="member-group")
            heading = _node("h3", f"{title} ({len(people)})", "dialog-subtitle")
            heading.id = f"members-{affiliation}"
            section.setAttribute("aria-labelledby", heading.id)
            section.appendChild(heading)
            ul = _node("ul", cls="member-list")
            ul.setAttribute("role", "list")
            for jid in people:
                li = _node("li")
                li.appendChild(_node("span", str(jid), "member-jid"))
                if affiliation != "owner" or len(people) > 1:
                    button = _node("button", "Lift ban" if affiliation == "outcast" else "Remove",
                                   "secondary")
                    button.type = "button"
                    button.dataset.jid = str(jid)
                    button.setAttribute("aria-label", f"Remove {jid} from {title.lower()}")
                    li.appendChild(button)
                ul.appendChild(li)
            if not people:
                ul.appendChild(_node("li", "Nobody." if known else "Loading…", "hint"))
            section.appendChild(ul)
            box.appendChild(section)

    def _on_member_add(self, ev: Any) -> None:
        ev.preventDefault()
        q = self._members.querySelector
        jid = self._members_for
        address = q("#member-address")
        if jid is None:
            return
        problem = self._admin.set_affiliation(
            jid, str(address.value), str(q("#member-affiliation").value),
            str(q("#member-reason").value),
        )
        error = q("#room-members-error")
        if problem:
            error.textContent = str(problem)
            address.focus()
            return
        error.textContent = ""
        address.value = ""
        q("#member-reason").value = ""
        self._members_status("Saving…", True)

    def _on_member_remove(self, ev: Any) -> None:
        target = ev.target
        jid = self._members_for
        if str(target.tagName) != "BUTTON" or jid is None:
            return
        self._members_status("Saving…", True)
        self._admin.set_affiliation(jid, str(target.dataset.jid), "none")
        self._members.querySelector("#member-address").focus()

    def _on_role(self, ev: Any, role: str) -> None:
        ev.preventDefault()
        jid = self._members_for
        nick = str(self._members.querySelector("#role-nick").value)
        if jid is None or not nick:
            return
        self._admin.set_role(jid, nick, role)
        what = "is now a moderator" if role == "moderator" else "is no longer a moderator"
        self._members_status(f"Asked the room: {nick} {what}.", False)

    # -- logout -------------------------------------------------------------
    def reset(self) -> None:
        for dialog in (self._options, self._settings, self._members):
            if dialog is not None and dialog.open:
                dialog.close()
        self.invites_box.replaceChildren()
        self._creating = None
        self._members_for = None
