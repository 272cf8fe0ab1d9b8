"""A tiny event emitter: `on(name, callback)`, `emit(name, *args)`.

One failing subscriber must not stop the others (a UI bug shouldn't freeze
the session), so exceptions are caught and handed to `on_error`; no
`logging` (Brython import cost).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Callback = Callable[..., object]


class Emitter:
    """Named events to lists of callbacks, called in subscription order."""

    __slots__ = ("_subscribers", "on_error")

    def __init__(self, on_error: Callable[[str, Exception], object] | None = None) -> None:
        self._subscribers: dict[str, list[Callback]] = {}
        # Called as on_error(event_name, exception) when a subscriber raises.
        self.on_error = on_error

    def on(self, name: str, callback: Callback) -> None:
        """Call `callback(*args)` on every `emit(name, *args)`."""
        self._subscribers.setdefault(name, []).append(callback)

    def off(self, name: str, callback: Callback) -> None:
        """Remove one subscription made with `on` (no error when absent)."""
        callbacks = self._subscribers.get(name)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)

    def emit(self, name: str, *args: object) -> None:
        """Call every subscriber of `name`; a raising one is reported, not propagated."""
        # Copy: a subscriber may subscribe or unsubscribe while we iterate.
        for callback in list(self._subscribers.get(name, ())):
            try:
                callback(*args)
            except Exception as exc:
                handler = self.on_error
                if handler is not None:
                    try:
                        handler(name, exc)
                    except Exception:
                        pass  # the error hook itself failed: nothing safe left to do
