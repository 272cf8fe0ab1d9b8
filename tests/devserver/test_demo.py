"""`roost demo` end to end: Prosody, echo bot and backend, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.typing import Origin, Subprotocol

from backend import cli, logfilter
from backend.devserver import demo
from backend.devserver.demo import dist_is_fresh
from backend.devserver.prosody import free_port
from backend.settings import build_settings
from tests.conftest import ROOT, require
from tests.support.aio import run

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


def test_dist_is_fresh_compares_sources_with_outputs(tmp_path: Path) -> None:
    (tmp_path / "frontend").mkdir()
    source = tmp_path / "frontend" / "main.py"
    source.write_text("x = 1\n")
    dist = tmp_path / "dist"
    assert not dist_is_fresh(tmp_path, dist)  # nothing built yet
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html>")
    os.utime(source, (time.time() - 60, time.time() - 60))
    assert dist_is_fresh(tmp_path, dist)
    source.touch()  # edited after the build
    assert not dist_is_fresh(tmp_path, dist)


async def _chat_with_echo(ws_url: str, origin: str) -> str:
    """Log in as alice over the WebSocket and return the echo bot's answer."""
    async with websockets.connect(
        ws_url, subprotocols=[Subprotocol("xmpp")], origin=Origin(origin)
    ) as ws:
        open_ = f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>"

        async def until(marker: str) -> str:
            while True:
                frame = str(await asyncio.wait_for(ws.recv(), 10))
                if marker in frame:
                    return frame

        await ws.send(open_)
        await until("PLAIN")
        token = base64.b64encode(b"\0alice\0alice").decode()
        await ws.send(
            f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        )
        await until("success")
        await ws.send(open_)
        await until("bind")
        await ws.send(
            "<iq xmlns='jabber:client' type='set' id='b'>"
            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        )
        await until("<jid>")
        await ws.send(
            "<message xmlns='jabber:client' type='chat' to='echo@localhost' id='m1'>"
            "<body>ping from the demo test</body></message>"
        )
        answer = await until("echo: ")
        await ws.send(f"<close xmlns='{FRAMING}'/>")
        return answer


def test_demo_backend_is_configured_like_roost_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = cli.uvicorn_config

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "uvicorn_config", spy)
    settings = build_settings({
        "server": {"host": "127.0.0.1", "port": 8099},
        "xmpp": {"servers": [{"domain": "localhost", "host": "127.0.0.1", "tls": "none"}]},
    })
    config = demo.uvicorn_settings(settings)
    assert calls == [{"log_level": "warning"}]
    serve = real(settings)
    for name in ("ws", "ws_max_size", "ws_per_message_deflate", "proxy_headers",
                 "server_header", "log_config", "host", "port"):
        assert getattr(config, name) == getattr(serve, name), name
    assert config.ws == "websockets-sansio"
    assert config.ws_per_message_deflate is False
    assert "roost_no_wire_dumps" in config.log_config["filters"]
    assert logfilter.WireDumpFilter() in logging.getLogger("uvicorn.error").filters


@pytest.mark.integration
@pytest.mark.parametrize("direct", [False, True], ids=["proxy", "direct"])
def test_demo_serves_roost_and_the_echo_bot(tmp_path: Path, direct: bool) -> None:
    require(Path("/usr/bin/prosody").exists(), "Prosody (apt package prosody)")
    port = free_port()
    cmd = [sys.executable, "-m", "backend.devserver.demo", "--port", str(port),
           "--run-dir", str(tmp_path / "demo"), "--no-build"]
    if direct:
        cmd.append("--direct")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Stop with Ctrl+C" in line:
                break
        text = "".join(output)
        assert "Stop with Ctrl+C" in text, text
        assert "deprecat" not in text.lower(), text  # the same uvicorn setup as `roost serve`
        assert f"http://localhost:{port}" in text
        for account in ("alice@localhost", "bob@localhost", "carol@localhost", "echo@localhost"):
            assert account in text
        assert "private window" in text

        base = f"http://localhost:{port}"
        with urllib.request.urlopen(f"{base}/config.json", timeout=10) as response:
            config = json.load(response)
        ws_url = config["websocket_url"]
        if direct:
            assert ws_url.startswith("ws://127.0.0.1:") and ws_url.endswith("/xmpp-websocket")
        else:
            assert ws_url == "/xmpp-websocket"
            ws_url = f"ws://localhost:{port}/xmpp-websocket"
        answer = run(_chat_with_echo(ws_url, base))
        assert "echo: ping from the demo test" in answer
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(output) + rest
    assert "roost demo: stopped." in rest
    pidfile = tmp_path / "demo" / "prosody" / "prosody.pid"
    if pidfile.exists() and pidfile.read_text().strip():
        pid = int(pidfile.read_text().strip())
        assert not Path(f"/proc/{pid}").exists() or "prosody" not in Path(
            f"/proc/{pid}/cmdline").read_text(errors="replace"), "Prosody still runs"
