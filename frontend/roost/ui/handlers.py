"""Event handlers for the views (browser only)."""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def logged(name: str, handler: Any) -> Any:
    """`handler`, logging its exception to the console (the app's emitter swallows it)."""

    def call(*args: object) -> None:
        try:
            handler(*args)
        except Exception as exc:
            window.console.error(f"Roost UI: {name} handler failed: {exc!r}")
            raise

    return call
