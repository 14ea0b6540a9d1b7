#!/usr/bin/env bash
# Lint, type-check and run the whole test suite. Expects scripts/setup.sh to have run.
#
# The tests start their own throwaway slapd, PostgreSQL and MariaDB servers on free
# loopback ports; with CI set, a skipped test fails the run.
#
# Usage: scripts/check.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "check: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet .
echo "check: mypy"
.venv/bin/mypy
echo "check: pytest"
.venv/bin/pytest -p no:cacheprovider "$@"
