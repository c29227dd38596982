"""Where the real overlay programs are: the one function that finds tailscale, tailscaled,
derper and headscale (built by tools/build_components.sh, or installed on the system), and
zenohd with its ROS 2 plugin (tools/build_zenoh.sh)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from overlay_monitor.errors import ComponentMissing

COMPONENTS = ("tailscale", "tailscaled", "derper", "headscale", "zenohd")
#: the zenoh ROS 2 plugin library, and the stamp tools/build_zenoh.sh writes next to it
ZENOH_PLUGIN = "libzenoh_plugin_ros2dds.so"
ZENOH_STAMP = "zenoh-versions.txt"
#: set by tools/env.sh to <repo>/.components/bin when the pinned versions are built
COMPONENTS_ENV = "OVERLAY_COMPONENTS_BIN"


def find_component(name: str) -> Path | None:
    """The program ``name``: from $OVERLAY_COMPONENTS_BIN first, then from PATH; None if absent."""
    if name not in COMPONENTS:
        raise ValueError(f"{name!r} is not one of {', '.join(COMPONENTS)}")
    folder = os.environ.get(COMPONENTS_ENV, "")
    if folder:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def old_tailscale() -> tuple[Path, Path] | None:
    """tailscale and tailscaled of TAILSCALE_OLD_VERSION (older than the server accepts), as
    tools/build_components.sh builds them next to the pinned ones; None when not built."""
    folder = os.environ.get(COMPONENTS_ENV, "")
    if not folder:
        return None
    old = Path(folder).parent / "old" / "bin"
    pair = (old / "tailscale", old / "tailscaled")
    return pair if all(os.access(p, os.X_OK) for p in pair) else None


def require_components(*names: str) -> dict[str, Path]:
    """Every named program, or one error that lists what is missing and how to get it."""
    found = {name: find_component(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ComponentMissing(
            f"{', '.join(missing)} not found (looked in ${COMPONENTS_ENV} and PATH): build the "
            "pinned versions with tools/build_components.sh (needs Go), then source tools/env.sh")
    return {name: path for name, path in found.items() if path is not None}


def zenoh_plugin_dir(zenohd: Path) -> Path | None:
    """The folder with the ros2dds plugin that belongs to this zenohd (the lib/ next to its
    bin/, as tools/build_zenoh.sh installs them), or None (zenohd's own search path)."""
    folder = zenohd.resolve().parent.parent / "lib"
    return folder if (folder / ZENOH_PLUGIN).is_file() else None


def zenoh_mismatch(zenohd_version: str, stamp: str) -> str:
    """Why a zenohd cannot load the plugin its stamp describes ("" when they match). Pure.

    ``zenohd_version`` is ``zenohd --version`` ("zenohd v1.10.2 built with rustc 1.95.0 (…)");
    ``stamp`` is the plugin's zenoh-versions.txt ("zenoh=1.10.2 rustc=1.95.0 (…)"). zenohd
    loads a plugin only when both come from one zenoh version and one compiler."""
    have = re.search(r"v(\d+\.\d+\.\d+)\S* built with rustc (\S+)", zenohd_version)
    want = re.search(r"zenoh=(\S+) rustc=(\S+)", stamp)
    if not have or not want:
        return (f"cannot tell the versions apart (zenohd says {zenohd_version.strip()!r}, "
                f"the plugin's stamp {stamp.strip()!r})")
    if have.groups() != want.groups():
        return (f"zenohd is {have[1]} built with rustc {have[2]}, but the ros2dds plugin is "
                f"{want[1]} built with rustc {want[2]}: zenohd would refuse it; build both "
                "with tools/build_zenoh.sh")
    return ""
