#!/usr/bin/env bash
# Sets up (idempotent), builds, and runs the whole test suite with colcon: unit tests, the
# message round trip between two rclpy processes, launch tests, and lab tests over real
# WireGuard (those need root). Exits non-zero exactly when a test fails or no test ran.
# Extra arguments go to pytest (e.g. -k lab, -x). OVERLAY_TEST_WORKERS (default 2) test
# processes run one test file each at a time; 1 runs everything in one process.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/as_root.sh
source "$repo/tools/as_root.sh"
bash "$repo/tools/setup.sh"
# shellcheck disable=SC1091
set +u  # the colcon setup scripts read unset variables
source "$repo/tools/env.sh"
set -u
cd "$repo"
start=$(date +%s)
workers="${OVERLAY_TEST_WORKERS:-2}"
case "$workers" in
  ''|*[!0-9]*|0) echo "test.sh: OVERLAY_TEST_WORKERS=$workers is not a whole number >= 1" >&2; exit 2 ;;
esac
parallel=()
[ "$workers" -gt 1 ] && parallel=(-n "$workers" --dist loadfile)
set +e
colcon test --packages-select overlay_bringup --return-code-on-test-failure \
  --event-handlers console_direct+ --pytest-args -ra "${parallel[@]}" "$@"
rc=$?
set -e
colcon test-result --all --verbose | tail -n 25 || true
totals=$(colcon test-result --all 2>/dev/null | grep -E '^Summary:' || true)
echo "test.sh: ${totals:-no test results} ($(( $(date +%s) - start )) s)"
if [ "$rc" -eq 0 ] && ! echo "$totals" | grep -qE 'Summary: [1-9][0-9]* tests'; then
  echo "test.sh: no test ran: that is a failure" >&2
  exit 1
fi
# no test key (they all contain TESTONLY) may reach any log written during this run
python "$repo/tools/check_secrets.py" "$(( $(date +%s) - start + 60 ))" || rc=1
exit "$rc"
