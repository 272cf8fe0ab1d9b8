"""Browser fixtures: the built bundle served by a real `roost serve`, real Prosody,
real Chromium (Debian's, through Playwright's sync API)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.devserver.prosody import ProsodyServer, free_port
from tests.conftest import ROOT
from tests.support.pagelog import PageLog
from tests.support.threaded_peer import ThreadedPeer


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static bundle, built once per session exactly as an operator builds it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out)], check=True,
                   cwd=ROOT, capture_output=True, timeout=300)
    return out


class RoostServer:
    """`roost serve` in a subprocess with its own TOML config."""

    def __init__(self, root: Path, dist: Path, prosody: ProsodyServer,
                 client: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        cfg = root / "roost.toml"
        client_lines = "".join(f'{k} = "{v}"\n' for k, v in (client or {}).items())
        cfg.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nstatic_dir = "{dist}"\n\n'
            f'[[xmpp.servers]]\ndomain = "{prosody.domain}"\nhost = "127.0.0.1"\n'
            f'port = {prosody.c2s_port}\ntls = "none"\n\n'
            f"[client]\n{client_lines}"
        )
        self.log = open(root / "roost.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--config", str(cfg)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"roost serve exited; see {root / 'roost.log'}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("roost serve did not answer /healthz in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class PrivateServer:
    """A Prosody and a `roost serve` of one test's own, for tests that stop or
    restart the XMPP server or need an empty archive. Peers made with `peer()`
    stop with it."""

    def __init__(self, root: Path, dist: Path, **prosody_options: Any) -> None:
        from tests.conftest import make_prosody

        self.prosody = make_prosody(root / "prosody", **prosody_options)
        self.roost = RoostServer(root, dist, self.prosody)
        self.peers: list[ThreadedPeer] = []

    def peer(self, user: str, resource: str, **options: Any) -> ThreadedPeer:
        peer = ThreadedPeer(
            f"{user}@{self.prosody.domain}/{resource}", user, self.prosody.c2s_port, **options
        )
        self.peers.append(peer)
        return peer

    def close(self) -> None:
        for peer in self.peers:
            peer.stop()
        self.roost.stop()
        self.prosody.stop()


@pytest.fixture
def private(tmp_path: Path, dist_dir: Path) -> Iterator[Callable[..., PrivateServer]]:
    """`private(**prosody_options)` → a PrivateServer, closed after the test."""
    made: list[PrivateServer] = []

    def make(**prosody_options: Any) -> PrivateServer:
        server = PrivateServer(tmp_path / f"private{len(made)}", dist_dir, **prosody_options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture(scope="session")
def roost(tmp_path_factory: pytest.TempPathFactory, dist_dir: Path,
          prosody: ProsodyServer) -> Iterator[RoostServer]:
    server = RoostServer(tmp_path_factory.mktemp("roost"), dist_dir, prosody)
    yield server
    server.stop()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Callable[..., Any]]:
    """Factory for pages, each in its own (incognito) context like a separate browser."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        ctx = chromium.new_context(viewport=viewport or {"width": 1280, "height": 800})
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = PageLog(page)  # type: ignore[attr-defined]
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def peer_factory(prosody: ProsodyServer) -> Iterator[Callable[[str], ThreadedPeer]]:
    peers: list[ThreadedPeer] = []

    def make(user: str, resource: str = "bot") -> ThreadedPeer:
        peer = ThreadedPeer(f"{user}@{prosody.domain}/{resource}", user, prosody.c2s_port)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.stop()
