"""Every config `overlay-server generate` makes passes the real `headscale configtest` (the pinned version),
with no warning: for every inventory in config/ and a database-mode variant."""
import subprocess
from pathlib import Path

import pytest
import yaml

from overlay_bringup.components import find_component
from overlay_testing import INVENTORY_DIRS, REPO, inventory_path, overlay_cli, skip_or_fail

pytestmark = pytest.mark.real
INVENTORIES = sorted(p for folder in INVENTORY_DIRS for p in folder.glob("*fleet*.yaml"))


def _database_mode(tmp_path: Path) -> Path:
    raw = yaml.safe_load((REPO / "config" / "fleet.example.yaml").read_text())
    raw["server"]["policy_mode"] = "database"
    path = tmp_path / "database.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("name", [p.name for p in INVENTORIES] + ["fleet.example.yaml+database"])
def test_generated_config_passes_headscale_configtest_without_warnings(tmp_path, name):
    headscale = find_component("headscale")
    if headscale is None:
        skip_or_fail("headscale not built (tools/build_components.sh; needs Go)")
    inventory = _database_mode(tmp_path) if name.endswith("+database") else inventory_path(name)
    root = tmp_path / "root"
    out = root / "etc" / "headscale"
    for sub in ("var/lib/headscale", "var/run/headscale"):
        (root / sub).mkdir(parents=True)
    generated = subprocess.run([*overlay_cli("overlay-server"), "generate", "--inventory",
                                str(inventory), "--out", str(out), "--root", str(root)],
                               capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    result = subprocess.run([str(headscale), "configtest", "-c", str(out / "config.yaml")],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for word in ("WRN", "deprecated", "unknown", "ERR"):
        assert word not in output, output
