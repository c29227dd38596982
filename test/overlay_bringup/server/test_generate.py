"""generate's pure render step: files from an inventory, nothing written, same every time."""
import os

from overlay_bringup.server.generate import render_files, write_deployment
from overlay_bringup.server.inventory import load_inventory
from overlay_testing import REPO

EXAMPLE = load_inventory(REPO / "config" / "fleet.example.yaml")


def test_render_files_returns_every_file_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = render_files(EXAMPLE)
    assert {"config.yaml", "policy.hujson", "headscale.service", "prometheus/prometheus.yml",
            "bundles/team-a/README.md"} <= set(files)
    assert files == render_files(EXAMPLE)  # deterministic
    assert os.listdir(tmp_path) == []


def test_write_deployment_changes_nothing_the_second_time(tmp_path):
    first = write_deployment(EXAMPLE, tmp_path / "out")
    assert any(line.startswith("wrote ") for line in first.lines)
    second = write_deployment(EXAMPLE, tmp_path / "out")
    assert second.lines and all(line.startswith("kept ") for line in second.lines)
    assert all(cert.reused for _, cert in second.certs)
