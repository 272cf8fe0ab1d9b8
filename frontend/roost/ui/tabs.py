"""One tab per account: the "Roost is open in another tab." panel and its logic.

`TabCoordinator` is the logic, with the lock (`roost.platform.tabs.TabLock`,
or a fake in tests) and the panel's show/hide injected, so CPython tests run
it without a browser. `TabPanel` is the panel's DOM, built from the
`document` it is given; `install_tabs` wires the two together.

The rules (WhatsApp Web style):

- A login first claims the account's lock without waiting. Granted: the
  login proceeds. Held by another tab: the panel shows, and "Use here" asks
  that tab to step aside, waits for the lock, then proceeds with the login.
- The owner, asked to step aside, calls the step-aside callback (the app
  disconnects cleanly and keeps its data in memory), releases the lock and
  shows the panel; its "Use here" takes the lock back the same way and calls
  the resume callback (the app reconnects).
- A tab waiting for the lock that is asked to step aside (a third tab's
  "Use here") stops waiting: the last "Use here" wins.
- `logout()` releases the lock and hides the panel.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    class Lock(Protocol):
        held: str | None
        pending: str | None

        def claim(
            self, account: str, on_owned: Callable[[], object], on_busy: Callable[[], object]
        ) -> None: ...
        def take_over(self, account: str, on_owned: Callable[[], object]) -> None: ...
        def on_release_request(self, callback: Callable[[str], object] | None) -> None: ...
        def release(self) -> None: ...


TITLE = "Roost is open in another tab."
TEXT = "Roost works in one tab at a time. Use it here instead, and the other tab will disconnect."
USE_HERE = "Use here"
WAITING = "Waiting for the other tab…"


def account_key(address: str, default_domain: str = "") -> str:
    """The lock's account for what was typed at login: bare JID, lower-cased.

    Like `ChatApp.login`: "alice" gets `default_domain`; a resource is dropped.
    """
    address = address.strip()
    slash = address.find("/")
    if slash >= 0:
        address = address[:slash]
    if "@" not in address and default_domain:
        address = address + "@" + default_domain
    return address.lower()


def _nothing() -> None:
    return None


class TabCoordinator:
    """Decides when this tab may run the account's session (see the module docstring).

    `show_panel(status)` shows the panel with a status line ("" or
    `WAITING`); `hide_panel()` hides it.
    """

    __slots__ = ("_hide", "_lock", "_next", "_resume", "_show", "_step_aside", "account", "panel")

    def __init__(
        self,
        lock: Lock,
        show_panel: Callable[[str], object],
        hide_panel: Callable[[], object],
    ) -> None:
        self._lock = lock
        self._show = show_panel
        self._hide = hide_panel
        self._step_aside: Callable[[], object] = _nothing
        self._resume: Callable[[], object] = _nothing
        # What to run once the lock is ours: the login waiting, or `_resume`.
        self._next: Callable[[], object] | None = None
        self.account: str | None = None  # the account this tab wants
        self.panel = False  # the panel is shown
        lock.on_release_request(self._on_release_request)

    @property
    def owner(self) -> bool:
        """This tab holds the lock of its account."""
        return self.account is not None and self._lock.held == self.account

    def set_step_aside(self, callback: Callable[[], object]) -> None:
        """`callback()` when another tab takes the session over (before the lock goes)."""
        self._step_aside = callback

    def set_resume(self, callback: Callable[[], object]) -> None:
        """`callback()` when this tab takes the session back after stepping aside."""
        self._resume = callback

    def before_login(self, account: str, proceed: Callable[[], object]) -> None:
        """Run `proceed()` once this tab may use `account` (see `account_key`)."""
        account = account.lower()
        self.account = account
        self._next = proceed
        self._lock.claim(account, self._owned, self._busy)

    def use_here(self) -> None:
        """The panel's "Use here": ask the other tab to let go, and wait for the lock."""
        account = self.account
        if account is None or self.owner:
            return
        self._set_panel(WAITING)
        self._lock.take_over(account, self._owned)

    def logout(self) -> None:
        """The person logged out (or the login failed for good): free the account."""
        self.account = None
        self._next = None
        self._lock.release()
        if self.panel:
            self.panel = False
            self._hide()

    def _owned(self, *_args: object) -> None:
        if self.account is None or self._lock.held != self.account:
            return  # a grant for an earlier login or after logout()
        proceed, self._next = self._next, None
        if self.panel:
            self.panel = False
            self._hide()
        if proceed is not None:
            proceed()

    def _busy(self, *_args: object) -> None:
        if self.account is not None and self._lock.held != self.account:
            self._set_panel("")

    def _on_release_request(self, account: str) -> None:
        if account != self.account:
            return
        if self._lock.held == account:
            self._next = self._resume
            try:
                self._step_aside()
            finally:
                self._lock.release()
                self._set_panel("")
        else:  # waiting after "Use here": the newer request wins
            self._lock.release()
            self._set_panel("")

    def _set_panel(self, status: str) -> None:
        self.panel = True
        self._show(status)


class TabPanel:
    """The panel's DOM, built programmatically into `parent` (hidden at first).

    A modal `alertdialog` named by its heading ("Roost is open in another
    tab."), described by its text, with the "Use here" button (focused when
    the panel appears) and a polite status line. While it shows, the other
    children of `parent` are `inert`, except `#fatal` (the error reporter's
    message must stay usable); focus returns where it was when it hides.
    """

    __slots__ = (
        "_before",
        "_inerted",
        "box",
        "button",
        "document",
        "on_use_here",
        "parent",
        "status",
    )

    def __init__(self, document: Any, parent: Any) -> None:
        self.document = document
        self.parent = parent
        self.on_use_here: Callable[[], object] = _nothing
        self._inerted: list[Any] = []
        self._before: Any = None
        box = document.createElement("section")
        box.id = "tab-panel"
        box.className = "tab-panel"
        box.setAttribute("role", "alertdialog")
        box.setAttribute("aria-modal", "true")
        box.setAttribute("aria-labelledby", "tab-panel-title")
        box.setAttribute("aria-describedby", "tab-panel-text")
        box.hidden = True
        card = document.createElement("div")
        card.className = "tab-panel-card"
        title = document.createElement("h2")
        title.id = "tab-panel-title"
        title.textContent = TITLE
        text = document.createElement("p")
        text.id = "tab-panel-text"
        text.textContent = TEXT
        button = document.createElement("button")
        button.id = "tab-panel-use"
        button.type = "button"
        button.textContent = USE_HERE
        status = document.createElement("p")
        status.id = "tab-panel-status"
        status.className = "status"
        status.setAttribute("role", "status")
        status.setAttribute("aria-live", "polite")
        for child in (title, text, button, status):
            card.appendChild(child)
        box.appendChild(card)
        parent.appendChild(box)
        button.addEventListener("click", self._on_click)
        self.box = box
        self.button = button
        self.status = status

    def show(self, status: str = "") -> None:
        self.status.textContent = status
        if not self.box.hidden:
            return
        self._before = self.document.activeElement
        self._inerted = []
        for child in self.parent.children:
            if str(child.id) in ("tab-panel", "fatal"):
                continue
            if not child.inert:
                child.inert = True
                self._inerted.append(child)
        self.box.hidden = False
        self.button.focus()

    def hide(self) -> None:
        if self.box.hidden:
            return
        self.box.hidden = True
        self.status.textContent = ""
        for child in self._inerted:
            child.inert = False
        self._inerted = []
        before, self._before = self._before, None
        if before is not None and before.isConnected and str(before.tagName) != "BODY":
            before.focus()

    def _on_click(self, _ev: object) -> None:
        self.on_use_here()


def install_tabs(lock: Lock, document: Any, parent: Any) -> TabCoordinator:
    """The panel in `parent` and its coordinator, wired together."""
    panel = TabPanel(document, parent)
    coordinator = TabCoordinator(lock, panel.show, panel.hide)
    panel.on_use_here = coordinator.use_here
    return coordinator
