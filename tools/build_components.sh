#!/usr/bin/env bash
# Builds the real tailscale, tailscaled, derper and headscale at the versions pinned in
# tools/components.env into <repo>/.components/bin (git-ignored), with `go install` from their
# Go modules. Skips what is already built at the pinned version. Without Go it says so in one
# line and exits 0: the WireGuard lab and the unit tests do not need these programs.
#
# Environment: OVERLAY_COMPONENTS_DIR (default <repo>/.components).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$repo/tools/components.env"
dest="${OVERLAY_COMPONENTS_DIR:-$repo/.components}"
bin="$dest/bin"
say() { printf 'components: %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
  for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do [ -x "$g" ] && PATH="$(dirname "$g"):$PATH" && break; done
fi
if ! command -v go >/dev/null 2>&1; then
  say "no 'go' on PATH: real tailscale/headscale not built; the WireGuard lab and unit tests still work"
  exit 0
fi

# The old tailscale (a client the server refuses): its own folder and stamp, built once.
old_bin="$dest/old/bin"
old_stamp="$dest/old/version.txt"
if [ -f "$old_stamp" ] && [ "$(cat "$old_stamp")" = "$TAILSCALE_OLD_VERSION" ] \
   && [ -x "$old_bin/tailscale" ] && [ -x "$old_bin/tailscaled" ]; then
  say "old tailscale built already ($TAILSCALE_OLD_VERSION) in $old_bin"
else
  mkdir -p "$old_bin"
  old_start=$(date +%s)
  old_short="${TAILSCALE_OLD_VERSION#v}"
  say "go install tailscale, tailscaled $TAILSCALE_OLD_VERSION (older than the server accepts)"
  CGO_ENABLED=0 GOBIN="$old_bin" GOFLAGS=-buildvcs=false go install \
    -ldflags "-X tailscale.com/version.longStamp=${old_short}-overlay -X tailscale.com/version.shortStamp=${old_short}" \
    "tailscale.com/cmd/tailscale@$TAILSCALE_OLD_VERSION" "tailscale.com/cmd/tailscaled@$TAILSCALE_OLD_VERSION"
  echo "$TAILSCALE_OLD_VERSION" > "$old_stamp.tmp" && mv "$old_stamp.tmp" "$old_stamp"
  say "built tailscale $TAILSCALE_OLD_VERSION in $(( $(date +%s) - old_start )) s into $old_bin"
fi

stamp="$dest/versions.txt"
want="tailscale=$TAILSCALE_VERSION headscale=$HEADSCALE_VERSION"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -x "$bin/tailscale" ] && [ -x "$bin/tailscaled" ] && [ -x "$bin/derper" ] && [ -x "$bin/headscale" ]; then
  say "built already ($want) in $bin"
  exit 0
fi

mkdir -p "$bin"
start=$(date +%s)
ts_short="${TAILSCALE_VERSION#v}"
# Without these stamps the binaries call themselves "…-ERR-BuildInfo".
ts_ldflags="-X tailscale.com/version.longStamp=${ts_short}-overlay -X tailscale.com/version.shortStamp=${ts_short}"
say "go install tailscale, tailscaled, derper $TAILSCALE_VERSION (first build: several minutes)"
CGO_ENABLED=0 GOBIN="$bin" GOFLAGS=-buildvcs=false go install -ldflags "$ts_ldflags" \
  "tailscale.com/cmd/tailscale@$TAILSCALE_VERSION" \
  "tailscale.com/cmd/tailscaled@$TAILSCALE_VERSION" \
  "tailscale.com/cmd/derper@$TAILSCALE_VERSION"
say "go install headscale $HEADSCALE_VERSION"
hs_log="$dest/headscale-install.log"
if ! CGO_ENABLED=0 GOBIN="$bin" GOFLAGS=-buildvcs=false go install \
     "github.com/juanfont/headscale/cmd/headscale@$HEADSCALE_VERSION" >"$hs_log" 2>&1; then
  # `go install pkg@version` also asks the proxy for the module's version list (to report a
  # deprecation); where the proxy refuses that list (403) the install fails although the
  # version itself is served. Building it as the one requirement of a throw-away module needs
  # only that version, and resolves the same dependency versions (headscale's own go.mod).
  say "go install failed ($(grep -m1 -o '[0-9]\{3\} [A-Za-z]*' "$hs_log" || echo see $hs_log)); building it from a throw-away module"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  printf 'module overlaybringup.local/headscalebuild\n\ngo 1.26\n\nrequire github.com/juanfont/headscale %s\n' \
    "$HEADSCALE_VERSION" > "$work/go.mod"
  (cd "$work" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
     go build -o "$bin/headscale" github.com/juanfont/headscale/cmd/headscale)
fi
echo "$want" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
say "built $want in $(( $(date +%s) - start )) s into $bin"
