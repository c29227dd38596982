"""ament_python package overlay_bringup (installs overlay_bringup and overlay_monitor)."""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "overlay_bringup"


def _tree(top: str) -> list[tuple[str, list[str]]]:
    """data_files entries that install every file under ``top`` at share/<package>/<top>/…"""
    folders: dict[str, list[str]] = {}
    for path in sorted(Path(top).rglob("*")):
        if path.is_file():
            folders.setdefault(f"share/{PACKAGE}/{path.parent}", []).append(str(path))
    return list(folders.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["overlay_bringup", "overlay_bringup.*",
                                    "overlay_monitor", "overlay_monitor.*"]),
    package_data={"overlay_bringup": ["py.typed"], "overlay_monitor": ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml", "plugin.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", [f for f in glob("config/*") if Path(f).is_file()]),
        (f"share/{PACKAGE}/config/grafana", glob("config/grafana/*.json")),
        # the Ansible content: site.yml and every role's files, at the same relative paths
        *_tree("ansible"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="overlay_bringup maintainers",
    maintainer_email="maintainers@overlay-bringup.dev",
    description="ROS 2 over a self-hosted Tailscale/Headscale WireGuard overlay.",
    license="Apache-2.0",
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "overlay-status = overlay_monitor.status_cli:main",
            "overlay-server = overlay_bringup.server.cli:main",
            "overlay-discovery = overlay_bringup.discovery.cli:main",
            "overlay-join = overlay_bringup.join.cli:main",
            "overlay-linktest = overlay_monitor.linktest.cli:main",
            "overlay_monitor = overlay_monitor.nodes.monitor_node:main",
            "link_test = overlay_monitor.nodes.link_test_node:main",
            "topology_markers = overlay_monitor.nodes.topology_markers:main",
        ],
        "ros2cli.command": [
            "overlay = overlay_bringup.ros2cli.command:OverlayCommand",
        ],
    },
)
