#!/usr/bin/env bash
# Removes the Hatchway services and software that install.sh put in place.
#
# Settings (/etc/hatchway), keys and data (/var/lib/hatchway) and the hatchway user stay,
# so installing again brings the same registered agent back; --purge removes them too.
#
# Usage: uninstall.sh [--purge] [--root DIR] [--no-systemctl]
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: uninstall.sh [options]

  --purge         also remove /etc/hatchway, /var/lib/hatchway (keys!) and the hatchway user
  --root DIR      uninstall below DIR instead of / (tests); implies --no-systemctl
  --no-systemctl  do not run systemctl
  -h, --help      this help
USAGE
}

say() { printf 'uninstall: %s\n' "$*"; }
fail() {
    printf 'uninstall: error: %s\n' "$*" >&2
    exit 1
}

root=""
purge=0
use_systemctl=1
while [ "$#" -gt 0 ]; do
    case "$1" in
    --purge) purge=1; shift ;;
    --root)
        if [ "$#" -lt 2 ] || [ -z "$2" ]; then fail "--root needs a folder"; fi
        [ -d "$2" ] || fail "--root $2 is not a folder"
        root="$(cd "$2" && pwd)"
        use_systemctl=0
        shift 2
        ;;
    --no-systemctl) use_systemctl=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown option $1" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || fail "run as root"

units=(hatchway-agent.service hatchway-relay.service)
if [ "$use_systemctl" -eq 1 ] && [ -d /run/systemd/system ]; then
    for unit in "${units[@]}"; do
        if [ -f "/etc/systemd/system/$unit" ]; then
            say "stopping and disabling $unit"
            systemctl disable --now "$unit"
        fi
    done
fi
for unit in "${units[@]}"; do
    rm -f "$root/etc/systemd/system/$unit"
done
if [ "$use_systemctl" -eq 1 ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

link="$root/usr/local/bin/hatchway"
if [ -L "$link" ] && [ "$(readlink "$link")" = /opt/hatchway/current/bin/hatchway ]; then
    rm -f "$link"
fi
rm -rf "$root/opt/hatchway"
say "removed the services and /opt/hatchway"

if [ "$purge" -eq 1 ]; then
    rm -rf "$root/etc/hatchway" "$root/var/lib/hatchway"
    if grep -q '^hatchway:' "$root/etc/passwd" 2>/dev/null; then
        root_args=()
        if [ -n "$root" ]; then root_args=(--root "$root"); fi
        userdel "${root_args[@]}" hatchway
    fi
    say "purged /etc/hatchway, /var/lib/hatchway and the hatchway user"
else
    say "kept /etc/hatchway and /var/lib/hatchway (settings and keys); --purge removes them"
fi
