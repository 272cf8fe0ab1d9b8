#!/usr/bin/env bash
# The whole check, exactly as CI runs it (.ci/run): installs what is missing,
# builds dist/, runs ruff and mypy, then every test with pytest. Needs no input.
# Integration and browser tests fail (never skip) when a part is missing:
# CI=true is the default here. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"
export PYTHONDONTWRITEBYTECODE=1

names=()
results=()
failed=0

record() {  # record NAME STATUS SECONDS
  names+=("$1")
  results+=("$2 ($3 s)")
  case "$2" in ok) ;; *) failed=1 ;; esac
}

step() {  # step NAME COMMAND...
  local name=$1 start=$SECONDS rc
  shift
  echo
  echo "==> $name: $*"
  "$@"
  rc=$?
  if [ "$rc" -eq 0 ]; then
    record "$name" ok $((SECONDS - start))
  else
    record "$name" "FAILED (exit $rc)" $((SECONDS - start))
  fi
  return "$rc"
}

summary() {
  echo
  echo "==> summary"
  local i
  for i in "${!names[@]}"; do
    printf '    %-8s %s\n' "${names[$i]}" "${results[$i]}"
  done
  if [ "$failed" -eq 0 ]; then
    echo "    all checks passed"
  else
    echo "    SOME CHECKS FAILED"
  fi
}

if ! step setup bash scripts/setup.sh; then
  echo "test: setup failed; nothing else can run" >&2
  summary
  exit 1
fi
step build .venv/bin/python build.py
step ruff .venv/bin/ruff check .
step mypy .venv/bin/mypy

echo
echo "==> pytest: .venv/bin/pytest -q $*"
start=$SECONDS
.venv/bin/pytest -q "$@"
rc=$?
case "$rc" in
  0) record pytest ok $((SECONDS - start)) ;;
  5)
    echo "test: pytest collected no tests -- that is a failure, not a pass" >&2
    record pytest "FAILED (no tests collected)" $((SECONDS - start))
    ;;
  *) record pytest "FAILED (exit $rc)" $((SECONDS - start)) ;;
esac

summary
exit "$failed"
