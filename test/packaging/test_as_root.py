"""The README's two commands work as root without sudo and as a user with sudo: tools/demo.sh
and tools/test.sh source tools/as_root.sh, which runs the script again through sudo (keeping
PATH, which sudo's secure_path would drop) when not root, or says in one line what to do."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from overlay_testing import REPO

AS_ROOT = REPO / "tools" / "as_root.sh"


def _script(tmp_path):
    script = tmp_path / "needs-root.sh"
    script.write_text(f'#!/usr/bin/env bash\nsource "{AS_ROOT}"\necho "ran as $(id -u): $*"\n')
    script.chmod(0o755)
    tmp_path.chmod(0o755)
    return script


def _as_nobody(argv, path):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "env", f"PATH={path}", *argv], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def world():
    """A folder another user can read (pytest's own tmp folders are root's only)."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="ovl-as-root-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_as_root_the_script_just_runs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("this case is about root")
    result = subprocess.run([str(_script(tmp_path)), "a", "b"], capture_output=True, text=True,
                            env={**os.environ, "PATH": "/usr/bin:/bin"})  # no sudo needed
    assert result.returncode == 0 and result.stdout == "ran as 0: a b\n", result.stderr


def test_a_user_with_sudo_runs_it_again_through_sudo_with_this_path(world):
    tmp_path = world
    fake = tmp_path / "bin"
    fake.mkdir()
    record = tmp_path / "sudo-argv"
    (fake / "sudo").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    (fake / "sudo").chmod(0o755)
    record.touch()
    record.chmod(0o666)
    path = f"{fake}:/usr/bin:/bin"
    result = _as_nobody([str(_script(tmp_path)), "x"], path)
    assert result.returncode == 0, result.stderr
    assert record.read_text().splitlines() == ["-E", "env", f"PATH={path}", "bash",
                                               str(_script(tmp_path)), "x"]


def test_a_user_without_sudo_gets_one_line_and_exit_1(world):
    no_sudo = world / "bin"
    no_sudo.mkdir()
    for tool in ("bash", "id", "basename", "env", "echo"):  # a PATH with everything but sudo
        found = shutil.which(tool)
        if found:
            (no_sudo / tool).symlink_to(found)
    result = _as_nobody([str(_script(world))], str(no_sudo))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs root" in lines[0] and "sudo is not installed" in lines[0]


@pytest.mark.parametrize("script", ["demo.sh", "test.sh"])
def test_the_readme_scripts_use_it(script):
    text = (REPO / "tools" / script).read_text()
    assert 'source "$repo/tools/as_root.sh"' in text
    assert text.index("as_root.sh") < text.index("setup.sh")
