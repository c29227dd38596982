"""The lab's state file: what `up` made, so `status`, `exec` and `down` can find it."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from overlay_monitor.errors import InputError
from overlay_monitor.files import write_atomic

#: where labs keep their state, keys, logs and private /dev/shm folders (one folder per prefix)
DEFAULT_RUN_DIR = "/run/overlay-lab"


def run_dir() -> Path:
    return Path(os.environ.get("OVERLAY_LAB_RUN_DIR", DEFAULT_RUN_DIR))


def lab_dir(prefix: str) -> Path:
    return run_dir() / prefix


@dataclass
class RobotState:
    name: str
    namespace: str
    interface: str
    overlay_ip: str
    underlay_ip: str
    public_key: str
    wireguard_go_pid: int
    impairment: str = "none"
    tailscaled_pid: int = 0          # tailscale overlay: the robot's tailscaled
    tailscale_ips: list[str] = field(default_factory=list)


@dataclass
class LabState:
    prefix: str
    robot_count: int
    impairments: list[str]
    router_namespace: str
    robots: list[RobotState] = field(default_factory=list)
    relay_pid: int = 0
    created_at: str = ""
    overlay: str = "wireguard"
    campus: str = ""                  # tailscale overlay: open or restrictive
    server_namespace: str = ""
    server_pid: int = 0               # tailscale overlay: headscale
    server_url: str = ""
    prometheus_pid: int = 0           # tailscale overlay with --prometheus
    peer_relay_pid: int = 0           # tailscale overlay with --peer-relay: the relay's tailscaled
    derper_pid: int = 0               # tailscale overlay with --derp-region: the library's derper

    def robot(self, name: str) -> RobotState:
        for robot in self.robots:
            if name in (robot.name, robot.namespace, robot.interface):
                return robot
        known = ", ".join(r.name for r in self.robots)
        raise InputError(f"no robot {name!r} in lab {self.prefix!r} (robots: {known})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> "LabState":
        try:
            raw = json.loads(text)
            robots = [RobotState(**r) for r in raw.pop("robots")]
            return cls(robots=robots, **raw)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise InputError(f"{source}: not a lab state file ({err})") from err


def state_path(prefix: str) -> Path:
    return lab_dir(prefix) / "state.json"


def save_state(state: LabState) -> Path:
    return write_atomic(state_path(state.prefix), state.to_json(), 0o600)


def load_state(prefix: str) -> LabState | None:
    path = state_path(prefix)
    if not path.exists():
        return None
    return LabState.from_json(path.read_text(), str(path))
