#!/usr/bin/env bash
# Makes a folder of wheels, Hatchway's and every dependency's, for hosts without internet:
# copy it with installer/linux/ to the host and run install.sh --offline DIR there.
#
# The wheels are for the Python and platform of the machine that runs this script: build
# the bundle on the same distribution release (and so the same Python) as the target hosts.
#
# Usage: installer/build-bundle.sh [--from PATH] [--python PYTHON] OUTDIR
set -euo pipefail

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'build-bundle: %s\n' "$*"; }
fail() {
    printf 'build-bundle: error: %s\n' "$*" >&2
    exit 1
}

source_spec="$checkout"
python="/usr/bin/python3"
out=""
while [ "$#" -gt 0 ]; do
    case "$1" in
    --from)
        if [ "$#" -lt 2 ] || [ ! -e "$2" ]; then fail "--from needs an existing wheel, sdist or folder"; fi
        source_spec="$(realpath "$2")"
        shift 2
        ;;
    --python)
        [ "$#" -ge 2 ] || fail "--python needs a value"
        python="$2"
        shift 2
        ;;
    -h | --help)
        sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) fail "unknown option $1" ;;
    *)
        [ -z "$out" ] || fail "one output folder only"
        out="$1"
        shift
        ;;
    esac
done
[ -n "$out" ] || fail "give the output folder (see --help)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$python is not Python 3.11 or newer"

mkdir -p "$out"
# A throwaway virtualenv gives a known pip, whatever the system's is.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
say "building wheels for $source_spec and its dependencies into $out"
"$work/venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-input \
    --wheel-dir "$out" "$source_spec"
count="$(find "$out" -maxdepth 1 -name '*.whl' | wc -l)"
say "done: $count wheels in $out"
