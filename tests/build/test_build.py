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


# -- the installable app: service worker, manifest, icons ---------------------------


def _sw_sources(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    sw_dir = tmp_path / "service_worker"
    sw_dir.mkdir(exist_ok=True)
    for name, text in files.items():
        (sw_dir / name).write_text(text)
    return build.service_worker_sources(sw_dir)


MAIN_SW = 'var VERSION = "__ROOST_VERSION__";\nvar __ROOST_PRECACHE__ = [];\n'


def test_service_worker_is_sw_js_then_the_others_sorted(tmp_path: Path) -> None:
    sources = _sw_sources(
        tmp_path, {"sw.js": MAIN_SW, "push.js": "// push\n", "alpha.js": "// alpha"}
    )
    assert [p.name for p in sources] == ["sw.js", "alpha.js", "push.js"]
    text = build.render_service_worker(sources, "abcd1234", ["./", "a.12345678.js"])
    assert text.startswith(
        'var VERSION = "abcd1234";\nvar __ROOST_PRECACHE__ = ["./", "a.12345678.js"];'
    )
    assert text.index("// alpha") < text.index("// push")
    assert text.endswith("\n")


def test_service_worker_works_without_the_other_parts(tmp_path: Path) -> None:
    sources = _sw_sources(tmp_path, {"sw.js": MAIN_SW})
    assert [p.name for p in sources] == ["sw.js"]
    text = build.render_service_worker(sources, "v", [])
    assert text == 'var VERSION = "v";\nvar __ROOST_PRECACHE__ = [];\n'


def test_service_worker_placeholders_are_required(tmp_path: Path) -> None:
    sources = _sw_sources(tmp_path, {"sw.js": "var VERSION = 1;\n"})
    with pytest.raises(SystemExit, match="__ROOST_VERSION__"):
        build.render_service_worker(sources, "v", [])
    with pytest.raises(SystemExit, match=r"no .*sw\.js"):
        build.service_worker_sources(tmp_path / "nowhere")


def test_service_worker_version_follows_every_input(tmp_path: Path) -> None:
    sources = _sw_sources(tmp_path, {"sw.js": MAIN_SW, "push.js": "// push\n"})
    files = [("./", b"<html>A"), ("manifest.json", b"{}"), ("a.12345678.js", b"x")]
    base = build.service_worker_version(sources, files)
    assert len(base) == build.HASH_LEN
    assert build.service_worker_version(sources, list(files)) == base
    # index.html's bytes (a stable name) count, not only the hashed names.
    assert build.service_worker_version(sources, [("./", b"<html>B"), *files[1:]]) != base
    assert build.service_worker_version(sources, files[:2]) != base
    (tmp_path / "service_worker" / "push.js").write_text("// push, changed\n")
    assert build.service_worker_version(sources, files) != base
    (tmp_path / "service_worker" / "push.js").write_text("// push\n")
    assert build.service_worker_version(sources, files) == base


def test_dist_service_worker_holds_every_part_and_a_consistent_version(dist: Path) -> None:
    sw = (dist / "sw.js").read_text(encoding="utf-8")
    report = json.loads((dist / "build-report.json").read_text())
    names = report["service_worker"]["sources"]
    assert names[0] == "sw.js"
    assert names[1:] == sorted(p.name for p in (ROOT / "service_worker").glob("*.js")
                               if p.name != "sw.js")
    for name in names[1:]:
        assert f"/* ---- {name} ---- */" in sw
    version = report["service_worker"]["version"]
    assert f'var VERSION = "{version}";' in sw
    precache = json.loads(sw.split("__ROOST_PRECACHE__ = ")[1].split(";")[0])
    files = [(n, (dist / ("index.html" if n == "./" else n)).read_bytes()) for n in precache]
    sources = build.service_worker_sources()
    assert build.service_worker_version(sources, files) == version
    assert "manifest.json" in precache and _asset(dist, "apple-touch-icon").name in precache


def test_manifest_install_fields(dist: Path) -> None:
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest["id"] == "./"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == build.THEME_COLOR
    assert manifest["background_color"] == build.BACKGROUND_COLOR
    assert manifest["protocol_handlers"] == [{"protocol": "xmpp", "url": "./#%s"}]
    share = manifest["share_target"]
    assert share["method"] == "GET" and share["action"] == "./"
    assert share["params"] == {"title": "share-title", "text": "share-text", "url": "share-url"}
    html = (dist / "index.html").read_text()
    assert f'<link rel="apple-touch-icon" href="{_asset(dist, "apple-touch-icon").name}">' in html
    assert '<meta name="apple-mobile-web-app-capable" content="yes">' in html
    assert '<meta name="apple-mobile-web-app-title" content="Roost">' in html
    assert f'<meta name="theme-color" content="{build.THEME_COLOR}">' in html


def _pixels(data: bytes) -> tuple[int, list[bytes]]:
    """Width and RGBA rows of a PNG as build.py writes it (8-bit RGBA, filter 0)."""
    import struct
    import zlib

    width, height = struct.unpack(">II", data[16:24])
    pos, idat = 8, b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 4 + 1
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(r[0] == 0 for r in rows)
    return width, [r[1:] for r in rows]


@pytest.mark.parametrize("stem", ["icon-maskable-512", "apple-touch-icon"])
def test_full_bleed_icons_are_opaque_and_keep_the_bird_in_the_safe_zone(
    dist: Path, stem: str
) -> None:
    width, rows = _pixels(_asset(dist, stem).read_bytes())
    background = bytes(int(build.THEME_COLOR[i : i + 2], 16) for i in (1, 3, 5)) + b"\xff"
    centre = width / 2
    # The maskable safe zone: a circle of 40% of the size around the centre.
    limit = 0.4 * width
    ink = 0
    for y, row in enumerate(rows):
        for x in range(width):
            pixel = row[x * 4 : x * 4 + 4]
            assert pixel[3] == 255, (x, y)  # opaque: no black corners on iOS
            if pixel != background:
                ink += 1
                assert ((x + 0.5 - centre) ** 2 + (y + 0.5 - centre) ** 2) ** 0.5 <= limit, (x, y)
    assert ink > width * width // 20  # there is a bird
