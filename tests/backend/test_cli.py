"""backend/cli.py: `roost check-config`, `serve` wiring, the `demo` hook."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from backend import cli
from backend.settings import build_settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
[[xmpp.servers]]
domain = "localhost"
host = "127.0.0.1"
tls = "none"
"""


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_SERVER__PORT", raising=False)
    (tmp_path / "r.toml").write_text(GOOD)
    assert cli.main(["check-config", "--config", str(tmp_path / "r.toml")]) == 0
    assert "configuration OK" in capsys.readouterr().out


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(GOOD.replace('"127.0.0.1"', '"203.0.113.9"'))
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "check-config", "--config",
         str(tmp_path / "r.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("roost: configuration error:")
    assert "loopback" in result.stderr


def test_serve_passes_limits_to_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r.toml").write_text(GOOD + "[websocket]\nmax_stanza_size = 50000\n")
    seen: dict[str, Any] = {}

    class FakeServer:
        def __init__(self, config: Any) -> None:
            seen["config"] = config

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    assert cli.main(["serve", "--config", str(tmp_path / "r.toml"), "--port", "9123",
                     "--host", "127.0.0.2"]) == 0
    config = seen["config"]
    assert seen["ran"]
    assert (config.host, config.port) == ("127.0.0.2", 9123)
    assert config.ws_max_size == 50000 + cli.WS_SIZE_SLACK
    assert config.proxy_headers is False
    assert config.ws_per_message_deflate is False


def test_uvicorn_config_proxy_headers_opt_in() -> None:
    settings = build_settings({"xmpp": {"servers": [
        {"domain": "localhost", "host": "127.0.0.1", "tls": "none"}]}})
    assert cli.uvicorn_config(settings, proxy_headers=True).proxy_headers is True


def test_demo_hook_missing(monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    def missing(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importlib, "import_module", missing)
    assert cli.main(["demo"]) == 2
    assert "demo is not available" in capsys.readouterr().err


def test_demo_hook_calls_main(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    class Demo:
        @staticmethod
        def main(args: list[str]) -> int:
            calls.append(args)
            return 0

    monkeypatch.setattr(importlib, "import_module", lambda name: Demo)
    assert cli.main(["demo", "--port", "8081"]) == 0
    assert calls == [["--port", "8081"]]


def test_demo_without_dev_dependencies(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A plain `pip install .` has no slixmpp: one sentence, exit 2, no traceback."""
    # Make `import slixmpp` fail as it does when the package is not installed,
    # and the demo modules import afresh (monkeypatch restores all three).
    monkeypatch.setitem(sys.modules, "slixmpp", None)
    for name in ("backend.devserver.demo", "backend.devserver.bots"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roost: the demo needs the development dependencies")
    assert "'slixmpp'" in err
    assert "pip install -e '.[dev]'" in err


def test_demo_hook_does_not_hide_roost_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> Any:
        raise ModuleNotFoundError("No module named 'backend.nope'", name="backend.nope")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["demo"])


def test_uvicorn_requirement_has_a_sound_sansio_implementation() -> None:
    """`ws="websockets-sansio"` exists from 0.35; 0.52.1 fixed its write flow control."""
    import tomllib
    from importlib.metadata import version

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:3])

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("uvicorn")]
    assert spec.startswith("uvicorn>=")
    assert parts(spec.removeprefix("uvicorn>=")) >= (0, 52, 1)
    assert parts(version("uvicorn")) >= parts(spec.removeprefix("uvicorn>="))
