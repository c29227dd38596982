"""Provisioning a machine lab the way a lab does: ``ansible-playbook`` with the product's
``ansible/site.yml`` and the inventory ``overlay-server generate`` wrote, from the controller
namespace over SSH.

The lab adds a second inventory, ``ansible-hosts.yml`` in the lab folder: how to reach each
machine (its underlay address, root with the lab's SSH key, the machine's known host key) and
the lab's choices (tailscale and headscale from the Go-built binaries, the ROS environment of
this repository, no MagicDNS), plus host variables a test sets (``--host-var``).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from overlay_bringup.components import require_components
from overlay_bringup.server.ansible_inventory import INVENTORY_FILE
from overlay_monitor.errors import InputError, LabError
from overlay_monitor.files import write_atomic

from . import proc
from .machines import known_hosts, ssh_key
from .services import server_out
from .state import lab_dir

#: the ROS user's setup file in the lab: this repository's environment, bound read-only
LAB_SETUP_FILE = Path(__file__).resolve().parents[2] / "tools" / "env.sh"
PLAYBOOK_TIMEOUT_S = 900.0
_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+"
                    r"skipped=(?P<skipped>\d+)", re.M)
_TODO = re.compile(r"to do: (node .*?)(?:\"|$)", re.M)
_HOST_VAR = re.compile(r"^(?P<host>[A-Za-z0-9_.-]+):(?P<name>[a-z_][a-z0-9_]*)=(?P<value>.*)$")


@dataclass(frozen=True)
class HostRecap:
    ok: int
    changed: int
    unreachable: int
    failed: int
    skipped: int


@dataclass
class ProvisionResult:
    recap: dict[str, HostRecap]
    seconds: float
    log: Path
    #: what apply named for a person to decide (nodes no longer in the inventory)
    todo: list[str] = field(default_factory=list)

    @property
    def changed(self) -> dict[str, int]:
        return {host: r.changed for host, r in self.recap.items()}


def parse_recap(text: str) -> dict[str, HostRecap]:
    """The PLAY RECAP of ansible-playbook's output, by host."""
    return {m["host"]: HostRecap(int(m["ok"]), int(m["changed"]), int(m["unreachable"]),
                                 int(m["failed"]), int(m["skipped"]))
            for m in _RECAP.finditer(text)}


def parse_todo(text: str) -> list[str]:
    """The 'to do: node …' lines apply printed (through the playbook's debug task)."""
    return list(dict.fromkeys(m.group(1).rstrip("\\") for m in _TODO.finditer(text)))


def parse_host_var(text: str) -> tuple[str, str, str]:
    """``HOST:NAME=VALUE`` of ``--host-var``."""
    match = _HOST_VAR.match(text)
    if not match:
        raise InputError(f"host variable {text!r} is not HOST:NAME=VALUE (e.g. "
                         "r1:overlay_robot_user_command='overlay-chatter talk')")
    return match["host"], match["name"], match["value"]


def site_playbook() -> Path:
    """The product's site.yml (installed share, or the source tree)."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("overlay_bringup")) / "ansible")
    except Exception:  # not installed with colcon: the source tree
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "ansible")
    for folder in candidates:
        if (folder / "site.yml").is_file():
            return folder / "site.yml"
    raise LabError(f"ansible/site.yml not found (looked in {', '.join(map(str, candidates))})")


def hosts_file(prefix: str) -> Path:
    return lab_dir(prefix) / "ansible-hosts.yml"


def lab_hosts_inventory(prefix: str, addresses: dict[str, str],
                        host_vars: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
    """The lab's second inventory: how to reach each host and the lab's role choices."""
    binaries = require_components("tailscale", "tailscaled", "headscale", "derper")
    folder = binaries["tailscaled"].parent
    ssh_args = (f"-o UserKnownHostsFile={known_hosts(prefix)} -o StrictHostKeyChecking=yes "
                "-o IdentitiesOnly=yes -o ConnectTimeout=10")
    return {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(ssh_key(prefix)),
            "ansible_ssh_common_args": ssh_args,
            "ansible_python_interpreter": "/usr/bin/python3",
            "tailscale_install": "binaries",
            "tailscale_binaries_dir": str(folder),
            "tailscale_accept_dns": False,
            "tailscale_flags": "--no-logs-no-support",
            "headscale_binary": str(binaries["headscale"]),
            "derper_binary": str(binaries["derper"]),
            "prometheus_install": "binary",
            "prometheus_binary": "/usr/bin/prometheus",
            "overlay_ros_setup_files": [str(LAB_SETUP_FILE)],
        },
        "hosts": {host: {"ansible_host": ip, **(host_vars or {}).get(host, {})}
                  for host, ip in addresses.items()}}}


def write_hosts_inventory(prefix: str, addresses: dict[str, str]) -> Path:
    """Write (or rewrite, keeping host variables set before) the lab's hosts inventory."""
    path = hosts_file(prefix)
    kept = load_host_vars(prefix)
    write_atomic(path, yaml.safe_dump(lab_hosts_inventory(prefix, addresses, kept),
                                      sort_keys=False))
    return path


def load_host_vars(prefix: str) -> dict[str, dict[str, str]]:
    path = hosts_file(prefix)
    if not path.exists():
        return {}
    hosts = (yaml.safe_load(path.read_text()) or {}).get("all", {}).get("hosts", {}) or {}
    return {host: {k: v for k, v in values.items() if k != "ansible_host"}
            for host, values in hosts.items()}


def set_host_vars(prefix: str, assignments: list[str]) -> None:
    """Add ``HOST:NAME=VALUE`` host variables to the lab's hosts inventory."""
    path = hosts_file(prefix)
    data = yaml.safe_load(path.read_text())
    hosts = data["all"]["hosts"]
    for text in assignments:
        host, name, value = parse_host_var(text)
        if host not in hosts:
            raise InputError(f"host {host!r} is not in the lab (hosts: {', '.join(hosts)})")
        hosts[host][name] = value
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def playbook_argv(prefix: str, check: bool = False, limit: str = "") -> list[str]:
    argv = ["ansible-playbook", "-i", str(server_out(prefix) / INVENTORY_FILE),
            "-i", str(hosts_file(prefix)), str(site_playbook())]
    return argv + (["--check", "--diff"] if check else []) + (["--limit", limit] if limit else [])


def playbook_env(prefix: str) -> dict[str, str]:
    home = lab_dir(prefix) / "ansible-home"
    return dict(proc.python_env(), ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                ANSIBLE_SSH_CONTROL_PATH_DIR=str(home / "cp"), ANSIBLE_PIPELINING="true",
                ANSIBLE_FORKS="10", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="false",
                ANSIBLE_DEPRECATION_WARNINGS="false", LANG="C.UTF-8",
                PATH=os.environ.get("PATH", ""))


def run_playbook(prefix: str, controller_namespace: str, check: bool = False,
                 limit: str = "") -> ProvisionResult:
    """ansible-playbook from the controller; the recap (a LabError names failed hosts)."""
    log = lab_dir(prefix) / "logs" / f"ansible-{'check' if check else 'run'}-{time.time():.0f}.log"
    start = time.monotonic()
    done = proc.run_result(proc.in_namespace(controller_namespace, playbook_argv(prefix, check, limit)),
                           timeout_s=PLAYBOOK_TIMEOUT_S, env=playbook_env(prefix))
    seconds = time.monotonic() - start
    text = done.stdout + done.stderr
    write_atomic(log, text)
    recap = parse_recap(done.stdout)
    bad = sorted(h for h, r in recap.items() if r.failed or r.unreachable)
    if done.returncode != 0 or not recap or bad:
        raise LabError(f"ansible-playbook failed{' on ' + ', '.join(bad) if bad else ''} "
                       f"(exit {done.returncode}); see {log}: {text.strip()[-1500:]}")
    return ProvisionResult(recap=recap, seconds=seconds, log=log, todo=parse_todo(done.stdout))
