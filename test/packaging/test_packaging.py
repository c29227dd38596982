"""Both packages are found, typed and built by colcon, also from a clean clone in a workspace."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from overlay_testing import REPO, skip_or_fail


def _colcon() -> str:
    found = shutil.which("colcon")
    if found is None:
        skip_or_fail("colcon not on PATH (source tools/env.sh)")
    return str(found)


def test_package_xml_files_are_format_3_with_valid_metadata():
    catkin_pkg = pytest.importorskip("catkin_pkg.package")
    for path in (REPO / "package.xml", REPO / "overlay_msgs" / "package.xml",
                 REPO / "overlay_lab" / "package.xml"):
        package = catkin_pkg.parse_package(str(path))
        package.validate()
        assert package.package_format == 3, path
        assert package.licenses == ["Apache-2.0"]


def test_colcon_finds_the_three_packages_with_their_ros_build_types():
    out = subprocess.run([_colcon(), "list"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    types = dict(re.findall(r"^(\S+)\t\S+\t\((\S+)\)$", out, re.MULTILINE))
    assert types == {"overlay_bringup": "ros.ament_python", "overlay_msgs": "ros.ament_cmake",
                     "overlay_lab": "ros.ament_python"}


def test_every_console_script_points_at_a_main_function():
    import importlib

    text = (REPO / "setup.py").read_text() + (REPO / "overlay_lab" / "setup.py").read_text()
    scripts = re.findall(r'"([a-z-]+) = ([\w.]+):(\w+)"', text)
    assert scripts, "setup.py declares no console scripts"
    for name, module, function in scripts:
        assert callable(getattr(importlib.import_module(module), function)), name


@pytest.mark.slow
def test_clean_clone_in_a_workspace_src_builds_both_packages(tmp_path):
    """The path a user with ROS from apt takes on a robot: clone into src/, build with plain
    colcon. The lab (overlay_lab) is not built there: robots do not install it."""
    colcon = _colcon()
    if not (REPO / ".git").exists():
        skip_or_fail("not a git checkout")
    src = tmp_path / "ws" / "src"
    subprocess.run(["git", "clone", "-q", str(REPO), str(src / "overlay_bringup")], check=True)
    env = dict(os.environ)
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        env["AMENT_PREFIX_PATH"] = os.pathsep.join(filter(None, [env.get("AMENT_PREFIX_PATH"), venv]))
    result = subprocess.run(
        [colcon, "build", "--base-paths", "src", "src/overlay_bringup/overlay_msgs",
         "--cmake-args", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path / "ws", env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / "ws" / "install"
    assert (install / "overlay_msgs" / "share" / "overlay_msgs" / "msg" / "PeerStatus.msg").exists()
    assert (install / "overlay_bringup" / "lib" / "overlay_bringup" / "overlay-join").exists()
    assert not list(install.rglob("overlay-lab"))
    assert "Summary: 2 packages finished" in result.stdout
    assert Path(install / "overlay_bringup" / "share" / "overlay_bringup" / "package.xml").exists()


def test_rqt_plugin_is_registered_and_points_at_a_real_class():
    import xml.etree.ElementTree as ET

    exports = ET.parse(REPO / "package.xml").getroot().find("export")
    assert exports.find("rqt_gui").get("plugin") == "${prefix}/plugin.xml"
    plugin = ET.parse(REPO / "plugin.xml").getroot().find("class")
    module, _, name = plugin.get("type").rpartition(".")
    assert plugin.get("base_class_type") == "rqt_gui_py::Plugin"
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    assert f"class {name}(Plugin)" in source
    assert "plugin.xml" in (REPO / "setup.py").read_text()
