"""A stand-in for the ``tailscale`` CLI (tests only; not Tailscale).

It records its argv (JSON lines in $FAKE_TAILSCALE_ARGV_LOG) and, for ``up``, drives the
stand-in tailscaled (script file $FAKE_TAILSCALED_SCRIPT) the way a real login would end:
Running with an address and peers, NeedsMachineAuth, or an error printed as tailscale 1.102.5
printed it against headscale 0.29.2 (test/fixtures/real/up_*.txt): key errors on stderr, server
errors only as a timeout on stderr with the reason in tailscaled's health messages. The auth key
is read from the ``file:`` path, as the real CLI does; what the key says decides the outcome
("expired", "used", "machineauth"); the node's tags are the key's (script field ``key_tags``,
default tag:team-a), and ``--advertise-tags`` with a key is refused, as headscale refuses it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from standins.fake_tailscaled import write_script  # noqa: E402
from standins.tailscale_shapes import peer_status, status  # noqa: E402


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _set(args: list[str]) -> int:
    """``tailscale set --relay-server-port=N`` or ``--operator=USER``: the value lands in the
    prefs (as RelayServerPort or OperatorUser, which 1.102.5's prefs carry); script field
    ``no_relay_flag`` imitates a CLI before 1.86."""
    script_path = Path(os.environ["FAKE_TAILSCALED_SCRIPT"])
    script = json.loads(script_path.read_text())
    operator = _flag(args, "--operator")
    if operator is not None:  # the real CLI checks that the user exists
        script.setdefault("prefs", {})["OperatorUser"] = operator
        write_script(script_path, script)
        return 0
    port = _flag(args, "--relay-server-port")
    if port is None:
        print(f"stand-in tailscale: unsupported set {args}", file=sys.stderr)
        return 2
    if script.get("no_relay_flag"):
        print("flag provided but not defined: -relay-server-port", file=sys.stderr)
        return 2
    script.setdefault("prefs", {})["RelayServerPort"] = int(port)
    write_script(script_path, script)
    return 0


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_TAILSCALE_ARGV_LOG"], "a") as log:
        log.write(json.dumps(args) + "\n")
    if args[:1] == ["version"]:
        print("1.90.6\n  tailscale commit: stand-in")
        return 0
    if "--socket" in args:
        i = args.index("--socket")
        args = args[:i] + args[i + 2:]
    if args[:1] == ["set"]:
        return _set(args[1:])
    if not args or args[0] != "up":
        print(f"stand-in tailscale: unsupported command {args[:1]}", file=sys.stderr)
        return 2
    script_path = Path(os.environ["FAKE_TAILSCALED_SCRIPT"])
    script = json.loads(script_path.read_text())
    url = _flag(args, "--login-server") or ""
    hostname = _flag(args, "--hostname") or "host"
    auth = _flag(args, "--auth-key") or _flag(args, "--authkey") or ""
    key = Path(auth[5:]).read_text().strip() if auth.startswith("file:") else auth
    prefs = script.get("prefs") or {}
    if prefs.get("ControlURL") and prefs["ControlURL"] != url and "--reset" not in args:
        print("Error: changing settings via 'tailscale up' requires mentioning all\n"
              "non-default flags. To proceed, either re-run your command with --reset or\n"
              "use the command below to explicitly mention the current value of\n"
              "all non-default settings:", file=sys.stderr)
        return 1
    timeout = ('timeout waiting for Tailscale service to enter a Running state; check health '
               'with "tailscale status"')
    for marker, reason in (("unreachable", "dial tcp 198.19.0.2:443: connect: connection refused"),
                           ("badcert", "x509: certificate signed by unknown authority")):
        if marker in url:
            script["status"] = status("NeedsLogin", self_name=hostname, health=[
                f'You are logged out. The last login error was: fetch control key: Get '
                f'"{url}/key?v=142": {reason}'])
            write_script(script_path, script)
            print(timeout, file=sys.stderr)
            return 1
    if "keyexpired" in key:  # headscale < 0.29.3 after 'tailscale logout' (headscale#3371)
        script["status"] = status("NeedsLogin", self_name=hostname, health=[
            "You are logged out. The last login error was: weird: regen=true but server says "
            "NodeKeyExpired: nodekey:" + "0" * 64])
        write_script(script_path, script)
        time.sleep(120)  # the real 'tailscale up' waits its whole timeout
        print(timeout, file=sys.stderr)
        return 1
    for marker, error in (("expired", "authkey expired"), ("used", "authkey already used")):
        if marker in key:
            print(f"backend error: {error}", file=sys.stderr)
            return 1
    requested = [t for t in (_flag(args, "--advertise-tags") or "").split(",") if t]
    if requested and key:
        print("backend error: handling register with auth key: creating new node: requested "
              f"tags [{' '.join(requested)}] are invalid or not permitted", file=sys.stderr)
        return 1
    tags = list(script.get("key_tags", ["tag:team-a"]))
    new_prefs = {"ControlURL": url, "Hostname": hostname, "AdvertiseTags": None,
                 "WantRunning": True, "CorpDNS": _flag(args, "--accept-dns") != "false"}
    if "machineauth" in key:
        script["status"] = status("NeedsMachineAuth", self_name=hostname)
        script["prefs"] = new_prefs
        write_script(script_path, script)
        print("timeout waiting for Tailscale service to enter a Running state; "
              "last state: NeedsMachineAuth", file=sys.stderr)
        return 1
    peers = script.get("peer_templates") or [
        peer_status("robot2", "100.64.0.2", tags=tags), peer_status("robot3", "100.64.0.3",
                                                                     state="idle", tags=tags)]
    script["status"] = status("Running", self_name=hostname, self_ip="100.64.0.1", peers=peers,
                              self_tags=tags)
    script["prefs"] = new_prefs
    write_script(script_path, script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
