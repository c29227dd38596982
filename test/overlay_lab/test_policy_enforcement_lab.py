"""The generated policy, enforced by the real headscale and tailscaled, against its own evaluator.

A lab of five members: team ``lab`` (r1, r2), team ``lab2`` (r3, r4), and a person, ``pat``, in
both teams, whose laptop (r5) joins with an untagged key of user pat. Every ordered pair is
probed with ICMP echo over the overlay and compared with ``may_reach``; ROS 2 talkers on r1 and
r3 reach exactly the members the evaluator allows."""
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from overlay_bringup.components import find_component
from overlay_bringup.server.inventory import load_inventory
from overlay_bringup.server.policy import Node, build_policy, may_reach
from overlay_lab.ros_demo import chatter_argv, discovery_env
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.services import bundle, inventory_file, overlay_server_in, server_out, server_root
from overlay_lab.state import lab_dir, save_state
from overlay_lab.tailnet import JoinBundle, join_argv
from overlay_lab.topology import plan_lab
from overlay_monitor.files import write_secret
from overlay_testing import lab_prefix, overlay_cli, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("ope")
TEAMS = {"r1": "lab", "r2": "lab", "r3": "lab2", "r4": "lab2"}
PERSON, LAPTOP = "pat", "r5"


def _join(state, robot, team_bundle):
    result = subprocess.run(robot_exec_argv(state, robot, join_argv(team_bundle, robot)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (robot, result.stderr[-800:])
    ips = json.loads(result.stdout)["self"]["ips"]
    state.robot(robot).tailscale_ips = ips
    state.robot(robot).overlay_ip = ips[0]


@pytest.fixture(scope="module")
def two_teams():
    real_components_preconditions()
    state = lab_up(plan_lab(5, PREFIX, overlay="tailscale", campus="open"), join=False).state
    try:
        inventory = inventory_file(PREFIX)
        raw = yaml.safe_load(inventory.read_text())
        raw["teams"] = [{"name": "lab", "robots": ["r1", "r2"], "ros_domain_id": 0},
                        {"name": "lab2", "robots": ["r3", "r4"], "ros_domain_id": 1}]
        raw["people"] = [{"name": PERSON, "teams": ["lab", "lab2"]}]
        inventory.write_text(yaml.safe_dump(raw))
        generated = subprocess.run([*overlay_cli("overlay-server"), "generate", "--inventory",
                                    str(inventory), "--out", str(server_out(PREFIX)), "--root",
                                    str(server_root(PREFIX))], capture_output=True, text=True,
                                   timeout=60)
        assert generated.returncode == 0, generated.stderr  # lab2's bundle (CA, README)
        applied = overlay_server_in(state.server_namespace, "apply", PREFIX, state.server_url,
                                    "--inventory", str(inventory))
        assert applied.returncode == 0, applied.stderr
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda r: _join(state, r, bundle(PREFIX, state.server_url, TEAMS[r])),
                      TEAMS))
        _join(state, LAPTOP, _person_bundle(state))
        save_state(state)
        yield state, build_policy(load_inventory(inventory))
    finally:
        lab_down(PREFIX)


def _person_bundle(state):
    """A pre-auth key of user pat, without tags: the laptop is pat's, not a team's."""
    config = server_out(PREFIX) / "config.yaml"
    headscale = str(find_component("headscale"))

    def server(*args):
        return subprocess.run(["ip", "netns", "exec", state.server_namespace, headscale, *args,
                               "-c", str(config), "-o", "json"], capture_output=True, text=True,
                              timeout=30)

    users = {u["name"]: u["id"] for u in json.loads(server("users", "list").stdout)}
    made = json.loads(server("preauthkeys", "create", "--user", str(users[PERSON]), "-e",
                             "1h").stdout)
    key_file = lab_dir(PREFIX) / "person" / "auth.key"
    write_secret(key_file, made["key"] + "\n")
    return JoinBundle(state.server_url, "", server_out(PREFIX) / "tls" / "ca.crt", key_file)


def _identity(robot):
    return Node(user=f"{PERSON}@") if robot == LAPTOP else Node(tags=(f"tag:{TEAMS[robot]}",))


def _pings(state, src, dst, attempts=3):
    """ICMP echo over the overlay; a few attempts, as the last member to join may not be in
    every netmap yet."""
    argv = ["ping", "-c", "2", "-i", "0.3", "-W", "2", state.robot(dst).overlay_ip]
    return any(subprocess.run(robot_exec_argv(state, src, argv), capture_output=True,
                              timeout=30).returncode == 0 for _ in range(attempts))


def test_every_pair_agrees_with_the_policy_evaluator(two_teams):
    state, policy = two_teams
    members = [*TEAMS, LAPTOP]
    pairs = [(a, b) for a in members for b in members if a != b]
    with ThreadPoolExecutor(8) as pool:
        real = dict(zip(pairs, pool.map(lambda p: _pings(state, *p), pairs), strict=True))
    expected = {(a, b): may_reach(policy, _identity(a), _identity(b), 7400) for a, b in pairs}
    rows = [f"{a}->{b}: evaluator {'allow' if expected[a, b] else 'deny '} real "
            f"{'reach' if real[a, b] else 'none '}" for a, b in pairs]
    print("\n".join(rows))
    agree = sum(real[p] == expected[p] for p in pairs)
    print(f"policy pair matrix: {agree}/{len(pairs)} pairs agree "
          f"({sum(expected.values())} allowed, {len(pairs) - sum(expected.values())} denied)")
    assert agree == len(pairs), [r for r, p in zip(rows, pairs, strict=True)
                                 if real[p] != expected[p]]
    assert sum(expected.values()) == 12 and not expected["r1", "r3"] and expected[LAPTOP, "r3"]


def test_ros_talkers_reach_exactly_the_members_the_policy_allows(two_teams):
    state, policy = two_teams
    for talker, listeners in (("r1", ["r2", "r3", LAPTOP]), ("r3", ["r4", "r1", LAPTOP])):
        envs = {r: discovery_env(state, r, "fastdds-peers", domain_id=33) for r in
                [talker, *listeners]}
        procs = {r: subprocess.Popen(chatter_argv(state, r, envs[r], "listen", "--duration",
                                                  "10"), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True) for r in listeners}
        subprocess.run(chatter_argv(state, talker, envs[talker], "talk", "--duration", "8"),
                       capture_output=True, timeout=60)
        for robot, proc in procs.items():
            out, _ = proc.communicate(timeout=60)
            received = json.loads(out.strip().splitlines()[-1])["received"]
            allowed = may_reach(policy, _identity(talker), _identity(robot), 7400)
            print(f"ROS {talker} -> {robot}: {received} received, policy "
                  f"{'allows' if allowed else 'denies'}")
            assert (received > 0) is allowed, (talker, robot, received)


def test_zenoh_bridges_follow_the_policy_too(two_teams):
    """zenoh-bridge on every member, each dialling every other one: the bridges' keys carry no
    DDS domain, so only the policy keeps team lab's topics from team lab2's robots."""
    from overlay_bringup.discovery.model import BridgePolicy
    from overlay_lab import proc
    from overlay_lab.ros_demo import zenoh_bridges
    from overlay_testing import zenoh_preconditions

    zenoh_preconditions()
    state, policy = two_teams
    listeners = ["r2", "r3", LAPTOP]
    envs, bridges = zenoh_bridges(state, ("r1", *listeners), 35, BridgePolicy())
    try:
        procs = {r: subprocess.Popen(chatter_argv(state, r, envs[r], "listen", "--duration",
                                                  "10"), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True) for r in listeners}
        subprocess.run(chatter_argv(state, "r1", envs["r1"], "talk", "--duration", "8"),
                       capture_output=True, timeout=60)
        for robot, listener in procs.items():
            out, _ = listener.communicate(timeout=60)
            received = json.loads(out.strip().splitlines()[-1])["received"]
            allowed = may_reach(policy, _identity("r1"), _identity(robot), 7447)
            print(f"zenoh-bridge r1 -> {robot}: {received} received, policy "
                  f"{'allows' if allowed else 'denies'}")
            assert (received > 0) is allowed, (robot, received)
    finally:
        proc.terminate(b.pid for b in bridges)
