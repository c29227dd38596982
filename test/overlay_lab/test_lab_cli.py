import subprocess

from overlay_testing import overlay_cli


def test_lab_cli_help_shows_examples():
    out = subprocess.run([*overlay_cli("overlay-lab"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "examples" in out and "  overlay-lab demo" in out and "exit codes:" in out
    for verb in ("up", "status", "exec", "down", "demo"):
        assert verb in out


def test_lab_cli_bad_impairment_is_one_line_and_exit_2():
    result = subprocess.run([*overlay_cli("overlay-lab"), "up", "--impair", "r2:delay=soon"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "overlay-lab: error: impairment 'r2:delay=soon': delay 'soon' is not a duration "
        "(expected e.g. 40ms, 0.5s)"]
