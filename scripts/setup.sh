#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine to develop and test Hatchway.
#
# Safe to re-run: apt is skipped when every system package is already there, and the
# virtualenv is only created when missing. The tests start their own throwaway servers,
# so nothing here configures or relies on the system's slapd, PostgreSQL or MariaDB.
#
# Usage: scripts/setup.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
    python3 python3-venv python3-dev gcc
    unixodbc unixodbc-dev odbc-postgresql libsqliteodbc odbc-mariadb
    slapd ldap-utils postgresql mariadb-server
    shellcheck python3-seccomp systemd
    chromium
)

say() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

missing=()
for pkg in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    say "system packages already installed"
else
    say "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${packages[@]}" >/dev/null
    say "system packages installed"
fi

cd "$repo_root"
# A venv left without pip by an interrupted attempt is made again.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    say "creating .venv with $(command -v python3)"
    rm -rf .venv
    python3 -m venv .venv
fi

say "installing the project and its dev tools into .venv"
# pip's build backend is chatty even with --quiet; keep its output for when it fails.
pip_log="$(mktemp)"
trap 'rm -f "$pip_log"' EXIT
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
    >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    say "pip install failed" >&2
    exit 1
fi
say "done; run the checks with: scripts/check.sh"
