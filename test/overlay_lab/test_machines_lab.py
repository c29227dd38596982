"""The fleet deployed the way a lab deploys it, on real components: Debian machines
(systemd-nspawn) for a server, three robots and a peer relay, provisioned by ``ansible-playbook
site.yml`` from a controller namespace over SSH, with the inventory ``overlay-server generate``
wrote. Then: the robot service runs as the non-root ROS user at boot, a talker started by a
unit on r1 reaches listeners on r2 and r3, a second run and a check run change nothing, a
rebooted robot and a rebooted server come back by themselves, a robot added to the inventory is
provisioned by one more run without touching the others, and a removed one is named.

Figures (printed at the end, not asserted against a clock): provisioning times, reboot to first
message, memory per machine, the changed= counts.
"""
import json
import shutil
import subprocess
import time

import psutil
import pytest

from overlay_lab import proc
from overlay_lab.machine_lab import add_robot, provision_lab, reboot, retire_robot, ssh_argv
from overlay_lab.machines import MACHINES, base_image
from overlay_lab.runner import lab_down, lab_up, require_state
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, real_components_preconditions, skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("omc")
FIGURES: dict[str, str] = {}
TALKER = "overlay-chatter talk --rate 10 --duration 86400"
ROS_USER = "robot"


def _on(state, host, argv, timeout=60.0, user="root"):
    """Run argv on a machine (as ``user``, with the ROS environment for the ROS user)."""
    namespace = {"server": state.server_namespace}.get(host) or state.robot(host).namespace
    if user != "root":
        argv = ["runuser", "-u", user, "--", "bash", "-c",
                ". /etc/overlay_bringup/ros-env.sh && exec \"$@\"", "sh", *argv]
    return proc.run_result(MACHINES.exec_argv(namespace, argv), timeout_s=timeout)


def _listen(state, host, seconds=8.0):
    done = _on(state, host, ["overlay-chatter", "listen", "--duration", str(seconds)],
               timeout=seconds + 60, user=ROS_USER)
    assert done.returncode == 0, done.stderr[-800:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory_mib(namespace):
    total = 0
    for pid in proc.pids_in(namespace):
        try:
            total += psutil.Process(pid).memory_full_info().pss
        except psutil.Error:
            continue
    return total / 2**20


def _wait_for(what, check, timeout_s=120.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout_s:g} s")


def _active(state, host, unit):
    return _on(state, host, ["systemctl", "is-active", unit]).stdout.strip() == "active"


def _record(key, result):
    FIGURES[key] = f"{result.seconds:.1f} s, " + ", ".join(
        f"{h.split('.')[0]} changed={n}" for h, n in result.changed.items())


@pytest.fixture(scope="module")
def lab():
    real_components_preconditions()
    for tool in ("systemd-nspawn", "ansible-playbook", "ssh"):
        if shutil.which(tool) is None:
            skip_or_fail(f"the machine lab needs {tool} (tools/setup.sh installs it)")
    try:
        base_image()
    except Exception as err:  # noqa: BLE001 - named in the skip
        skip_or_fail(str(err))
    start = time.monotonic()
    state = lab_up(plan_lab(3, PREFIX, overlay="machines", peer_relay=True), join=False).state
    FIGURES["machines up (5 boots)"] = f"{time.monotonic() - start:.1f} s"
    first = provision_lab(PREFIX, host_vars=[f"r1:overlay_robot_user_command={TALKER}"])
    _record("first run", first)
    state = require_state(PREFIX)  # with the overlay addresses provisioning read
    yield state, first
    lab_down(PREFIX)
    print("\nmachine lab figures: " + "; ".join(f"{k}: {v}" for k, v in FIGURES.items()))


def test_first_run_provisions_every_host_and_robots_run_as_the_ros_user(lab):
    state, first = lab
    assert set(first.changed) == {"headscale.lab.example.edu", "dmz", "r1", "r2", "r3"}
    assert all(n > 0 for n in first.changed.values()), first.changed
    for robot in ("r1", "r2", "r3"):
        for unit in ("tailscaled", "overlay-guard-route", "overlay-robot"):
            assert _active(state, robot, unit), f"{unit} on {robot}"
        owners = _on(state, robot, ["sh", "-c", "ps -o user= -p $(pgrep -d, -f [r]obot.launch.py)"
                                                " | sort -u"]).stdout.split()
        assert owners == [ROS_USER], owners
        route = _on(state, robot, ["ip", "route", "show", "type", "unreachable"]).stdout
        assert "100.64.0.0/10" in route and "metric 4000" in route
        joined = json.loads(_on(state, robot, ["cat", f"/home/{ROS_USER}/.ros/overlay_bringup/"
                                                      "overlay.json"]).stdout)
        assert joined["action"] == "nothing"  # the role joined; the service found it joined
        assert state.robot(robot).overlay_ip.startswith("100.64.")  # read from its tailscaled
    assert _active(state, "r1", "overlay-robot-user")
    memory = {ns.split("-", 1)[1]: _memory_mib(ns) for ns in
              [state.server_namespace, *(r.namespace for r in state.robots)]}
    FIGURES["memory (PSS)"] = ", ".join(f"{h} {m:.0f} MiB" for h, m in memory.items())


def test_a_talker_started_by_a_unit_reaches_listeners_on_r2_and_r3(lab):
    state, _ = lab
    for robot in ("r2", "r3"):
        heard = _listen(state, robot)
        assert heard["received"] > 0, f"{robot} heard nothing from r1's unit: {heard}"
        FIGURES[f"{robot} heard r1"] = f"{heard['received']} msgs in 8 s"


def test_a_second_run_and_a_check_run_change_nothing(lab):
    second = provision_lab(PREFIX)
    _record("second run", second)
    assert set(second.changed.values()) == {0}, second.changed
    check = provision_lab(PREFIX, check=True)
    _record("check --diff run", check)
    assert set(check.changed.values()) == {0}, check.changed


def test_the_operator_joins_without_root_and_another_user_is_told_the_command(lab):
    state, _ = lab
    args = ["overlay-join", "--login-server", state.server_url, "--auth-key-file",
            "/etc/overlay_bringup/auth.key", "--hostname", "r2", "--tags", "tag:lab",
            "--ca-file", "/etc/overlay_bringup/ca.crt", "--accept-dns", "false",
            "--no-guard-route"]
    mine = _on(state, "r2", args, user=ROS_USER)
    assert mine.returncode == 0 and "already joined: r2" in mine.stdout, mine.stderr
    assert _on(state, "r2", ["useradd", "-m", "guest"]).returncode in (0, 9)
    _on(state, "r2", ["sh", "-c", "install -o guest -m 0600 /etc/overlay_bringup/auth.key "
                                  "/home/guest/auth.key"])
    guest = [*args[:4], "/home/guest/auth.key", "--hostname", "r2-guest", *args[7:]]
    theirs = _on(state, "r2", guest, user="guest")
    assert theirs.returncode == 16, (theirs.returncode, theirs.stdout, theirs.stderr)
    assert "tailscale set --operator=guest" in theirs.stderr
    assert len(theirs.stderr.strip().splitlines()) == 1, theirs.stderr
    still = json.loads(_on(state, "r2", ["tailscale", "status", "--json"]).stdout)
    assert still["Self"]["HostName"] == "r2" and still["BackendState"] == "Running"


def test_a_rebooted_robot_rejoins_on_its_saved_state_and_hears_again(lab):
    state, _ = lab
    node_before = json.loads(_on(state, "r2", ["tailscale", "status", "--json"]).stdout)
    t0 = time.time()
    seconds = reboot(PREFIX, "r2")
    FIGURES["r2 reboot to systemd running"] = f"{seconds:.1f} s"
    _wait_for("overlay-robot on r2 after reboot", lambda: _active(state, "r2", "overlay-robot"))
    _wait_for("r2's discovery files", lambda: _on(state, "r2", [
        "test", "-f", f"/home/{ROS_USER}/.ros/overlay_bringup/discovery/env"]).returncode == 0)
    heard = _listen(state, "r2", 10.0)
    assert heard["received"] > 0, heard
    FIGURES["r2 reboot to first message"] = f"{heard['first_wall'] - t0:.1f} s"
    after = json.loads(_on(state, "r2", ["tailscale", "status", "--json"]).stdout)
    assert after["Self"]["ID"] == node_before["Self"]["ID"]  # the same node, from its state
    joined = json.loads(_on(state, "r2", ["cat", f"/home/{ROS_USER}/.ros/overlay_bringup/"
                                                 "overlay.json"]).stdout)
    assert joined["action"] == "nothing"  # no 'tailscale up', no key used


def _all_online(state):
    listed = _on(state, "server", ["headscale", "nodes", "list", "-o", "json"])
    if listed.returncode != 0:
        return False
    nodes = {n.get("given_name") or n.get("name"): n for n in json.loads(listed.stdout)}
    return all(nodes.get(r, {}).get("online") for r in ("r1", "r2", "r3"))


def test_after_the_server_reboots_every_robot_reconnects_by_itself(lab):
    state, _ = lab
    _wait_for("every robot online before", lambda: _all_online(state), 60)
    t0 = time.monotonic()
    reboot(PREFIX, "server")
    _wait_for("every robot online again", lambda: _all_online(state), 180)
    FIGURES["server reboot to every robot online"] = f"{time.monotonic() - t0:.1f} s"
    assert _listen(state, "r3")["received"] > 0


def test_a_robot_added_to_the_inventory_is_provisioned_alone(lab):
    state, _ = lab
    name = add_robot(PREFIX)
    grown = provision_lab(PREFIX)
    _record("growth run", grown)
    assert grown.changed[name] > 0
    assert {h: n for h, n in grown.changed.items() if h != name} == {
        h: 0 for h in grown.changed if h != name}
    fresh = proc.run_result(MACHINES.exec_argv(f"{PREFIX}-{name}", [
        "systemctl", "is-active", "overlay-robot"])).stdout.strip()
    assert fresh == "active"


def test_a_robot_removed_from_the_inventory_is_named_for_removal(lab):
    retire_robot(PREFIX, "r4")
    shrunk = provision_lab(PREFIX, limit="headscale_servers")  # apply runs there
    assert any(line.startswith("node r4 ") and "headscale nodes delete" in line
               for line in shrunk.todo), shrunk.todo
    assert shrunk.changed == {"headscale.lab.example.edu": 0}, shrunk.changed


def test_ssh_reaches_a_machine_with_the_labs_key_as_root_only(lab):
    """overlay-lab ssh goes over the lab's network with the lab's key (root only)."""
    root = subprocess.run(ssh_argv(PREFIX, "r1", ["id", "-un"]), capture_output=True,
                          text=True, timeout=30)
    assert root.returncode == 0 and root.stdout.strip() == "root", root.stderr
    robot = subprocess.run(ssh_argv(PREFIX, "r1", ["true"], user=ROS_USER),
                           capture_output=True, text=True, timeout=30)
    assert robot.returncode == 255  # no key of the lab's for the ROS user: it has no sudo either
