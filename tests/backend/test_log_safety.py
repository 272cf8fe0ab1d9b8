"""Logs never hold credentials, SASL data or message bodies — even at `--log-level debug`.

The real `roost serve` runs as a subprocess at debug level; a login with SASL
PLAIN and a chat message go through it to a real Prosody; then everything it
wrote is searched for the secrets.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.frames import Frame, Opcode

from backend import logfilter
from backend.devserver.prosody import ProsodyServer, free_port
from backend.settings import build_settings
from tests.backend.conftest import CLIENT, FRAMING, RunningProxy, XmppWs, tag, ws_connect
from tests.conftest import ROOT
from tests.support.aio import run as run_coro

MARKER = "body-marker-7f3a9c"


@pytest.mark.integration
def test_debug_logs_hold_no_credentials_or_bodies(
    prosody: ProsodyServer, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "roost.toml"
    config.write_text(
        f'[server]\nport = {port}\nstatic_dir = "{tmp_path / "dist"}"\n'
        f'[[xmpp.servers]]\ndomain = "localhost"\nhost = "127.0.0.1"\n'
        f'port = {prosody.c2s_port}\ntls = "none"\n'
    )
    log = tmp_path / "roost.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--config", str(config),
             "--log-level", "debug"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        settings = build_settings({
            "server": {"port": port},
            "xmpp": {"servers": [{"domain": "localhost", "host": "127.0.0.1", "tls": "none"}]},
        })
        proxy = RunningProxy(settings, port, None)  # type: ignore[arg-type]

        async def scenario() -> None:
            async with ws_connect(proxy) as ws:
                client = XmppWs(ws)
                await client.login("alice", "alice", "logtest")
                await client.send(
                    f'<message xmlns="{CLIENT}" to="alice@localhost/logtest" type="chat" '
                    f'id="m1"><body>{MARKER}</body></message>'
                )
                while True:
                    msg = await client.recv_until(tag(CLIENT, "message"))
                    if msg.findtext(tag(CLIENT, "body")) == MARKER:
                        break
                await client.send(f'<close xmlns="{FRAMING}"/>')
                await client.recv_until(tag(FRAMING, "close"))

        run_coro(asyncio.wait_for(scenario(), 30))
    finally:
        proc.terminate()
        proc.wait(15)
    text = log.read_text()
    # Debug logging was really on (websockets' own connection events are there)...
    assert "= connection is OPEN" in text, text
    assert "accepted" in text, text
    # ...and none of the secrets reached it.
    token = base64.b64encode(b"\0alice\0alice").decode()
    for secret in (token, token[:12], MARKER, "mechanism=", "<auth", "<body", "TEXT '"):
        assert secret not in text, f"{secret!r} in the log:\n{text}"


def _record(logger: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(logger, logging.DEBUG, __file__, 1, msg, args, None)


def test_filter_drops_wire_dumps_and_keeps_connection_events() -> None:
    wire = logfilter.WireDumpFilter()
    frame = Frame(Opcode.TEXT, b"<auth mechanism='PLAIN'>AGFsaWNl</auth>")
    dropped = [
        _record("uvicorn.error", "< %s", frame),
        _record("uvicorn.error", "> %s", frame),
        _record("websockets.client", "> %s", frame),
        _record("uvicorn.error", "< %s: %s", "Cookie", "session=abc"),
        _record("uvicorn.error", "< %s %s %s", "GET", "/xmpp-websocket?token=x", "HTTP/1.1"),
        _record("uvicorn.error", "%s", frame),  # a frame, however it is formatted
    ]
    kept = [
        _record("uvicorn.error", "= connection is %s", "OPEN"),
        _record("uvicorn.error", "connection open"),
        _record("uvicorn.error", "%s - \"WebSocket %s\" [accepted]", "127.0.0.1:1", "/x"),
        _record("roost.proxy", "[%d] %s: accepted", 1, "127.0.0.1:1"),
    ]
    assert [wire.filter(r) for r in dropped] == [False] * len(dropped)
    assert [wire.filter(r) for r in kept] == [True] * len(kept)


def test_uvicorn_config_installs_the_filter_on_every_wire_logger() -> None:
    from backend.cli import uvicorn_config

    settings = build_settings({"xmpp": {"servers": [
        {"domain": "localhost", "host": "127.0.0.1", "tls": "none"}]}})
    uvicorn_config(settings, log_level="debug")
    uvicorn_config(settings, log_level="warning")  # twice: no duplicate filters
    for name in logfilter.WIRE_LOGGERS:
        filters = [f for f in logging.getLogger(name).filters
                   if isinstance(f, logfilter.WireDumpFilter)]
        assert len(filters) == 1, name
