"""A member of the lab's tailnet (a robot, the peer relay, the Prometheus host): its tailscaled,
its folders, and joining with ``overlay-join`` as a user does.

Each member runs ``tailscaled`` with its own state dir and logs dir, TUN ``tailscale0``,
``--no-logs-no-support`` and port mapping off, trusting the fleet CA (``SSL_CERT_FILE``). Its
socket is at the default path /var/run/tailscale/tailscaled.sock *inside the member*: every
command the lab runs there gets the member's own folder bind-mounted at that path.
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from overlay_bringup.components import require_components
from overlay_bringup.join.proxy import environment_file_values, with_proxy
from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import LabError, OverlayError
from overlay_monitor.files import write_atomic

from . import proc
from .network import HOSTS
from .state import PROXY, LabState, TailscaleRobot, lab_dir
from .topology import DERP_REGION_HOST, DERP_REGION_IP, PROXY_URL, SERVER_IP, TAILSCALED_PORT

#: where a member's own folders are bind-mounted inside every command the lab runs in it
MEMBER_MOUNTS = {"run": "/var/run/tailscale", "lib": "/var/lib/overlay_bringup"}
#: where overlay-join writes its result inside a member
JOIN_RESULT = f"{MEMBER_MOUNTS['lib']}/overlay.json"
JOIN_TIMEOUT_S = 120.0


def member_dir(prefix: str, member: str) -> Path:
    return lab_dir(prefix) / "robots" / member


def member_binds(prefix: str, member: str) -> list[tuple[Path, str]]:
    base = member_dir(prefix, member)
    return [(base / name, target) for name, target in MEMBER_MOUNTS.items()]


def member_socket(prefix: str, member: str) -> Path:
    """The member's tailscaled socket as seen from this machine."""
    return member_dir(prefix, member) / "run" / "tailscaled.sock"


def member_env_file(prefix: str, member: str) -> Path:
    """The member's tailscaled environment file: its /etc/default/tailscaled (the lab starts
    tailscaled with its variables, as systemd's EnvironmentFile= does)."""
    return member_dir(prefix, member) / "tailscaled.env"


def write_member_proxy(prefix: str, member: str, url: str) -> None:
    """Set (or, with ``none``, remove) the proxy in a member's env file, as the Ansible role's
    ``tailscale_environment`` does on a real robot (tailscaled reads it at its next start)."""
    path = member_env_file(prefix, member)
    write_atomic(path, with_proxy(path.read_text() if path.exists() else "", url))


def proxy_join_args(state: LabState, member: str) -> list[str]:
    """overlay-join's proxy arguments on a lab with a web proxy (none without): the proxy, the
    member's env file, and the lab's way of restarting its tailscaled."""
    if not state.service(PROXY):
        return []
    restart = proc.python_module("overlay_lab.cli", "restart-tailscaled", member,
                                 "--prefix", state.prefix)
    return ["--proxy", PROXY_URL, "--proxy-env-file", str(member_env_file(state.prefix, member)),
            "--restart-command", shlex.join(restart)]


def member_home(prefix: str, member: str) -> Path:
    """The member's own HOME: ~/.ros (logs, the discovery files robot.launch.py writes)."""
    return member_dir(prefix, member) / "home"


def member_exec_argv(prefix: str, namespace: str, member: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` on a member, with its tailscaled at the default path."""
    return HOSTS.exec_argv(namespace, argv, member_binds(prefix, member))


def hosts_text(fqdn: str, extra: dict[str, str] | None = None) -> str:
    """/etc/hosts of a lab host: the server, the library's DERP (only used when the DERP map
    names it), and ``extra`` names. No name server: nothing is looked up outside the lab."""
    lines = ["127.0.0.1 localhost", f"{SERVER_IP} {fqdn}", f"{DERP_REGION_IP} {DERP_REGION_HOST}"]
    lines += [f"{ip} {name}" for name, ip in (extra or {}).items()]
    return "\n".join(lines) + "\n"


def host_etc(fqdn: str) -> dict[str, str]:
    return {"hosts": hosts_text(fqdn), "resolv.conf": "nameserver 127.0.0.1\n"}


@dataclass(frozen=True)
class JoinBundle:
    """What a member needs to join: the server, and one team's tag, key and CA from its bundle."""

    url: str
    tag: str
    ca_file: Path
    key_file: Path

    @classmethod
    def in_folder(cls, bundles: Path, url: str, team: str) -> "JoinBundle":
        bundle = bundles / team
        return cls(url, f"tag:{team}", bundle / "ca.crt", bundle / "auth.key")


def start_tailscaled(prefix: str, member: str, namespace: str, ca_file: Path,
                     tailscaled: Path | None = None) -> int:
    """A member's tailscaled in ``namespace``, trusting ``ca_file`` (``tailscaled``: another
    build than the pinned one, e.g. one older than the server accepts); returns its pid once
    its LocalAPI answers."""
    tools = require_components("tailscaled", "tailscale")
    if tailscaled is not None:
        tools["tailscaled"] = tailscaled
    base = member_dir(prefix, member)
    for folder in ("run", "lib", "state", "logs", "home"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "state").chmod(0o700)
    for target in MEMBER_MOUNTS.values():
        Path(target).mkdir(parents=True, exist_ok=True)   # mount points (empty on the host)
    argv = member_exec_argv(prefix, namespace, member, [
        str(tools["tailscaled"]), f"--statedir={base / 'state'}", f"--socket={DEFAULT_SOCKET}",
        "--tun=tailscale0", f"--port={TAILSCALED_PORT}", "--no-logs-no-support"])
    env = {"TS_LOGS_DIR": str(base / "logs"), "TS_NO_LOGS_NO_SUPPORT": "1",
           "TS_DISABLE_PORTMAPPER": "1", "SSL_CERT_FILE": str(ca_file),
           "HOME": str(member_home(prefix, member))}
    env_file = member_env_file(prefix, member)
    if env_file.exists():
        env.update(environment_file_values(env_file.read_text()))
    log = lab_dir(prefix) / "logs" / f"tailscaled-{member}.log"
    process = proc.start(argv, log, env)
    socket = member_socket(prefix, member)

    def answers() -> bool:
        if not socket.exists():
            return False
        try:
            with LocalAPIClient(str(socket)) as client:
                client.snapshot()
            return True
        except OverlayError:
            return False

    proc.wait_ready(f"tailscaled in {member}", answers, process, log)
    return int(process.pid)


def join_argv(bundle: JoinBundle, member: str, *extra: str) -> list[str]:
    """``overlay-join`` as a user runs it on a member, with the team's bundle."""
    return proc.python_module(
        "overlay_bringup.join.cli", "--login-server", bundle.url, "--auth-key-file",
        str(bundle.key_file), "--hostname", member, "--tags", bundle.tag, "--ca-file",
        str(bundle.ca_file), "--accept-dns", "false", "--out", JOIN_RESULT, "--json", *extra)


def join_member(prefix: str, namespace: str, member: str, bundle: JoinBundle,
                *extra: str) -> None:
    """Join one member (the peer relay, the Prometheus host) and wait for the result."""
    joined = proc.run_result(member_exec_argv(prefix, namespace, member,
                                              join_argv(bundle, member, *extra)),
                             timeout_s=JOIN_TIMEOUT_S, env=proc.python_env())
    if joined.returncode != 0:
        raise LabError(f"{member} could not join: {joined.stderr.strip()[-400:]}")


def tailscale_ips(prefix: str, member: str) -> list[str]:
    with LocalAPIClient(str(member_socket(prefix, member))) as client:
        snapshot = client.snapshot()
    return list(snapshot.self_peer.overlay_ips) if snapshot.self_peer else []


def join_all(state: LabState, bundle: JoinBundle) -> dict[str, float]:
    """Join every robot with overlay-join (in parallel); the join time of each, in seconds."""
    started = time.monotonic()
    robots = state.robots_as(TailscaleRobot)
    procs = {robot.name: proc.spawn(member_exec_argv(state.prefix, robot.namespace, robot.name,
                                                     join_argv(bundle, robot.name, *proxy_join_args(
                                                         state, robot.name))),
                                    env=proc.python_env())
             for robot in robots}
    times: dict[str, float] = {}
    failures = []
    for robot in robots:
        out, err = procs[robot.name].communicate(timeout=JOIN_TIMEOUT_S)
        times[robot.name] = time.monotonic() - started
        if procs[robot.name].returncode != 0:
            failures.append(f"{robot.name}: {err.strip()[-400:] or out.strip()[-400:]}")
            continue
        robot.tailscale_ips = list(json.loads(out)["self"]["ips"])
        robot.overlay_ip = robot.tailscale_ips[0]
    if failures:
        raise LabError("overlay-join failed in the lab: " + "; ".join(failures))
    return times


def update_hosts(state: LabState) -> None:
    """Robot names resolve to their tailscale addresses in every robot (after joining)."""
    robots = state.robots_as(TailscaleRobot)
    names = {r.name: r.tailscale_ips[0] for r in robots if r.tailscale_ips}
    fqdn = state.server_url.split("//", 1)[-1].split(":")[0]
    for robot in robots:
        HOSTS.write_etc(robot.namespace, {"hosts": hosts_text(fqdn, names)})
