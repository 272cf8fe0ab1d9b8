"""Browser fixtures: the built bundle served by a real `roost serve`, real Prosody,
real Chromium (Debian's, through Playwright's sync API)."""

from __future__ import annotations

import os
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
from tests.support.chaos import ChaosProxy
from tests.support.pagelog import PageLog
from tests.support.threaded_peer import ThreadedPeer
from tests.support.webpush_receiver import WebPushReceiver


@pytest.fixture(scope="session")
def webpush_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebPushReceiver]:
    """The stand-in for the browser vendor's push service (HTTPS on loopback,
    its own CA): every `roost serve` here sends its Web Push requests to it."""
    with WebPushReceiver(tmp_path_factory.mktemp("webpush")) as receiver:
        yield receiver


def push_config(prosody: ProsodyServer, root: Path, receiver: WebPushReceiver | None) -> str:
    """The `[push]` table turning Roost's push gateway on for `prosody`."""
    if receiver is None:
        return ""
    return prosody.push_toml(root / "push-data", allow_private_endpoints=True,
                             ca_file=receiver.ca_file)


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The static bundle, built once per session exactly as an operator builds it."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out)], check=True,
                   cwd=ROOT, capture_output=True, timeout=300)
    return out


class RoostServer:
    """`roost serve` in a subprocess with its own TOML config.

    `xmpp_port`: where the proxy dials the XMPP server (default: Prosody's
    c2s port; a chaos proxy's port puts that in between)."""

    def __init__(self, root: Path, dist: Path, prosody: ProsodyServer,
                 client: dict[str, str] | None = None, xmpp_port: int | None = None,
                 push: str = "") -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.config = root / "roost.toml"
        client_lines = "".join(f'{k} = "{v}"\n' for k, v in (client or {}).items())
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nstatic_dir = "{dist}"\n\n'
            f'[[xmpp.servers]]\ndomain = "{prosody.domain}"\n'
            f'host = "{getattr(prosody, "host", "127.0.0.1")}"\n'
            f'port = {xmpp_port or prosody.c2s_port}\ntls = "none"\n\n'
            f"[client]\n{client_lines}\n{push}"
        )
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.log = open(self.root / "roost.log", "ab")  # noqa: SIM115 - closed in stop()
        # `roost serve` reads ROOST_<SECTION>__<KEY> variables as settings and
        # refuses unknown ones: the test suite's own (ROOST_CHROMIUM) stay here.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ROOST_") or "__" in k}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--config", str(self.config)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"roost serve exited; see {self.root / 'roost.log'}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("roost serve did not answer /healthz in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    def restart(self) -> None:
        """Restart the backend: stop the process (its WebSockets and XMPP
        connections go with it), start it again on the same port, and return
        once /healthz answers."""
        self.stop()
        self.restarts += 1
        self._start()


class PrivateServer:
    """A Prosody and a `roost serve` of one test's own, for tests that stop or
    restart the XMPP server or need an empty archive. Peers made with `peer()`
    stop with it.

    With `chaos=True`, `roost serve` reaches Prosody through `self.chaos`
    (a ChaosProxy, tests/support/chaos.py) so a test can cut the browser's
    XMPP connection; peers still connect to Prosody directly."""

    def __init__(self, root: Path, dist: Path, chaos: bool = False,
                 receiver: WebPushReceiver | None = None, **prosody_options: Any) -> None:
        from tests.conftest import make_prosody

        self.root = root
        self.prosody = make_prosody(root / "prosody", **prosody_options)
        self.chaos: ChaosProxy | None = None
        try:
            if chaos:
                self.chaos = ChaosProxy(self.prosody.c2s_port, record=True)
            self.roost = RoostServer(root, dist, self.prosody,
                                     xmpp_port=self.chaos.port if self.chaos else None,
                                     push=push_config(self.prosody, root, receiver))
        except BaseException:
            if self.chaos is not None:
                self.chaos.close()
            self.prosody.stop()
            raise
        self.peers: list[ThreadedPeer] = []

    def peer(self, user: str, resource: str, **options: Any) -> ThreadedPeer:
        peer = ThreadedPeer(
            f"{user}@{self.prosody.domain}/{resource}", user, self.prosody.c2s_port, **options
        )
        self.peers.append(peer)
        return peer

    def evidence(self) -> str:
        """Where to look after a failure: logs, and the wire transcript of
        the chaos proxy (written now)."""
        wire = f"; wire transcript {self.chaos.dump(self.root / 'wire.txt')}" if self.chaos else ""
        return (f"prosody log {self.prosody.log_path}; roost log "
                f"{self.root / 'roost.log'}{wire}")

    def close(self) -> None:
        for peer in self.peers:
            peer.stop()
        self.roost.stop()
        if self.chaos is not None:
            self.chaos.close()
        self.prosody.stop()


@pytest.fixture
def private(tmp_path: Path, dist_dir: Path,
            webpush_receiver: WebPushReceiver) -> Iterator[Callable[..., PrivateServer]]:
    """`private(chaos=False, **prosody_options)` → a PrivateServer, closed after
    the test (`chaos=True`: the backend talks to Prosody through a ChaosProxy)."""
    made: list[PrivateServer] = []

    def make(chaos: bool = False, **prosody_options: Any) -> PrivateServer:
        server = PrivateServer(tmp_path / f"private{len(made)}", dist_dir, chaos=chaos,
                               receiver=webpush_receiver, **prosody_options)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture(scope="session")
def roost(tmp_path_factory: pytest.TempPathFactory, dist_dir: Path,
          prosody: ProsodyServer, webpush_receiver: WebPushReceiver) -> Iterator[RoostServer]:
    root = tmp_path_factory.mktemp("roost")
    server = RoostServer(root, dist_dir, prosody,
                         push=push_config(prosody, root, webpush_receiver))
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
