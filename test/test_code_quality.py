"""One linter (ruff) over everything, and mypy --strict over both Python packages."""
import shutil
import subprocess
import sys

import pytest

from overlay_testing import REPO, skip_or_fail


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".venv" / "bin"))
    if found is None:
        skip_or_fail(f"{name} is not installed (pip install -r requirements-test.txt)")
    return str(found)


def test_ruff_finds_nothing():
    paths = [p for p in ("overlay_bringup", "overlay_monitor", "test", "launch", "bench", "tools",
                         "setup.py")
             if (REPO / p).exists()]
    result = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", *paths],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "overlay_monitor", "overlay_bringup"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
