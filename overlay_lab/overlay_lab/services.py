"""The tailscale lab's services: headscale, a second DERP region (derper), the peer relay's
tailscaled, and Prometheus, each driven the way a user drives it.

- The server's files come from ``overlay-server generate`` of the lab inventory
  (``config/lab-fleet.yaml``, its team's robots set to r1..rN) with ``--root`` pointing into the
  lab folder; ``headscale serve`` runs in ``P-srv``; an API key comes from
  ``headscale apikeys create``; ``overlay-server apply`` creates the user and the team's key.
- The peer relay host joins with its relay bundle and ``--relay-server-port``.
- Prometheus: the server joins as the monitoring tag and scrapes every robot's exporter.

Nothing here reaches the machine's own network namespace: the lab hosts are linked only to the
lab's router, and the router forwards only between lab subnets.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from subprocess import CompletedProcess

import yaml

from overlay_bringup.components import require_components
from overlay_bringup.server.deployment import derper_argv
from overlay_bringup.server.inventory import load_inventory, relay_identity_name
from overlay_monitor.errors import LabError
from overlay_monitor.files import write_atomic, write_secret

from . import proc
from .network import HOSTS, HostLink
from .state import LabState, lab_dir
from .tailnet import JoinBundle, host_etc, join_member, member_exec_argv, start_tailscaled
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
    PROXY_IP,
    PROXY_PORT,
    PROXY_ROUTER_IP,
    PROXY_URL,
    SERVER_IP,
    SERVER_ROUTER_IP,
    LabPlan,
    peer_relay_namespace,
    proxy_namespace,
)

LAB_INVENTORY = "lab-fleet.yaml"
#: the lab's Prometheus listens here inside the server namespace (headscale's metrics use 9090)
PROMETHEUS_LISTEN = "127.0.0.1:9091"
#: the server host's own tailnet member (it joins for Prometheus)
SERVER_MEMBER = "srv"
CLI_TIMEOUT_S = 60.0


def server_root(prefix: str) -> Path:
    return lab_dir(prefix) / "server" / "root"


def server_out(prefix: str) -> Path:
    """The folder ``overlay-server generate`` writes: the server's /etc/headscale."""
    return server_root(prefix) / "etc" / "headscale"


def ca_file(prefix: str) -> Path:
    return server_out(prefix) / "tls" / "ca.crt"


def inventory_file(prefix: str) -> Path:
    """The lab's fleet inventory (config/lab-fleet.yaml fitted to the lab), as the server got it."""
    return lab_dir(prefix) / "server" / "inventory.yaml"


def api_key_file(prefix: str) -> Path:
    """The lab's Headscale API key (0600), from ``headscale apikeys create``."""
    return lab_dir(prefix) / "server" / "api.key"


def bundle(prefix: str, url: str, team: str) -> JoinBundle:
    """One team's (or relay's, or the monitoring tag's) join bundle as ``apply`` wrote it."""
    return JoinBundle.in_folder(server_out(prefix) / "bundles", url, team)


def find_config_file(name: str) -> Path:
    """A file of the lab package's config/ folder (installed share, or the source tree)."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("overlay_lab")) / "config" / name)
    except Exception:  # not installed with colcon, or ament_index missing: use the source tree
        pass
    candidates.append(Path(__file__).resolve().parents[1] / "config" / name)
    for path in candidates:
        if path.is_file():
            return path
    raise LabError(f"config/{name} not found (looked in {', '.join(map(str, candidates))})")


def lab_inventory(plan: LabPlan, source: Path | None = None) -> dict[str, object]:
    """The lab inventory with its (first) team's robots set to this lab's robots."""
    path = source or find_config_file(LAB_INVENTORY)
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise LabError(f"{path}: not a fleet inventory (expected a mapping)")
    raw["teams"][0]["robots"] = [robot.name for robot in plan.robots]
    if plan.peer_relay:
        raw["relays"] = [{"name": PEER_RELAY_NAME, "port": PEER_RELAY_PORT,
                          "teams": [raw["teams"][0]["name"]]}]
    if plan.derp_region:
        raw.setdefault("derp", {})["extra_regions"] = [{
            "region_id": DERP_REGION_ID, "code": DERP_REGION_CODE, "name": "Library relay",
            "host": DERP_REGION_HOST}]
    return raw


def lab_fqdn(plan: LabPlan) -> str:
    server = lab_inventory(plan)["server"]
    assert isinstance(server, dict)
    return str(server["fqdn"])


def service_hosts(plan: LabPlan) -> list[HostLink]:
    """The server, and the peer relay and library DERP hosts when the plan has them."""
    etc = host_etc(lab_fqdn(plan))
    hosts = [HostLink(plan.server_namespace, plan.server_veth, SERVER_ROUTER_IP, SERVER_IP, etc)]
    if plan.peer_relay:
        hosts.append(HostLink(plan.peer_relay_namespace, plan.peer_relay_veth,
                              PEER_RELAY_ROUTER_IP, PEER_RELAY_IP, etc))
    if plan.derp_region:
        hosts.append(HostLink(plan.derp_namespace, plan.derp_veth, DERP_REGION_ROUTER_IP,
                              DERP_REGION_IP, etc))
    if plan.has_proxy:
        hosts.append(HostLink(plan.proxy_namespace, plan.proxy_veth, PROXY_ROUTER_IP, PROXY_IP,
                              etc))
    return hosts


def overlay_server_in(namespace: str, verb: str, prefix: str, url: str,
                      *args: str) -> CompletedProcess[str]:
    """``overlay-server VERB --url … --api-key-file … --ca-file …`` inside ``namespace``."""
    return proc.run_result(HOSTS.exec_argv(namespace, proc.python_module(
        "overlay_bringup.server.cli", verb, "--url", url, "--api-key-file",
        str(api_key_file(prefix)), "--ca-file", str(ca_file(prefix)),
        "--out", str(server_out(prefix)), *args)), timeout_s=CLI_TIMEOUT_S, env=proc.python_env())


def _headscale_argv(namespace: str, *args: str) -> list[str]:
    headscale = str(require_components("headscale")["headscale"])
    return HOSTS.exec_argv(namespace, [headscale, *args])


def start_headscale(prefix: str, namespace: str) -> int:
    """``headscale serve`` with the generated config in the server namespace; its pid once it
    answers (its CLI lists users)."""
    config = str(server_out(prefix) / "config.yaml")
    log = lab_dir(prefix) / "logs" / "headscale.log"
    process = proc.start(_headscale_argv(namespace, "serve", "-c", config), log)

    def answers() -> bool:
        probe = proc.run_result(_headscale_argv(namespace, "users", "list", "-c", config,
                                                "-o", "json"), timeout_s=10)
        return probe.returncode == 0

    proc.wait_ready("headscale", answers, process, log)
    return int(process.pid)


def generate_server(prefix: str, raw: dict[str, object], root: Path | None = None) -> None:
    """Write the lab inventory and run ``overlay-server generate`` on it (``root``: the
    server's files under that folder, for a server that is a namespace of this machine)."""
    inventory = inventory_file(prefix)
    write_atomic(inventory, yaml.safe_dump(raw, sort_keys=False))
    generated = proc.run_result(proc.python_module(
        "overlay_bringup.server.cli", "generate", "--inventory", str(inventory), "--out",
        str(server_out(prefix)), *(["--root", str(root)] if root else [])),
        timeout_s=CLI_TIMEOUT_S, env=proc.python_env())
    if generated.returncode != 0:
        raise LabError(f"overlay-server generate failed: {generated.stderr.strip()[-800:]}")


def server_url(raw: dict[str, object]) -> str:
    """The login server URL of a lab inventory."""
    server = raw["server"]
    assert isinstance(server, dict)
    port = int(server.get("https_port", 443))
    return f"https://{server['fqdn']}" + ("" if port == 443 else f":{port}")


def start_server(plan: LabPlan) -> tuple[int, JoinBundle]:
    """Generate the server from the lab inventory, start headscale, make an API key, apply;
    headscale's pid and the team's bundle."""
    directory = lab_dir(plan.prefix)
    inventory = inventory_file(plan.prefix)
    raw = lab_inventory(plan)
    root, out = server_root(plan.prefix), server_out(plan.prefix)
    for sub in ("var/lib/headscale", "var/run/headscale"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    generate_server(plan.prefix, raw, root)
    pid = start_headscale(plan.prefix, plan.server_namespace)
    made = proc.run_result(_headscale_argv(plan.server_namespace, "apikeys", "create", "-e",
                                           "1d", "-c", str(out / "config.yaml")))
    if made.returncode != 0:
        raise LabError(f"headscale apikeys create failed: {made.stderr.strip()[-300:]}")
    write_secret(api_key_file(plan.prefix), made.stdout.strip().splitlines()[-1] + "\n")
    url = server_url(raw)
    applied = overlay_server_in(plan.server_namespace, "apply", plan.prefix, url,
                                "--inventory", str(inventory))
    write_atomic(directory / "logs" / "overlay-server-apply.log", applied.stdout + applied.stderr)
    if applied.returncode != 0:
        raise LabError(f"overlay-server apply failed: {applied.stderr.strip()[-800:]}")
    teams = raw["teams"]
    assert isinstance(teams, list)
    return pid, bundle(plan.prefix, url, str(teams[0]["name"]))


def start_derper(plan: LabPlan) -> int:
    """The real derper of the lab inventory's extra DERP region (the one headscale announces),
    with the certificate 'generate' made for it from the fleet CA; its pid once it answers its
    probe over TLS."""
    derper = str(require_components("derper")["derper"])
    (region,) = load_inventory(inventory_file(plan.prefix)).extra_regions
    state_dir = lab_dir(plan.prefix) / "derper"
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    argv = derper_argv(region, str(server_out(plan.prefix) / "derp" / region.code),
                       str(state_dir / "derper.key"))
    log = lab_dir(plan.prefix) / "logs" / "derper.log"
    process = proc.start(HOSTS.exec_argv(plan.derp_namespace, [derper, *argv[1:]]), log)

    def answers() -> bool:
        probe = proc.run_result(HOSTS.exec_argv(plan.derp_namespace, [
            "curl", "-fsS", "--cacert", str(ca_file(plan.prefix)), "--resolve",
            f"{region.host}:{region.https_port}:127.0.0.1",
            f"https://{region.host}:{region.https_port}/derp/probe"]), timeout_s=10)
        return probe.returncode == 0

    proc.wait_ready("derper", answers, process, log)
    return int(process.pid)


def proxy_log(prefix: str) -> Path:
    """The campus web proxy's log: a line per request, CONNECT included."""
    return lab_dir(prefix) / "logs" / "tinyproxy.log"


def tinyproxy_config(log: Path) -> str:
    """The campus web proxy (``--campus proxy``): robots may CONNECT to port 443 only, as a
    campus proxy allows HTTPS and nothing else."""
    lines = [f"Port {PROXY_PORT}", f"Listen {PROXY_IP}", "Allow 198.18.0.0/16",
             f"Allow {PROXY_IP}", "ConnectPort 443", "Timeout 600", "MaxClients 200",
             "LogLevel Info", f'LogFile "{log}"']
    return "\n".join(lines) + "\n"


def start_proxy(prefix: str, url: str) -> int:
    """The real tinyproxy in the proxy host; its pid once a request through it reaches the
    login server ``url``."""
    namespace = proxy_namespace(prefix)
    config = lab_dir(prefix) / "proxy" / "tinyproxy.conf"
    log = proxy_log(prefix)
    write_atomic(config, tinyproxy_config(log))
    process = proc.start(HOSTS.exec_argv(namespace, ["tinyproxy", "-d", "-c", str(config)]),
                         lab_dir(prefix) / "logs" / "tinyproxy.out")

    def answers() -> bool:
        probe = proc.run_result(HOSTS.exec_argv(namespace, [
            "curl", "-fsS", "-o", "/dev/null", "--proxy", PROXY_URL, "--cacert",
            str(ca_file(prefix)), f"{url}/health"]), timeout_s=10)
        return probe.returncode == 0

    proc.wait_ready("tinyproxy", answers, process, log)
    return int(process.pid)


_CLIENT = re.compile(r"Connect \(file descriptor (\d+)\): (\S+)")
_REQUEST = re.compile(r"Request \(file descriptor (\d+)\): CONNECT (\S+)")


def proxy_connects(log_text: str) -> list[tuple[str, str]]:
    """Every CONNECT in a tinyproxy log: (client address, host:port asked for)."""
    clients: dict[str, str] = {}
    connects = []
    for line in log_text.splitlines():
        client = _CLIENT.search(line)
        if client:
            clients[client.group(1)] = client.group(2)
            continue
        request = _REQUEST.search(line)
        if request:
            connects.append((clients.get(request.group(1), "?"), request.group(2)))
    return connects


def lab_proxy_connects(prefix: str) -> list[tuple[str, str]]:
    """The CONNECTs the lab's campus proxy has logged so far."""
    log = proxy_log(prefix)
    return proxy_connects(log.read_text(errors="replace")) if log.is_file() else []


def start_peer_relay(state: LabState, join: bool = True) -> int:
    """The relay host's tailscaled; joined with the relay's bundle and ``--relay-server-port``
    (a restart keeps its state and its relay port: it logs back in by itself)."""
    relay = bundle(state.prefix, state.server_url, relay_identity_name(PEER_RELAY_NAME))
    namespace = peer_relay_namespace(state.prefix)
    pid = start_tailscaled(state.prefix, PEER_RELAY_NAME, namespace, relay.ca_file)
    if join:
        join_member(state.prefix, namespace, PEER_RELAY_NAME, relay,
                    "--relay-server-port", str(PEER_RELAY_PORT))
    return pid


def peer_relay_exec_argv(prefix: str, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` on the lab's peer relay host, with its tailscaled at the default
    path."""
    return member_exec_argv(prefix, peer_relay_namespace(prefix), PEER_RELAY_NAME, argv)


def server_exec_argv(state: LabState, argv: list[str]) -> list[str]:
    """argv that runs ``argv`` in the server namespace with its tailscaled at the default path."""
    return member_exec_argv(state.prefix, state.server_namespace, SERVER_MEMBER, argv)


def start_prometheus(state: LabState) -> int:
    """The server joins the overlay as the monitoring tag (its own tailscaled), refreshes the
    scrape targets from Headscale's node list, and runs the real Prometheus."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise LabError("prometheus not found: install the Debian package prometheus "
                       "(tools/setup.sh does)")
    raw = yaml.safe_load(inventory_file(state.prefix).read_text())
    tag = str((raw.get("monitoring") or {}).get("tag", "monitoring"))
    info = bundle(state.prefix, state.server_url, tag)
    start_tailscaled(state.prefix, SERVER_MEMBER, state.server_namespace, info.ca_file)
    join_member(state.prefix, state.server_namespace, SERVER_MEMBER, info)
    refresh_prometheus_targets(state)
    data = lab_dir(state.prefix) / "server" / "prometheus-data"
    data.mkdir(parents=True, exist_ok=True)
    log = lab_dir(state.prefix) / "logs" / "prometheus.log"
    config = server_out(state.prefix) / "prometheus" / "prometheus.yml"
    process = proc.start(server_exec_argv(state, [
        prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
        f"--web.listen-address={PROMETHEUS_LISTEN}"]), log)

    def answers() -> bool:
        probe = proc.run_result(HOSTS.exec_argv(state.server_namespace, [
            "curl", "-fsS", f"http://{PROMETHEUS_LISTEN}/-/ready"]), timeout_s=10)
        return probe.returncode == 0

    proc.wait_ready("prometheus", answers, process, log)
    return int(process.pid)


def refresh_prometheus_targets(state: LabState) -> None:
    """``overlay-server prometheus-targets`` in the server namespace (after robots join)."""
    result = overlay_server_in(state.server_namespace, "prometheus-targets", state.prefix,
                               state.server_url)
    if result.returncode != 0:
        raise LabError(f"overlay-server prometheus-targets failed: {result.stderr.strip()[-400:]}")


def prometheus_query(state: LabState, endpoint: str, query: str | None = None) -> object:
    """GET the lab Prometheus's HTTP API ``endpoint`` (inside the server namespace), with a
    PromQL ``query`` when given; the decoded JSON answer."""
    params = ["--data-urlencode", f"query={query}"] if query is not None else []
    result = proc.run_result(HOSTS.exec_argv(state.server_namespace, [
        "curl", "-fsS", "-G", f"http://{PROMETHEUS_LISTEN}{endpoint}", *params]), timeout_s=30)
    if result.returncode != 0:
        raise LabError(f"Prometheus API {endpoint} {query or ''}: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout)
