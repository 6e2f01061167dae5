#!/usr/bin/env bash
# The one bootstrap: `./run.sh demo [args]` or `./run.sh test [pytest args]`.
# Creates .venv, installs the project, and installs PostgreSQL (apt) if its server is missing,
# and for `test` headless Chromium with its chromedriver (apt) if they are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
STAMP="$VENV/.installed-from-pyproject"
PYTHON="${PYTHON:-python3}"

usage() {
  echo "usage: ./run.sh demo [args] | ./run.sh test [pytest args]" >&2
  exit 2
}

have_initdb() {
  command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

have_pg_dump() {
  command -v pg_dump >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/pg_dump' >/dev/null
}

python_ok() {
  command -v "$PYTHON" >/dev/null 2>&1 \
    && "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

venv_ok() {
  # Debian splits venv/ensurepip into python3-venv.
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1
}

# Install Debian packages, as root directly or through sudo; never prompt without a terminal.
apt_install() {
  local runner=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "run.sh: need $* but am not root and sudo is missing; install them, then re-run" >&2
      exit 1
    fi
    if [ -t 0 ]; then runner=(sudo); else runner=(sudo -n); fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: need $* but apt-get is missing; install them with your package manager" \
      "(PostgreSQL server binaries, chromium and chromedriver must be on PATH), then re-run" >&2
    exit 1
  fi
  echo "run.sh: installing $* with apt-get" >&2
  ${runner[@]+"${runner[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  ${runner[@]+"${runner[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian's chromium and chromium-driver; a CI image's Google Chrome with its driver also does
# (Ubuntu's chromium package is only a snap wrapper).
have_chromium() {
  { command -v chromium || command -v google-chrome; } >/dev/null 2>&1 \
    && { command -v chromedriver || [ -x "${CHROMEWEBDRIVER:-/nonexistent}/chromedriver" ]; } \
      >/dev/null 2>&1
}

# $1: the run.sh command; `test` also needs headless Chromium for the audit report's page test.
ensure_system_packages() {
  local missing=()
  if ! python_ok; then
    missing+=(python3)
  fi
  if ! python_ok || ! venv_ok; then
    missing+=(python3-venv)
  fi
  if ! have_initdb; then
    missing+=(postgresql)
  fi
  if ! have_pg_dump; then
    missing+=(postgresql-client)
  fi
  if [ "$1" = test ] && ! have_chromium; then
    missing+=(chromium chromium-driver)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  if ! python_ok; then
    echo "run.sh: anonymiser needs Python 3.11 or newer as $PYTHON (set PYTHON=... to choose)" >&2
    exit 1
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  if [ ! -e "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -e '.[test]'
    touch "$STAMP"
  fi
}

[ "$#" -ge 1 ] || usage
command="$1"
shift

case "$command" in
  test | demo) ;;
  *) usage ;;
esac

ensure_system_packages "$command"
ensure_venv

case "$command" in
  test) exec "$VENV/bin/python" -m pytest "$@" ;;
  demo) exec "$VENV/bin/anonymiser" demo "$@" ;;
esac
