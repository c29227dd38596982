"""The lab's state file: what `up` made, so `status`, `exec` and `down` can find it.

Each overlay has its own robot state type (``WireGuardRobot``, ``TailscaleRobot``); the state
file names the overlay, and ``ROBOT_TYPES`` says which type its robots are read as. The lab's
long-running services (headscale, derper, Prometheus, the peer relay's tailscaled, the detour
forwarder) are kept by name in ``services``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from overlay_monitor.errors import InputError, LabError
from overlay_monitor.files import write_atomic

from .topology import Overlay

#: where labs keep their state, keys, logs and private /dev/shm folders (one folder per prefix)
DEFAULT_RUN_DIR = "/run/overlay-lab"

#: names of the lab's services in ``LabState.services``
HEADSCALE = "headscale"
DERPER = "derper"
PROMETHEUS = "prometheus"
PEER_RELAY = "peer-relay"
PROXY = "proxy"
DETOUR = "detour"


def run_dir() -> Path:
    return Path(os.environ.get("OVERLAY_LAB_RUN_DIR", DEFAULT_RUN_DIR))


def lab_dir(prefix: str) -> Path:
    return run_dir() / prefix


@dataclass
class LabRobot:
    """What every lab robot has, whatever its overlay."""

    name: str
    namespace: str
    interface: str
    underlay_ip: str
    overlay_ip: str = ""
    impairment: str = "none"

    @property
    def pid(self) -> int:
        """The robot's overlay process (0: none)."""
        return 0


@dataclass
class WireGuardRobot(LabRobot):
    public_key: str = ""
    wireguard_go_pid: int = 0

    @property
    def pid(self) -> int:
        return self.wireguard_go_pid


@dataclass
class TailscaleRobot(LabRobot):
    tailscaled_pid: int = 0
    tailscale_ips: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.tailscaled_pid


R = TypeVar("R", bound=LabRobot)

ROBOT_TYPES: dict[Overlay, type[LabRobot]] = {
    Overlay.WIREGUARD: WireGuardRobot,
    Overlay.TAILSCALE: TailscaleRobot,
    Overlay.MACHINES: TailscaleRobot,  # a machine's boot loop stands for its tailscaled
}


@dataclass
class LabState:
    prefix: str
    robot_count: int
    impairments: list[str]
    router_namespace: str
    overlay: Overlay = Overlay.WIREGUARD
    robots: list[LabRobot] = field(default_factory=list)
    created_at: str = ""
    #: the campus router's mode (labs with a server): open or restrictive
    campus: str = ""
    server_namespace: str = ""
    server_url: str = ""
    #: pid of each running lab service, by name (HEADSCALE, DERPER, ...)
    services: dict[str, int] = field(default_factory=dict)

    def robot(self, name: str) -> LabRobot:
        """The robot called ``name`` (or living in that namespace, or on that interface)."""
        for robot in self.robots:
            if name in (robot.name, robot.namespace, robot.interface):
                return robot
        known = ", ".join(r.name for r in self.robots)
        raise InputError(f"no robot {name!r} in lab {self.prefix!r} (robots: {known})")

    def robots_as(self, kind: type[R]) -> list[R]:
        """The robots as their overlay's state type (a LabError names a mismatch)."""
        return [self.robot_as(r.name, kind) for r in self.robots]

    def robot_as(self, name: str, kind: type[R]) -> R:
        robot = self.robot(name)
        if not isinstance(robot, kind):
            raise LabError(f"lab {self.prefix!r} runs the {self.overlay} overlay: robot "
                           f"{robot.name} has no {kind.__name__} state")
        return robot

    def service(self, name: str) -> int:
        return self.services.get(name, 0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> "LabState":
        try:
            raw = json.loads(text)
            overlay = Overlay(raw.pop("overlay", Overlay.WIREGUARD.value))
            robot_type = ROBOT_TYPES[overlay]
            robots = [robot_type(**r) for r in raw.pop("robots")]
            return cls(robots=robots, overlay=overlay, **raw)
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
