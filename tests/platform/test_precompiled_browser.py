"""A bundle built with `build.py --precompile` boots in Chromium without compiling.

Brython's VFS loader runs `__BRYTHON__.precompiled[name]` instead of compiling a
module's source. The page counts calls to Brython's compiler (`py2js`): the one
inline script is compiled, no module of the bundles is, and Brython's IndexedDB
compile cache is not even opened.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require
from tests.platform.conftest import PageLog, StaticServer

# Wraps __BRYTHON__.py2js as soon as brython.js defines it.
COUNT_COMPILES = """
window.__compiled = [];
Object.defineProperty(window, '__BRYTHON__', {configurable: true, set(B) {
  Object.defineProperty(window, '__BRYTHON__', {value: B, writable: true, configurable: true});
  let py2js;
  Object.defineProperty(B, 'py2js', {configurable: true,
    set(f) { py2js = f; },
    get() { return py2js && function (src, ...rest) {
      window.__compiled.push(typeof src === 'object' ? src.filename : String(rest[0]));
      return py2js.call(this, src, ...rest);
    }; }});
}});
"""
READY = "() => performance.getEntriesByName('roost-python-ready').length > 0"


@pytest.fixture(scope="module")
def precompiled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    sys.path.insert(0, str(ROOT))
    import build

    require(build.find_node() is not None, "Node (apt package nodejs), used by build.py")
    out = tmp_path_factory.mktemp("precompiled") / "dist"
    assert build.main(["--out", str(out), "--precompile"]) == 0
    srv = StaticServer(Path(out))
    yield srv
    srv.stop()


def test_precompiled_bundle_boots_without_compiling_any_module(
    precompiled_server: StaticServer, context: Any
) -> None:
    pg = context.new_page()
    log = PageLog(pg)
    pg.add_init_script(COUNT_COMPILES)
    for _visit in ("cold", "warm"):
        pg.goto(precompiled_server.url)
        pg.wait_for_function(READY, timeout=20_000)
        state = pg.evaluate(
            """async () => ({
                compiled: window.__compiled,
                registered: __BRYTHON__.roost_precompiled || 0,
                imported: Object.keys(__BRYTHON__.imported),
                dbs: (await indexedDB.databases()).map(d => d.name),
            })"""
        )
        # Only the page's one-line inline script went through the compiler.
        assert len(state["compiled"]) == 1, state["compiled"]
        assert not any(str(name).startswith("VFS.") for name in state["compiled"])
        assert state["registered"] > 30
        assert {"roost.main", "roost.app.chat", "base64"} <= set(state["imported"])
        assert "brython-cache" not in state["dbs"]
        assert pg.is_hidden("#fatal")
    assert log.errors == [], log.console
    assert log.failed == [], log.failed
    pg.close()


def test_precompiled_modules_keep_their_file_names_and_sources(
    precompiled_server: StaticServer, context: Any
) -> None:
    """Tracebacks need each module's VFS file name (baked into the compiled
    code) and its source in Brython's file cache (filled by the VFS loader)."""
    pg = context.new_page()
    pg.goto(precompiled_server.url)
    pg.wait_for_function(READY, timeout=20_000)
    got = pg.evaluate(
        """() => ['VFS.roost/__init__.py', 'VFS.roost.main.py'].map(file => {
            const name = __BRYTHON__.url2name[file];
            return [name, __BRYTHON__.file_cache[file] === __BRYTHON__.VFS[name][1]];
        })"""
    )
    assert got == [["roost", True], ["roost.main", True]]
    pg.close()
