"""Build the self-hostable static bundle: ``python build.py [--out dist] [--config-json PATH]``.

Standard library only; runs under CPython 3.11+. Output (``dist/``):

- ``index.html`` (from ``frontend/static/index.html``), ``config.json``,
  ``manifest.json`` and ``sw.js`` under stable names; ``sw.js`` is
  ``service_worker/sw.js`` followed by every other ``service_worker/*.js``
  (sorted), with the precache list and a version that changes whenever any
  precached file or any of those sources changes;
- everything else under content-hashed names (``brython.3f2a1c9e.js``):
  Brython's ``brython.js``; ``roost-stdlib.<h>.js``, a Brython VFS bundle of only
  the stdlib modules the app imports; ``roost-app.<h>.js``, a VFS bundle of the
  ``roost`` package; ``boot.js``, ``render.js``, the CSS and the icons.

Why our own VFS writer: ``brython-cli make_package`` crashes on Python 3.11
(its minifier needs ``tokenize.FSTRING_START``). The format written here is the
one of Brython's ``brython_stdlib.js``::

    __BRYTHON__.use_VFS = true;
    var scripts = {"$timestamp": N,
                   "pkg": [".py", src, [imports], 1], "mod": [".py", src, [imports]]};
    __BRYTHON__.update_VFS(scripts)

Brython caches the JavaScript it compiles from VFS entries in IndexedDB (database
``brython-cache``) and reuses a record while the entry's timestamp matches. It
stamps every entry with the bundle's ``$timestamp``; the app bundle then sets a
per-module timestamp derived from the module's source, so a release that
changes one module recompiles only that module on the next visit.

Precompiled modules (on when Node is installed; ``--no-precompile`` turns them off): the
JavaScript Brython would compile from each ``.py`` entry of both bundles is
produced at build time by running the shipped ``brython.js`` under Node, and
each bundle registers it as ``__BRYTHON__.precompiled[name]``, the slot Brython's
own IndexedDB cache fills on a warm visit. The VFS loader then runs that code
instead of compiling, so the first visit does not compile either. The code is
specific to one Brython build: the build fails unless the ``brython.js`` being
shipped is the one pinned in ``PRECOMPILE_BRYTHON`` (and still has the loader
code this relies on), and the bundle registers nothing if it ever runs under a
different ``__BRYTHON__`` (Brython then compiles as usual).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FRONTEND = ROOT / "frontend"
APP_ROOT = FRONTEND / "roost"
STATIC = FRONTEND / "static"
SW_DIR = ROOT / "service_worker"
SW_MAIN = "sw.js"
# Placeholders in service_worker/sw.js that build.py fills in.
SW_VERSION_MARK = '"__ROOST_VERSION__"'
SW_PRECACHE_MARK = "__ROOST_PRECACHE__ = []"
MANIFEST_TEMPLATE = ROOT / "manifest.json"

# CPython-only modules: never shipped to the browser (docs/architecture.md).
CPYTHON_ONLY = frozenset({"roost.xmpp.xmlparse"})

DEFAULT_CONFIG: dict[str, object] = {
    "websocket_url": "/xmpp-websocket",
    "default_domain": "localhost",
}

HASH_LEN = 8
THEME_COLOR = "#2f5d50"
BACKGROUND_COLOR = "#f4f1ea"


def find_brython_data() -> Path:
    """The directory holding brython.js and brython_stdlib.js of the installed `brython`."""
    try:
        import brython  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - environment problem
        raise SystemExit("build.py: the 'brython' package is not installed") from exc
    data = Path(brython.__file__).resolve().parent / "data"
    if not (data / "brython.js").exists():  # pragma: no cover
        raise SystemExit(f"build.py: no brython.js in {data}")
    return data


# -- import analysis ----------------------------------------------------------


def _is_type_checking_test(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "TYPE_CHECKING"
    if isinstance(node, ast.Attribute):
        return node.attr == "TYPE_CHECKING"
    return False


class ImportCollector(ast.NodeVisitor):
    """Names of modules a module may import at run time.

    Imports inside ``if TYPE_CHECKING:`` are skipped (Brython never executes
    them). Imports inside
    functions count: they are lazy, but they do run.
    """

    def __init__(self, package: list[str], known: set[str]) -> None:
        self.package = package  # the package the module lives in, as parts
        self.known = known  # module names that exist (to resolve "from X import Y")
        self.imports: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking_test(node.test):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        # `from __future__ import ...` is a real import in Brython: __future__
        # must be in the bundle.
        if node.level:
            base = self.package[: len(self.package) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module:
            self.imports.add(module)
        for alias in node.names:
            if alias.name != "*" and f"{module}.{alias.name}" in self.known:
                self.imports.add(f"{module}.{alias.name}")


def module_imports(source: str, filename: str, package: list[str], known: set[str]) -> list[str]:
    collector = ImportCollector(package, known)
    collector.visit(ast.parse(source, filename))
    return sorted(collector.imports)


def parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


# -- VFS bundles --------------------------------------------------------------


class AppModule:
    __slots__ = ("imports", "is_package", "name", "path", "source")

    def __init__(self, name: str, path: Path, source: str, is_package: bool) -> None:
        self.name = name
        self.path = path
        self.source = source
        self.is_package = is_package
        self.imports: list[str] = []


def collect_app_modules(app_root: Path = APP_ROOT) -> dict[str, AppModule]:
    """Every browser-side module of the `roost` package, with its imports."""
    modules: dict[str, AppModule] = {}
    for path in sorted(app_root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(app_root.parent).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        if name in CPYTHON_ONLY:
            continue
        modules[name] = AppModule(name, path, path.read_text(encoding="utf-8"), is_package)
    return modules


def load_stdlib_vfs(data: Path) -> dict[str, list[object]]:
    text = (data / "brython_stdlib.js").read_text(encoding="utf-8")
    start = text.index("var scripts = ") + len("var scripts = ")
    end = text.rindex("__BRYTHON__.update_VFS")
    vfs: dict[str, list[object]] = json.loads(text[start:end].rstrip().rstrip(";"))
    vfs.pop("$timestamp", None)
    return vfs


# Modules brython.js itself provides (already in __BRYTHON__.imported at start).
BRYTHON_BUILTINS = frozenset(
    {
        "_importlib",
        "_suggestions",
        "_sys",
        "_warnings",
        "browser",
        "browser.aio",
        "browser.html",
        "builtins",
        "javascript",
    }
)


# Run-time dependencies no import statement shows. Brython's `hashlib` (a JS
# module) evaluates the CryptoJS rollup of an algorithm from the VFS on first
# use; SCRAM needs SHA-1 and SHA-256 (SHA-512 for SCRAM-SHA-512).
HIDDEN_DEPENDENCIES = {
    "hashlib": (
        "crypto_js.rollups.sha1",
        "crypto_js.rollups.sha256",
        "crypto_js.rollups.sha512",
    ),
}


class ImportTimeCollector(ImportCollector):
    """Imports that run when a stdlib module is imported.

    Brython's VFS import lists name every import anywhere in a module, including
    the ones inside functions and `if __name__ == "__main__"`; following them
    pulls in ~240 modules (argparse, unittest, email, ...) for an app that uses
    three. Here only statements executed at import time count: module level,
    class bodies, if/try/with/loops, not function bodies, not the main guard.
    Lazy imports inside stdlib functions the app calls are caught by the
    browser test that fails on any module fetched outside the bundles.
    """

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for expr in node.decorator_list:
            self.visit(expr)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        for expr in node.decorator_list:
            self.visit(expr)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return None

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
        ):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        super().visit_If(node)


def stdlib_import_time_imports(name: str, entry: list[object], known: set[str]) -> list[str]:
    """Import-time imports of a stdlib VFS entry (its VFS list when it can't be parsed)."""
    if entry[0] != ".py":
        return []
    is_package = len(entry) > 3 and bool(entry[3])
    package = name.split(".") if is_package else name.split(".")[:-1]
    try:
        tree = ast.parse(str(entry[1]), name)
    except SyntaxError:  # newer syntax than the running CPython: stay conservative
        return [str(n) for n in entry[2]]  # type: ignore[attr-defined]
    collector = ImportTimeCollector(package, known)
    collector.visit(tree)
    return sorted(collector.imports)


def stdlib_closure(roots: set[str], vfs: dict[str, list[object]]) -> tuple[list[str], list[str]]:
    """Stdlib VFS entries the app can import, following import-time imports.

    Returns (included names, names not in the stdlib bundle). The latter are
    modules built into brython.js itself (`sys`, `javascript`, `browser.html`,
    ...) or imports that never run in Brython.
    """
    known = set(vfs)
    included: set[str] = set()
    outside: set[str] = set()
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in included or name in outside:
            continue
        if name in BRYTHON_BUILTINS or name not in vfs:
            outside.add(name)
            continue
        included.add(name)
        todo.extend(parents(name))
        todo.extend(HIDDEN_DEPENDENCIES.get(name, ()))
        todo.extend(stdlib_import_time_imports(name, vfs[name], known))
    return sorted(included), sorted(outside)


def vfs_js(entries: dict[str, list[object]], timestamp: int, per_module_ts: dict[str, int]) -> str:
    scripts: dict[str, object] = {"$timestamp": timestamp}
    scripts.update(entries)
    out = [
        "__BRYTHON__.use_VFS = true;\n",
        "var scripts = ",
        json.dumps(scripts, ensure_ascii=False, separators=(",", ":")),
        ";\n__BRYTHON__.update_VFS(scripts);\n",
    ]
    if per_module_ts:
        out += [
            "(function(ts){for(var k in ts){__BRYTHON__.VFS[k].timestamp=ts[k]}})(",
            json.dumps(per_module_ts, separators=(",", ":")),
            ");\n",
        ]
    return "".join(out)


def source_stamp(*texts: str) -> int:
    """A stable integer for the given contents (fits a JS number exactly)."""
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()
    return int(digest[:12], 16)


# -- precompiled modules ----------------------------------------------------------

# The Brython build whose compiled-module format the precompiled bundles are
# written for: `__BRYTHON__.implementation` and `__BRYTHON__.timestamp` (the
# build stamp Brython also keys its IndexedDB cache with). A different brython.js
# makes the build fail; re-check the loader (PRECOMPILE_HOOKS) before updating.
PRECOMPILE_IMPLEMENTATION: list[int | str] = [3, 15, 0, "dev", 0]
PRECOMPILE_TIMESTAMP = 1791644409852
PRECOMPILE_BRYTHON: dict[str, object] = {
    "implementation": PRECOMPILE_IMPLEMENTATION,
    "timestamp": PRECOMPILE_TIMESTAMP,
}

# Code in brython.js the precompiled bundles rely on: the VFS loader runs
# `__BRYTHON__.precompiled[name]` (a string, or [string] for a package) as the
# body of `new Function("locals_<name>", js + "return locals_<name>")`.
PRECOMPILE_HOOKS = (
    "$B.precompiled={}",
    "else if($B.precompiled.hasOwnProperty(mod_name)){",
    'mod_js+="return "+prefix+parent_id',
    "content:src,name:mod_name,imports,is_package:module.$is_package",
)

# Run by Node: loads the brython.js being shipped and compiles each module the
# way its VFS loader does (exec_module -> run_py -> py2js), file name included
# (it is baked into the code and used for tracebacks).
# stdin: {"brython": path, "modules": {name: [source, is_package]}}.
PRECOMPILER_JS = r"""
"use strict";
const fs = require("fs");
const input = JSON.parse(fs.readFileSync(0, "utf-8"));
// brython.js supports Node but still touches `self` and `addEventListener`.
globalThis.self = globalThis;
globalThis.addEventListener = function () {};
// Brython numbers the local names it generates (f123, lambda_<magic>_45) from
// random starts drawn at load time; a fixed sequence makes the output, hence
// the bundles' hashed names, reproducible. (Code Brython cached in IndexedDB
// in another session mixes with fresh code the same way.)
const random = Math.random;
let seed = 1;
Math.random = function () { seed = (seed * 48271) % 2147483647; return seed / 2147483647; };
const B = require(input.brython).__BRYTHON__;
Math.random = random;
globalThis.$B = B;  // a global in a browser (top-level `var $B`): the AST classes use it
const out = {implementation: Array.from(B.implementation), timestamp: B.timestamp,
             compiled: {}, errors: {}};
for (const [name, [src, isPackage]] of Object.entries(input.modules)) {
  const filename = "VFS." + name + (isPackage ? "/__init__.py" : ".py");
  B.file_cache[filename] = src;
  B.url2name[filename] = name;
  try {
    const root = B.py2js({src, filename, imported: true}, name, name, B.builtins_scope);
    out.compiled[name] = root.to_js();
  } catch (err) {
    out.errors[name] = String((err && (err.$message || err.message)) || err);
  }
}
process.stdout.write(JSON.stringify(out));
"""


class PrecompileUnavailable(Exception):
    """No Node to compile with (the build can fall back to source-only bundles)."""


def find_node() -> str | None:
    return os.environ.get("ROOST_NODE") or shutil.which("node") or shutil.which("nodejs")


def check_brython_for_precompile(brython_js: Path) -> None:
    """Fail unless brython.js is the build the precompiled format is written for."""
    text = brython_js.read_text(encoding="utf-8")
    impl = "__BRYTHON__.implementation=" + json.dumps(PRECOMPILE_IMPLEMENTATION).replace(
        '"', "'"
    ).replace(" ", "")
    stamp = f"__BRYTHON__.timestamp={PRECOMPILE_TIMESTAMP}\n"
    if impl not in text or stamp not in text:
        raise SystemExit(
            f"build.py: {brython_js} is not the Brython build the precompiled bundles are "
            f"written for ({PRECOMPILE_BRYTHON}); check the VFS loader and update "
            "PRECOMPILE_IMPLEMENTATION/PRECOMPILE_TIMESTAMP, or build without --precompile"
        )
    missing = [hook for hook in PRECOMPILE_HOOKS if hook not in text]
    if missing:
        raise SystemExit(f"build.py: brython.js lacks the precompiled-module loader: {missing}")


def precompile(brython_js: Path, modules: dict[str, tuple[str, bool]]) -> dict[str, str]:
    """{name: compiled JS} for the given {name: (source, is_package)}, via Node."""
    check_brython_for_precompile(brython_js)
    node = find_node()
    if not node:
        raise PrecompileUnavailable("node not found (set ROOST_NODE)")
    payload = json.dumps(
        {"brython": str(brython_js), "modules": {n: [s, p] for n, (s, p) in modules.items()}}
    )
    with tempfile.TemporaryDirectory(prefix="roost-precompile-") as tmp:
        script = Path(tmp) / "precompile.js"
        script.write_text(PRECOMPILER_JS, encoding="utf-8")
        try:
            proc = subprocess.run(
                [node, str(script)], input=payload, capture_output=True, text=True, timeout=300
            )
        except OSError as exc:
            raise PrecompileUnavailable(f"cannot run {node}: {exc}") from exc
    if proc.returncode != 0:
        raise SystemExit(f"build.py: precompiling failed:\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout)
    got = {"implementation": result["implementation"], "timestamp": result["timestamp"]}
    if got != PRECOMPILE_BRYTHON:
        raise SystemExit(
            f"build.py: Node loaded Brython {got}, expected {PRECOMPILE_BRYTHON}: refusing "
            "to write precompiled bundles"
        )
    if result["errors"]:
        errors = "\n".join(f"  {n}: {e}" for n, e in sorted(result["errors"].items()))
        raise SystemExit(f"build.py: Brython could not compile:\n{errors}")
    compiled: dict[str, str] = result["compiled"]
    if set(compiled) != set(modules) or not all(compiled.values()):
        raise SystemExit("build.py: precompiling returned an incomplete result")
    return compiled


def precompiled_js(compiled: dict[str, str], packages: set[str]) -> str:
    """Bundle tail registering compiled modules, only under the pinned Brython."""
    return "".join(
        [
            "(function(B,impl,ts,code,pkgs){",
            "if(String(B.implementation)!==impl||B.timestamp!==ts){",
            'console.warn("Roost: bundle precompiled for another Brython; compiling");return}',
            "for(var k in code){B.precompiled[k]=pkgs.indexOf(k)>-1?[code[k]]:code[k]}",
            "B.roost_precompiled=(B.roost_precompiled||0)+Object.keys(code).length",
            "})(__BRYTHON__,",
            json.dumps(",".join(str(x) for x in PRECOMPILE_IMPLEMENTATION)),
            ",",
            str(PRECOMPILE_TIMESTAMP),
            ",",
            json.dumps(compiled, ensure_ascii=False, separators=(",", ":")),
            ",",
            json.dumps(sorted(packages), separators=(",", ":")),
            ");\n",
        ]
    )


# -- icons ----------------------------------------------------------------------


def _png(width: int, height: int, rgba: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    stride = width * 4
    raw = b"".join(b"\0" + rgba[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _glyph_coverage(u: float, v: float) -> float:
    """Coverage (0..1) of the bird glyph at unit coordinates (u, v) in [0, 1]."""

    # A round bird: body circle, head circle, a beak triangle, a perch bar.
    def disc(cx: float, cy: float, r: float) -> bool:
        return (u - cx) ** 2 + (v - cy) ** 2 <= r * r

    body = disc(0.47, 0.56, 0.20)
    head = disc(0.60, 0.38, 0.11)
    tail = 0.22 <= u <= 0.34 and 0.50 - (0.34 - u) * 0.9 <= v <= 0.62
    beak = 0.69 <= u <= 0.80 and abs(v - 0.38) <= (0.80 - u) * 0.55
    eye = disc(0.625, 0.355, 0.022)
    perch = 0.22 <= u <= 0.80 and 0.78 <= v <= 0.81
    legs = (0.43 <= u <= 0.45 or 0.52 <= u <= 0.54) and 0.74 <= v <= 0.79
    if eye:
        return 0.0
    return 1.0 if (body or head or tail or beak or perch or legs) else 0.0


ICON_CACHE = ROOT / ".roost-run" / "icon-cache"


def cached_icon(size: int, maskable: bool) -> bytes:
    """make_icon's output, kept between builds: drawing in pure Python takes ~1 s
    per icon, and the tests, demo and bench build several times. Keyed by the
    hash of this file, so any change to the drawing code redraws."""
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    path = ICON_CACHE / f"{key}-{size}{'-maskable' if maskable else ''}.png"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = make_icon(size, maskable)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: parallel builds never read half a file
    except OSError:
        pass  # a read-only checkout still builds, just slower
    return data


def make_icon(size: int, maskable: bool) -> bytes:
    """A rounded coloured square (full bleed when maskable) with a bird on a perch."""
    bg = _hex_rgb(THEME_COLOR)
    fg = _hex_rgb(BACKGROUND_COLOR)
    radius = 0.0 if maskable else 0.22
    # Maskable icons keep the glyph inside the central 80% safe zone.
    inset = 0.14 if maskable else 0.04
    ss = 3 if size <= 192 else 2  # supersampling per axis (anti-aliasing)
    px = bytearray()
    for y in range(size):
        for x in range(size):
            shape = 0
            ink = 0
            for sy in range(ss):
                for sx in range(ss):
                    u = (x + (sx + 0.5) / ss) / size
                    v = (y + (sy + 0.5) / ss) / size
                    # rounded square
                    inside = True
                    if radius:
                        cx = min(max(u, radius), 1 - radius)
                        cy = min(max(v, radius), 1 - radius)
                        inside = (u - cx) ** 2 + (v - cy) ** 2 <= radius * radius
                    if not inside:
                        continue
                    shape += 1
                    gu = (u - inset) / (1 - 2 * inset)
                    gv = (v - inset) / (1 - 2 * inset)
                    if 0 <= gu <= 1 and 0 <= gv <= 1 and _glyph_coverage(gu, gv):
                        ink += 1
            total = ss * ss
            if not shape:
                px += b"\0\0\0\0"
                continue
            t = ink / shape
            r = round(bg[0] + (fg[0] - bg[0]) * t)
            g = round(bg[1] + (fg[1] - bg[1]) * t)
            b = round(bg[2] + (fg[2] - bg[2]) * t)
            px += bytes((r, g, b, round(255 * shape / total)))
    return _png(size, size, bytes(px))


FAVICON_SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect width="100" height="100" rx="22" fill="{THEME_COLOR}"/>
<g fill="{BACKGROUND_COLOR}">
<circle cx="47" cy="56" r="20"/><circle cx="60" cy="38" r="11"/>
<path d="M69 32 L80 38 L69 44 Z"/><path d="M22 50 L34 52 L34 62 L22 62 Z"/>
<rect x="22" y="78" width="58" height="3"/><rect x="43" y="74" width="2" height="5"/>
<rect x="52" y="74" width="2" height="5"/></g>
<circle cx="62.5" cy="35.5" r="2.2" fill="{THEME_COLOR}"/>
</svg>
"""


# -- the service worker -----------------------------------------------------------


def service_worker_sources(sw_dir: Path = SW_DIR) -> list[Path]:
    """sw.js first (it declares what the others use), then the rest sorted by name."""
    main = sw_dir / SW_MAIN
    if not main.is_file():
        raise SystemExit(f"build.py: no {main}")
    others = sorted(p for p in sw_dir.glob("*.js") if p.name != SW_MAIN and p.is_file())
    return [main, *others]


def service_worker_version(sources: list[Path], precached: list[tuple[str, bytes]]) -> str:
    """A hash of the worker's sources and of every precached file (name and bytes).

    The browser installs a new worker only when sw.js changes byte for byte:
    any change to what the worker serves or does must change this.
    """
    digest = hashlib.sha256()
    for path in sources:
        data = path.read_bytes()
        digest.update(b"src\0%s\0%d\0" % (path.name.encode(), len(data)))
        digest.update(data)
    for name, data in precached:
        digest.update(b"file\0%s\0%d\0" % (name.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()[:HASH_LEN]


def render_service_worker(sources: list[Path], version: str, precache: list[str]) -> str:
    """The one dist/sw.js: sw.js with its placeholders filled, then the others."""
    main = sources[0].read_text(encoding="utf-8")
    for mark in (SW_VERSION_MARK, SW_PRECACHE_MARK):
        if main.count(mark) != 1:
            raise SystemExit(f"build.py: {sources[0]} must hold {mark} exactly once")
    main = main.replace(SW_VERSION_MARK, json.dumps(version))
    main = main.replace(SW_PRECACHE_MARK, "__ROOST_PRECACHE__ = " + json.dumps(precache))
    parts = [main]
    for path in sources[1:]:
        parts.append(f"\n/* ---- {path.name} ---- */\n" + path.read_text(encoding="utf-8"))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


# -- the build ------------------------------------------------------------------


class Build:
    def __init__(
        self, out: Path, config: dict[str, object], precompile: bool | None = None
    ) -> None:
        self.out = out
        self.config = config
        # True: precompile or fail; None: precompile when Node is there; False: never.
        self.precompile = precompile
        self.assets: dict[str, str] = {}  # logical name -> hashed file name
        self.report: dict[str, object] = {}
        self.sw_info: dict[str, object] = {}

    def write_hashed(self, logical: str, data: bytes) -> str:
        stem, dot, ext = logical.rpartition(".")
        digest = hashlib.sha256(data).hexdigest()[:HASH_LEN]
        name = f"{stem}.{digest}.{ext}" if dot else f"{logical}.{digest}"
        (self.out / name).write_bytes(data)
        self.assets[logical] = name
        return name

    def write_stable(self, name: str, data: bytes) -> None:
        (self.out / name).write_bytes(data)

    def run(self) -> dict[str, object]:
        data = find_brython_data()
        if self.out.exists():
            # Only ever wipe a previous build (or an empty directory): --out
            # pointing at a real directory by mistake must not delete it.
            if any(self.out.iterdir()) and not (self.out / "build-report.json").exists():
                raise SystemExit(
                    f"build.py: {self.out} is not empty and holds no previous build; "
                    "refusing to replace it"
                )
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True)

        # Brython itself.
        self.write_hashed("brython.js", (data / "brython.js").read_bytes())

        # App bundle.
        vfs = load_stdlib_vfs(data)
        modules = collect_app_modules()
        known = set(modules) | set(vfs)
        app_entries: dict[str, list[object]] = {}
        stamps: dict[str, int] = {}
        external: set[str] = set()
        for name, mod in modules.items():
            package = name.split(".") if mod.is_package else name.split(".")[:-1]
            mod.imports = module_imports(mod.source, str(mod.path), package, known)
            entry: list[object] = [".py", mod.source, mod.imports]
            if mod.is_package:
                entry.append(1)
            app_entries[name] = entry
            stamps[name] = source_stamp(name, mod.source)
            for imp in mod.imports:
                if imp.split(".")[0] != "roost":
                    external.add(imp)
                elif imp not in modules and imp not in CPYTHON_ONLY:
                    # "from roost.x import name" where name is not a module: fine;
                    # a missing roost module is a real error at run time.
                    parent = imp.rpartition(".")[0]
                    if imp not in modules and parent not in modules:
                        print(f"build.py: warning: {name} imports missing {imp}", file=sys.stderr)
        app_js = vfs_js(app_entries, source_stamp(*sorted(app_entries)), stamps)

        # Stdlib bundle: only what the app can import.
        included, outside = stdlib_closure(external, vfs)
        std_entries = {name: vfs[name] for name in included}
        std_js = vfs_js(
            std_entries,
            source_stamp(*(name + "\0" + str(vfs[name][1]) for name in included)),
            {},
        )

        # Precompiled modules: every .py entry of both bundles.
        compiled = self.compile_modules(data / "brython.js", {**app_entries, **std_entries})
        if compiled:
            for entries in (app_entries, std_entries):
                mine = {n: compiled[n] for n in entries if n in compiled}
                packages = {n for n in mine if len(entries[n]) > 3 and entries[n][3]}
                if entries is app_entries:
                    app_js += precompiled_js(mine, packages)
                else:
                    std_js += precompiled_js(mine, packages)
        self.write_hashed("roost-app.js", app_js.encode("utf-8"))
        self.write_hashed("roost-stdlib.js", std_js.encode("utf-8"))

        # Static files.
        for name in ("boot.js", "render.js", "snapshot.js", "roost.css"):
            self.write_hashed(name, (STATIC / name).read_bytes())
        # Loaded by ui/e2e.py only when the user opens a QR code: not on the boot path.
        vendor_qr = STATIC / "vendor" / "qrcode-generator.js"
        self.write_hashed("qrcode-generator.js", vendor_qr.read_bytes())
        self.write_hashed("favicon.svg", FAVICON_SVG.encode("utf-8"))
        self.write_hashed("icon-192.png", cached_icon(192, maskable=False))
        self.write_hashed("icon-512.png", cached_icon(512, maskable=False))
        self.write_hashed("icon-maskable-512.png", cached_icon(512, maskable=True))
        # iOS draws transparent corners black and rounds the icon itself: an
        # opaque, full-bleed 180 px one (the size iPhones use).
        self.write_hashed("apple-touch-icon.png", cached_icon(180, maskable=True))

        self.write_stable("config.json", (json.dumps(self.config, indent=2) + "\n").encode())
        self.write_stable("manifest.json", self.manifest())
        self.write_stable("index.html", self.index_html())
        self.write_stable("sw.js", self.service_worker())

        self.report = {
            "app_modules": sorted(app_entries),
            "stdlib_modules": included,
            "builtin_or_unbundled_imports": outside,
            "precompiled": sorted(compiled),
            "precompiled_for": PRECOMPILE_BRYTHON if compiled else None,
            "service_worker": dict(self.sw_info),
            "assets": dict(self.assets),
            "sizes": {
                logical: _sizes(self.out / name) for logical, name in sorted(self.assets.items())
            },
        }
        (self.out / "build-report.json").write_text(json.dumps(self.report, indent=2) + "\n")
        return self.report

    def compile_modules(self, brython_js: Path, entries: dict[str, list[object]]) -> dict[str, str]:
        if self.precompile is False:
            return {}
        sources = {
            name: (str(entry[1]), len(entry) > 3 and bool(entry[3]))
            for name, entry in entries.items()
            if entry[0] == ".py"
        }
        try:
            return precompile(brython_js, sources)
        except PrecompileUnavailable as exc:
            if self.precompile:
                raise SystemExit(f"build.py: --precompile: {exc}") from exc
            print(f"build.py: warning: modules not precompiled: {exc}", file=sys.stderr)
            return {}

    def manifest(self) -> bytes:
        manifest = json.loads(MANIFEST_TEMPLATE.read_text(encoding="utf-8"))
        manifest["icons"] = [
            {"src": self.assets["icon-192.png"], "sizes": "192x192", "type": "image/png"},
            {"src": self.assets["icon-512.png"], "sizes": "512x512", "type": "image/png"},
            {
                "src": self.assets["icon-maskable-512.png"],
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": self.assets["favicon.svg"], "sizes": "any", "type": "image/svg+xml"},
        ]
        return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")

    def index_html(self) -> bytes:
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        for logical, name in self.assets.items():
            text = text.replace("{{asset:" + logical + "}}", name)
        if "{{asset:" in text:
            start = text.index("{{asset:")
            raise SystemExit(f"build.py: unknown asset in index.html: {text[start : start + 40]}")
        return text.encode("utf-8")

    def service_worker(self) -> bytes:
        """dist/sw.js; index.html and manifest.json must be written already."""
        precache = ["./", "manifest.json", *sorted(self.assets.values())]
        files = {"./": "index.html"}
        precached = [(name, (self.out / files.get(name, name)).read_bytes()) for name in precache]
        sources = service_worker_sources()
        version = service_worker_version(sources, precached)
        self.sw_info = {"version": version, "sources": [p.name for p in sources]}
        return render_service_worker(sources, version, precache).encode("utf-8")


def _sizes(path: Path) -> dict[str, int]:
    raw = path.read_bytes()
    return {"raw": len(raw), "gzip": len(gzip.compress(raw, 9))}


def load_config(path: str | None) -> dict[str, object]:
    config = dict(DEFAULT_CONFIG)
    if path:
        override = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(override, dict):
            raise SystemExit("build.py: --config-json must hold a JSON object")
        config.update(override)
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build Roost's static bundle.")
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output directory (dist)")
    parser.add_argument("--config-json", help="JSON object merged over the default config.json")
    parser.add_argument(
        "--precompile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ship Brython-compiled JS for every module (needs Node). Default: when Node "
        "is installed; --precompile makes it required, --no-precompile turns it off",
    )
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    if out in (ROOT, FRONTEND, APP_ROOT) or ROOT.is_relative_to(out):
        raise SystemExit(f"build.py: refusing to wipe {out}")
    report = Build(out, load_config(args.config_json), args.precompile).run()
    sizes: dict[str, dict[str, int]] = report["sizes"]  # type: ignore[assignment]
    for logical, size in sizes.items():
        print(f"{logical:24} {size['raw']:>9} B  gzip {size['gzip']:>8} B")
    stdlib: list[str] = report["stdlib_modules"]  # type: ignore[assignment]
    print(f"stdlib modules ({len(stdlib)}): {' '.join(stdlib)}")
    precompiled: list[str] = report["precompiled"]  # type: ignore[assignment]
    print(f"precompiled modules: {len(precompiled)}")
    print(f"built {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
