"""fastdds-peers with more ROS processes per robot than Fast DDS guesses (its
maxInitialPeersRange is 4): r1 and r2 each run 5 idle nodes, each its own process and
participant, then a late listener on r1 and a late talker on r2, each the sixth participant of
its robot. With Fast DDS's default range they never found each other (bench/fleet_scale.py
--nodes 5: no message within 14 s, at 3 and at 10 robots); the generated profile guesses 16."""
import pytest

from overlay_bringup.discovery import DiscoveryRequest, generate
from overlay_lab import proc
from overlay_lab.ros_demo import chatter_argv, discovery_env, last_json_line
from overlay_lab.runner import lab_down, lab_up, robot_exec_argv
from overlay_lab.topology import plan_lab
from overlay_testing import lab_preconditions, lab_prefix

pytestmark = [pytest.mark.lab, pytest.mark.slow]
PREFIX = lab_prefix("omp")
DOMAIN = 63


@pytest.fixture(scope="module")
def lab():
    lab_preconditions()
    state = lab_up(plan_lab(2, PREFIX)).state  # the WireGuard lab: Fast DDS is what is tested
    yield state
    lab_down(PREFIX)


def _env_words(env):
    return ["env", *(f"{k}={v}" for k, v in sorted(env.items()))]


def test_the_profile_guesses_more_participants_than_fast_dds():
    xml = generate(DiscoveryRequest("fastdds-peers", "100.64.0.1",
                                    ("100.64.0.1", "100.64.0.2"))).files["fastdds_overlay.xml"]
    assert "<maxInitialPeersRange>16</maxInitialPeersRange>" in xml


def test_a_sixth_process_on_each_robot_still_finds_the_other(lab):
    envs = {r: discovery_env(lab, r, "fastdds-peers", domain_id=DOMAIN) for r in ("r1", "r2")}
    idle = [proc.spawn(robot_exec_argv(lab, r, [*_env_words(envs[r]), *proc.python_module(
        "overlay_lab.idle_nodes", "--nodes", "1", "--duration", "40")]), stderr=False)
        for r in ("r1", "r2") for _ in range(5)]
    try:
        import time
        time.sleep(4.0)  # the idle participants take ids 0-4 on each robot
        listener = proc.spawn(chatter_argv(lab, "r1", envs["r1"], "listen", "--duration", "16"),
                              stderr=False)
        talker = proc.spawn(chatter_argv(lab, "r2", envs["r2"], "talk", "--duration", "12"),
                            stderr=False)
        sent = last_json_line(talker.communicate(timeout=60)[0])
        heard = last_json_line(listener.communicate(timeout=60)[0])
    finally:
        proc.terminate([p.pid for p in idle])
    print(f"\nsixth process r2 -> r1: {heard.get('received')}/{sent.get('sent')}, first after "
          f"{heard.get('first_s')} s")
    assert int(heard.get("received", 0)) > 0, (sent, heard)
