"""After the test suite: no test key may appear in any log the suite produced.

The tests use made-up keys that all contain "TESTONLY" (auth keys, API keys). They are written
to 0600 key files on purpose; they must never reach a log: ROS logs (~/.ros/log and $ROS_LOG_DIR),
colcon's test logs (log/), launch logs, or the lab's process logs. Prints what it checked;
exits 1 naming each file that holds one.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

MARKER = b"TESTONLY"
TEXT_SUFFIXES = {".log", ".txt", ".xml", ""}


def log_roots(repo: Path) -> list[Path]:
    roots = [repo / "log", Path.home() / ".ros" / "log", Path("/run/overlay-lab")]
    if os.environ.get("ROS_LOG_DIR"):
        roots.append(Path(os.environ["ROS_LOG_DIR"]))
    return [root for root in roots if root.exists()]


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    since = time.time() - float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    checked, leaks = 0, []
    for root in log_roots(repo):
        for path in root.rglob("*"):
            if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
                continue
            try:
                if path.stat().st_mtime < since or path.stat().st_size > 50 * 2**20:
                    continue
                checked += 1
                if MARKER in path.read_bytes():
                    leaks.append(path)
            except OSError:
                continue
    print(f"check_secrets: {checked} log file(s) searched for test keys, {len(leaks)} leak(s)")
    for path in leaks:
        print(f"check_secrets: a test key appears in {path}", file=sys.stderr)
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
