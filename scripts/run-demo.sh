#!/usr/bin/env bash
# Roost with a local demo server: installs what is missing, then runs
# `roost demo` (http://localhost:8080, accounts alice/bob/carol, an echo bot).
# Options go to `roost demo`: --port N, --direct, --rebuild (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh && exec .venv/bin/roost demo "$@"
