"""The layering rules of docs/architecture.md, enforced.

`xmpp/`, `app/` and `omemo/` run under Brython and must stay headless: no
`browser`/`javascript`, and none of the stdlib modules that are expensive
(or missing) under Brython, except inside `if TYPE_CHECKING:` blocks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "frontend" / "roost"
HEADLESS = ("xmpp", "app", "omemo")

BROWSER_ONLY = {"browser", "javascript"}
FORBIDDEN = {
    "typing",
    "dataclasses",
    "enum",
    "logging",
    "traceback",
    "functools",
    "uuid",
    "random",
    "re",
    "abc",
    "asyncio",
    "xml",
    "os",
    "secrets",
    "time",
    "datetime",
    "hmac",  # hmac.new() fails under Brython: sasl.py has its own HMAC
}
# CPython-only modules, excluded from the browser bundle by build.py.
ALLOWED = {
    "xmpp/xmlparse.py": {"xml"},
}


def headless_files() -> list[Path]:
    return sorted(p for pkg in HEADLESS for p in (PACKAGE / pkg).rglob("*.py"))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level module) of every import not under `if TYPE_CHECKING:`."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "__future__":
                found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.append((node.lineno, "__import__"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_there_are_files_to_check() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in headless_files()}
    assert {"xmpp/client.py", "xmpp/jid.py", "app/chat.py", "omemo/__init__.py"} <= names


@pytest.mark.parametrize("path", headless_files(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_forbidden_runtime_imports(path: Path) -> None:
    rel = path.relative_to(PACKAGE).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed = ALLOWED.get(rel, set())
    bad = [
        f"{rel}:{line} imports {module}"
        for line, module in runtime_imports(tree)
        if module in BROWSER_ONLY or module == "__import__" or (module in FORBIDDEN - allowed)
    ]
    assert not bad, bad
    prints = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
    ]
    assert not prints, f"{rel}: print() at lines {prints}"


def test_the_checker_sees_through_nesting() -> None:
    tree = ast.parse(
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n    import typing\nelse:\n    import re\n"
        "def f():\n    import logging\n"
        "try:\n    from browser import window\nexcept ImportError:\n    pass\n"
    )
    assert [m for _, m in runtime_imports(tree)] == ["re", "logging", "browser"]


def test_every_module_imports_without_a_browser() -> None:
    # A fresh interpreter, so modules cached by other tests don't hide anything.
    modules = []
    for path in headless_files():
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    code = (
        "import importlib, sys\n"
        "sys.modules['browser'] = None\n"  # makes `import browser` raise ImportError
        "sys.modules['javascript'] = None\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(PACKAGE.parent)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_error_reporter_is_installed_before_the_adapters_load() -> None:
    """An import-time error anywhere in the app must meet the installed reporter.

    `main.py` imports `roost.platform.errors` and calls `install()` first; that
    runs `roost/platform/__init__.py`, which must therefore import nothing
    (BrowserPlatform and the adapters live in `roost.platform.browser`).
    """
    init = ast.parse((PACKAGE / "platform" / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(init) if isinstance(n, (ast.Import, ast.ImportFrom))]
    main = ast.parse((PACKAGE / "main.py").read_text(encoding="utf-8")).body
    stmts = [
        n
        for n in main
        if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))  # docstring
        and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
    ]
    first, second = stmts[0], stmts[1]
    assert isinstance(first, ast.ImportFrom) and first.module == "roost.platform"
    assert [a.name for a in first.names] == ["errors"]
    assert ast.unparse(second) == "errors.install()"
