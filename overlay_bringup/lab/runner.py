"""Build, inspect and remove a lab on this machine (root, iproute2, nftables, wireguard-go).

Every change goes through ``ip``, ``nft``, ``tc``, ``wg`` and ``wireguard-go`` subprocesses;
secrets never reach argv (``wg set … private-key FILE`` reads the key from a 0600 file).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from overlay_monitor.errors import CommandFailed
from overlay_monitor.files import write_atomic, write_secret

from ..components import require_components
from . import LabError, tailscale_lab
from .state import LabState, RobotState, lab_dir, load_state, save_state
from .topology import (
    OVERLAY_MTU,
    OVERLAY_NETWORK,
    PEER_RELAY_NAME,
    WIREGUARD_PORT,
    LabPlan,
    RobotPlan,
    campus_chain_rules,
    relay_config,
    router_ruleset,
)
from .udp_relay import READY_LINE
from .wgkeys import generate_keypair

WIREGUARD_SOCKET_DIR = Path("/var/run/wireguard")
NETNS_ETC_DIR = Path("/etc/netns")
KEEPALIVE_S = 25
REQUIRED_TOOLS = ("ip", "nft", "wg", "wireguard-go")
WG_ENV = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
#: priority of the guard route that keeps overlay traffic off the underlay when WireGuard is down
GUARD_ROUTE_METRIC = 4000


def require_root_and_tools(extra: tuple[str, ...] = ()) -> None:
    if os.geteuid() != 0:
        raise LabError("overlay-lab needs root (it creates network namespaces and WireGuard "
                       "interfaces): run it with sudo")
    missing = [tool for tool in REQUIRED_TOOLS + extra if shutil.which(tool) is None]
    if missing:
        hint = {"wireguard-go": "wireguard-go", "wg": "wireguard-tools", "nft": "nftables",
                "ip": "iproute2", "tc": "iproute2"}
        packages = sorted({hint.get(tool, tool) for tool in missing})
        raise LabError(f"missing {', '.join(missing)}: install the Debian package(s) "
                       f"{' '.join(packages)} (tools/setup.sh does)")


def run(argv: list[str], stdin: str | None = None, timeout_s: float = 20.0) -> str:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"'{' '.join(argv)}' did not finish within {timeout_s:g} s") from err
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, proc.stderr)
    return proc.stdout


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def lab_namespaces(prefix: str) -> list[str]:
    return [ns for ns in list_namespaces() if ns.startswith(f"{prefix}-")]


def netns_exec_argv(namespace: str, argv: list[str], shm_dir: Path | None = None) -> list[str]:
    """argv that runs ``argv`` inside ``namespace``, with a private /dev/shm when given.

    A private /dev/shm per robot keeps Fast DDS's shared-memory transport from connecting
    robots behind the overlay's back (``ip netns exec`` already gives each command its own
    mount namespace, so the bind mount stays private to the command).
    """
    if shm_dir is None:
        return ["ip", "netns", "exec", namespace, *argv]
    return ["ip", "netns", "exec", namespace, "sh", "-c",
            'mount --bind "$0" /dev/shm && exec "$@"', str(shm_dir), *argv]


def shm_dir(prefix: str, robot: str) -> Path:
    return lab_dir(prefix) / "shm" / robot


def _wait_for_socket(interface: str, process: subprocess.Popen[bytes], log: Path,
                     timeout_s: float = 10.0) -> None:
    sock = WIREGUARD_SOCKET_DIR / f"{interface}.sock"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sock.exists():
            return
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            raise LabError(f"wireguard-go for {interface} exited with {process.returncode}: {tail}")
        time.sleep(0.05)
    raise LabError(f"wireguard-go did not create {sock} within {timeout_s:g} s")


def _start_detached(argv: list[str], log: Path, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ, **env_extra)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True)


def _make_router(plan: LabPlan) -> None:
    rt = plan.router_namespace
    run(["ip", "netns", "add", rt])
    run(["ip", "-n", rt, "link", "set", "lo", "up"])
    run(["ip", "netns", "exec", rt, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def _make_robot_underlay(plan: LabPlan, robot: RobotPlan, fqdn: str = "") -> None:
    ns, rt = robot.namespace, plan.router_namespace
    etc = NETNS_ETC_DIR / ns
    etc.mkdir(parents=True, exist_ok=True)
    # Fast DDS 3.x identifies hosts by machine-id; real robots have distinct ones.
    write_atomic(etc / "machine-id", uuid.uuid4().hex + "\n")
    if plan.overlay == "tailscale":
        # the server's name; robot names are added once Headscale has given them addresses.
        # No name server: nothing is looked up outside the lab.
        write_atomic(etc / "hosts", tailscale_lab.hosts_text(fqdn))
        write_atomic(etc / "resolv.conf", "nameserver 127.0.0.1\n")
    else:
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{r.overlay_ip} {r.name} {r.name}.{plan.prefix}.lab\n" for r in plan.robots)
        write_atomic(etc / "hosts", hosts)
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", rt, "link", "add", robot.router_veth, "type", "veth", "peer", "name",
         "eth0", "netns", ns])
    run(["ip", "-n", rt, "address", "add", f"{robot.router_ip}/24", "dev", robot.router_veth])
    run(["ip", "-n", rt, "link", "set", robot.router_veth, "up"])
    run(["ip", "-n", ns, "address", "add", f"{robot.underlay_ip}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", robot.router_ip])
    if plan.overlay == "wireguard":
        # a tailscale robot gets its guard route from overlay-join, as a real robot does
        run(["ip", "-n", ns, "route", "add", "unreachable", OVERLAY_NETWORK, "metric",
             str(GUARD_ROUTE_METRIC)])
    rate = robot.impairment.rate_kbit
    if rate:
        for where, dev in ((rt, robot.router_veth), (ns, "eth0")):
            run(["ip", "netns", "exec", where, "tc", "qdisc", "replace", "dev", dev, "root",
                 "tbf", "rate", f"{rate:g}kbit", "burst", "32kbit", "latency", "400ms"])
    shm = shm_dir(plan.prefix, robot.name)
    shm.mkdir(parents=True, exist_ok=True)
    shm.chmod(0o1777)


def _start_wireguard(plan: LabPlan, robot: RobotPlan, logs: Path, keys: Path) -> RobotState:
    keypair = generate_keypair()
    key_file = write_secret(keys / f"{robot.name}.key", keypair.private_key + "\n")
    log = logs / f"wireguard-go-{robot.name}.log"
    process = _start_detached(["ip", "netns", "exec", robot.namespace, "wireguard-go", "-f",
                               robot.wg_interface], log, WG_ENV)
    _wait_for_socket(robot.wg_interface, process, log)
    run(["wg", "set", robot.wg_interface, "listen-port", str(WIREGUARD_PORT), "private-key",
         str(key_file)])
    ns = robot.namespace
    run(["ip", "-n", ns, "address", "add", f"{robot.overlay_ip}/32", "dev", robot.wg_interface])
    run(["ip", "-n", ns, "link", "set", robot.wg_interface, "mtu", str(OVERLAY_MTU), "up"])
    run(["ip", "-n", ns, "route", "add", OVERLAY_NETWORK, "dev", robot.wg_interface])
    return RobotState(name=robot.name, namespace=ns, interface=robot.wg_interface,
                      overlay_ip=robot.overlay_ip, underlay_ip=robot.underlay_ip,
                      public_key=keypair.public_key, wireguard_go_pid=process.pid,
                      impairment=robot.impairment.describe())


def _add_peers(plan: LabPlan, states: dict[str, RobotState], settle_s: float = 3.0) -> None:
    """Full mesh, then handshakes started from one side of each pair only.

    Keepalives start handshakes. Switched on for both sides at once, the two initiations cross
    (more so behind the delaying relay), each side drops the other's response, and the retry
    comes 5 s later (WireGuard's REKEY_TIMEOUT). So: every robot learns every peer first; then the
    lower-numbered robot of each pair starts; once the sessions exist (or ``settle_s`` passed, e.g.
    at 100 % loss) the other side's keepalive is switched on too.
    """
    pairs = [(robot, other) for robot in plan.robots for other in plan.robots if other is not robot]
    for robot, other in pairs:
        run(["wg", "set", robot.wg_interface, "peer", states[other.name].public_key,
             "allowed-ips", f"{other.overlay_ip}/32", "endpoint", plan.endpoint(robot, other)])
    first = [(r, o) for r, o in pairs if r.index < o.index]
    second = [(r, o) for r, o in pairs if r.index > o.index]
    for robot, other in first:
        run(["wg", "set", robot.wg_interface, "peer", states[other.name].public_key,
             "persistent-keepalive", str(KEEPALIVE_S)])
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and not all(
            _has_handshake(robot.wg_interface, states[other.name].public_key)
            for robot, other in first):
        time.sleep(0.05)
    for robot, other in second:
        run(["wg", "set", robot.wg_interface, "peer", states[other.name].public_key,
             "persistent-keepalive", str(KEEPALIVE_S)])


def _has_handshake(interface: str, public_key: str) -> bool:
    for line in run(["wg", "show", interface, "latest-handshakes"]).splitlines():
        key, _, when = line.partition("\t")
        if key == public_key:
            return when.strip() not in ("", "0")
    return False


def _start_relay(plan: LabPlan, directory: Path) -> int:
    if not plan.relay_routes:
        return 0
    config = write_atomic(directory / "relay.json", json.dumps(relay_config(plan)))
    log = directory / "logs" / "relay.log"
    package_root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [package_root,
                                                       os.environ.get("PYTHONPATH", "")]))}
    process = _start_detached(
        ["ip", "netns", "exec", plan.router_namespace, sys.executable, "-m",
         "overlay_bringup.lab.udp_relay", str(config)], log, env)
    deadline = time.monotonic() + 10.0
    while READY_LINE not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-800:]
            raise LabError(f"the lab's UDP relay did not start: {tail}")
        time.sleep(0.05)
    return process.pid


def _spec_of(plan: LabPlan) -> tuple[int, list[str]]:
    """Robot count and everything else that makes one lab differ from another."""
    impaired = [f"{r.name}:{r.impairment.describe()}" for r in plan.robots
                if not r.impairment.is_none]
    impaired += [f"relay {r.robot_a}-{r.robot_b} ({r.delay_ms:g} ms)" for r in plan.relay_routes]
    if plan.underlay_tests:
        impaired.append("underlay tests allowed")
    if plan.overlay != "wireguard":
        impaired.append(f"overlay {plan.overlay}")
    if plan.peer_relay:
        impaired.append("peer relay")
    if plan.derp_region:
        impaired.append("DERP region library")
    return len(plan.robots), impaired


@dataclass
class UpResult:
    state: LabState
    already_up: bool
    cleaned: list[str] = field(default_factory=list)
    join_times_s: dict[str, float] = field(default_factory=dict)


def _tailscale_up(plan: LabPlan, state: LabState, join: bool) -> dict[str, float]:
    """Server namespace with headscale, robots with tailscaled; join them unless told not to."""
    require_components("headscale", "tailscaled", "tailscale")
    fqdn = tailscale_lab.lab_inventory(plan)["server"]["fqdn"]
    _make_router(plan)
    tailscale_lab.make_server_namespace(plan, run, NETNS_ETC_DIR, fqdn)
    if plan.peer_relay:
        tailscale_lab.make_peer_relay_namespace(plan, run, NETNS_ETC_DIR, fqdn)
    if plan.derp_region:
        tailscale_lab.make_derp_namespace(plan, run, NETNS_ETC_DIR, fqdn)
    for robot in plan.robots:
        _make_robot_underlay(plan, robot, fqdn)
    run(["ip", "netns", "exec", plan.router_namespace, "nft", "-f", "-"],
        stdin=router_ruleset(plan))
    state.campus = plan.campus
    state.server_namespace = plan.server_namespace
    save_state(state)
    state.server_pid, server = tailscale_lab.start_server(plan, run, _start_detached)
    state.server_url = server.url
    save_state(state)
    if plan.derp_region:
        state.derper_pid = tailscale_lab.start_derper(plan, _start_detached)
        save_state(state)
    for robot in plan.robots:
        pid = tailscale_lab.start_tailscaled(plan.prefix, robot.name, robot.namespace,
                                             server.ca_file, _start_detached)
        state.robots.append(tailscale_lab.robot_state(robot, pid))
        save_state(state)
    if plan.peer_relay:
        state.peer_relay_pid = tailscale_lab.start_peer_relay(state, _start_detached)
        save_state(state)
    times: dict[str, float] = {}
    if join:
        times = tailscale_lab.join_all(state, server, robot_exec_argv)
        tailscale_lab.update_hosts(state, NETNS_ETC_DIR)
        save_state(state)
    return times


def restart_tailscaled(prefix: str, robot: str) -> LabState:
    """Stop and start one robot's tailscaled (state kept: it reconnects by itself)."""
    state = require_state(prefix)
    tailscale_lab.stop_tailscaled(state, robot)
    tailscale_lab.restart_tailscaled(state, robot, _start_detached)
    save_state(state)
    return state


def _set_process(prefix: str, pid_field: str, up: bool, start: Any, missing: str) -> LabState:
    """Stop the lab process whose pid is ``pid_field`` of the state, or ``start(state)`` it
    again (returns its pid) when it is not running."""
    state = require_state(prefix)
    pid = getattr(state, pid_field)
    if not pid:
        raise LabError(f"lab {prefix!r} has no {missing}")
    if not up:
        tailscale_lab.stop_process(pid)
    elif not psutil.pid_exists(pid):
        setattr(state, pid_field, start(state))
    save_state(state)
    return state


def set_server(prefix: str, up: bool) -> LabState:
    """Stop a tailscale lab's headscale, or start it again with its database (a server outage
    as robots and admins see it)."""
    return _set_process(prefix, "server_pid", up, lambda state: int(
        tailscale_lab.start_headscale(prefix, state.server_namespace, _start_detached).pid),
        "headscale: 'overlay-lab up --overlay tailscale'")


def set_peer_relay(prefix: str, up: bool) -> LabState:
    """Take a running lab's peer relay down (its tailscaled stops) or bring it back."""
    return _set_process(prefix, "peer_relay_pid", up, lambda state: tailscale_lab.start_peer_relay(
        state, _start_detached, join=False),
        "peer relay: 'overlay-lab up --overlay tailscale --peer-relay'")


def switch_campus(prefix: str, campus: str) -> LabState:
    """Open or close a running tailscale lab's campus (only its campus chain changes)."""
    state = require_state(prefix)
    if state.overlay != "tailscale":
        raise LabError(f"lab {prefix!r} runs the {state.overlay} overlay: campus modes are for "
                       "'overlay-lab up --overlay tailscale'")
    run(["ip", "netns", "exec", state.router_namespace, "nft", "-f", "-"],
        stdin=campus_chain_rules(campus))
    state.campus = campus
    save_state(state)
    return state


def start_lab_prometheus(prefix: str) -> LabState:
    """Prometheus in a running tailscale lab's server namespace, scraping over the overlay."""
    state = require_state(prefix)
    if state.overlay != "tailscale":
        raise LabError("Prometheus over the overlay needs 'overlay-lab up --overlay tailscale'")
    state.prometheus_pid = tailscale_lab.start_prometheus(state, _start_detached)
    save_state(state)
    return state


def lab_up(plan: LabPlan, join: bool = True) -> UpResult:
    """Build the lab; safe to call twice. A half-built lab from a crash is removed first.
    ``join`` (tailscale overlay): join every robot with overlay-join; without it the robots'
    tailscaled wait for a login (robot.launch.py's job)."""
    require_root_and_tools(("tc",) if any(r.impairment.rate_kbit for r in plan.robots) else ())
    count, impaired = _spec_of(plan)
    existing = load_state(plan.prefix)
    present = set(lab_namespaces(plan.prefix))
    if existing is not None and present == set(plan.namespaces()) and _processes_alive(existing):
        if (existing.robot_count, existing.impairments) == (count, impaired):
            return UpResult(state=existing, already_up=True)
        raise LabError(f"lab {plan.prefix!r} is already up with {existing.robot_count} robots "
                       f"and impairments {existing.impairments or 'none'}; run "
                       f"'overlay-lab down --prefix {plan.prefix}' first")
    cleaned = lab_down(plan.prefix).removed if (existing or present) else []
    directory = lab_dir(plan.prefix)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    (directory / "keys").mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    (directory / "keys").chmod(0o700)
    state = LabState(prefix=plan.prefix, robot_count=count, impairments=impaired,
                     router_namespace=plan.router_namespace,
                     created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     overlay=plan.overlay)
    if plan.overlay == "tailscale":
        try:
            times = _tailscale_up(plan, state, join)
        except BaseException:
            lab_down(plan.prefix)
            raise
        return UpResult(state=state, already_up=False, cleaned=cleaned, join_times_s=times)
    try:
        _make_router(plan)
        for robot in plan.robots:
            _make_robot_underlay(plan, robot)
        run(["ip", "netns", "exec", plan.router_namespace, "nft", "-f", "-"],
            stdin=router_ruleset(plan))
        state.relay_pid = _start_relay(plan, directory)
        states = {}
        for robot in plan.robots:
            states[robot.name] = _start_wireguard(plan, robot, directory / "logs",
                                                  directory / "keys")
            state.robots.append(states[robot.name])
            save_state(state)
        _add_peers(plan, states)
        save_state(state)
    except BaseException:
        lab_down(plan.prefix)
        raise
    return UpResult(state=state, already_up=False, cleaned=cleaned)


def _processes_alive(state: LabState) -> bool:
    pids = [r.tailscaled_pid or r.wireguard_go_pid for r in state.robots]
    pids += [pid for pid in (state.relay_pid, state.server_pid) if pid]
    return all(psutil.pid_exists(pid) for pid in pids)


def _terminate(pids: set[int], grace_s: float = 2.0) -> None:
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)


@dataclass
class DownResult:
    removed: list[str] = field(default_factory=list)


def _pids_in(namespace: str) -> set[int]:
    try:
        return {int(p) for p in run(["ip", "netns", "pids", namespace]).split()}
    except CommandFailed:
        return set()


def lab_down(prefix: str) -> DownResult:
    """Remove everything a lab made, using its state file when there is one and the naming
    scheme when there is not (after a crash)."""
    require_root_and_tools()
    result = DownResult()
    state = None
    with contextlib.suppress(Exception):  # a damaged state file must not stop the clean-up
        state = load_state(prefix)
    namespaces = lab_namespaces(prefix)
    pids: set[int] = set()
    for ns in namespaces:
        pids |= _pids_in(ns)
    if state is not None:
        lab_pids = [r.wireguard_go_pid or r.tailscaled_pid for r in state.robots]
        for pid in lab_pids + [state.relay_pid, state.server_pid, state.prometheus_pid]:
            if pid and _is_lab_process(pid, prefix):
                pids.add(pid)
    _terminate(pids)
    result.removed += [f"process {pid}" for pid in sorted(pids)]
    for ns in namespaces:
        try:
            run(["ip", "netns", "del", ns])
            result.removed.append(f"namespace {ns}")
        except CommandFailed:
            pass
    for sock in WIREGUARD_SOCKET_DIR.glob(f"{prefix}wg*.sock"):
        sock.unlink(missing_ok=True)
        result.removed.append(f"socket {sock}")
    for etc in NETNS_ETC_DIR.glob(f"{prefix}-*"):
        shutil.rmtree(etc, ignore_errors=True)
    directory = lab_dir(prefix)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        result.removed.append(f"state, keys and logs in {directory}")
    return result


def _is_lab_process(pid: int, prefix: str) -> bool:
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return (f"{prefix}wg" in cmdline or "overlay_bringup.lab.udp_relay" in cmdline
            or str(lab_dir(prefix)) in cmdline)


def require_state(prefix: str) -> LabState:
    state = load_state(prefix)
    if state is None:
        raise LabError(f"no lab {prefix!r} is up (start one with 'overlay-lab up --prefix {prefix}')")
    return state


def robot_exec_argv(state: LabState, robot: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` inside ``robot`` with the robot's private /dev/shm and HOME; in
    a tailscale lab also with its own tailscaled socket folder at the default path and its own
    /var/lib/overlay_bringup."""
    if not argv:
        raise LabError("nothing to run: give a command after '--'")
    if robot == PEER_RELAY_NAME and state.peer_relay_pid:
        return tailscale_lab.peer_relay_exec_argv(state.prefix, argv)
    target = state.robot(robot)
    # its own HOME: ~/.ros (logs, the discovery files robot.launch.py writes) per robot
    robot_env = tailscale_lab.robot_env(state.prefix, target.name)
    Path(robot_env["HOME"]).mkdir(parents=True, exist_ok=True)
    env = [f"{k}={v}" for k, v in robot_env.items()]
    if state.overlay != "tailscale":
        return netns_exec_argv(target.namespace, ["env", *env, *argv],
                               shm_dir(state.prefix, target.name))
    binds = [(shm_dir(state.prefix, target.name), "/dev/shm"),
             *tailscale_lab.robot_binds(state.prefix, target.name)]
    return ["ip", "netns", "exec", target.namespace,
            *tailscale_lab.mount_argv(binds, ["env", *env, *argv])]


def lab_status(prefix: str) -> dict[str, object]:
    """What `overlay-lab status --json` prints."""
    state = require_state(prefix)
    present = set(lab_namespaces(prefix))
    robots = []
    for robot in state.robots:
        pids = sorted(_pids_in(robot.namespace)) if robot.namespace in present else []
        robots.append({
            "name": robot.name, "namespace": robot.namespace, "interface": robot.interface,
            "overlay_ip": robot.overlay_ip, "underlay_ip": robot.underlay_ip,
            "public_key": robot.public_key, "impairment": robot.impairment,
            "namespace_present": robot.namespace in present,
            "wireguard_go_pid": robot.wireguard_go_pid,
            "wireguard_go_alive": bool(robot.wireguard_go_pid)
            and psutil.pid_exists(robot.wireguard_go_pid),
            "tailscaled_pid": robot.tailscaled_pid, "tailscale_ips": robot.tailscale_ips,
            "pids": pids,
        })
    return {"prefix": prefix, "created_at": state.created_at, "overlay": state.overlay,
            "campus": state.campus, "server_url": state.server_url,
            "server_pid": state.server_pid,
            "router_namespace": state.router_namespace, "relay_pid": state.relay_pid,
            "impairments": state.impairments, "robots": robots}
