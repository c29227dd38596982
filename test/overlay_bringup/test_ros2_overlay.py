"""``ros2 overlay VERB``: the real ros2 command (vendored ros2cli) finds our extension, and each
verb gives what its console script gives: same output, same exit codes."""
import json
import shutil
import subprocess

import pytest

from overlay_bringup.ros2cli.verbs import VERBS, verb_argv
from overlay_testing import FIXTURES, REPO, overlay_cli, skip_or_fail

STATUS = FIXTURES / "tailscale" / "status_1.90_running.json"


def _ros2(*args):
    ros2 = shutil.which("ros2")
    if ros2 is None:
        skip_or_fail("ros2 (ros2cli) not on PATH (source tools/env.sh)")
    return subprocess.run([ros2, "overlay", *args], capture_output=True, text=True, timeout=60)


def test_ros2_overlay_lists_every_verb():
    result = _ros2("--help")
    assert result.returncode == 0, result.stderr
    for verb in VERBS:
        assert verb in result.stdout
    listed = subprocess.run([shutil.which("ros2"), "--help"], capture_output=True, text=True)
    assert "overlay" in listed.stdout


def test_ros2_overlay_status_reports_like_ros2_doctor():
    result = _ros2("status", "--from-file", str(STATUS))
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(f"{len(lines) - 1} check(s): ")
    assert any(line.startswith("ERROR") and "robot5" in line for line in lines), result.stdout
    assert result.returncode == 1  # an offline peer is an ERROR: the report fails


def test_ros2_overlay_status_json_is_overlay_status_json():
    ours = _ros2("status", "--from-file", str(STATUS), "--json")
    script = subprocess.run([*overlay_cli("overlay-status"), "--from-file", str(STATUS),
                             "--json"], capture_output=True, text=True, timeout=60)
    assert ours.returncode == script.returncode == 0
    assert json.loads(ours.stdout)["peers"] == json.loads(script.stdout)["peers"]


def test_ros2_overlay_server_check_and_its_errors():
    good = _ros2("server", "check", "--inventory", str(REPO / "config" / "fleet.example.yaml"))
    assert good.returncode == 0 and "OK (2 teams" in good.stdout, good.stderr
    missing = _ros2("server", "check", "--inventory", "/nonexistent/fleet.yaml")
    assert missing.returncode == 2 and "/nonexistent/fleet.yaml" in missing.stderr


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_ros2_overlay_verb_help_is_the_scripts_help(verb):
    result = _ros2(verb, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: {VERBS[verb].script}" in result.stdout and "exit codes:" in result.stdout


def test_status_defaults_to_the_report_unless_another_output_is_asked():
    assert verb_argv("status", []) == ["--report"]
    assert verb_argv("status", ["--json"]) == ["--json"]
    assert verb_argv("server", ["check"]) == ["check"]
