"""Rules the test suite itself must follow to stay order-independent."""

from __future__ import annotations

import re

from tests.conftest import ROOT

MAIN_THREAD_LOOP = re.compile(r"\b(asyncio|anyio)\.run\(")


def test_no_event_loop_on_the_main_thread() -> None:
    """The session-wide Chromium (Playwright's sync API) keeps a loop running on
    the main thread, so `asyncio.run` there fails in any test that happens to
    run after the first browser test. Use `tests.support.aio.run` instead."""
    allowed = {ROOT / "tests" / "support" / "aio.py"}
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if path not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MAIN_THREAD_LOOP.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
