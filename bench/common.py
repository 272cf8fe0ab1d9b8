"""What the benchmarks share: machine facts for the report, and printing it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.chromium import CHROMIUM


def cpus() -> int | None:
    return os.cpu_count()


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=20)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def emit(result: dict[str, Any], out: Path | None) -> int:
    """Print the JSON report (and write it to `out`); the exit status."""
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)
    return 0
