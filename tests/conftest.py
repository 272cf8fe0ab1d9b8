"""Shared fixtures: real parts only (Prosody from Debian, Chromium via Playwright).

Under CI=true a missing part fails the run; locally it skips with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.devserver.prosody import DEMO_USERS, ProsodyServer, demo_rosters

CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def require(ok: bool, what: str) -> None:
    """Fail under CI, skip locally, when a real test part is missing."""
    if ok:
        return
    if CI:
        pytest.fail(f"{what} is missing; the test command installs it (scripts/setup.sh)")
    pytest.skip(f"{what} is missing")


# Accounts every integration test can use. "stranger" is in nobody's roster.
TEST_USERS = {**DEMO_USERS, "dave": "dave", "stranger": "stranger"}


def make_prosody(root: Path, **kw: object) -> ProsodyServer:
    require(shutil.which("prosody") is not None, "Prosody (apt package prosody)")
    kw.setdefault("users", TEST_USERS)
    kw.setdefault("rosters", demo_rosters("localhost"))
    return ProsodyServer(root, **kw).start()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The one Playwright session and Chromium for the whole run.

    Playwright's sync API can't be started twice on one thread while another
    instance is open, so every browser test shares this browser and makes its
    own (incognito) contexts.
    """
    from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

    require(os.path.exists(CHROMIUM), f"Chromium ({CHROMIUM}, apt package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def prosody(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProsodyServer]:
    """One Prosody for the session: alice, bob, carol, echo know each other."""
    server = make_prosody(tmp_path_factory.mktemp("prosody"))
    yield server
    server.stop()


@pytest.fixture
def fresh_prosody(tmp_path: Path) -> Iterator[ProsodyServer]:
    """A Prosody of its own for tests that change server state (~0.1 s to start)."""
    server = make_prosody(tmp_path / "prosody")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Two Prosody servers linked by s2s: a.test and b.test (tests/support/federation.py).

    Module scope: tests sharing it use their own room names. Logs stay in the
    pytest temp dir (`federation.where()`)."""
    from tests.support.federation import Federation, missing_parts

    for part in missing_parts():
        require(False, part)
    fed = Federation(tmp_path_factory.mktemp("federation")).start()
    yield fed
    fed.stop()
