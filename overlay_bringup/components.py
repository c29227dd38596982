"""Where the real overlay programs are: the one function that finds tailscale, tailscaled,
derper and headscale (built by tools/build_components.sh, or installed on the system)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from overlay_monitor.errors import ComponentMissing

COMPONENTS = ("tailscale", "tailscaled", "derper", "headscale")
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


def require_components(*names: str) -> dict[str, Path]:
    """Every named program, or one error that lists what is missing and how to get it."""
    found = {name: find_component(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise ComponentMissing(
            f"{', '.join(missing)} not found (looked in ${COMPONENTS_ENV} and PATH): build the "
            "pinned versions with tools/build_components.sh (needs Go), then source tools/env.sh")
    return {name: path for name, path in found.items() if path is not None}
