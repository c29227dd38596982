"""Record outputs of the real tailscale, tailscaled and headscale into test/fixtures/real/.

Needs root and a running tailscale lab of 3 robots (sudo overlay-lab up --overlay tailscale
--prefix PREFIX). It changes the lab as it goes (campus, r3's tailscaled, keys) and leaves it
usable. Auth and API keys in recorded responses are replaced by TESTONLY placeholders, so the
suite's secret check would catch them if they ever reached a log.

    sudo -E python tools/record_real_fixtures.py --prefix tsl
    sudo -E python tools/record_real_fixtures.py --prefix tsl --zenoh-admin   # zenohd's admin space
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from overlay_lab.runner import require_state, robot_exec_argv, switch_campus
from overlay_lab.services import api_key_file, server_out
from overlay_lab.tailnet import member_dir as robot_dir
from overlay_monitor.netcheck import StunCounters, stun_counters

OUT = Path(__file__).resolve().parents[1] / "test" / "fixtures" / "real"
_KEYS = re.compile(r"\b(hskey-(?:auth|api)-)[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    return _KEYS.sub(lambda m: m.group(1) + "REDACTED-TESTONLY", text)


class Recorder:
    def __init__(self, prefix: str) -> None:
        self.state = require_state(prefix)
        self.prefix = prefix
        self.notes: dict[str, str] = {}

    def run(self, robot: str, argv: list[str],
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(robot_exec_argv(self.state, robot, argv), capture_output=True,
                              text=True, timeout=timeout)

    def save(self, name: str, text: str, how: str) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / name).write_text(redact(text))
        self.notes[name] = how
        print(f"recorded {name}")

    def localapi(self, robot: str, method: str, path: str) -> str:
        socket = robot_dir(self.prefix, robot) / "run" / "tailscaled.sock"
        result = subprocess.run(["curl", "-sS", "--unix-socket", str(socket), "-X", method,
                                 "-H", "Host: local-tailscaled.sock",
                                 f"http://local-tailscaled.sock{path}"],
                                capture_output=True, text=True, timeout=30)
        return result.stdout

    def rest(self, method: str, path: str, body: object = None, key: str | None = None) -> str:
        out = server_out(self.prefix)
        api_key = key if key is not None else api_key_file(self.prefix).read_text().strip()
        argv = ["ip", "netns", "exec", self.state.server_namespace, "curl", "-sS", "-i",
                "--cacert", str(out / "tls" / "ca.crt"), "-X", method, "-H",
                f"Authorization: Bearer {api_key}", f"{self.state.server_url}/api/v1{path}"]
        if body is not None:
            argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        head, _, payload = result.stdout.partition("\n\n")  # text mode: CRLF read as LF
        return head.splitlines()[0] + "\n" + payload if head else result.stderr


def pretty(text: str) -> str:
    return json.dumps(json.loads(text), indent=2) + "\n"


def record_zenoh_admin(rec: Recorder) -> None:
    """r1's zenoh bridge (zenohd + ros2dds plugin) as the monitor reads it: bridges on r1 and
    r2, a talker on r1, a listener on r2, and a second listed topic that no node uses."""
    from overlay_bringup.discovery.model import BridgePolicy
    from overlay_bringup.discovery.zenoh_bridge import BRIDGE_CONFIG_FILE
    from overlay_lab import proc
    from overlay_lab.ros_demo import chatter_argv, zenoh_bridges
    from overlay_lab.state import lab_dir

    policy = BridgePolicy(rule="allow", topics=("/chatter", "/missing"))
    envs, bridges = zenoh_bridges(rec.state, ("r1", "r2"), 31, policy)
    chatters = [proc.spawn(chatter_argv(rec.state, robot, envs[robot], verb, "--topic",
                                        "/chatter", "--duration", "15"), stderr=False)
                for robot, verb in (("r2", "listen"), ("r1", "talk"))]
    try:
        time.sleep(8)
        config = lab_dir(rec.prefix) / "discovery" / "zenoh-bridge" / "r1" / BRIDGE_CONFIG_FILE
        dump = rec.run("r1", proc.python_module("overlay_monitor.status_cli", "--bridge",
                                                str(config), "--json"))
        rec.save("zenoh_admin_r1.json", dump.stdout,
                 "zenoh-bridge on r1 and r2 (allow /chatter and /missing), a talker of /chatter "
                 "on r1 and a listener on r2: overlay-status --bridge <config> --json on r1 "
                 "(zenohd's @/<zid>/router and @/<zid>/ros2/route/**)")
    finally:
        proc.terminate(p.pid for p in chatters + bridges)


def record(prefix: str, rest_only: bool = False, up_failures: bool = False,
           zenoh_admin: bool = False) -> None:
    rec = Recorder(prefix)
    if zenoh_admin:
        record_zenoh_admin(rec)
        write_readme(rec.notes)
        return
    if up_failures:
        record_up_failures(rec)
        write_readme(rec.notes)
        return
    if rest_only:
        record_rest(rec)
        write_readme(rec.notes)
        return
    r2_ip = rec.state.robot("r2").tailscale_ips[0]
    # DERP: the restrictive campus
    switch_campus(prefix, "restrictive")
    time.sleep(2)
    ping = rec.run("r1", ["tailscale", "ping", "-c", "3", "--until-direct=false", r2_ip])
    rec.save("tailscale_ping_derp.txt", ping.stdout,
             "restrictive campus: tailscale ping -c 3 --until-direct=false <r2> on r1")
    ping_path = f"/localapi/v0/ping?ip={r2_ip}&type=disco"
    rec.save("localapi_ping_derp.json", pretty(rec.localapi("r1", "POST", ping_path)),
             "restrictive campus: POST /localapi/v0/ping?ip=<r2>&type=disco on r1")
    rec.save("status_derp.json", pretty(rec.localapi("r1", "GET", "/localapi/v0/status")),
             "restrictive campus, right after the pings: GET /localapi/v0/status on r1 "
             "(r2 via DERP, r3 idle)")
    cli_status = rec.run("r1", ["tailscale", "status", "--json"])
    rec.save("tailscale_status_json_derp.json", cli_status.stdout,
             "restrictive campus: tailscale status --json on r1 (the CLI's own rendering)")
    # direct: the open campus
    switch_campus(prefix, "open")
    ping = rec.run("r1", ["tailscale", "ping", "-c", "10", r2_ip])
    rec.save("tailscale_ping_direct.txt", ping.stdout,
             "open campus: tailscale ping -c 10 <r2> on r1 (stops once direct)")
    rec.save("localapi_ping_direct.json", pretty(rec.localapi("r1", "POST", ping_path)),
             "open campus: POST /localapi/v0/ping?ip=<r2>&type=disco on r1")
    rec.run("r1", ["ping", "-c", "3", "-i", "0.2", r2_ip])
    rec.save("status_direct.json", pretty(rec.localapi("r1", "GET", "/localapi/v0/status")),
             "open campus, after 3 ICMP pings to r2: GET /localapi/v0/status on r1 (r2 direct)")
    rec.save("prefs.json", pretty(rec.localapi("r1", "GET", "/localapi/v0/prefs")),
             "GET /localapi/v0/prefs on r1 after overlay-join")
    record_netcheck(rec)
    # offline: r3's tailscaled stopped
    pid = rec.state.robot("r3").tailscaled_pid
    subprocess.run(["kill", str(pid)], check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = json.loads(rec.localapi("r1", "GET", "/localapi/v0/status"))
        r3 = [p for p in status.get("Peer", {}).values() if p.get("HostName") == "r3"]
        if r3 and not r3[0].get("Online"):
            break
        time.sleep(0.5)
    rec.save("status_offline.json", json.dumps(status, indent=2) + "\n",
             "r3's tailscaled killed: GET /localapi/v0/status on r1 once r3 is Online=false")
    record_rest(rec)
    write_readme(rec.notes)


def _stun(rec: Recorder) -> StunCounters:
    return stun_counters(rec.localapi("r1", "GET", "/localapi/v0/metrics"))


def _wait_netcheck(rec: Recorder, before: StunCounters, blocked: bool,
                   timeout_s: float = 120.0) -> None:
    """Until tailscaled's periodic netcheck (every 20-26 s, only while links are in use: pings
    to r2 keep them so) sent STUN again: with no reply when ``blocked``, with one otherwise."""
    r2_ip = rec.state.robot("r2").tailscale_ips[0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = _stun(rec)
        if now.sent > before.sent and (now.received == before.received) == blocked:
            return
        rec.run("r1", ["ping", "-q", "-c", "5", "-i", "0.2", r2_ip])
    raise SystemExit(f"no {'unanswered' if blocked else 'answered'} netcheck within {timeout_s:g} s")


def record_netcheck(rec: Recorder) -> None:
    """Client metrics (GET /localapi/v0/metrics) on the open campus and with every UDP packet
    dropped (tcp443): the netcheck counters the monitor reads to tell "UDP blocked"."""
    _wait_netcheck(rec, _stun(rec), blocked=False)
    rec.save("localapi_metrics_open.txt", rec.localapi("r1", "GET", "/localapi/v0/metrics"),
             "open campus, after a netcheck: GET /localapi/v0/metrics on r1")
    switch_campus(rec.prefix, "tcp443")
    _wait_netcheck(rec, _stun(rec), blocked=True)
    _wait_netcheck(rec, _stun(rec), blocked=True)  # two in a row: none answered
    rec.save("localapi_metrics_tcp443.txt", rec.localapi("r1", "GET", "/localapi/v0/metrics"),
             "tcp443 campus (every UDP packet dropped), after two netchecks: GET "
             "/localapi/v0/metrics on r1")
    switch_campus(rec.prefix, "open")


def record_rest(rec: Recorder) -> None:
    for name, method, path, body in (
            ("rest_health.json", "GET", "/health", None),
            ("rest_users.json", "GET", "/user", None),
            ("rest_preauthkeys.json", "GET", "/preauthkey", None),
            ("rest_nodes.json", "GET", "/node", None),
            ("rest_policy.json", "GET", "/policy", None),
            ("rest_create_user.json", "POST", "/user", {"name": "recorder"}),
            ("rest_create_user_again.json", "POST", "/user", {"name": "recorder"})):
        rec.save(name, rec.rest(method, path, body), f"curl -X {method} /api/v1{path}"
                 + (f" with {json.dumps(body)}" if body else "") + " (first line: the HTTP status)")
    rec.save("rest_wrong_api_key.json", rec.rest("GET", "/user", key="hskey-api-wrongTESTONLY"),
             "curl /api/v1/user with a made-up API key (first line: the HTTP status)")


def record_up_failures(rec: Recorder) -> None:
    """``tailscale up`` failures on a fresh robot r3: untrusted CA, used key, expired key,
    server down. Restarts r3's tailscaled and headscale as it goes."""
    from overlay_bringup.components import require_components

    tools = require_components("tailscaled", "headscale")
    state, prefix = rec.state, rec.prefix
    base = robot_dir(prefix, "r3")
    config = server_out(prefix) / "config.yaml"
    ca = server_out(prefix) / "bundles" / "lab" / "ca.crt"
    subprocess.run(["pkill", "-f", f"statedir={base}/state"], check=False)
    time.sleep(1)

    def start_r3(trust: bool) -> subprocess.Popen[bytes]:
        env = {"TS_LOGS_DIR": str(base / "logs"), "TS_NO_LOGS_NO_SUPPORT": "1",
               "TS_DISABLE_PORTMAPPER": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if trust:
            env["SSL_CERT_FILE"] = str(ca)
        subprocess.run(["rm", "-rf", str(base / "state")], check=False)
        (base / "state").mkdir(mode=0o700)
        proc = subprocess.Popen(robot_exec_argv(state, "r3", [
            str(tools["tailscaled"]), f"--statedir={base / 'state'}",
            "--socket=/var/run/tailscale/tailscaled.sock", "--tun=tailscale0", "--port=41641",
            "--no-logs-no-support"]), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        for _ in range(100):
            if (base / "run" / "tailscaled.sock").exists():
                break
            time.sleep(0.1)
        time.sleep(1)
        return proc

    def key(*flags: str) -> Path:
        made = subprocess.run(["ip", "netns", "exec", state.server_namespace, str(tools["headscale"]),
                               "preauthkeys", "create", "--user", "1", "-c", str(config), *flags],
                              capture_output=True, text=True, timeout=20)
        path = base / "key"
        path.write_text(made.stdout.strip().splitlines()[-1] + "\n")
        path.chmod(0o600)
        return path

    def up(key_file: Path) -> str:
        result = rec.run("r3", ["tailscale", "up", "--login-server", state.server_url, "--auth-key",
                                f"file:{key_file}", "--hostname", "r3", "--accept-dns=false",
                                "--timeout=20s"], timeout=60)
        health = json.loads(rec.localapi("r3", "GET", "/localapi/v0/status")).get("Health") or []
        return (f"exit {result.returncode}\n--- stderr\n{result.stderr}--- stdout\n{result.stdout}"
                "--- Health in /localapi/v0/status right after\n" + "".join(f"{h}\n" for h in health))

    proc = start_r3(trust=False)
    rec.save("up_untrusted_ca.txt", up(key("--reusable")),
             "tailscale up on a robot whose tailscaled does not trust the fleet CA")
    proc.terminate()
    proc.wait()
    proc = start_r3(trust=True)
    single = key()
    first = up(single)
    rec.run("r3", ["tailscale", "logout"])
    time.sleep(1)
    rec.save("up_used_key.txt", up(single),
             "tailscale up again (after 'tailscale logout') with a single-use key that was "
             "used: " + first.splitlines()[0])
    rec.run("r3", ["tailscale", "logout"])
    expired = key("--reusable", "--expiration", "1s")
    time.sleep(2)
    rec.save("up_expired_key.txt", up(expired),
             "tailscale up with a key created with --expiration 1s, 2 s later")
    subprocess.run(["kill", str(state.service("headscale"))], check=False)
    time.sleep(1)
    rec.save("up_server_down.txt", up(key_file=base / "key"),
             "tailscale up while headscale is stopped (nothing listens on 443)")
    proc.terminate()
    proc.wait()
    print("headscale and r3's tailscaled are stopped now: 'overlay-lab down' the lab")


def write_readme(notes: dict[str, str]) -> None:
    readme = OUT / "README.md"
    old = {}
    if readme.exists():
        for line in readme.read_text().splitlines():
            match = re.match(r"^- `([^`]+)`: (.*)$", line)
            if match:
                old[match[1]] = match[2]
    old.update(notes)
    pins = dict(re.findall(r"^(\w+)_VERSION=v?(\S+)$", (Path(__file__).parent /
                                                          "components.env").read_text(), re.M))
    lines = [f"Outputs of the real programs (tailscale/tailscaled {pins['TAILSCALE']}, headscale "
             f"{pins['HEADSCALE']}, zenohd {pins['ZENOH']}) recorded in the lab\nby "
             "tools/record_real_fixtures.py (--up-failures for up_*.txt, --zenoh-admin for "
             "zenoh_*.json); keys are replaced by TESTONLY placeholders.\n"]
    lines += [f"- `{name}`: {how}" for name, how in sorted(old.items())]
    readme.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--rest-only", action="store_true", help="record only headscale's REST")
    parser.add_argument("--up-failures", action="store_true",
                        help="record tailscale up failures (stops headscale at the end)")
    parser.add_argument("--zenoh-admin", action="store_true",
                        help="record only the zenoh bridge's admin space (needs zenohd built)")
    args = parser.parse_args()
    record(args.prefix, args.rest_only, args.up_failures, args.zenoh_admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
