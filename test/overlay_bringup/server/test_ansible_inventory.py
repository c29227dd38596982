"""overlay-server generate's Ansible inventory: groups and host variables from the fleet
inventory, no secrets, and hosts removed from the inventory are found."""
import yaml

from overlay_bringup.server.ansible_inventory import (
    ansible_inventory,
    group_name,
    inventory_hosts,
    render_ansible_inventory,
)
from overlay_bringup.server.inventory import load_inventory
from overlay_testing import inventory_path


def test_groups_and_host_vars_come_from_the_inventory():
    inv = load_inventory(inventory_path("fleet.example.yaml"))
    data = ansible_inventory(inv)
    children = data["all"]["children"]
    assert list(children["headscale_servers"]["hosts"]) == [inv.fqdn]
    assert list(children["monitoring"]["hosts"]) == [inv.fqdn]
    teams = children["robots"]["children"]
    assert set(teams) == {group_name(t.name) for t in inv.teams} == {"team_team_a", "team_team_b"}
    robot2 = teams["team_team_a"]["hosts"]["robot2"]
    assert robot2 == {"overlay_hostname": "robot2", "overlay_team": "team-a",
                      "overlay_tags": ["tag:team-a"], "overlay_bundle": "bundles/team-a",
                      "overlay_discovery": "fastdds-peers", "overlay_ros_domain_id": 10}
    relay = children["peer_relays"]["hosts"]["dmz-relay"]
    assert relay["overlay_relay_port"] == 40641 and relay["overlay_tags"] == ["tag:relay-dmz-relay"]
    assert children["derp_hosts"]["hosts"]["derp-library.lab.example.edu"]["overlay_derp_code"] \
        == "library"
    shared = data["all"]["vars"]
    assert shared["overlay_login_server"] == inv.server_url
    assert shared["overlay_guard_route"] == ["route", "replace", "unreachable", "100.64.0.0/10",
                                             "metric", "4000"]


def test_the_rendered_inventory_parses_and_holds_no_key():
    inv = load_inventory(inventory_path("fleet.example.yaml"))
    text = render_ansible_inventory(inv)
    assert yaml.safe_load(text) == ansible_inventory(inv)
    assert "hskey" not in text and "auth.key" not in text and "BEGIN" not in text
    assert inventory_hosts(text) == {inv.fqdn, "robot1", "robot2", "robot3", "rover1", "rover2",
                                     "dmz-relay", "derp-library.lab.example.edu"}


def test_generate_writes_the_inventory_and_a_copy_of_the_fleet_file(tmp_path):
    import subprocess

    from overlay_testing import overlay_cli

    source = inventory_path("fleet.example.yaml")
    out = tmp_path / "out"
    done = subprocess.run([*overlay_cli("overlay-server"), "generate", "--inventory",
                           str(source), "--out", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert (out / "fleet.yaml").read_bytes() == source.read_bytes()
    assert inventory_hosts((out / "ansible" / "inventory.yml").read_text())
    again = subprocess.run([*overlay_cli("overlay-server"), "generate", "--inventory",
                            str(source), "--out", str(out)], capture_output=True, text=True,
                           timeout=60)
    assert f"kept {out / 'ansible' / 'inventory.yml'} (unchanged)" in again.stdout
    assert f"kept {out / 'fleet.yaml'} (unchanged)" in again.stdout
