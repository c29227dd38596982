#!/usr/bin/env bash
# Builds the machine lab's base image once: a Debian bookworm root filesystem (mmdebstrap,
# minbase) with systemd as PID 1, sshd, Python for Ansible and what the roles need, into
# <repo>/.components/base-image (git-ignored). Every lab machine is an overlayfs clone of it,
# so the image holds no machine-id and no SSH host keys. Skips when the image is current.
#
# The image is the only thing the sealed lab installs from: the roles copy the Go-built
# programs in and never reach a mirror. Environment: OVERLAY_COMPONENTS_DIR, OVERLAY_MIRROR
# (default: the first URI of /etc/apt/sources.list.d/debian.sources, else deb.debian.org).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${OVERLAY_COMPONENTS_DIR:-$repo/.components}/base-image"
say() { printf 'base image: %s\n' "$*"; }
packages=systemd-sysv,dbus,libpam-systemd,openssh-server,python3,python3-apt,iproute2,ca-certificates,nftables,procps,iputils-ping
recipe="bookworm minbase $packages v1"
if [ -f "$dest/.recipe" ] && [ "$(cat "$dest/.recipe")" = "$recipe" ]; then
  say "built already in $dest"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base image: mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 1; }
mirror="${OVERLAY_MIRROR:-}"
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
start=$(date +%s)
rm -rf "$dest.new"
say "mmdebstrap bookworm from $mirror (about 30-60 s, 230 MB)"
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$dest.new" "deb $mirror bookworm main" "deb $mirror bookworm-updates main"
# each machine gets its own identity when the lab makes it
: > "$dest.new/etc/machine-id"
rm -f "$dest.new"/etc/ssh/ssh_host_*
# no mirror inside the sealed lab: apt has nothing to reach
: > "$dest.new/etc/apt/sources.list"
rm -f "$dest.new"/etc/apt/sources.list.d/*
echo "$recipe" > "$dest.new/.recipe"
rm -rf "$dest" && mv "$dest.new" "$dest"
say "built in $(( $(date +%s) - start )) s: $(du -sh "$dest" | cut -f1) in $dest"
