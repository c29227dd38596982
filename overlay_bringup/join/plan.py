"""What joining has to do, and what a failure means. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from overlay_monitor.errors import (
    ClientTooOld,
    JoinError,
    JoinTimeout,
    KeyRejected,
    NodeKeyExpired,
    NotOperator,
    ServerNotTrusted,
    ServerUnreachable,
    WaitingForApproval,
)

USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: Tailscale's address range. While tailscaled runs, its own routing table sends it into the
#: tunnel; when tailscaled stops, that table goes and traffic to peers would follow the default
#: route onto the campus network in clear text. The guard route (low priority: high metric) makes
#: it unreachable instead.
OVERLAY_RANGE = "100.64.0.0/10"
GUARD_ROUTE_METRIC = 4000


class Action(str, Enum):
    NOTHING = "nothing"     # already Running against this server with this name
    UP = "up"
    UP_RESET = "up --reset"  # configured for another server or name: start from defaults


@dataclass(frozen=True)
class JoinRequest:
    login_server: str
    auth_key_file: str
    hostname: str
    #: the tags this node must end up with. They come from the pre-auth key (headscale 0.29
    #: refuses --advertise-tags with a key); joining checks them afterwards.
    tags: tuple[str, ...] = ()
    accept_dns: bool = True
    timeout_s: float = 60.0
    #: serve as a peer relay on this UDP port after joining (0: not a relay)
    relay_server_port: int = 0
    #: make this user tailscaled's operator (may run tailscale up/set without root; "": keep)
    operator: str = ""


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def decide(request: JoinRequest, backend_state: str, prefs: dict[str, Any]) -> Action:
    configured = str(prefs.get("ControlURL") or "")
    same = (_same_url(configured, request.login_server)
            and prefs.get("Hostname") == request.hostname)
    if backend_state == "Running" and same:
        return Action.NOTHING
    if configured and not same:
        return Action.UP_RESET
    return Action.UP


def up_argv(request: JoinRequest, action: Action, tailscale: str = "tailscale",
            socket: str = "") -> list[str]:
    """The ``tailscale up`` command line. The key is passed as ``file:PATH``, never itself.

    No ``--advertise-tags``: a tagged pre-auth key gives the node its tags, and headscale 0.29.2
    rejects any requested tag on a registration with a key ("requested tags [...] are invalid or
    not permitted")."""
    argv = [tailscale] + (["--socket", socket] if socket else []) + [
        "up", "--login-server", request.login_server,
        "--auth-key", f"file:{request.auth_key_file}", "--hostname", request.hostname,
        f"--accept-dns={'true' if request.accept_dns else 'false'}",
        f"--timeout={int(request.timeout_s)}s"]
    if action is Action.UP_RESET:
        argv.append("--reset")
    return argv


def relay_port_argv(port: int, tailscale: str = "tailscale", socket: str = "") -> list[str]:
    """``tailscale set --relay-server-port=N``: serve as a peer relay (Tailscale >= 1.86)."""
    return [tailscale] + (["--socket", socket] if socket else []) + [
        "set", f"--relay-server-port={port}"]


def operator_argv(user: str, tailscale: str = "tailscale", socket: str = "") -> list[str]:
    """``tailscale set --operator=USER``."""
    return [tailscale] + (["--socket", socket] if socket else []) + [
        "set", f"--operator={user}"]


def operator_of(prefs: dict[str, Any]) -> str:
    """tailscaled's operator user in its prefs ("" when none)."""
    return str(prefs.get("OperatorUser") or "")


def relay_port_of(prefs: dict[str, Any]) -> int:
    """The peer-relay port in tailscaled's prefs (0 when it is not a relay)."""
    value = prefs.get("RelayServerPort")
    return int(value) if isinstance(value, int) else 0


_FAILURES: list[tuple[re.Pattern[str], type[JoinError], str]] = [
    (re.compile(r"x509|certificate signed by unknown authority|tls: failed to verify", re.I),
     ServerNotTrusted, "the server's TLS certificate is not trusted: install the fleet CA "
     "(overlay-join --ca-file CA --install-ca) and try again"),
    (re.compile(r"connection refused|no such host|network is unreachable|i/o timeout|"
                r"no route to host", re.I),
     ServerUnreachable, "the coordination server cannot be reached: check the URL, DNS, and "
     "that TCP port 443 is open"),
    (re.compile(r"invalid key|authkey expired|key expired|already used|not valid|unauthorized",
                re.I),
     KeyRejected, "the server rejected the auth key (invalid, expired or used up): ask for a "
     "new one ('overlay-server apply' issues them)"),
    (re.compile(r"NeedsMachineAuth", re.I),
     WaitingForApproval, "the server wants an administrator to approve this machine "
     "('headscale nodes register' / approve in the admin tool)"),
    (re.compile(r"timeout waiting|timed out|deadline exceeded", re.I),
     JoinTimeout, "tailscale did not reach the Running state in time"),
]


#: what tailscale prints to a user who is neither root nor tailscaled's operator
_NOT_OPERATOR = re.compile(r"access denied|--operator=", re.I)
#: what tailscaled says when headscale (< 0.29.3, headscale#3371) keeps a logged-out node's
#: expired key: "weird: regen=true but server says NodeKeyExpired"; waiting cannot help
_NODE_KEY_EXPIRED = re.compile(r"NodeKeyExpired")


def node_key_expired(health: list[str], hostname: str) -> NodeKeyExpired | None:
    """The named error when tailscaled's health says the server refuses this node's key."""
    if not any(_NODE_KEY_EXPIRED.search(line) for line in health):
        return None
    return NodeKeyExpired(
        f"the server keeps this machine's node ({hostname}) with an expired node key, as "
        "headscale before 0.29.3 does after 'tailscale logout' (headscale#3371), so no auth key "
        f"can log it in again: on the server run 'headscale nodes list' and 'headscale nodes "
        f"delete --identifier <ID of {hostname}>' (or upgrade headscale to 0.29.3 or newer), "
        "then join again")


#: what tailscaled says when headscale refuses its capability version: headscale answers the
#: /key request of a client older than it supports (0.29: below 1.80) with 400, and tailscale
#: shows only the status; waiting cannot help
_CLIENT_TOO_OLD = re.compile(r"fetch control key: 400")


def client_too_old(health: list[str], version: str) -> ClientTooOld | None:
    """The named error when tailscaled's health says the server refused its version."""
    if not any(_CLIENT_TOO_OLD.search(line) for line in health):
        return None
    mine = version.split("-")[0] or "unknown"
    return ClientTooOld(
        f"the server refuses this machine's tailscale {mine} as too old (it answered "
        "'fetch control key: 400 Bad Request'; headscale 0.29 accepts tailscale 1.80 and "
        "newer): upgrade tailscale ('apt install tailscale' from pkgs.tailscale.com, or the "
        "Ansible role), then join again")


def refusal(health: list[str], hostname: str, version: str) -> JoinError | None:
    """A refusal in tailscaled's health that waiting cannot cure, named (None when none)."""
    return node_key_expired(health, hostname) or client_too_old(health, version)


def classify_failure(stderr: str, secret: str = "", health: list[str] | None = None,
                     user: str = "") -> JoinError:
    """One clear error for what ``tailscale up`` printed (with any secret removed); ``user``:
    who ran it (named in the one command that makes them tailscaled's operator).

    tailscale 1.102 prints only "timeout waiting for Tailscale service to enter a Running state"
    when the server is down or not trusted; the reason is in tailscaled's health messages ("The
    last login error was: … x509: …"), so those are read too."""
    text = stderr + "".join(f"\n{line}" for line in health or [])
    text = text.replace(secret, "<auth key>") if secret else text
    last = next((line.strip() for line in reversed(text.splitlines())
                 if "login error" in line), "") or next(
        (line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    if secret:
        last = last.replace(secret, "<auth key>")
    if _NOT_OPERATOR.search(stderr):
        who = user or "$USER"
        return NotOperator(f"{who} may not change tailscaled's settings: run once, as root, "
                           f"'tailscale set --operator={who}' (or join as root)")
    for pattern, kind, advice in _FAILURES:
        if pattern.search(text):
            return kind(f"{advice} (tailscale said: {last[:300]})")
    if "changing settings via 'tailscale up'" in text:
        return JoinError("tailscale refused to change its settings without --reset "
                         "(tailscale said: requires mentioning all non-default flags)")
    return JoinError(f"tailscale up failed: {last[:300] or 'no message'}")


#: OpenSSL's verify codes for a certificate outside its validity period
X509_NOT_YET_VALID, X509_EXPIRED = 9, 10


def clock_problem(now: datetime, not_before: datetime, not_after: datetime) -> str:
    """Why a certificate is refused when it is the robot's clock that is wrong (a robot without
    a real-time clock, before NTP): '' when ``now`` is inside the validity period."""
    if not_before <= now <= not_after:
        return ""
    when = "before" if now < not_before else "after"
    return (f"this machine's clock says {now:%Y-%m-%d %H:%M:%S} UTC, {when} the server "
            f"certificate's validity (valid from {not_before:%Y-%m-%d %H:%M:%S} to "
            f"{not_after:%Y-%m-%d %H:%M:%S} UTC): set the clock (NTP: 'timedatectl set-ntp "
            "true', or 'date -s') and join again")


def guard_route_argv(verb: str = "add") -> list[str]:
    """``ip route`` that adds (or shows) the guard route for the overlay range."""
    if verb == "show":
        return ["ip", "route", "show", "type", "unreachable", OVERLAY_RANGE]
    return ["ip", "route", verb, "unreachable", OVERLAY_RANGE, "metric", str(GUARD_ROUTE_METRIC)]


def has_guard_route(ip_route_show: str) -> bool:
    """Whether ``ip route show type unreachable 100.64.0.0/10`` output lists the guard route."""
    return any(line.split()[:2] == ["unreachable", OVERLAY_RANGE]
               for line in ip_route_show.splitlines() if line.strip())


def tag_mismatch(request: JoinRequest, actual: list[str]) -> str:
    """Why the joined node's tags are not the requested ones ('' when they are)."""
    if not request.tags or sorted(actual) == sorted(request.tags):
        return ""
    return (f"joined, but this node's tags are {', '.join(sorted(actual)) or 'none'} instead of "
            f"{', '.join(sorted(request.tags))}: the auth key belongs to another team (or has "
            "no tags); use the team's key from its enrolment bundle")


def validate(request: JoinRequest) -> list[str]:
    problems = []
    if not request.login_server.startswith("https://"):
        problems.append(f"login server {request.login_server!r} must be an https:// URL "
                        "(the embedded DERP relay needs TLS)")
    if not HOSTNAME_RE.match(request.hostname):
        problems.append(f"hostname {request.hostname!r} is not a valid hostname (lowercase "
                        "letters, digits and '-', 1-63 characters)")
    for tag in request.tags:
        if not re.match(r"^tag:[a-z0-9][a-z0-9-]*$", tag):
            problems.append(f"tag {tag!r} is not tag:NAME")
    if request.relay_server_port and not 1024 <= request.relay_server_port <= 65535:
        problems.append(f"relay server port {request.relay_server_port} is out of range "
                        "(expected a UDP port from 1024 to 65535)")
    if not 5 <= request.timeout_s <= 600:
        problems.append(f"timeout {request.timeout_s:g} s is out of range (5..600)")
    if request.operator and not USER_RE.match(request.operator):
        problems.append(f"operator {request.operator!r} is not a user name (lowercase letters, "
                        "digits, '_' and '-', starting with a letter or '_')")
    return problems
