"""Debian's Chromium through Playwright, with the flags this sandbox needs."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("ROOST_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google
# hosts that this network refuses (see shared/DESIGN.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
