#!/usr/bin/env bash
# Installs, or upgrades in place, the Hatchway agent and relay as systemd services.
#
#   /opt/hatchway/releases/STAMP   one virtualenv per installation, owned by root
#   /opt/hatchway/current          symlink to the release in use (the units run it)
#   /etc/hatchway                  agent.toml, relay.toml (0750, files 0600, user hatchway)
#   /var/lib/hatchway              keys, journal, state, relay store (0700, keys 0600)
#   /etc/systemd/system/hatchway-{agent,relay}.service
#
# A new release is built beside the running one and the symlink is switched only once it
# installed and (with --relay/--token) registered, so a failed upgrade leaves the previous
# installation running and every setting and key as it was. See docs/install.md.
#
# Usage: install.sh [--from PATH] [--offline DIR] [--relay URL --token TOKEN [--ca-file PEM]
#                   [--allow-insecure]] [--services LIST] [--python PYTHON] [--root DIR]
#                   [--no-systemctl]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(cd "$here/../.." && pwd)"

usage() {
    cat <<'USAGE'
Usage: install.sh [options]

  --from PATH        hatchway wheel, sdist or source folder to install
                     (default: the checkout this script is in; with --offline: the bundle's)
  --offline DIR      install from a folder of wheels only (made by installer/build-bundle.sh)
  --relay URL        register the agent with this relay (needs --token)
  --token TOKEN      one-time token from 'hatchway relay token create'
  --ca-file PEM      CA certificates to verify an https relay with
  --allow-insecure   allow a plain http relay beyond loopback (test networks only)
  --services LIST    services to enable and start: agent, relay, agent,relay or none
                     (default: agent)
  --python PYTHON    Python 3.11 or newer to build the virtualenv with (default: /usr/bin/python3)
  --root DIR         install below DIR instead of / (tests, images); implies --no-systemctl
  --no-systemctl     do not run systemctl (the units are still written)
  -h, --help         this help
USAGE
}

say() { printf 'install: %s\n' "$*"; }
fail() {
    printf 'install: error: %s\n' "$*" >&2
    exit 1
}

need_value() {
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then fail "$1 needs a value (see --help)"; fi
}

root=""
source_spec=""
offline=""
relay_url=""
token=""
ca_file=""
allow_insecure=0
services="agent"
python="/usr/bin/python3"
use_systemctl=1

while [ "$#" -gt 0 ]; do
    case "$1" in
    --from) need_value "$@"; source_spec="$2"; shift 2 ;;
    --offline) need_value "$@"; offline="$2"; shift 2 ;;
    --relay) need_value "$@"; relay_url="$2"; shift 2 ;;
    --token) need_value "$@"; token="$2"; shift 2 ;;
    --ca-file) need_value "$@"; ca_file="$2"; shift 2 ;;
    --allow-insecure) allow_insecure=1; shift ;;
    --services) need_value "$@"; services="$2"; shift 2 ;;
    --python) need_value "$@"; python="$2"; shift 2 ;;
    --root) need_value "$@"; root="$2"; shift 2 ;;
    --no-systemctl) use_systemctl=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown option $1" ;;
    esac
done

# Checks first: nothing is touched until every argument is known to be usable.
[ "$(id -u)" -eq 0 ] || fail "run as root (it creates a system user and writes /opt, /etc, /var/lib)"
if [ -n "$relay_url" ] && [ -z "$token" ]; then fail "--relay needs --token"; fi
if [ -n "$token" ] && [ -z "$relay_url" ]; then fail "--token needs --relay"; fi
if [ -n "$ca_file" ] && [ ! -r "$ca_file" ]; then fail "--ca-file $ca_file cannot be read"; fi
case ",$services," in
,none, | ,agent, | ,relay, | ,agent,relay, | ,relay,agent,) ;;
*) fail "--services takes agent, relay, agent,relay or none; got '$services'" ;;
esac
if [ -n "$offline" ]; then
    [ -d "$offline" ] || fail "--offline $offline is not a folder"
    offline="$(cd "$offline" && pwd)"
fi
if [ -n "$source_spec" ]; then
    [ -e "$source_spec" ] || fail "--from $source_spec does not exist"
    source_spec="$(realpath "$source_spec")"
elif [ -z "$offline" ]; then
    [ -f "$checkout/pyproject.toml" ] || fail "not inside a Hatchway checkout: give --from or --offline"
    source_spec="$checkout"
else
    source_spec="hatchway"
fi
command -v "$python" >/dev/null 2>&1 || fail "Python '$python' not found (give --python)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$python is older than Python 3.11"
"$python" -c 'import ensurepip, venv' 2>/dev/null ||
    fail "$python cannot make virtualenvs: install python3-venv (Debian) or python3 (RHEL)"
if [ -n "$root" ]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
    use_systemctl=0
fi

opt="$root/opt/hatchway"
etc="$root/etc/hatchway"
var="$root/var/lib/hatchway"
units="$root/etc/systemd/system"
bin_link="$root/usr/local/bin/hatchway"

# The service user: a system account without a shell or a home of its own.
if ! grep -q '^hatchway:' "$root/etc/passwd" 2>/dev/null; then
    say "creating the system user hatchway"
    root_args=()
    if [ -n "$root" ]; then root_args=(--root "$root"); fi
    useradd "${root_args[@]}" --system --user-group --no-create-home \
        --home-dir /var/lib/hatchway --shell /usr/sbin/nologin \
        --comment "Hatchway agent and relay" hatchway
fi
uid="$(awk -F: '$1 == "hatchway" { print $3 }' "$root/etc/passwd")"
gid="$(awk -F: '$1 == "hatchway" { print $4 }' "$root/etc/passwd")"
if [ -z "$uid" ] || [ -z "$gid" ]; then fail "the user hatchway has no entry in $root/etc/passwd"; fi

# Folders: existing ones keep their contents; owners and modes are put right.
install -d -m 0755 "$opt" "$opt/releases" "$units" "$(dirname "$bin_link")"
install -d -m 0750 -o "$uid" -g "$gid" "$etc"
install -d -m 0700 -o "$uid" -g "$gid" "$var"
chown "$uid:$gid" "$etc" "$var"
chmod 0750 "$etc"
chmod 0700 "$var"
for file in "$etc"/*.toml "$var"/*.pem; do
    if [ -f "$file" ]; then
        chown "$uid:$gid" "$file"
        chmod 0600 "$file"
    fi
done

# A new release beside the current one; removed again if anything below fails.
release_name="$(date -u +%Y%m%dT%H%M%SZ)-$$"
release="$opt/releases/$release_name"
switched=0
cleanup() {
    if [ "$switched" -eq 0 ] && [ -d "$release" ]; then
        rm -rf "$release"
        say "removed the unfinished release; the previous installation is unchanged" >&2
    fi
}
trap cleanup EXIT

say "creating the virtualenv $release"
"$python" -m venv "$release"
pip_args=(--quiet --disable-pip-version-check --no-input)
if [ -n "$offline" ]; then pip_args+=(--no-index --find-links "$offline"); fi
say "installing $source_spec${offline:+ from $offline}"
pip_log="$(mktemp)"
if ! "$release/bin/python" -m pip install "${pip_args[@]}" "$source_spec" >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    rm -f "$pip_log"
    fail "pip could not install $source_spec"
fi
rm -f "$pip_log"
version="$("$release/bin/hatchway" --version)" || fail "the new release does not run"
chmod -R go-w "$release"

as_hatchway() {
    # setpriv needs no passwd entry on the host, so it also works for a --root install.
    env -i PATH=/usr/bin:/bin HOME=/var/lib/hatchway LANG=C.UTF-8 \
        setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
}

if [ -n "$relay_url" ]; then
    say "registering the agent with $relay_url"
    register=(agent register --relay "$relay_url" --token "$token"
        --config-dir "$etc" --data-dir "$var")
    if [ -n "$ca_file" ]; then register+=(--ca-file "$(realpath "$ca_file")"); fi
    if [ "$allow_insecure" -eq 1 ]; then register+=(--allow-insecure); fi
    as_hatchway "$release/bin/hatchway" "${register[@]}" ||
        fail "registration failed (see above); nothing was changed: run again with a new token"
fi

install -m 0644 "$here/hatchway-agent.service" "$here/hatchway-relay.service" "$units/"
previous="$(readlink "$opt/current" 2>/dev/null || true)"
ln -sfn "releases/$release_name" "$opt/current.new"
mv -T "$opt/current.new" "$opt/current"
switched=1
ln -sfn /opt/hatchway/current/bin/hatchway "$bin_link"
say "installed $version as $opt/current"

# Keep the previous release for a rollback; older ones go.
for old in "$opt"/releases/*; do
    name="releases/$(basename "$old")"
    if [ "$name" != "releases/$release_name" ] && [ "$name" != "$previous" ]; then
        rm -rf "$old"
    fi
done

registered=0
if [ -f "$etc/agent.toml" ]; then registered=1; fi
if [ "$use_systemctl" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    # An upgrade restarts what was running, on the new release.
    systemctl try-restart hatchway-agent.service hatchway-relay.service
    if [[ ",$services," == *,relay,* ]]; then
        systemctl enable --now hatchway-relay.service
    fi
    if [[ ",$services," == *,agent,* ]]; then
        systemctl enable hatchway-agent.service
        if [ "$registered" -eq 1 ]; then
            systemctl start hatchway-agent.service
        else
            say "register the agent to start it: run this script again with --relay and --token"
        fi
    fi
elif [ "$use_systemctl" -eq 1 ]; then
    say "systemd is not running here: units written to $units, nothing started"
fi
if [ "$registered" -eq 0 ] && [[ ",$services," == *,agent,* ]]; then
    say "the agent is not registered yet"
fi
say "done"
