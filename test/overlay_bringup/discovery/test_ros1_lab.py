"""ROS 1 (Debian's roscore and rospy) across lab robots with the generated ros1 environment:
roscore on robot 1, a talker on robot 2, a listener on robot 3, all over WireGuard."""
import json
import shutil
import subprocess
import time

import pytest

from overlay_bringup.discovery import DiscoveryRequest, generate
from overlay_lab.runner import robot_exec_argv
from overlay_testing import skip_or_fail

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SYSTEM_PYTHON = "/usr/bin/python3"

TALKER = """
import rospy, time
from std_msgs.msg import String
rospy.init_node("overlay_talker", disable_signals=True)
pub = rospy.Publisher("overlay_chatter", String, queue_size=10)
end = time.time() + 9
n = 0
while time.time() < end:
    n += 1
    pub.publish(String(data=str(n)))
    time.sleep(0.1)
"""
LISTENER = """
import json, rospy, time
from std_msgs.msg import String
got = []
rospy.init_node("overlay_listener", disable_signals=True)
rospy.Subscriber("overlay_chatter", String, lambda m: got.append(int(m.data)))
time.sleep(8)
print(json.dumps({"received": len(got)}), flush=True)
"""


def _ros1_argv(lab, robot: str, argv: list[str], tmp) -> list[str]:
    me = lab.robot(robot)
    env = generate(DiscoveryRequest("ros1", me.overlay_ip, (), server="100.64.0.1")).env
    # ROS 1 runs on the system Python: keep the ROS 2 venv's packages (std_msgs!) out of it
    words = [f"{k}={v}" for k, v in env.items()] + [f"ROS_HOME={tmp / robot}",
                                                     "PYTHONPATH=", "ROS_DOMAIN_ID="]
    return robot_exec_argv(lab, robot, ["env", *words, *argv])


def test_ros1_talker_and_listener_across_robots(lab3, tmp_path):
    if shutil.which("roscore") is None or not shutil.which(SYSTEM_PYTHON):
        skip_or_fail("ROS 1 not installed (apt: ros-core python3-rospy)")
    core = subprocess.Popen(_ros1_argv(lab3, "r1", ["roscore", "-p", "11311"], tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(_ros1_argv(lab3, "r3", ["rostopic", "list"], tmp_path),
                                   capture_output=True, text=True, timeout=20)
            if probe.returncode == 0 and "/rosout" in probe.stdout:
                break
            time.sleep(0.5)
        else:
            pytest.fail("roscore on r1 not reachable from r3 over the overlay")
        listener = subprocess.Popen(_ros1_argv(lab3, "r3", [SYSTEM_PYTHON, "-c", LISTENER],
                                               tmp_path), stdout=subprocess.PIPE, text=True)
        talker = subprocess.Popen(_ros1_argv(lab3, "r2", [SYSTEM_PYTHON, "-c", TALKER], tmp_path),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out, _ = listener.communicate(timeout=60)
        talker.wait(timeout=60)
        assert json.loads(out.strip().splitlines()[-1])["received"] > 10
    finally:
        core.terminate()
        try:
            core.wait(timeout=10)
        except subprocess.TimeoutExpired:
            core.kill()
        # roscore leaves rosmaster and rosout behind: stop what runs in r1's namespace
        import psutil
        pids = subprocess.run(["ip", "netns", "pids", lab3.robot("r1").namespace],
                              capture_output=True, text=True).stdout.split()
        stray = []
        for pid in pids:
            try:
                proc = psutil.Process(int(pid))
                if any(word in " ".join(proc.cmdline()) for word in ("rosmaster", "rosout")):
                    proc.terminate()
                    stray.append(proc)
            except psutil.Error:
                continue
        psutil.wait_procs(stray, timeout=5)
