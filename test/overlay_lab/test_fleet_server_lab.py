"""The fleet server verbs against the real headscale of a lab (two robots joined):
one named error per API-key problem, rotate-keys, backup while running and restore after an
outage, apply converging on a changed inventory, and a 3-team, 12-robot generate + apply."""
import json
import subprocess
import time

import pytest
import yaml

from overlay_bringup.server.tls import ensure_ca
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv, set_server
from overlay_lab.services import api_key_file, inventory_file, server_out
from overlay_lab.state import lab_dir
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("ofs")


@pytest.fixture(scope="module")
def fleet_lab():
    real_components_preconditions()
    result = lab_up(plan_lab(2, PREFIX, overlay="tailscale", campus="restrictive"))
    yield result.state
    lab_down(PREFIX)


def _in_server(state, argv, timeout=120):
    return subprocess.run(["ip", "netns", "exec", state.server_namespace, *argv],
                          capture_output=True, text=True, timeout=timeout)


def _server_cli(state, verb, *args, key_file=None, ca_file=None, url=None):
    """``overlay-server VERB`` in the server namespace, with the lab's key, CA and URL unless
    told otherwise."""
    ca = ca_file or server_out(PREFIX) / "tls" / "ca.crt"
    return _in_server(state, [*overlay_cli("overlay-server"), verb, "--url",
                              url or state.server_url, "--api-key-file",
                              str(key_file or api_key_file(PREFIX)), "--ca-file", str(ca),
                              *args])


def _headscale(state, *args):
    from overlay_bringup.components import find_component

    config = server_out(PREFIX) / "config.yaml"
    return _in_server(state, [str(find_component("headscale")), *args, "-c", str(config)])


def _secret(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_api_key_problems_each_get_one_named_error(fleet_lab, tmp_path):
    state = fleet_lab
    well_formed = "hskey-api-AAAAAAAAAAAA-" + "B" * 64
    made = _headscale(state, "apikeys", "create", "-e", "1d")
    expired_key = made.stdout.strip().splitlines()[-1]
    prefix = expired_key.rsplit("-", 1)[0]
    assert _headscale(state, "apikeys", "expire", "--prefix", prefix).returncode == 0
    other_ca = ensure_ca(tmp_path / "other-ca", "not-the-fleet")
    cases = {
        "missing key file": ({"key_file": tmp_path / "nowhere.key"}, 2,
                             "cannot read the API key (No such file or directory)"),
        "not an API key": ({"key_file": _secret(tmp_path, "junk.key", "password123")}, 7,
                           "does not hold an API key"),
        "wrong key": ({"key_file": _secret(tmp_path, "wrong.key", well_formed)}, 7,
                      "rejected the API key (HTTP 401): it is wrong or expired"),
        "expired key": ({"key_file": _secret(tmp_path, "expired.key", expired_key)}, 7,
                        "rejected the API key (HTTP 401): it is wrong or expired"),
        "untrusted certificate": ({"ca_file": other_ca.path}, 8, "TLS certificate not trusted"),
    }
    secrets = [well_formed, expired_key, "password123",
               api_key_file(PREFIX).read_text().strip()]
    for name, (override, code, text) in cases.items():
        result = _server_cli(state, "status", **override)
        assert (result.returncode, text in result.stderr) == (code, True), (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
        assert not any(s in result.stdout + result.stderr for s in secrets), name
    set_server(PREFIX, up=False)
    try:
        down = _server_cli(state, "status")
        assert down.returncode == 3 and "cannot connect" in down.stderr, down.stderr
    finally:
        set_server(PREFIX, up=True)
    assert _server_cli(state, "status").returncode == 0


def _keys(state):
    listed = _headscale(state, "preauthkeys", "list", "-o", "json")
    return {k["id"]: k for k in json.loads(listed.stdout)}


def test_rotate_keys_on_the_real_server(fleet_lab):
    state = fleet_lab
    bundle = server_out(PREFIX) / "bundles" / "lab"
    old_id = json.loads((bundle / "key.json").read_text())["id"]
    old_key = (bundle / "auth.key").read_text()
    rotated = _server_cli(state, "rotate-keys", "--inventory",
                          str(inventory_file(PREFIX)), "--out",
                          str(server_out(PREFIX)), "--team", "lab")
    assert rotated.returncode == 0, rotated.stderr
    new_id = json.loads((bundle / "key.json").read_text())["id"]
    assert new_id != old_id and (bundle / "auth.key").read_text() != old_key
    assert f"expired key {old_id} on the server" in rotated.stdout
    keys = _keys(state)
    assert keys[old_id]["expiration"]["seconds"] <= time.time() + 1
    assert keys[new_id]["expiration"]["seconds"] > time.time() + 3600
    assert old_key.strip() not in rotated.stdout + rotated.stderr


def _names_ips(nodes):
    return sorted((n["name"], tuple(n["addresses"])) for n in nodes)


def test_backup_while_running_and_restore_after_an_outage(fleet_lab, tmp_path):
    state = fleet_lab
    before = json.loads(_server_cli(state, "status", "--json").stdout)
    archive = tmp_path / "backup.tar.gz"
    backup = _in_server(state, [*overlay_cli("overlay-server"), "backup", "--config",
                                str(server_out(PREFIX) / "config.yaml"), "--bundles",
                                str(server_out(PREFIX) / "bundles"), "--out", str(archive)])
    assert backup.returncode == 0, backup.stderr
    assert archive.stat().st_mode & 0o077 == 0
    set_server(PREFIX, up=False)
    database = lab_dir(PREFIX) / "server" / "root" / "var" / "lib" / "headscale"
    for path in database.glob("db.sqlite*"):
        path.unlink()  # the outage lost the database
    restored = _in_server(state, [*overlay_cli("overlay-server"), "restore", "--backup",
                                  str(archive)])
    assert restored.returncode == 0, restored.stderr
    set_server(PREFIX, up=True)
    after = json.loads(_server_cli(state, "status", "--json").stdout)
    assert [n["name"] for n in before] == ["r1", "r2"]
    assert _names_ips(after) == _names_ips(before)
    ping = robot_exec_argv(state, "r1", ["tailscale", "ping", "-c", "5", "--until-direct=false",
                                         state.robot("r2").tailscale_ips[0]])
    assert "pong from r2" in subprocess.run(ping, capture_output=True, text=True,
                                            timeout=60).stdout


def test_apply_converges_on_a_changed_inventory(fleet_lab, tmp_path):
    state = fleet_lab
    inventory = inventory_file(PREFIX)
    raw = yaml.safe_load(inventory.read_text())
    raw["teams"].append({"name": "lab2", "robots": ["x1"], "ros_domain_id": 12})
    bigger = tmp_path / "bigger.yaml"
    bigger.write_text(yaml.safe_dump(raw))
    args = ("--out", str(server_out(PREFIX)))
    grown = _server_cli(state, "apply", "--inventory", str(bigger), *args)
    assert grown.returncode == 0, grown.stderr
    assert "changed: issued key" in grown.stdout and "for team lab2 (tag:lab2" in grown.stdout
    assert "changed: uploaded the policy" in grown.stdout and '+ "tag:lab2:*"' in " ".join(
        grown.stdout.split())
    shrunk = _server_cli(state, "apply", "--inventory", str(inventory), *args)
    assert "(tag:lab2): its team is no longer in the inventory" in shrunk.stdout, shrunk.stdout
    again = _server_cli(state, "apply", "--inventory", str(inventory), *args)
    assert "nothing to change: the server matches the inventory" in again.stdout
    print(f"grown:\n{grown.stdout}\nshrunk:\n{shrunk.stdout}")


def test_generate_and_apply_three_teams_of_four_robots(fleet_lab, tmp_path):
    state = fleet_lab
    raw = yaml.safe_load((inventory_file(PREFIX)).read_text())
    raw["teams"] = [{"name": f"team{i}", "robots": [f"t{i}r{j}" for j in range(1, 5)],
                     "ros_domain_id": 20 + i} for i in range(1, 4)]
    raw["people"] = [{"name": "ana", "teams": ["team1", "team2"]},
                     {"name": "ben", "teams": ["team3"]}]
    fleet = tmp_path / "fleet12.yaml"
    fleet.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    start = time.monotonic()
    generated = _in_server(state, [*overlay_cli("overlay-server"), "generate", "--inventory",
                                   str(fleet), "--out", str(out)])
    generate_s = time.monotonic() - start
    assert generated.returncode == 0, generated.stderr
    start = time.monotonic()
    applied = _server_cli(state, "apply", "--inventory", str(fleet), "--out", str(out))
    apply_s = time.monotonic() - start
    try:
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.count("changed: issued key") == 4  # 3 teams + monitoring host
        assert all((out / "bundles" / f"team{i}" / "auth.key").exists() for i in range(1, 4))
    finally:  # the lab's own inventory back (its robots' policy)
        _server_cli(state, "apply", "--inventory",
                    str(inventory_file(PREFIX)), "--out",
                    str(server_out(PREFIX)))
    print(f"3 teams, 12 robots, 2 people: generate {generate_s:.2f} s, apply {apply_s:.2f} s "
          "(both including the CLI's start-up)")
