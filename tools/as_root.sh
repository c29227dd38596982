# Sourced by the scripts that need root (demo.sh, test.sh): as root, nothing happens; as a user
# with sudo, the script runs itself again through sudo, keeping this PATH (sudo's secure_path
# would drop the venv's); without sudo, one line says what to do.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E env "PATH=$PATH" bash "$0" "$@"
  fi
  echo "$(basename "$0"): needs root (network namespaces, apt) and sudo is not installed: run it as root, e.g. su -c '$0 $*'" >&2
  exit 1
fi
