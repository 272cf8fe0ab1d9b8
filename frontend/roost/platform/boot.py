"""Hand-over from boot.js (window.RoostBoot) to Python."""

from __future__ import annotations

from browser import window  # type: ignore[import-not-found]


def mark(name: str) -> None:
    """A `performance.mark` (boot timings are read by tests and benchmarks)."""
    perf = window.performance
    if perf and perf.mark:
        perf.mark(name)


def take_pending_login() -> tuple[str, str, bool] | None:
    """The login submitted before Python was ready, once; None if there was none."""
    boot = window.RoostBoot
    if not boot:
        return None
    pending = boot.takePending()
    if not pending:
        return None
    return str(pending.address), str(pending.password), bool(pending.trusted)


def set_ready() -> None:
    """From now on the UI owns the login form."""
    boot = window.RoostBoot
    if boot:
        boot.ready = True
