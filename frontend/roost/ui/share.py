"""The "Share to…" chat picker (imported by ui/links.py only when something is shared).

A modal dialog (index.html `share-picker-template`): what is shared, a search
box and the conversations (recent chats first, then rooms, then the other
contacts). Keyboard: the search box has the focus; Down moves into the list,
Up/Down move in it (Up from the first row goes back to the search box), Enter
or Space picks the focused chat (the rows are buttons), Escape cancels.
Picking opens the chat with the shared text in its composer: the user presses
Send; nothing is sent from here.

Names, addresses and the shared text reach the DOM as text only.
"""

from __future__ import annotations

from browser import document  # type: ignore[import-not-found]

from roost.ui.handlers import logged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from roost.ui.links import LinkView, Share

# Rows drawn at a time: the search narrows a long roster down.
LIMIT = 200
PREVIEW_MAX = 500


def _el(id_: str) -> Any:
    return document.getElementById(id_)


class SharePicker:
    """The picker dialog; `show(share)` opens it."""

    def __init__(self, links: LinkView) -> None:
        self.links = links
        self.view = links.view
        self.app = links.app
        self.rooms = links.rooms
        self.share: Share | None = None
        # (jid, name, lower-case "name jid" for the search), in list order.
        self.chats: list[tuple[str, str, str]] = []
        dialog = self.dialog = self.rooms._make_dialog("share-picker-template")
        self.search = dialog.querySelector("#share-search")
        self.list = dialog.querySelector("#share-list")
        self.empty = dialog.querySelector("#share-empty")
        self.search.addEventListener("input", logged("share search", self._on_search))
        self.search.addEventListener("keydown", logged("share keys", self._on_search_key))
        self.list.addEventListener("keydown", logged("share list keys", self._on_list_key))
        self.list.addEventListener("click", logged("share pick", self._on_click))
        dialog.querySelector("#share-cancel").addEventListener(
            "click", logged("share cancel", lambda _ev: self.close())
        )

    def show(self, share: Share) -> None:
        self.share = share
        text = share.message()
        preview = text[:PREVIEW_MAX] + ("…" if len(text) > PREVIEW_MAX else "")
        self.dialog.querySelector("#share-preview").textContent = preview
        self.chats = self._chats()
        self.search.value = ""
        self._render("")
        self.rooms._show_dialog(self.dialog)
        self.search.focus()

    def refresh(self) -> None:
        """The roster changed: the list again, with what is typed in the search."""
        if self.dialog.open:
            self.chats = self._chats()
            self._render(str(self.search.value))

    def close(self) -> None:
        self.share = None
        if self.dialog.open:
            self.dialog.close()

    def _chats(self) -> list[tuple[str, str, str]]:
        app = self.app
        seen: set[str] = set()
        out: list[tuple[str, str, str]] = []

        def add(jid: str, name: str) -> None:
            if jid in seen:
                return
            seen.add(jid)
            out.append((jid, name, f"{name} {jid}".lower()))

        contacts = app.contacts
        for jid in app.conversation_list():  # most recent first
            if not app.is_private(jid):  # a room occupant's private chat: not a share target
                add(jid, self.view._title(jid))
        for jid in app.rooms_list():
            room = app.room(jid)
            add(jid, str(getattr(room, "name", None) or jid))
        others = [(str(c.display_name), jid) for jid, c in contacts.items()]
        for name, jid in sorted(others, key=lambda pair: pair[0].lower()):
            add(jid, name)
        return out

    def _render(self, query: str) -> None:
        words = query.lower().split()
        rows = [c for c in self.chats if all(w in c[2] for w in words)][:LIMIT]
        self.list.textContent = ""
        for jid, name, _key in rows:
            item = document.createElement("li")
            button = document.createElement("button")
            button.type = "button"
            button.dataset.jid = jid
            label = document.createElement("span")
            label.className = "share-name"
            label.textContent = name
            button.appendChild(label)
            if name != jid:
                address = document.createElement("span")
                address.className = "share-address"
                address.textContent = jid
                button.appendChild(address)
            item.appendChild(button)
            self.list.appendChild(item)
        self.empty.hidden = bool(rows)

    def _buttons(self) -> list[Any]:
        return list(self.list.querySelectorAll("button[data-jid]"))

    def _on_search(self, _ev: Any) -> None:
        self._render(str(self.search.value))

    def _on_search_key(self, ev: Any) -> None:
        buttons = self._buttons()
        if ev.key == "ArrowDown" and buttons:
            ev.preventDefault()
            buttons[0].focus()
        elif ev.key == "Enter":
            ev.preventDefault()  # Enter in the search picks the only or first match
            if buttons:
                self._pick(str(buttons[0].dataset.jid))

    def _on_list_key(self, ev: Any) -> None:
        if ev.key not in ("ArrowDown", "ArrowUp", "Home", "End"):
            return
        buttons = self._buttons()
        if not buttons:
            return
        ev.preventDefault()
        current = document.activeElement
        index = -1
        for i, button in enumerate(buttons):
            if button.isSameNode(current):
                index = i
                break
        if ev.key == "Home":
            buttons[0].focus()
        elif ev.key == "End":
            buttons[-1].focus()
        elif ev.key == "ArrowDown":
            buttons[min(index + 1, len(buttons) - 1)].focus()
        elif index <= 0:
            self.search.focus()
        else:
            buttons[index - 1].focus()

    def _on_click(self, ev: Any) -> None:
        try:
            button = ev.target.closest("button[data-jid]")
        except KeyError:  # Brython's DOMNode raises it for no match
            button = None
        if button:
            self._pick(str(button.dataset.jid))

    def _pick(self, jid: str) -> None:
        share = self.share
        self.close()
        if share is not None:
            self.links.open_conversation(jid, share.message())
