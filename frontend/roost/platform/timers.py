"""Timers and the clock."""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def call_later(seconds: float, fn: Callable[[], object]) -> int:
    """Run `fn()` after `seconds`; returns a handle for `cancel`."""
    return int(window.setTimeout(fn, max(0, int(seconds * 1000))))


def cancel(handle: int | None) -> None:
    if handle is not None:
        window.clearTimeout(handle)


def now() -> float:
    """Seconds since the epoch."""
    return float(window.Date.now()) / 1000.0


def soon(fn: Callable[[], object]) -> None:
    """Run `fn()` after the current task (a microtask), like a resolved promise."""
    window.queueMicrotask(fn)
