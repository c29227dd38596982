"""ament_python package overlay_lab: the lab (for developers and CI; robots do not install it)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "overlay_lab"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["overlay_lab", "overlay_lab.*"]),
    package_data={"overlay_lab": ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="overlay_bringup maintainers",
    maintainer_email="maintainers@overlay-bringup.dev",
    description="The lab of overlay_bringup: namespace robots on real WireGuard or Tailscale.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "overlay-lab = overlay_lab.cli:main",
            "overlay-chatter = overlay_lab.chatter:main",
        ],
    },
)
