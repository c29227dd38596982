"""What the machine lab reads from ansible-playbook: the recap, apply's to-do lines, and the
--host-var assignments (pure; the machine lab test runs the real thing)."""
import pytest

from overlay_lab.provision import HostRecap, parse_host_var, parse_recap, parse_todo
from overlay_monitor.errors import InputError

RECAP = """PLAY RECAP *********************************************************************
dmz                        : ok=31   changed=0    unreachable=0    failed=0    skipped=6    rescued=0    ignored=0
headscale.lab.example.edu  : ok=40   changed=2    unreachable=0    failed=1    skipped=4    rescued=0    ignored=0
"""
DEBUG = '''TASK [headscale : Nodes the inventory no longer names (remove them by hand if they are gone)] ***
ok: [headscale.lab.example.edu] => {
    "msg": [
        "to do: node r4 (id 5, tag:lab) is no robot of its team in the inventory: remove it with 'headscale nodes delete -i 5' if it is gone for good"
    ]
}
'''


def test_the_recap_is_read_per_host():
    recap = parse_recap(RECAP)
    assert recap == {"dmz": HostRecap(ok=31, changed=0, unreachable=0, failed=0, skipped=6),
                     "headscale.lab.example.edu": HostRecap(40, 2, 0, 1, 4)}
    assert parse_recap("no recap here") == {}


def test_the_to_do_lines_are_read_once_each():
    todo = parse_todo(DEBUG + DEBUG)
    assert todo == ["node r4 (id 5, tag:lab) is no robot of its team in the inventory: remove "
                    "it with 'headscale nodes delete -i 5' if it is gone for good"]


def test_host_vars_are_host_name_value():
    assert parse_host_var("r1:overlay_robot_user_command=overlay-chatter talk --rate 5") == (
        "r1", "overlay_robot_user_command", "overlay-chatter talk --rate 5")
    for bad in ("r1=x", ":name=x", "r1:Bad-Name=x"):
        with pytest.raises(InputError, match="is not HOST:NAME=VALUE"):
            parse_host_var(bad)
