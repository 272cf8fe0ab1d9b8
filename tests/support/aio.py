"""Run a coroutine to completion from a sync test, whatever else holds the main thread."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 90.0) -> T:
    """`asyncio.run(coro)` on a fresh thread.

    Playwright's sync API keeps an event loop marked as running on the main
    thread while a session-scoped browser fixture is alive, so a plain
    `asyncio.run` there fails; a private thread has no loop of its own.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="aio-test") as pool:
        return pool.submit(asyncio.run, coro).result(timeout)
