"""build.py under CPython: the static bundle it writes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require

sys.path.insert(0, str(ROOT))
import build

HASHED = re.compile(r"^[a-z0-9-]+\.[0-9a-f]{8}\.(js|css|png|svg)$")
STABLE = {"index.html", "config.json", "manifest.json", "sw.js", "build-report.json"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "dist"
    assert build.main(["--out", str(out)]) == 0
    return out


def _vfs(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    start = text.index("var scripts = ") + len("var scripts = ")
    end = text.index(";\n__BRYTHON__.update_VFS(scripts)")
    data: dict[str, Any] = json.loads(text[start:end])
    return data


def _asset(dist: Path, stem: str) -> Path:
    (match,) = [p for p in dist.iterdir() if p.name.startswith(stem + ".") and HASHED.match(p.name)]
    return match


def test_every_file_is_hashed_or_has_a_stable_name(dist: Path) -> None:
    names = {p.name for p in dist.iterdir()}
    assert names >= STABLE
    for name in names - STABLE:
        assert HASHED.match(name), name
    assert not list(dist.rglob("*.py")), "no loose .py files"
    assert all(p.is_file() for p in dist.iterdir())


def test_index_html_references_exist(dist: Path) -> None:
    html = (dist / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs
    for ref in refs:
        assert (dist / ref).is_file(), ref
    for stem in ("brython", "roost-stdlib", "roost-app", "boot", "render", "roost"):
        assert _asset(dist, stem).name in html
    # Exactly one inline script, of Brython's type, one line; no inline JS.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", html, re.S)
    assert inline == [(' type="text/python"', "import roost.main")]
    assert "{{" not in html
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "no inline event handlers"


def test_login_form_markup(dist: Path) -> None:
    html = (dist / "index.html").read_text(encoding="utf-8")
    assert '<label for="login-address">Address</label>' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert re.search(r'type="checkbox" checked>\s*This is a trusted device', html)
    assert ">Log in</button>" in html
    assert 'role="status"' in html and 'aria-live="polite"' in html


def test_app_bundle_holds_the_roost_package_without_cpython_only_modules(dist: Path) -> None:
    vfs = _vfs(_asset(dist, "roost-app"))
    assert isinstance(vfs.pop("$timestamp"), int)
    sources = {
        ".".join(p.relative_to(ROOT / "frontend").with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "frontend" / "roost").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert set(vfs) == sources - {"roost.xmpp.xmlparse"}
    assert vfs["roost"][3] == 1 and len(vfs["roost.main"]) == 3  # package flag
    assert vfs["roost.main"][0] == ".py"
    assert "roost.platform" in vfs["roost.main"][2]
    # Imports under `if TYPE_CHECKING:` are not dependencies.
    assert "typing" not in {imp for entry in vfs.values() for imp in entry[2]}


def test_stdlib_bundle_holds_only_what_the_app_imports(dist: Path) -> None:
    vfs = _vfs(_asset(dist, "roost-stdlib"))
    vfs.pop("$timestamp")
    names = set(vfs)
    assert {"hashlib", "base64", "sys", "__future__", "crypto_js.rollups.sha1"} <= names
    forbidden = {
        "typing",
        "dataclasses",
        "enum",
        "logging",
        "traceback",
        "functools",
        "re",
        "random",
        "uuid",
        "asyncio",
        "unittest",
        "argparse",
        "json",
    }
    assert not names & forbidden
    assert len(names) < 30
    # Same entries as Brython's own stdlib bundle.
    full = build.load_stdlib_vfs(build.find_brython_data())
    for name, entry in vfs.items():
        assert entry == full[name], name


def test_type_checking_imports_are_skipped() -> None:
    src = (
        "from __future__ import annotations\nTYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n    import typing\nelse:\n    import base64\n"
        "def f():\n    import hashlib\n"
        "from . import sibling\n"
    )
    got = build.module_imports(src, "x.py", ["roost", "pkg"], {"roost.pkg.sibling"})
    assert got == ["__future__", "base64", "hashlib", "roost.pkg", "roost.pkg.sibling"]


def test_service_worker_gets_the_precache_list(dist: Path) -> None:
    sw = (dist / "sw.js").read_text(encoding="utf-8")
    precache = json.loads(sw.split("__ROOST_PRECACHE__ = ")[1].split(";")[0])
    assert "./" in precache
    for stem in ("brython", "roost-stdlib", "roost-app", "boot", "render"):
        assert _asset(dist, stem).name in precache
    assert "__ROOST_VERSION__" not in sw


def test_manifest_and_icons(dist: Path) -> None:
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["name"] == "Roost" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "." and manifest["scope"] == "."
    purposes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes
    for icon in manifest["icons"]:
        data = (dist / icon["src"]).read_bytes()
        if icon["type"] == "image/png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            size = int(icon["sizes"].split("x")[0])
            assert int.from_bytes(data[16:20], "big") == size


def test_default_config_and_override(dist: Path, tmp_path: Path) -> None:
    assert json.loads((dist / "config.json").read_text()) == {
        "websocket_url": "/xmpp-websocket",
        "default_domain": "localhost",
    }
    override = tmp_path / "site.json"
    override.write_text(json.dumps({"default_domain": "example.org", "extra": [1]}))
    out = tmp_path / "dist2"
    assert build.main(["--out", str(out), "--config-json", str(override)]) == 0
    assert json.loads((out / "config.json").read_text()) == {
        "websocket_url": "/xmpp-websocket",
        "default_domain": "example.org",
        "extra": [1],
    }
    # Same sources, same hashed names: caches survive a rebuild.
    assert {p.name for p in out.iterdir()} == {p.name for p in dist.iterdir()}


def test_refuses_to_wipe_the_repository() -> None:
    with pytest.raises(SystemExit):
        build.main(["--out", str(ROOT)])


# -- precompiled modules (build.py --precompile) ------------------------------------

PRECOMPILED_CALL = re.compile(r"\(function\(B,impl,ts,code,pkgs\)\{.*?\}\)\(__BRYTHON__,(.*)\);\n$")

def require_node() -> None:
    require(build.find_node() is not None, "Node (apt package nodejs), used by build.py")


@pytest.fixture(scope="module")
def precompiled_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_node()
    out = tmp_path_factory.mktemp("build") / "precompiled"
    assert build.main(["--out", str(out), "--precompile"]) == 0
    return out


def _precompiled(path: Path) -> tuple[str, int, dict[str, str], list[str]]:
    """(implementation, timestamp, {name: js}, packages) registered by a bundle's tail."""
    text = path.read_text(encoding="utf-8")
    match = PRECOMPILED_CALL.search(text)
    assert match, f"{path.name} registers no precompiled modules"
    impl, ts, code, pkgs = json.loads("[" + match.group(1) + "]")
    return impl, ts, code, pkgs


def test_bundles_register_precompiled_code_for_every_python_module(
    precompiled_dist: Path, tmp_path: Path
) -> None:
    dist = precompiled_dist
    report = json.loads((dist / "build-report.json").read_text())
    assert report["precompiled_for"] == build.PRECOMPILE_BRYTHON
    all_compiled: set[str] = set()
    for stem in ("roost-app", "roost-stdlib"):
        asset = _asset(dist, stem)
        vfs = _vfs(asset)
        vfs.pop("$timestamp")
        impl, ts, code, pkgs = _precompiled(asset)
        assert impl == ",".join(str(x) for x in build.PRECOMPILE_IMPLEMENTATION)
        assert ts == build.PRECOMPILE_TIMESTAMP
        assert set(code) == {name for name, entry in vfs.items() if entry[0] == ".py"}
        assert set(pkgs) == {name for name in code if len(vfs[name]) > 3 and vfs[name][3]}
        for name, js in code.items():
            # What Brython's VFS loader expects: a module body defining locals_<name>.
            assert js.startswith("var $B = __BRYTHON__,"), name
            assert f"locals_{name.replace('.', '_')} = $B.namespace(" in js, name
            filename = "VFS." + name + ("/__init__.py" if name in pkgs else ".py")
            assert f"var __file__ = locals.__file__ = {json.dumps(filename)}" in js, name
        all_compiled |= set(code)
    assert {"roost", "roost.main", "roost.app.chat", "base64"} <= all_compiled
    assert sorted(all_compiled) == report["precompiled"]
    # Reproducible: same sources, same hashed names.
    again = tmp_path / "again"
    assert build.main(["--out", str(again), "--precompile"]) == 0
    assert {p.name for p in again.iterdir()} == {p.name for p in dist.iterdir()}


def test_default_build_precompiles_when_node_is_there(dist: Path) -> None:
    require_node()
    assert json.loads((dist / "build-report.json").read_text())["precompiled"]


def test_no_precompile_build_writes_source_only_bundles(tmp_path: Path) -> None:
    dist = tmp_path / "source"
    assert build.main(["--out", str(dist), "--no-precompile"]) == 0
    for stem in ("roost-app", "roost-stdlib"):
        text = _asset(dist, stem).read_text(encoding="utf-8")
        assert "precompiled" not in text
    assert json.loads((dist / "build-report.json").read_text())["precompiled"] == []


def test_without_node_precompile_fails_and_auto_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "find_node", lambda: str(tmp_path / "no-such-node"))
    with pytest.raises(SystemExit, match="--precompile"):
        build.main(["--out", str(tmp_path / "forced"), "--precompile"])
    # Build(precompile=None): precompile when Node is there, else warn and go on.
    report = build.Build(tmp_path / "auto", dict(build.DEFAULT_CONFIG), None).run()
    assert "not precompiled" in capsys.readouterr().err
    assert report["precompiled"] == []


def test_precompiling_refuses_another_brython(tmp_path: Path) -> None:
    real = build.find_brython_data() / "brython.js"
    text = real.read_text(encoding="utf-8")
    stamp = f"__BRYTHON__.timestamp={build.PRECOMPILE_TIMESTAMP}\n"
    other = tmp_path / "brython.js"
    other.write_text(
        text.replace(stamp, "__BRYTHON__.timestamp=1\n"),
        encoding="utf-8",
    )
    with pytest.raises(SystemExit, match="not the Brython build"):
        build.precompile(other, {"m": ("x = 1\n", False)})
    # Same version stamp, but the loader no longer runs __BRYTHON__.precompiled.
    hook = build.PRECOMPILE_HOOKS[1]
    other.write_text(text.replace(hook, hook.replace("precompiled", "compiled")), encoding="utf-8")
    with pytest.raises(SystemExit, match="loader"):
        build.precompile(other, {"m": ("x = 1\n", False)})


def test_precompiling_reports_syntax_errors() -> None:
    brython_js = build.find_brython_data() / "brython.js"
    with pytest.raises(SystemExit, match="could not compile"):
        build.precompile(brython_js, {"bad": ("def f(:\n", False)})
    got = build.precompile(brython_js, {"ok": ("x = 1\n", False)})
    assert "locals_ok" in got["ok"]


def test_refuses_to_replace_a_directory_that_is_not_a_build(tmp_path: Path) -> None:
    target = tmp_path / "www"
    target.mkdir()
    (target / "precious.html").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty and holds no previous build"):
        build.main(["--out", str(target), "--no-precompile"])
    assert (target / "precious.html").read_text() == "keep me"
    # A previous build is replaced as before.
    built = tmp_path / "dist"
    assert build.main(["--out", str(built), "--no-precompile"]) == 0
    assert build.main(["--out", str(built), "--no-precompile"]) == 0
