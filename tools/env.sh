# Source this file (bash): puts the venv, the colcon install space and the overlay-* commands
# on your paths.   source tools/env.sh
_ovl_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ovl_venv="${OVERLAY_VENV:-$_ovl_repo/.venv}"
if [ ! -f "$_ovl_repo/install/setup.bash" ] || [ ! -x "$_ovl_venv/bin/python" ]; then
  echo "env.sh: not built yet: run tools/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
source "$_ovl_venv/bin/activate"
# shellcheck disable=SC1091
source "$_ovl_repo/install/setup.bash"
export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:$_ovl_venv"
export PATH="$_ovl_repo/install/overlay_bringup/lib/overlay_bringup:$_ovl_repo/install/overlay_lab/lib/overlay_lab:$PATH"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# the real tailscale, tailscaled, derper and headscale, when tools/build_components.sh built them
if [ -d "$_ovl_repo/.components/bin" ]; then
  export OVERLAY_COMPONENTS_BIN="$_ovl_repo/.components/bin"
  export PATH="$OVERLAY_COMPONENTS_BIN:$PATH"
fi
unset _ovl_repo _ovl_venv
