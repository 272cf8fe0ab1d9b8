"""What a page reported: console errors, page errors, failed requests."""

from __future__ import annotations

from typing import Any


class PageLog:
    """Console errors, page errors and failed requests seen by a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.console: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("requestfailed", lambda req: self.failed.append(req.url))
        page.on(
            "response",
            lambda resp: (
                self.failed.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None
            ),
        )

    def _console(self, msg: Any) -> None:
        self.console.append(f"[{msg.type}] {msg.text}")
        if msg.type == "error":
            self.errors.append(msg.text)
