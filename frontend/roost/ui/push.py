"""Notifications on the page: the offer after login and the Notifications dialog.

It attaches the browser's side of push (platform/push.py) to `app.push`
(app/push.py) and listens to the app's "push" event. Permission is asked
only from a click ("Turn on" on the offer, or the dialog's switch), never
on page load: a browser shows the prompt only then, and people answer it
better when they know what it is for.

- The offer (`#push-offer`, from its `<template>`): a card under the top
  bar, shown once logged in while the browser hasn't been asked yet and
  the user hasn't said "Not now".
- The dialog (`#push-settings`, top bar "Notifications"): on/off, what
  notifications show (the privacy choice), and whether push works and why
  not (`PushManager.reason()`).

It also answers the service worker's "which conversation is on screen?"
(no notification for the chat being read).
"""

from __future__ import annotations

from browser import document  # type: ignore[import-not-found]

from roost.ui.handlers import logged as _logged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Statuses (app/push.py) in which there is nothing the switch could do.
_CANT = ("idle", "untrusted", "not-configured", "unsupported", "install")
# Statuses that mean "on" (set up, or trying to be).
_ON = ("working", "setting-up", "unreachable", "server-lacks-push")


def _el(id_: str) -> Any:
    return document.getElementById(id_)


def _mount(template_id: str) -> Any:
    return _el(template_id).content.firstElementChild.cloneNode(True)


class PushView:
    """The offer card and the Notifications dialog for `app.push`."""

    def __init__(self, view: Any, app: Any) -> None:
        from roost.platform.push import BrowserPush

        self.view = view
        self.app = app
        self.offer: Any = None
        self.dialog: Any = None
        self.button = _el("push-open")
        if getattr(app, "push", None) is None:
            # An app without push (the UI tests' stand-in app): no button, nothing to serve.
            if self.button is not None:
                self.button.hidden = True
            return
        self.port = BrowserPush()
        self.port.serve_screen(self._on_screen)
        app.push.attach(self.port)
        if self.button is not None:
            self.button.addEventListener("click", _logged("push-open", self._on_open))
        app.on("push", _logged("push", self.render))
        app.on("state", _logged("push-state", self._on_state))

    # -- what is on screen (for the service worker) -------------------------------------
    def _on_screen(self) -> tuple[str | None, str | None]:
        if str(document.visibilityState) != "visible" or self.view.screen != "main":
            return self.app.own_jid, None
        return self.app.own_jid, self.view.active

    # -- rendering ------------------------------------------------------------------------
    def _on_state(self, _state: str, _message: str | None = None) -> None:
        self.render()

    def render(self) -> None:
        push = self.app.push
        show_offer = bool(push.offer) and self.app.own_jid is not None
        if show_offer and self.offer is None:
            self._make_offer()
        if self.offer is not None:
            self.offer.hidden = not show_offer
        if self.dialog is not None and self.dialog.open:
            self._fill_dialog()

    def _make_offer(self) -> None:
        offer = self.offer = _mount("push-offer-template")
        offer.querySelector("#push-offer-on").addEventListener(
            "click", _logged("push-offer-on", self._on_offer_on)
        )
        offer.querySelector("#push-offer-dismiss").addEventListener(
            "click", _logged("push-offer-dismiss", self._on_offer_dismiss)
        )
        notice = _el("notice")
        notice.parentNode.insertBefore(offer, notice.nextSibling)

    def _on_offer_on(self, _ev: Any) -> None:
        self.app.push.turn_on()  # in the click: the browser may ask for permission
        self.render()

    def _on_offer_dismiss(self, _ev: Any) -> None:
        self.app.push.dismiss()
        self.render()

    # -- the dialog -----------------------------------------------------------------------
    def _on_open(self, _ev: Any) -> None:
        dialog = self.dialog
        if dialog is None:
            dialog = self.dialog = self.view.rooms._make_dialog("push-settings-template")
            dialog.querySelector("#push-enabled").addEventListener(
                "change", _logged("push-enabled", self._on_enabled)
            )
            for radio in dialog.querySelectorAll('input[name="push-privacy"]'):
                radio.addEventListener("change", _logged("push-privacy", self._on_privacy))
            dialog.querySelector("#push-settings-close").addEventListener(
                "click", lambda _ev: dialog.close()
            )
        self._fill_dialog()
        self.view.rooms._show_dialog(dialog)

    def _fill_dialog(self) -> None:
        dialog, push = self.dialog, self.app.push
        status = str(push.status)
        cant = status in _CANT
        switch = dialog.querySelector("#push-enabled")
        switch.checked = bool(push.enabled) and status in _ON
        switch.disabled = cant
        dialog.querySelector("#push-privacy").disabled = cant
        for radio in dialog.querySelectorAll('input[name="push-privacy"]'):
            radio.checked = str(radio.value) == push.privacy
        text = dialog.querySelector("#push-status")
        text.textContent = push.reason()
        text.dataset.status = status

    def _on_enabled(self, ev: Any) -> None:
        if ev.target.checked:
            self.app.push.turn_on()  # in the click: the browser may ask for permission
        else:
            self.app.push.turn_off()
        self._fill_dialog()

    def _on_privacy(self, ev: Any) -> None:
        if ev.target.checked:
            self.app.push.set_privacy(str(ev.target.value))
            self._fill_dialog()
