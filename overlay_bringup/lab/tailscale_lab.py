"""The lab's tailscale overlay: the real headscale in a server namespace, the real tailscaled in
every robot, driven the way a user drives them.

- The server's files come from ``overlay-server generate`` of the lab inventory
  (``config/lab-fleet.yaml``, its team's robots set to r1..rN) with ``--root`` pointing into the
  lab folder; ``headscale serve`` runs in ``P-srv``; an API key comes from
  ``headscale apikeys create``; ``overlay-server apply`` creates the user and the team's key.
- Each robot runs ``tailscaled`` with its own state dir and logs dir, TUN ``tailscale0``,
  ``--no-logs-no-support`` and port mapping off, trusting the fleet CA (``SSL_CERT_FILE``). Its
  socket is at the default path /var/run/tailscale/tailscaled.sock *inside the robot*: every
  command the lab runs in a robot gets the robot's own folder bind-mounted there.
- Robots join with ``overlay-join`` (the real ``tailscale up``), unless asked not to (then
  robot.launch.py joins them).

Nothing here reaches the machine's own network namespace: the namespaces are linked only to the
lab's router, and the router forwards only between lab subnets.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import OverlayError
from overlay_monitor.files import write_atomic, write_secret

from ..components import require_components
from ..server.deployment import derper_argv
from ..server.inventory import load_inventory, relay_identity_name
from . import LabError
from .state import LabState, RobotState, lab_dir
from .topology import (
    DERP_REGION_CODE,
    DERP_REGION_HOST,
    DERP_REGION_ID,
    DERP_REGION_IP,
    DERP_REGION_ROUTER_IP,
    PEER_RELAY_IP,
    PEER_RELAY_NAME,
    PEER_RELAY_PORT,
    PEER_RELAY_ROUTER_IP,
    SERVER_IP,
    SERVER_ROUTER_IP,
    TAILSCALED_PORT,
    LabPlan,
    RobotPlan,
    peer_relay_namespace,
)

#: where a robot's own folders are bind-mounted inside every command the lab runs in it
ROBOT_MOUNTS = {"run": "/var/run/tailscale", "lib": "/var/lib/overlay_bringup"}
LAB_INVENTORY = "lab-fleet.yaml"
START_TIMEOUT_S = 30.0


def robot_dir(prefix: str, robot: str) -> Path:
    return lab_dir(prefix) / "robots" / robot


def server_root(prefix: str) -> Path:
    return lab_dir(prefix) / "server" / "root"


def server_out(prefix: str) -> Path:
    """The folder ``overlay-server generate`` writes: the server's /etc/headscale."""
    return server_root(prefix) / "etc" / "headscale"


def inventory_file(prefix: str) -> Path:
    """The lab's fleet inventory (config/lab-fleet.yaml fitted to the lab), as the server got it."""
    return lab_dir(prefix) / "server" / "inventory.yaml"


def api_key_file(prefix: str) -> Path:
    """The lab's Headscale API key (0600), from ``headscale apikeys create``."""
    return lab_dir(prefix) / "server" / "api.key"


def robot_binds(prefix: str, robot: str) -> list[tuple[Path, str]]:
    base = robot_dir(prefix, robot)
    return [(base / name, target) for name, target in ROBOT_MOUNTS.items()]


def robot_env(prefix: str, robot: str) -> dict[str, str]:
    """Environment of commands in a tailscale lab robot: its own home (ROS logs, discovery)."""
    return {"HOME": str(robot_dir(prefix, robot) / "home")}


def find_config_file(name: str) -> Path:
    """A file of the package's config/ folder (installed share, or the source tree)."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("overlay_bringup")) / "config" / name)
    except Exception:  # not installed with colcon, or ament_index missing: use the source tree
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "config" / name)
    for path in candidates:
        if path.is_file():
            return path
    raise LabError(f"config/{name} not found (looked in {', '.join(map(str, candidates))})")


def lab_inventory(plan: LabPlan, source: Path | None = None) -> dict[str, Any]:
    """The lab inventory with its (first) team's robots set to this lab's robots."""
    path = source or find_config_file(LAB_INVENTORY)
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    raw["teams"][0]["robots"] = [robot.name for robot in plan.robots]
    if plan.peer_relay:
        raw["relays"] = [{"name": PEER_RELAY_NAME, "port": PEER_RELAY_PORT,
                          "teams": [raw["teams"][0]["name"]]}]
    if plan.derp_region:
        raw.setdefault("derp", {})["extra_regions"] = [{
            "region_id": DERP_REGION_ID, "code": DERP_REGION_CODE, "name": "Library relay",
            "host": DERP_REGION_HOST}]
    return raw


@dataclass(frozen=True)
class JoinBundle:
    """What a member needs to join: the server, and one team's tag, key and CA from its bundle."""

    url: str
    tag: str
    ca_file: Path
    key_file: Path

    @classmethod
    def of(cls, prefix: str, url: str, team: str) -> "JoinBundle":
        bundle = server_out(prefix) / "bundles" / team
        return cls(url, f"tag:{team}", bundle / "ca.crt", bundle / "auth.key")


def hosts_text(fqdn: str, extra: dict[str, str] | None = None) -> str:
    """/etc/hosts of a lab namespace: the server, the library's DERP (only used when the DERP
    map names it), and ``extra`` names."""
    lines = ["127.0.0.1 localhost", f"{SERVER_IP} {fqdn}", f"{DERP_REGION_IP} {DERP_REGION_HOST}"]
    lines += [f"{ip} {name}" for name, ip in (extra or {}).items()]
    return "\n".join(lines) + "\n"


def _cli(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _python_env() -> dict[str, str]:
    """This environment with our modules importable in every namespace (the lab may run from
    a source tree)."""
    root = str(Path(__file__).resolve().parents[2])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH", "")])))


def make_server_namespace(plan: LabPlan, run: Any, etc_dir: Path, fqdn: str) -> None:
    _make_host_namespace(plan, run, etc_dir, fqdn, (plan.server_namespace, plan.server_veth,
                                                    SERVER_ROUTER_IP, SERVER_IP))


def make_peer_relay_namespace(plan: LabPlan, run: Any, etc_dir: Path, fqdn: str) -> None:
    _make_host_namespace(plan, run, etc_dir, fqdn, (plan.peer_relay_namespace,
                                                    plan.peer_relay_veth, PEER_RELAY_ROUTER_IP,
                                                    PEER_RELAY_IP))


def make_derp_namespace(plan: LabPlan, run: Any, etc_dir: Path, fqdn: str) -> None:
    _make_host_namespace(plan, run, etc_dir, fqdn, (plan.derp_namespace, plan.derp_veth,
                                                    DERP_REGION_ROUTER_IP, DERP_REGION_IP))


def start_derper(plan: LabPlan, start_detached: Any) -> int:
    """The real derper of the lab inventory's extra DERP region (the one headscale announces),
    with the certificate 'generate' made for it from the fleet CA; returns once it answers its
    probe over TLS."""
    derper = str(require_components("derper")["derper"])
    (region,) = load_inventory(inventory_file(plan.prefix)).extra_regions
    state_dir = lab_dir(plan.prefix) / "derper"
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    argv = derper_argv(region, str(server_out(plan.prefix) / "derp" / region.code),
                       str(state_dir / "derper.key"))
    log = lab_dir(plan.prefix) / "logs" / "derper.log"
    process = start_detached(["ip", "netns", "exec", plan.derp_namespace, derper, *argv[1:]],
                             log, {})
    ca = server_out(plan.prefix) / "tls" / "ca.crt"

    def answers() -> bool:
        probe = subprocess.run(["ip", "netns", "exec", plan.derp_namespace, "curl", "-fsS",
                                "--cacert", str(ca), "--resolve",
                                f"{region.host}:{region.https_port}:127.0.0.1",
                                f"https://{region.host}:{region.https_port}/derp/probe"],
                               capture_output=True, timeout=10)
        return probe.returncode == 0

    _wait("derper", answers, process, log)
    return int(process.pid)


def _make_host_namespace(plan: LabPlan, run: Any, etc_dir: Path, fqdn: str,
                         link: tuple[str, str, str, str]) -> None:
    """A host on its own /24 behind the lab router: (namespace, router veth, router IP, IP)."""
    ns, veth, router_ip, ip = link
    rt = plan.router_namespace
    etc = etc_dir / ns
    etc.mkdir(parents=True, exist_ok=True)
    write_atomic(etc / "hosts", hosts_text(fqdn))
    write_atomic(etc / "resolv.conf", "nameserver 127.0.0.1\n")
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", rt, "link", "add", veth, "type", "veth", "peer", "name", "eth0",
         "netns", ns])
    run(["ip", "-n", rt, "address", "add", f"{router_ip}/24", "dev", veth])
    run(["ip", "-n", rt, "link", "set", veth, "up"])
    run(["ip", "-n", ns, "address", "add", f"{ip}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", router_ip])


def _wait(what: str, check: Any, process: subprocess.Popen[bytes], log: Path,
          timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise LabError(f"{what} exited with {process.returncode}: {tail}")
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
    raise LabError(f"{what} not ready within {timeout_s:g} s: {tail}")


def overlay_server_in(namespace: str, verb: str, prefix: str, url: str,
                      *args: str) -> subprocess.CompletedProcess[str]:
    """``overlay-server VERB --url … --api-key-file … --ca-file …`` inside ``namespace``."""
    return subprocess.run(["ip", "netns", "exec", namespace, *_cli(
        "overlay_bringup.server.cli", verb, "--url", url, "--api-key-file",
        str(api_key_file(prefix)), "--ca-file", str(server_out(prefix) / "tls" / "ca.crt"),
        "--out", str(server_out(prefix)), *args)], capture_output=True, text=True,
        env=_python_env(), timeout=60)


def start_headscale(prefix: str, namespace: str, start_detached: Any) -> subprocess.Popen[bytes]:
    """``headscale serve`` with the generated config in the server namespace; returns once it
    answers (its CLI lists users)."""
    headscale = str(require_components("headscale")["headscale"])
    config = server_out(prefix) / "config.yaml"
    log = lab_dir(prefix) / "logs" / "headscale.log"
    process = start_detached(["ip", "netns", "exec", namespace, headscale, "serve", "-c",
                              str(config)], log, {})

    def answers() -> bool:
        probe = subprocess.run(["ip", "netns", "exec", namespace, headscale, "users", "list",
                                "-c", str(config), "-o", "json"],
                               capture_output=True, text=True, timeout=10)
        return probe.returncode == 0

    _wait("headscale", answers, process, log)
    return process  # type: ignore[no-any-return]


def start_server(plan: LabPlan, run: Any, start_detached: Any) -> tuple[int, JoinBundle]:
    """Generate the server from the lab inventory, start headscale, make an API key, apply."""
    tools = require_components("headscale")
    directory = lab_dir(plan.prefix)
    inventory = inventory_file(plan.prefix)
    raw = lab_inventory(plan)
    write_atomic(inventory, yaml.safe_dump(raw, sort_keys=False))
    root, out = server_root(plan.prefix), server_out(plan.prefix)
    for sub in ("var/lib/headscale", "var/run/headscale"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    generated = subprocess.run(_cli("overlay_bringup.server.cli", "generate", "--inventory",
                                    str(inventory), "--out", str(out), "--root", str(root)),
                               capture_output=True, text=True, env=_python_env(), timeout=60)
    if generated.returncode != 0:
        raise LabError(f"overlay-server generate failed: {generated.stderr.strip()[-800:]}")
    config = out / "config.yaml"
    process = start_headscale(plan.prefix, plan.server_namespace, start_detached)
    headscale = str(tools["headscale"])
    fqdn = raw["server"]["fqdn"]
    made = subprocess.run(["ip", "netns", "exec", plan.server_namespace, headscale, "apikeys",
                           "create", "-e", "1d", "-c", str(config)],
                          capture_output=True, text=True, timeout=20)
    if made.returncode != 0:
        raise LabError(f"headscale apikeys create failed: {made.stderr.strip()[-300:]}")
    write_secret(api_key_file(plan.prefix), made.stdout.strip().splitlines()[-1] + "\n")
    url = f"https://{fqdn}" + ("" if raw["server"].get("https_port", 443) == 443
                               else f":{raw['server']['https_port']}")
    applied = overlay_server_in(plan.server_namespace, "apply", plan.prefix, url,
                                "--inventory", str(inventory))
    write_atomic(directory / "logs" / "overlay-server-apply.log", applied.stdout + applied.stderr)
    if applied.returncode != 0:
        raise LabError(f"overlay-server apply failed: {applied.stderr.strip()[-800:]}")
    return int(process.pid), JoinBundle.of(plan.prefix, url, raw["teams"][0]["name"])


def mount_argv(binds: list[tuple[Path, str]], argv: list[str]) -> list[str]:
    """``sh -c`` that bind-mounts each (source, target) and then runs ``argv``."""
    script = " && ".join(f'mount --bind "${i * 2 + 1}" "${i * 2 + 2}"' for i in range(len(binds)))
    words = [str(w) for pair in binds for w in pair]
    shift = f"shift {len(words)} && " if words else ""
    return ["sh", "-c", f'{script} && {shift}exec "$@"' if binds else 'exec "$@"', "sh",
            *words, *argv]


def start_tailscaled(prefix: str, name: str, namespace: str, ca_file: Path,
                     start_detached: Any) -> int:
    """A member's tailscaled in ``namespace``, its folders under ``robot_dir(prefix, name)``,
    trusting ``ca_file``; returns once its LocalAPI answers."""
    tools = require_components("tailscaled", "tailscale")
    base = robot_dir(prefix, name)
    for folder in ("run", "lib", "state", "logs", "home"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "state").chmod(0o700)
    for target in ROBOT_MOUNTS.values():
        Path(target).mkdir(parents=True, exist_ok=True)   # mount points (empty on the host)
    argv = ["ip", "netns", "exec", namespace, *mount_argv(robot_binds(prefix, name), [
        str(tools["tailscaled"]), f"--statedir={base / 'state'}", f"--socket={DEFAULT_SOCKET}",
        "--tun=tailscale0", f"--port={TAILSCALED_PORT}", "--no-logs-no-support"])]
    env = {"TS_LOGS_DIR": str(base / "logs"), "TS_NO_LOGS_NO_SUPPORT": "1",
           "TS_DISABLE_PORTMAPPER": "1", "SSL_CERT_FILE": str(ca_file),
           "HOME": str(base / "home")}
    log = lab_dir(prefix) / "logs" / f"tailscaled-{name}.log"
    process = start_detached(argv, log, env)
    socket = base / "run" / "tailscaled.sock"

    def answers() -> bool:
        if not socket.exists():
            return False
        try:
            with LocalAPIClient(str(socket)) as client:
                client.snapshot()
            return True
        except OverlayError:
            return False

    _wait(f"tailscaled in {name}", answers, process, log)
    return int(process.pid)


def stop_tailscaled(state: LabState, robot: str) -> None:
    """Stop a robot's tailscaled (as 'systemctl stop tailscaled' would): it removes its routes."""
    stop_process(state.robot(robot).tailscaled_pid)


def stop_process(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM ``pid`` and wait for it (gone already is fine)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.terminate()
        proc.wait(timeout_s)
    except psutil.Error:
        pass


def restart_tailscaled(state: LabState, robot: str, start_detached: Any) -> int:
    """Start a robot's tailscaled again with its saved state (it logs back in by itself)."""
    pid = start_tailscaled(state.prefix, robot, state.robot(robot).namespace,
                           server_out(state.prefix) / "tls" / "ca.crt", start_detached)
    state.robot(robot).tailscaled_pid = pid
    return pid


def join_argv(server: JoinBundle, robot: str, out: str, *extra: str) -> list[str]:
    """``overlay-join`` as a user runs it on a robot, with the team's bundle."""
    return _cli("overlay_bringup.join.cli", "--login-server", server.url, "--auth-key-file",
                str(server.key_file), "--hostname", robot, "--tags", server.tag, "--ca-file",
                str(server.ca_file), "--accept-dns", "false", "--out", out, "--json", *extra)


def peer_relay_exec_argv(prefix: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` on the lab's peer relay host, with its tailscaled at the default
    path."""
    return ["ip", "netns", "exec", peer_relay_namespace(prefix),
            *mount_argv(robot_binds(prefix, PEER_RELAY_NAME), argv)]


def start_peer_relay(state: LabState, start_detached: Any, join: bool = True) -> int:
    """The relay host's tailscaled; joined with the relay's bundle and ``--relay-server-port``
    (a restart keeps its state and its relay port: it logs back in by itself)."""
    bundle = JoinBundle.of(state.prefix, state.server_url, relay_identity_name(PEER_RELAY_NAME))
    pid = start_tailscaled(state.prefix, PEER_RELAY_NAME, peer_relay_namespace(state.prefix),
                           bundle.ca_file, start_detached)
    if join:
        joined = subprocess.run(peer_relay_exec_argv(state.prefix, join_argv(
            bundle, PEER_RELAY_NAME, f"{ROBOT_MOUNTS['lib']}/overlay.json",
            "--relay-server-port", str(PEER_RELAY_PORT))), capture_output=True, text=True,
            env=_python_env(), timeout=120)
        if joined.returncode != 0:
            raise LabError(f"the peer relay could not join: {joined.stderr.strip()[-400:]}")
    return pid


def tailscale_ips(prefix: str, robot: str) -> list[str]:
    with LocalAPIClient(str(robot_dir(prefix, robot) / "run" / "tailscaled.sock")) as client:
        snapshot = client.snapshot()
    return list(snapshot.self_peer.overlay_ips) if snapshot.self_peer else []


def update_hosts(state: LabState, etc_dir: Path) -> None:
    """Robot names resolve to their tailscale addresses in every robot (after joining)."""
    names = {r.name: r.tailscale_ips[0] for r in state.robots if r.tailscale_ips}
    fqdn = state.server_url.split("//", 1)[-1].split(":")[0]
    for robot in state.robots:
        write_atomic(etc_dir / robot.namespace / "hosts", hosts_text(fqdn, names))


def robot_state(robot: RobotPlan, pid: int) -> RobotState:
    return RobotState(name=robot.name, namespace=robot.namespace, interface=robot.wg_interface,
                      overlay_ip="", underlay_ip=robot.underlay_ip, public_key="",
                      wireguard_go_pid=0, impairment=robot.impairment.describe(),
                      tailscaled_pid=pid)


def join_all(state: LabState, server: JoinBundle, exec_argv: Any) -> dict[str, float]:
    """Join every robot with overlay-join (in parallel); the join time of each, in seconds."""
    started = time.monotonic()
    procs = {}
    for robot in state.robots:
        out = f"{ROBOT_MOUNTS['lib']}/overlay.json"
        procs[robot.name] = subprocess.Popen(
            exec_argv(state, robot.name, join_argv(server, robot.name, out)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_python_env())
    times: dict[str, float] = {}
    failures = []
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        times[name] = time.monotonic() - started
        if proc.returncode != 0:
            failures.append(f"{name}: {err.strip()[-400:] or out.strip()[-400:]}")
            continue
        result = json.loads(out)
        state.robot(name).tailscale_ips = list(result["self"]["ips"])
        state.robot(name).overlay_ip = state.robot(name).tailscale_ips[0]
    if failures:
        raise LabError("overlay-join failed in the lab: " + "; ".join(failures))
    return times


#: the lab's Prometheus listens here inside the server namespace (headscale's metrics use 9090)
PROMETHEUS_LISTEN = "127.0.0.1:9091"
SERVER_NODE = "srv"


def server_exec_argv(state: LabState, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` in the server namespace with its tailscaled at the default path."""
    return ["ip", "netns", "exec", state.server_namespace,
            *mount_argv(robot_binds(state.prefix, SERVER_NODE), argv)]


def start_prometheus(state: LabState, start_detached: Any) -> int:
    """The server joins the overlay as the monitoring tag (its own tailscaled), refreshes the
    scrape targets from Headscale's node list, and runs the real Prometheus."""
    import shutil

    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise LabError("prometheus not found: install the Debian package prometheus "
                       "(tools/setup.sh does)")
    raw = yaml.safe_load(inventory_file(state.prefix).read_text())
    tag = (raw.get("monitoring") or {}).get("tag", "monitoring")
    out = server_out(state.prefix)
    info = JoinBundle.of(state.prefix, state.server_url, tag)
    start_tailscaled(state.prefix, SERVER_NODE, state.server_namespace, info.ca_file,
                     start_detached)
    joined = subprocess.run(server_exec_argv(state, join_argv(
        info, "prometheus", f"{ROBOT_MOUNTS['lib']}/overlay.json")), capture_output=True,
        text=True, env=_python_env(), timeout=120)
    if joined.returncode != 0:
        raise LabError(f"the Prometheus host could not join: {joined.stderr.strip()[-400:]}")
    refresh_prometheus_targets(state)
    data = lab_dir(state.prefix) / "server" / "prometheus-data"
    data.mkdir(parents=True, exist_ok=True)
    log = lab_dir(state.prefix) / "logs" / "prometheus.log"
    process = start_detached(server_exec_argv(state, [
        prometheus, f"--config.file={out / 'prometheus' / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}", f"--web.listen-address={PROMETHEUS_LISTEN}"]), log, {})

    def answers() -> bool:
        probe = subprocess.run(["ip", "netns", "exec", state.server_namespace, "curl", "-fsS",
                                f"http://{PROMETHEUS_LISTEN}/-/ready"], capture_output=True,
                               timeout=10)
        return probe.returncode == 0

    _wait("prometheus", answers, process, log)
    return int(process.pid)


def refresh_prometheus_targets(state: LabState) -> None:
    """``overlay-server prometheus-targets`` in the server namespace (after robots join)."""
    result = overlay_server_in(state.server_namespace, "prometheus-targets", state.prefix,
                               state.server_url)
    if result.returncode != 0:
        raise LabError(f"overlay-server prometheus-targets failed: {result.stderr.strip()[-400:]}")


def prometheus_query(state: LabState, endpoint: str, query: str | None = None) -> Any:
    """GET the lab Prometheus's HTTP API ``endpoint`` (inside the server namespace), with a
    PromQL ``query`` when given."""
    params = ["--data-urlencode", f"query={query}"] if query is not None else []
    result = subprocess.run(["ip", "netns", "exec", state.server_namespace, "curl", "-fsS", "-G",
                             f"http://{PROMETHEUS_LISTEN}{endpoint}", *params],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise LabError(f"Prometheus API {endpoint} {query or ''}: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout)
