"""The suite's date-sensitive parts pass with the clock moved years ahead.

A test that compares a date literal with "now" passes until that date and fails every day
after (it happened: CI went red on 2026-12-01). This test runs the tests that start no real
component and no lab under libfaketime (Debian's ``faketime``), which moves the wall clock of
the pytest process *and* of every process it starts (the CLI tests run our commands as
subprocesses), so such a literal fails here years before its day comes. The monotonic clock
moves by the same offset (exempting it breaks Python 3.11's ``time.sleep``, which sleeps until
an absolute monotonic time: EINVAL), so timeouts and sleeps behave as usual.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from overlay_testing import REPO

#: how far ahead: past every expiry the tests and stand-ins use (90 days, 1 year, ...)
YEARS_AHEAD = 4
#: modules whose behaviour depends on the date: key expiries, "last seen", report times, TLS
DATE_SENSITIVE = (
    "test/overlay_bringup/server",
    "test/overlay_bringup/join",
    "test/overlay_monitor/test_tailscale_status.py",
    "test/overlay_monitor/test_real_fixtures.py",
    "test/overlay_monitor/test_status_cli.py",
    "test/overlay_monitor/test_monitor_engine.py",
    "test/overlay_monitor/test_health.py",
    "test/overlay_monitor/test_tracker.py",
    "test/overlay_monitor/test_watch.py",
    "test/overlay_monitor/test_peer_table_model.py",
    "test/overlay_monitor/test_localapi_client.py",
    "test/overlay_monitor/linktest",
)


def _libfaketime() -> str | None:
    for candidate in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                      "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                      "/usr/lib/faketime/libfaketime.so.1"):
        if Path(candidate).exists():
            return candidate
    return None


@pytest.mark.slow
def test_date_sensitive_tests_pass_years_ahead(tmp_path):
    library = _libfaketime()
    if library is None:
        pytest.fail("libfaketime missing: install the Debian package faketime (tools/setup.sh does)")
    ahead = timedelta(days=365 * YEARS_AHEAD + 1)
    env = dict(os.environ, LD_PRELOAD=library, FAKETIME=f"+{ahead.days}d",
               FAKETIME_DONT_RESET="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)  # colcon's --pytest-args (e.g. -n 2) are not for this run
    # the clock really moved, in a child of a child too
    probe = subprocess.run([sys.executable, "-c", "import subprocess, sys; subprocess.run("
                            "[sys.executable, '-c', 'import time; print(int(time.time()))'])"],
                           capture_output=True, text=True, env=env, timeout=30, check=True)
    moved = datetime.fromtimestamp(int(probe.stdout), timezone.utc) - datetime.now(timezone.utc)
    assert abs(moved - ahead) < timedelta(hours=1), moved
    report = tmp_path / "ahead.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not lab and not real and not slow",
         f"--junitxml={report}", *DATE_SENSITIVE],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    tail = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0, f"with the clock {YEARS_AHEAD} years ahead:\n{tail}"
    summary = [line for line in result.stdout.splitlines() if " passed" in line]
    assert summary, tail
    print(f"clock +{YEARS_AHEAD} years: {summary[-1].strip()}")
    assert shutil.which("faketime") is not None  # the package, not just a leftover library
