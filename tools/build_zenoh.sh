#!/usr/bin/env bash
# Builds zenohd and the ROS 2 bridge plugin (zenoh-plugin-ros2dds) at the version pinned in
# tools/components.env from the Rust crate registry, into <repo>/.components/zenoh (git-ignored):
#   bin/zenohd, lib/libzenoh_plugin_ros2dds.so, versions.txt (zenoh version and rustc).
# Skips what is built at the pinned version with this rustc. Without cargo it says so in one
# line and exits 0: only the zenoh-bridge discovery mode needs these programs.
# The plugin has no binary crate: its library crate is unpacked from the registry by a
# throw-away crate that depends on it (cargo fetch), then built with cargo build --release.
# It builds Cyclone DDS through the crate cyclors: cmake and libclang-dev (Debian) are needed.
#
# The build outlives the checkout: it is kept in $OVERLAY_BUILD_CACHE (default
# ~/.cache/overlay_bringup), keyed by zenoh version and rustc, and copied from there when a
# fresh checkout needs it (a cold build takes about 12 minutes on 2 cores).
#
# Environment: OVERLAY_COMPONENTS_DIR (default <repo>/.components), CARGO (default cargo),
# OVERLAY_BUILD_CACHE.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$repo/tools/components.env"
dest="${OVERLAY_COMPONENTS_DIR:-$repo/.components}"
say() { printf 'zenoh: %s\n' "$*"; }
cargo="${CARGO:-cargo}"
command -v "$cargo" >/dev/null 2>&1 || cargo="$HOME/.cargo/bin/cargo"
if ! command -v "$cargo" >/dev/null 2>&1; then
  say "no 'cargo' on PATH: zenohd and the ROS 2 bridge plugin not built; every other discovery mode still works"
  exit 0
fi
rustc_version="$("$(dirname "$(command -v "$cargo")")/rustc" --version 2>/dev/null || rustc --version)"
want="zenoh=$ZENOH_VERSION rustc=${rustc_version#rustc }"
stamp="$dest/lib/zenoh-versions.txt"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dest/bin/zenohd" ] \
   && [ -f "$dest/lib/libzenoh_plugin_ros2dds.so" ]; then
  say "built already ($want) in $dest"
  exit 0
fi
mkdir -p "$dest/bin" "$dest/lib"
cache="${OVERLAY_BUILD_CACHE:-$HOME/.cache/overlay_bringup}/zenoh-$ZENOH_VERSION-$(printf '%s' "$rustc_version" | sha256sum | cut -c1-12)"
if [ -x "$cache/zenohd" ] && [ -f "$cache/libzenoh_plugin_ros2dds.so" ]; then
  cp "$cache/zenohd" "$dest/bin/zenohd"
  cp "$cache/libzenoh_plugin_ros2dds.so" "$dest/lib/"
  echo "$want" > "$stamp"
  say "copied the cached build ($want) from $cache"
  exit 0
fi
start=$(date +%s)
if ! "$dest/bin/zenohd" --version 2>/dev/null | grep -q "v$ZENOH_VERSION"; then
  say "cargo install zenohd $ZENOH_VERSION (first build: about 6 minutes on 2 cores)"
  "$cargo" install --quiet --locked zenohd --version "=$ZENOH_VERSION" --root "$dest/zenoh-build/zenohd"
  cp "$dest/zenoh-build/zenohd/bin/zenohd" "$dest/bin/zenohd"
fi
work="$dest/zenoh-build"
mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "overlay-fetch-ros2dds"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
zenoh-plugin-ros2dds = "=$ZENOH_VERSION"
TOML
: > "$work/fetch/src/lib.rs"
say "cargo fetch zenoh-plugin-ros2dds $ZENOH_VERSION (its source, from the crate registry)"
(cd "$work/fetch" && "$cargo" fetch --quiet)
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
source_dir="$(find "$registry" -maxdepth 2 -type d -name "zenoh-plugin-ros2dds-$ZENOH_VERSION" | head -1)"
[ -n "$source_dir" ] || { echo "zenoh: the crate source of zenoh-plugin-ros2dds $ZENOH_VERSION was not unpacked" >&2; exit 1; }
rm -rf "$work/plugin" && cp -r "$source_dir" "$work/plugin"
command -v cmake >/dev/null || { echo "zenoh: cmake missing (apt-get install cmake libclang-dev)" >&2; exit 1; }
say "cargo build --release zenoh-plugin-ros2dds (first build: about 6 minutes; builds Cyclone DDS)"
(cd "$work/plugin" && "$cargo" build --quiet --release --lib)
cp "$work/plugin/target/release/libzenoh_plugin_ros2dds.so" "$dest/lib/"
echo "$want" > "$stamp"
mkdir -p "$cache" && cp "$dest/bin/zenohd" "$dest/lib/libzenoh_plugin_ros2dds.so" "$cache/"
rm -rf "$work"  # 2-3 GB of build artefacts
say "built in $(( $(date +%s) - start )) s into $dest"
