#!/usr/bin/env bash
# Installs everything Roost needs on a Debian 12 machine (run as root):
# apt packages (Prosody, prosody-modules, Chromium, Node), and a Python
# virtualenv in .venv with the project and its dev dependencies.
# Idempotent: re-running only installs what is missing. Works with and without
# systemd (containers).
set -euo pipefail
cd "$(dirname "$0")/.."

# lua-unbound: Prosody's resolver for federation (shared/PROSODY.md is verified with it);
# the two-server fixture (tests/support/federation.py) points s2s at the peer
# through its settings, so without it federation tests fail.
# fonts-dejavu-core: Chromium needs at least one font to lay out text.
# nodejs: optional. `python build.py` uses it when found to precompile the
# client's modules to JavaScript (--precompile); without it the build still
# works and browsers compile the modules themselves. Nothing else needs it.
# dbus-daemon: the notification tests run a private D-Bus session bus with a
# fake notification daemon (tests/support/notifyd.py) to click notifications.
APT_PKGS=(
  prosody prosody-modules lua-unbound
  chromium fonts-dejavu-core dbus-daemon
  python3 python3-venv
  ca-certificates openssl nodejs
)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# The Debian package starts a system-wide Prosody on :5222 right after install.
# Roost's demo and tests run their own (own config, own ports), so stop that one
# -- only when this run installed it: an existing server is left alone.
stop_new_system_prosody() {
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl stop prosody 2>/dev/null || true
  fi
  # Without systemd the init script started it; its own "stop" looks for a
  # lua5.2 process, so stop it by its pid file instead.
  local pidfile=/run/prosody/prosody.pid pid
  [ -r "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '/usr/bin/prosody' || return 0
  echo "setup: stopping the system Prosody the package started (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  case " ${missing[*]} " in
    *" prosody "*) stop_new_system_prosody ;;
  esac
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating the virtualenv .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.roost-deps
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
