"""The global error reporter: a clear message in the page, details in the console.

Brython writes the traceback of an uncaught Python exception to `sys.stderr`
and then rethrows it as a JS error; JS errors and rejected promises reach
`window`. All of these end here: the details go to `console.error` and the
person sees one sentence and a Reload button (`#fatal` in index.html), never a
traceback. boot.js has its own listener for failures before Python runs and
stands down once `install()` has run.
"""

from __future__ import annotations

import sys

from browser import document, window  # type: ignore[import-not-found]

MESSAGE = "Something went wrong in Roost. Reload the page to continue."

_installed = False
_shown = False


def show(detail: object = None) -> None:
    """Log `detail` and show the message (once)."""
    global _shown
    if detail is not None:
        window.console.error("Roost:", detail)
    if _shown:
        return
    _shown = True
    box = document.getElementById("fatal")
    if box is None:
        return
    document.getElementById("fatal-text").textContent = MESSAGE
    box.hidden = False
    button = document.getElementById("fatal-reload")
    button.addEventListener("click", lambda _ev: window.location.reload())
    button.focus()


class _ConsoleStderr:
    """sys.stderr replacement: tracebacks go to the console and raise the message."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer: list[str] = []

    def write(self, text: str) -> int:
        self._buffer.append(str(text))
        if "\n" in text:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer = []
        window.console.error(text)
        if "Traceback" in text or "Error" in text:
            show()


def _on_window_error(ev: object) -> None:
    error = getattr(ev, "error", None) or getattr(ev, "message", None)
    show(error)


def _on_rejection(ev: object) -> None:
    show(getattr(ev, "reason", None))


def install() -> None:
    """Route every uncaught error to the message; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.stderr = _ConsoleStderr()  # type: ignore[assignment]
    window.addEventListener("error", _on_window_error)
    window.addEventListener("unhandledrejection", _on_rejection)
    boot = window.RoostBoot
    if boot:
        boot.errorsInstalled = True
