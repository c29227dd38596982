"""``overlay-lab``: a lab of robots in network namespaces on this machine, joined by real
WireGuard (wireguard-go) or by the real Tailscale and Headscale (needs root)."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from overlay_bringup.components import find_component
from overlay_monitor.backends.wireguard import read_wireguard_snapshot
from overlay_monitor.cli_support import run_cli
from overlay_monitor.console import make_console
from overlay_monitor.errors import InputError, OverlayError
from overlay_monitor.table import render_table

from . import proc
from .demo import run_demo
from .impairments import parse_detours, parse_impairments
from .machine_lab import add_robot, provision_lab, reboot, retire_robot, ssh_argv
from .runner import (
    lab_down,
    lab_status,
    lab_up,
    require_state,
    restart_tailscaled,
    roam,
    robot_exec_argv,
    set_peer_relay,
    set_proxy,
    set_server,
    start_lab_prometheus,
    switch_campus,
)
from .services import PROMETHEUS_LISTEN
from .state import PROMETHEUS, LabState, WireGuardRobot
from .topology import CAMPUS_MODES, DEFAULT_PREFIX, OVERLAY_TRAITS, OVERLAYS, LabPlan, Overlay, plan_lab

#: the demo's overlay choice: tailscale when its programs are built, else wireguard
AUTO = "auto"
EXAMPLES = """examples (as root; from a user with sudo: sudo -E env "PATH=$PATH" overlay-lab …):
  overlay-lab demo                        # build 3 robots, prove the mesh, tear down
  overlay-lab up --robots 3 --impair r2:delay=40ms,loss=1%
  overlay-lab up --overlay tailscale --campus restrictive   # real headscale + tailscaled
  overlay-lab campus open                                   # let UDP between robots through
  overlay-lab up --overlay tailscale --peer-relay           # + a peer relay robots reach
  overlay-lab peer-relay down                               # robots fall back to DERP
  overlay-lab exec r1 -- tailscale status
  overlay-lab status --json
  overlay-lab exec r1 -- ping -c 3 100.64.0.2
  overlay-lab up --overlay machines --peer-relay   # Debian machines (systemd-nspawn)
  overlay-lab provision                    # ansible-playbook site.yml from the controller
  overlay-lab reboot r2 ; overlay-lab ssh r1 --user robot
  overlay-lab roam r2 --subnet                                   # a Wi-Fi hand-over under tailscaled
  overlay-lab down
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overlay-lab", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def with_prefix(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--prefix", default=DEFAULT_PREFIX,
                       help=f"lab name, prefix of its namespaces and interfaces (default {DEFAULT_PREFIX})")
        return p

    def with_build(p: argparse.ArgumentParser, overlay_default: str = "wireguard"
                   ) -> argparse.ArgumentParser:
        p.add_argument("--robots", type=int, default=3, help="number of robots, 2..200 (default 3)")
        p.add_argument("--impair", action="append", default=[], metavar="ROBOT:SETTINGS",
                       help="underlay impairment, e.g. r2:delay=40ms,loss=1%%,rate=10mbit "
                            "(delay is one-way, each direction); repeatable")
        p.add_argument("--detour", action="append", default=[], metavar="A-B[:delay=…]",
                       help="wireguard overlay: robots A and B reach each other only through the "
                            "router's delay forwarder (like a DERP-relayed pair), e.g. "
                            "r1-r2:delay=20ms; repeatable")
        p.add_argument("--allow-underlay-tests", action="store_true",
                       help="let ping and the link-test/iperf3 ports (5301-5302, 5201) cross the "
                            "underlay, to compare it with the overlay")
        choices = OVERLAYS + ((AUTO,) if overlay_default == AUTO else ())
        p.add_argument("--overlay", choices=choices, default=overlay_default,
                       help="wireguard: wireguard-go mesh (fast, no Go needed); tailscale: the "
                            "real headscale (+DERP, STUN) and a tailscaled per robot "
                            "(tools/build_components.sh builds them)"
                            + ("; auto: tailscale when built, else wireguard" if
                               overlay_default == AUTO else "") + f". Default {overlay_default}")
        p.add_argument("--campus", choices=CAMPUS_MODES, default="restrictive",
                       help="tailscale overlay: open lets UDP between robots through (direct "
                            "paths); restrictive passes only the server's HTTPS and STUN, so "
                            "every pair is DERP-relayed (default); tcp443 drops every UDP "
                            "packet: only TCP 443 to the server passes (DERP over HTTPS); proxy: "
                            "robots reach only a web proxy (the real tinyproxy, on 198.19.3.2:"
                            "3128), which reaches the server's 443")
        p.add_argument("--peer-relay", action="store_true",
                       help="tailscale overlay: add a peer relay host (dmz) that robots reach on "
                            "one UDP port only; robots still cannot reach each other")
        p.add_argument("--derp-region", action="store_true",
                       help="tailscale overlay: add a second DERP region (the real derper, "
                            "'library'); the last robot reaches STUN only there, so it homes "
                            "there")
        p.add_argument("--no-join", action="store_true",
                       help="tailscale overlay: start tailscaled but do not join (robot.launch.py "
                            "joins)")
        return p

    up = with_build(with_prefix(sub.add_parser("up", help="build the lab (safe to run twice)")))
    up.add_argument("--json", action="store_true", help="print the lab's status as JSON")
    status = with_prefix(sub.add_parser("status", help="robots, processes and live WireGuard peers"))
    status.add_argument("--json", action="store_true", help="machine-readable output")
    ex = with_prefix(sub.add_parser("exec", help="run a command inside a robot"))
    ex.add_argument("robot", help="robot name, e.g. r1")
    ex.add_argument("argv", nargs="*", metavar="-- COMMAND", help="the command and its arguments, after --")
    with_prefix(sub.add_parser("down", help="remove everything the lab made (also after a crash)"))
    with_prefix(sub.add_parser(
        "prometheus", help="tailscale lab: the server joins the overlay with the monitoring tag "
                           "and runs the real Prometheus, scraping every robot's exporter"))
    campus = with_prefix(sub.add_parser(
        "campus", help="switch a running tailscale lab's campus network: open, restrictive, "
                       "tcp443, or proxy (a lab built with --campus proxy)"))
    campus.add_argument("mode", choices=CAMPUS_MODES)
    paths = sub.add_parser(
        "paths", help="the three-path experiment: direct, peer relay and DERP, each against the "
                      "underlay, under one impairment; writes the link-test report")
    paths.add_argument("--prefix", default="ovpaths", help="lab prefix (default ovpaths)")
    paths.add_argument("--rate", type=float, default=200_000.0, metavar="KBIT",
                       help="each robot's link rate, each direction, kbit/s (default 200000: a "
                            "campus Wi-Fi; 0: none)")
    paths.add_argument("--loss", type=float, default=0.0, metavar="PCT",
                       help="underlay packet loss per robot link, percent (default 0)")
    paths.add_argument("--seconds", type=float, default=8.0,
                       help="seconds per throughput and per ROS message test (2..60, default 8)")
    paths.add_argument("--dataset", type=Path, default=Path("overlay-paths.jsonl"),
                       help="the link-test dataset the records are appended to")
    paths.add_argument("--report", type=Path, default=Path("overlay-paths-report"),
                       help="where the report goes (default ./overlay-paths-report)")
    roam_parser = with_prefix(sub.add_parser(
        "roam", help="give a running robot another underlay address under its overlay, as a "
                     "Wi-Fi hand-over does"))
    roam_parser.add_argument("robot", help="robot name, e.g. r2")
    roam_parser.add_argument("--subnet", action="store_true",
                             help="move it to another campus subnet (198.18.<i> <-> 198.18.<100+i>)")
    restart = with_prefix(sub.add_parser(
        "restart-tailscaled", help="tailscale lab: restart a robot's tailscaled (as 'systemctl "
                                   "restart tailscaled' does), with its environment file"))
    restart.add_argument("robot", help="robot name, e.g. r2")
    for verb, what in (("proxy", "proxy campus: stop the campus web proxy (it is down) or start "
                                 "it again"),
                       ("server", "stop a tailscale lab's headscale (an outage) or start it "
                                  "again"),
                       ("peer-relay", "take a running lab's peer relay down (its tailscaled "
                                      "stops) or up")):
        with_prefix(sub.add_parser(verb, help=what)).add_argument("state", choices=("up", "down"))
    prov = with_prefix(sub.add_parser(
        "provision", help="machines lab: run ansible-playbook site.yml from the controller "
                          "(a second run changes nothing)"))
    prov.add_argument("--check", action="store_true", help="--check --diff: report, change nothing")
    prov.add_argument("--limit", default="", metavar="HOSTS",
                      help="only these hosts or groups (ansible-playbook --limit)")
    prov.add_argument("--host-var", action="append", default=[], metavar="HOST:NAME=VALUE",
                      help="set a host variable in the lab's hosts inventory first (repeatable)")
    boot = with_prefix(sub.add_parser("reboot", help="machines lab: reboot a machine for real"))
    boot.add_argument("host", help="r1, server, dmz, …")
    ssh = with_prefix(sub.add_parser("ssh", help="machines lab: a shell (or a command after --) "
                                                 "on a machine over SSH from the controller"))
    ssh.add_argument("host", help="r1, server, dmz, …")
    ssh.add_argument("--user", default="root", help="log in as this user (default root)")
    ssh.add_argument("argv", nargs="*", metavar="-- COMMAND", help="a command instead of a shell")
    with_prefix(sub.add_parser("add-robot", help="machines lab: a new robot machine, added to "
                                                 "the inventory (then: provision)"))
    retire = with_prefix(sub.add_parser("retire-robot", help="machines lab: take a robot out of "
                                                             "the inventory (then: provision)"))
    retire.add_argument("robot")
    demo = with_build(with_prefix(sub.add_parser(
        "demo", help="the main job: build the lab, join the robots, show live per-peer state, "
                     "ROS messages and a link test, tear down")), overlay_default=AUTO)
    demo.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    demo.add_argument("--report", type=Path, default=Path("overlay-demo-report"),
                      help="where the link-test report goes (default ./overlay-demo-report)")
    return parser


def _names(state: LabState) -> dict[str, str]:
    return {r.public_key: r.name for r in state.robots_as(WireGuardRobot)}


def print_peer_tables(state: LabState, console: Console) -> None:
    """Each robot's live WireGuard peers (tailscale labs: 'overlay-lab exec R -- overlay-status')."""
    if state.overlay is not Overlay.WIREGUARD:
        console.print(f"robots: {', '.join(f'{r.name}={r.overlay_ip}' for r in state.robots)}; "
                      "per-peer state: overlay-lab exec r1 -- overlay-status", highlight=False)
        return
    now = datetime.now(timezone.utc)
    for robot in state.robots:
        try:
            snapshot = read_wireguard_snapshot(robot.interface, _names(state))
        except OverlayError as err:
            console.print(f"{robot.name}: {err}")
            continue
        render_table(snapshot, now, console,
                     title=f"{robot.name} ({robot.overlay_ip}, {robot.interface}): WireGuard peers")


def _demo(args: argparse.Namespace, console: Console) -> int:
    if args.overlay == AUTO:
        missing = [n for n in ("tailscale", "tailscaled", "headscale") if find_component(n) is None]
        args.overlay = Overlay.WIREGUARD if missing else Overlay.TAILSCALE
        if missing:
            console.print(f"note: {', '.join(missing)} not built (tools/build_components.sh "
                          "needs Go): the demo runs on the plain WireGuard lab instead")
    if OVERLAY_TRAITS[Overlay(args.overlay)].has_server:
        args.allow_underlay_tests = True  # the link test compares each path with the underlay
    return run_demo(_plan(args), console, args.report, args.keep)


def _paths(args: argparse.Namespace, console: Console) -> int:
    from overlay_monitor.linktest.report import overhead_rows, ros_rows, write_report

    from .paths import ExperimentOptions, run_experiment

    if not 2 <= args.seconds <= 60:
        raise InputError(f"--seconds {args.seconds:g} is out of range (2..60)")
    options = ExperimentOptions(args.prefix, args.rate, args.loss, args.seconds)
    records = run_experiment(options, args.dataset,
                             lambda text: console.print(text, highlight=False, markup=False))
    page = write_report(records, args.report)
    for row in overhead_rows(records):
        console.print(f"{row['location']:20} TCP {row['tp_over']} vs {row['tp_under']} "
                      f"(loss {row['tp_loss']}), RTT {row['rtt_over']} vs {row['rtt_under']} "
                      f"(+{row['rtt_inc']})", highlight=False, markup=False)
    for row in ros_rows(records):
        console.print(f"{row['location']:20} ROS {row['message']}: {row['got_over']} vs "
                      f"{row['got_under']} (loss {row['delivery_loss']}), latency "
                      f"{row['lat_over']} vs {row['lat_under']}", highlight=False, markup=False)
    console.print(f"records appended to {args.dataset}; report {page.resolve()}",
                  highlight=False)
    return 0


def _plan(args: argparse.Namespace) -> LabPlan:
    return plan_lab(args.robots, args.prefix, parse_impairments(args.impair),
                    parse_detours(args.detour), args.allow_underlay_tests, args.overlay,
                    args.campus, args.peer_relay, args.derp_region)


def _up(args: argparse.Namespace, console: Console) -> int:
    plan = _plan(args)
    result = lab_up(plan, join=not args.no_join)
    if args.json:
        print(json.dumps(lab_status(plan.prefix), indent=2))
        return 0
    verb = "already up" if result.already_up else "up"
    campus = f", {plan.campus} campus" if plan.traits.has_server else ""
    console.print(f"lab {plan.prefix!r} {verb} ({plan.overlay} overlay{campus}): "
                  + ", ".join(f"{r.name}={r.overlay_ip or 'not joined'}"
                              for r in result.state.robots), highlight=False)
    if result.join_times_s:
        console.print("joined with overlay-join in " + ", ".join(
            f"{name} {t:.1f} s" for name, t in result.join_times_s.items()), highlight=False)
    return 0


def _prometheus(args: argparse.Namespace, console: Console) -> int:
    state = start_lab_prometheus(args.prefix)
    console.print(f"lab {args.prefix!r}: Prometheus on {PROMETHEUS_LISTEN} in "
                  f"{state.server_namespace} (pid {state.service(PROMETHEUS)})", highlight=False)
    return 0


def _campus(args: argparse.Namespace, console: Console) -> int:
    state = switch_campus(args.prefix, args.mode)
    console.print(f"lab {args.prefix!r}: campus {state.campus}")
    return 0


def _server(args: argparse.Namespace, console: Console) -> int:
    set_server(args.prefix, args.state == "up")
    console.print(f"lab {args.prefix!r}: headscale {args.state}")
    return 0


def _proxy(args: argparse.Namespace, console: Console) -> int:
    set_proxy(args.prefix, args.state == "up")
    console.print(f"lab {args.prefix!r}: web proxy {args.state}")
    return 0


def _restart_tailscaled(args: argparse.Namespace, console: Console) -> int:
    restart_tailscaled(args.prefix, args.robot)
    console.print(f"lab {args.prefix!r}: {args.robot}'s tailscaled restarted", highlight=False)
    return 0


def _peer_relay(args: argparse.Namespace, console: Console) -> int:
    set_peer_relay(args.prefix, args.state == "up")
    console.print(f"lab {args.prefix!r}: peer relay {args.state}")
    return 0


def _status(args: argparse.Namespace, console: Console) -> int:
    status = lab_status(args.prefix)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    console.print(f"lab {args.prefix!r} (created {status['created_at']})")
    print_peer_tables(require_state(args.prefix), console)
    return 0


def _roam(args: argparse.Namespace, console: Console) -> int:
    moved = roam(args.prefix, args.robot, args.subnet)
    console.print(f"lab {args.prefix!r}: {moved.robot} roamed {moved.old_ip} -> {moved.new_ip}",
                  highlight=False)
    return 0


def _exec(args: argparse.Namespace, console: Console) -> int:
    return proc.call(robot_exec_argv(require_state(args.prefix), args.robot, args.argv))


def _down(args: argparse.Namespace, console: Console) -> int:
    removed = lab_down(args.prefix).removed
    console.print(f"lab {args.prefix!r}: " + ("; ".join(removed) if removed else "nothing to remove"))
    return 0


def _provision(args: argparse.Namespace, console: Console) -> int:
    result = provision_lab(args.prefix, args.check, args.host_var, args.limit)
    console.print(f"lab {args.prefix!r}: ansible-playbook{' --check' if args.check else ''} in "
                  f"{result.seconds:.1f} s: " + ", ".join(
                      f"{host} changed={n}" for host, n in result.changed.items()),
                  highlight=False)
    for line in result.todo:
        console.print(f"to do: {line}", highlight=False)
    return 0


def _reboot(args: argparse.Namespace, console: Console) -> int:
    seconds = reboot(args.prefix, args.host)
    console.print(f"lab {args.prefix!r}: {args.host} rebooted, systemd running after "
                  f"{seconds:.1f} s", highlight=False)
    return 0


def _ssh(args: argparse.Namespace, console: Console) -> int:
    return proc.call(ssh_argv(args.prefix, args.host, args.argv, args.user))


def _add_robot(args: argparse.Namespace, console: Console) -> int:
    name = add_robot(args.prefix)
    console.print(f"lab {args.prefix!r}: machine {name} up and in the inventory; provision it "
                  f"with 'overlay-lab provision --prefix {args.prefix}'", highlight=False)
    return 0


def _retire_robot(args: argparse.Namespace, console: Console) -> int:
    retire_robot(args.prefix, args.robot)
    console.print(f"lab {args.prefix!r}: {args.robot} is out of the inventory; 'overlay-lab "
                  f"provision' names its node for removal", highlight=False)
    return 0


#: every verb and what runs it: an unknown verb cannot fall through to another one
VERBS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "up": _up, "status": _status, "exec": _exec, "down": _down, "prometheus": _prometheus,
    "campus": _campus, "paths": _paths, "server": _server, "peer-relay": _peer_relay,
    "restart-tailscaled": _restart_tailscaled, "proxy": _proxy,
    "roam": _roam, "provision": _provision, "reboot": _reboot, "ssh": _ssh,
    "add-robot": _add_robot, "retire-robot": _retire_robot,
    "demo": _demo,
}


def run_command(args: argparse.Namespace, console: Console) -> int:
    verb = VERBS.get(args.command)
    if verb is None:
        raise InputError(f"unknown verb {args.command!r} (expected one of {', '.join(VERBS)})")
    return verb(args, console)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in words:  # everything after -- is the command for `exec`, never our options
        split = words.index("--")
        words, command = words[:split], words[split + 1:]

    def run_with_command(args: argparse.Namespace) -> int:
        if command:
            args.argv = list(args.argv) + command
        return run_command(args, make_console())

    return run_cli(_parser(), run_with_command, words)


if __name__ == "__main__":
    sys.exit(main())
