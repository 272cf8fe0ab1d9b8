"""Fixtures for browser-level tests of the platform adapters and the build.

`dist` is built once per session into a temporary directory and served on
loopback; `make_page` writes extra pages next to it that reuse the built
index.html with a different one-line Python entry, so tests exercise the real
bundles (brython.js, the stdlib and app VFS bundles, boot.js, render.js).
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.pagelog import PageLog

ENTRY = '<script type="text/python">import roost.main</script>'


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        # Like the backend will: no caching surprises between tests.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


class StaticServer:
    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        # localhost is a secure context: WebCrypto, service workers, IndexedDB.
        self.url = f"http://localhost:{self.httpd.server_address[1]}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    sys.path.insert(0, str(ROOT))
    import build

    out = tmp_path_factory.mktemp("site") / "dist"
    # Source mode (Brython compiles in the page and caches in IndexedDB): the
    # fallback when a bundle is built without Node. The end-to-end tests in
    # tests/browser use the default, precompiled bundle.
    build.main(["--out", str(out), "--no-precompile"])
    return out


@pytest.fixture(scope="session")
def server(dist: Path) -> Iterator[StaticServer]:
    srv = StaticServer(dist)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def make_page(dist: Path, server: StaticServer) -> Callable[[str, str], str]:
    """Write `<name>.html`: the built index.html with `python` as its entry script."""
    index = (dist / "index.html").read_text(encoding="utf-8")
    assert ENTRY in index

    def make(name: str, python: str) -> str:
        body = ENTRY.replace("import roost.main", python.strip("\n"))
        (dist / f"{name}.html").write_text(index.replace(ENTRY, body), encoding="utf-8")
        return server.url + f"{name}.html"

    return make


@pytest.fixture(scope="session")
def browser(chromium: Any) -> Any:
    """The session-wide Chromium (tests/conftest.py)."""
    return chromium


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[tuple[Any, PageLog]]:
    pg = context.new_page()
    log = PageLog(pg)
    yield pg, log
    pg.close()


def wait_result(page: Any, key: str, timeout: float = 20_000) -> Any:
    """Wait for the test page's Python to publish `window.results[key]`, and return it."""
    page.wait_for_function(
        f"() => window.results && window.results[{key!r}] !== undefined", timeout=timeout
    )
    return page.evaluate(f"() => window.results[{key!r}]")


HASHED = re.compile(r"^[a-z0-9-]+\.[0-9a-f]{8}\.(js|css|png|svg)$")
