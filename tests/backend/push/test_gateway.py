"""PushGateway's link to the XMPP server: `start()` never waits for it, and the
component comes back after the server was down or restarted (real Prosody)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from backend.devserver.prosody import ProsodyServer
from backend.push.gateway import PushGateway
from backend.settings import build_settings
from tests.conftest import TEST_USERS, require
from tests.support.aio import run


@pytest.mark.integration
def test_start_does_not_wait_and_the_link_comes_back(tmp_path: Path) -> None:
    require(shutil.which("prosody") is not None, "Prosody (apt package prosody)")
    prosody = ProsodyServer(tmp_path / "prosody", users=TEST_USERS)  # not started yet
    settings = build_settings({
        "xmpp": {"servers": [{"domain": "localhost", "host": "127.0.0.1",
                              "port": prosody.c2s_port, "tls": "none"}]},
        "push": prosody.push_settings(tmp_path / "push"),
    })

    async def scenario() -> None:
        gateway = PushGateway(settings.push)
        started = time.monotonic()
        await gateway.start()
        assert time.monotonic() - started < 1.0  # Prosody is down: no waiting
        assert not gateway.connected.is_set()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(prosody.start)
        await asyncio.wait_for(gateway.connected.wait(), 20)  # backoff: 1 s, 2 s, ...
        first = gateway.component
        await asyncio.to_thread(prosody.restart)  # the link drops
        deadline = time.monotonic() + 30
        while not (gateway.connected.is_set() and gateway.component is not first):
            assert time.monotonic() < deadline, "the component did not reconnect"
            await asyncio.sleep(0.1)
        await gateway.stop()
        assert gateway.component is None

    try:
        run(scenario(), timeout=90)
    finally:
        prosody.stop()
