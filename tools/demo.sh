#!/usr/bin/env bash
# The main job on the built-in lab: sets up (idempotent), then runs `overlay-lab demo`:
# simulated robots behind a restrictive router, joined by real WireGuard tunnels.
# Needs root. Extra arguments go to `overlay-lab demo` (e.g. --robots 4 --impair r2:delay=40ms).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/as_root.sh
source "$repo/tools/as_root.sh"
bash "$repo/tools/setup.sh"
# shellcheck disable=SC1091
set +u  # the colcon setup scripts read unset variables
source "$repo/tools/env.sh"
set -u
exec overlay-lab demo "$@"
