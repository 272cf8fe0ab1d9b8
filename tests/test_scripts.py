"""The shell entry points: syntax, what CI runs, and the README's first commands."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = [ROOT / "scripts" / "setup.sh", ROOT / "scripts" / "run-demo.sh",
           ROOT / "scripts" / "test.sh", ROOT / ".ci" / "run"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_syntax(script: Path) -> None:
    assert script.is_file(), f"{script} is missing"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ci_runs_exactly_the_test_script() -> None:
    ci = ROOT / ".ci" / "run"
    assert ci.stat().st_mode & stat.S_IXUSR, ".ci/run must be executable"
    lines = [ln.strip() for ln in ci.read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert "set -euo pipefail" in lines
    assert lines[-1] == "exec bash scripts/test.sh"


def _sandbox(tmp_path: Path, tools: dict[str, int]) -> Path:
    """A copy of scripts/test.sh with every tool it calls replaced by a stub."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / "scripts" / "test.sh", tmp_path / "scripts" / "test.sh")
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "scripts" / "setup.sh").write_text(f"exit {tools.get('setup', 0)}\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "ruff", "mypy", "pytest"):
        stub = bin_dir / tool
        stub.write_text(
            f'#!/bin/sh\necho "{tool} $* CI=$CI" >> "$(dirname "$0")/../../calls"\n'
            f"exit {tools.get(tool, 0)}\n"
        )
        stub.chmod(0o755)
    return tmp_path


def _run(sandbox: Path, *args: str) -> tuple[int, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run(
        ["bash", str(sandbox / ".ci" / "run"), *args], cwd=sandbox, env=env,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    calls = (sandbox / "calls").read_text().splitlines() if (sandbox / "calls").exists() else []
    return result.returncode, result.stdout + result.stderr, calls


def test_test_script_runs_every_step_with_ci_true(tmp_path: Path) -> None:
    code, out, calls = _run(_sandbox(tmp_path, {}))
    assert code == 0, out
    assert [" ".join(c.split()) for c in calls] == [
        "python build.py CI=true", "ruff check . CI=true", "mypy CI=true", "pytest -q CI=true",
    ]
    assert "all checks passed" in out


def test_no_tests_collected_is_a_failure(tmp_path: Path) -> None:
    code, out, _ = _run(_sandbox(tmp_path, {"pytest": 5}))
    assert code != 0
    assert "collected no tests" in out


def test_lint_errors_fail_the_run_but_the_tests_still_run(tmp_path: Path) -> None:
    code, out, calls = _run(_sandbox(tmp_path, {"ruff": 1, "mypy": 1}))
    assert code != 0
    assert [c for c in calls if c.startswith("pytest -q")]
    assert re.search(r"ruff\s+FAILED", out) and re.search(r"mypy\s+FAILED", out)


def test_setup_failure_stops_the_run(tmp_path: Path) -> None:
    code, out, calls = _run(_sandbox(tmp_path, {"setup": 1}))
    assert code != 0
    assert calls == []
    assert "setup failed" in out


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", readme, re.S)
    assert first_block, "README.md has no code block"
    # Nothing but a title and a short paragraph before the commands.
    assert readme.index("```") < 600
    commands = [ln.split("#", 1)[0].strip() for ln in first_block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["bash scripts/run-demo.sh", "bash scripts/test.sh"]
    for command in commands:
        assert (ROOT / command.split()[1]).is_file()


def test_run_demo_installs_then_runs_the_demo() -> None:
    text = (ROOT / "scripts" / "run-demo.sh").read_text()
    assert 'bash scripts/setup.sh && exec .venv/bin/roost demo "$@"' in text


def test_setup_installs_no_unused_build_packages() -> None:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    match = re.search(r"^APT_PKGS=\((.*?)^\)", text, re.S | re.M)
    assert match, "setup.sh has no APT_PKGS list"
    packages = match.group(1).split()
    # Nothing compiles a C extension: no Python headers.
    assert "python3-dev" not in packages
    # Node stays (build.py can use it), described as what it is: optional.
    assert "nodejs" in packages
    assert "Node for the build" not in text
    readme = (ROOT / "README.md").read_text()
    assert "Node.js (optional" in readme
