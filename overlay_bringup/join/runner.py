"""Run the join: preconditions, ``tailscale up``, wait for Running, write the result."""
from __future__ import annotations

import getpass
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from overlay_monitor.backends.base import DEFAULT_SOCKET
from overlay_monitor.backends.tailscale import LocalAPIClient
from overlay_monitor.errors import (
    BackendUnavailable,
    InputError,
    JoinError,
    JoinTimeout,
    KeyRejected,
    NotOperator,
    ProxyUnreachable,
    ServerNotTrusted,
    ServerUnreachable,
    WaitingForApproval,
)
from overlay_monitor.export import snapshot_to_json
from overlay_monitor.files import is_private, read_input, write_atomic
from overlay_monitor.models import OverlaySnapshot

from .plan import (
    GUARD_ROUTE_METRIC,
    OVERLAY_RANGE,
    X509_EXPIRED,
    X509_NOT_YET_VALID,
    Action,
    JoinRequest,
    classify_failure,
    clock_problem,
    decide,
    guard_route_argv,
    has_guard_route,
    operator_argv,
    operator_of,
    refusal,
    relay_port_argv,
    relay_port_of,
    tag_mismatch,
    up_argv,
    validate,
)
from .proxy import (
    DEFAULT_ENV_FILE,
    DEFAULT_RESTART,
    FROM_FILE,
    NO_PROXY,
    environ_values,
    has_credentials,
    plan_proxy,
    proxy_from_file,
    proxy_of,
    redact,
    validate_proxy_url,
)

SYSTEM_CA_DIR = Path("/usr/local/share/ca-certificates")
#: how long a restarted tailscaled may take to answer on its LocalAPI again
RESTART_WAIT_S = 30.0


@dataclass(frozen=True)
class ProxySetting:
    """Where tailscaled's proxy is written and how tailscaled is restarted to read it."""

    url: str                                  # http://HOST:PORT, or "none" to remove it
    env_file: str = DEFAULT_ENV_FILE
    restart_command: str = DEFAULT_RESTART


@dataclass
class JoinResult:
    action: Action
    snapshot: OverlaySnapshot
    guard_route: str = ""
    relay_server_port: int = 0
    relay_changed: bool = False
    operator: str = ""
    operator_changed: bool = False
    #: what was done about tailscaled's web proxy ('' when --proxy was not given)
    proxy: str = ""
    proxy_changed: bool = False

    @property
    def changed(self) -> bool:
        """Whether this run changed anything (tailscale up, a setting, the guard route)."""
        return (self.action.value != "nothing" or self.relay_changed or self.operator_changed
                or self.proxy_changed or self.guard_route.startswith("installed"))

    def to_json(self) -> dict[str, object]:
        data = snapshot_to_json(self.snapshot)
        return {"action": self.action.value, "changed": self.changed,
                "guard_route": self.guard_route, "relay_server_port": self.relay_server_port,
                "operator": self.operator, "proxy": self.proxy, **data}


def check_key_file(path: str) -> None:
    key = Path(path)
    if not key.is_file():
        raise InputError(f"auth key file {path} does not exist")
    if not is_private(key):
        raise InputError(f"auth key file {path} is readable by group or others: run "
                         f"'chmod 600 {path}' (the key lets anyone join the fleet)")
    read_input(key, "an auth key (one line)", max_bytes=4096)  # tailscale reads it itself


def install_ca(ca_file: str, name: str = "overlay-bringup-fleet") -> Path:
    """Add the fleet CA to the system trust store (Debian/Ubuntu), as tailscaled uses it."""
    target = SYSTEM_CA_DIR / f"{name}.crt"
    if shutil.which("update-ca-certificates") is None:
        raise JoinError("update-ca-certificates not found: install the ca-certificates package")
    write_atomic(target, Path(ca_file).read_bytes())
    result = subprocess.run(["update-ca-certificates"], capture_output=True, text=True)
    if result.returncode != 0:
        raise JoinError(f"update-ca-certificates failed: {result.stderr.strip()[:200]}")
    return target


def check_server(url: str, ca_file: str | None, timeout_s: float = 10.0,
                 proxy: str = "") -> None:
    """The coordination server answers over HTTPS with a certificate we trust (through the web
    proxy ``proxy``, with CONNECT, as tailscaled will reach it). A certificate refused for its
    dates is named with this machine's clock; a name that does not resolve as a DNS problem; a
    proxy that is down, refuses the CONNECT or is no proxy as a proxy problem."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
    try:
        httpx.get(url.rstrip("/") + "/health", verify=verify, timeout=timeout_s,
                  proxy=proxy or None)
    except httpx.ProxyError as err:
        raise ProxyUnreachable(f"the web proxy {redact(proxy)} refused to CONNECT to "
                               f"{_host_port(url)} ({err}): ask the network's administrators "
                               "whether it allows HTTPS to that server") from None
    except httpx.ConnectError as err:
        cause = _root_cause(err)
        if proxy and not isinstance(cause, ssl.SSLError):
            raise ProxyUnreachable(f"the web proxy {redact(proxy)} cannot be reached ({err}): "
                                   "check that it runs and the --proxy URL (host and "
                                   "port)") from None
        if getattr(cause, "verify_code", None) in (X509_NOT_YET_VALID, X509_EXPIRED):
            problem = _certificate_dates(url, timeout_s)
            if problem:
                raise ServerNotTrusted(f"{url}: TLS certificate refused: {problem}") from None
        if "CERTIFICATE_VERIFY" in str(err) or isinstance(cause, ssl.SSLCertVerificationError):
            raise ServerNotTrusted(f"{url}: TLS certificate not trusted ({err}); pass --ca-file "
                                   "with the fleet CA, and --install-ca for tailscaled") from None
        if isinstance(cause, socket.gaierror) or "Name or service not known" in str(err):
            host = httpx.URL(url).host
            raise ServerUnreachable(f"{url}: the name {host!r} does not resolve on this machine "
                                    f"({err}): check DNS (/etc/resolv.conf) or /etc/hosts") from None
        raise ServerUnreachable(f"{url}: cannot connect ({err})") from None
    except httpx.ConnectTimeout:
        if proxy:
            raise ProxyUnreachable(f"the web proxy {redact(proxy)} did not answer within "
                                   f"{timeout_s:g} s: check the --proxy URL") from None
        raise ServerUnreachable(f"{url}: no answer within {timeout_s:g} s") from None
    except httpx.TimeoutException:
        raise ServerUnreachable(f"{url}: no answer within {timeout_s:g} s") from None
    except (httpx.RemoteProtocolError, httpx.ReadError) as err:
        if not proxy:
            raise ServerUnreachable(f"{url}: the connection failed ({err})") from None
        raise ProxyUnreachable(f"{redact(proxy)} did not answer as a web proxy ({err}): check "
                               "the --proxy URL (host and port of an HTTP proxy)") from None


def _host_port(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or 443}"


def _root_cause(err: BaseException) -> BaseException:
    """The innermost cause (httpx wraps httpcore, which wraps the ssl or socket error)."""
    seen = {id(err)}
    while (err.__cause__ or err.__context__) is not None and id(err.__cause__ or err.__context__) \
            not in seen:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
        seen.add(id(err))
    return err


def _certificate_dates(url: str, timeout_s: float) -> str:
    """``clock_problem`` for the certificate the server presents (read without verifying)."""
    from cryptography import x509

    parsed = httpx.URL(url)
    try:
        pem = ssl.get_server_certificate((parsed.host, parsed.port or 443), timeout=timeout_s)
    except OSError:
        return ""
    cert = x509.load_pem_x509_certificate(pem.encode())
    return clock_problem(datetime.now(timezone.utc), cert.not_valid_before_utc,
                         cert.not_valid_after_utc)


def tailscaled_environment(proc_root: Path = Path("/proc")) -> dict[str, str] | None:
    """The environment of the tailscaled running in this machine's network namespace (None
    when none can be read: not running, or another user's)."""
    try:
        own = os.readlink(proc_root / "self" / "ns" / "net")
    except OSError:
        own = ""
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "tailscaled":
                continue
            if own and os.readlink(entry / "ns" / "net") != own:
                continue
            return environ_values((entry / "environ").read_bytes())
        except OSError:
            continue
    return None


def ensure_proxy(setting: ProxySetting, socket_path: str) -> tuple[str, bool]:
    """Make tailscaled use ``setting.url`` (``none``: no proxy): write the env file when it
    says otherwise, restart tailscaled when the running one has another proxy, and check that
    the restarted one has it. What was done, and whether anything changed."""
    env_file = Path(setting.env_file)
    try:
        text = env_file.read_text() if env_file.exists() else ""
    except OSError as err:
        raise JoinError(f"cannot read {env_file} ({err.strerror}): run overlay-join as root") \
            from None
    plan = plan_proxy(setting.url, text, tailscaled_environment())
    shown = "no proxy" if setting.url == NO_PROXY else f"proxy {redact(setting.url)}"
    done = []
    if plan.new_text is not None:
        private = has_credentials(setting.url)
        mode = 0o600 if private else (env_file.stat().st_mode & 0o777 if env_file.exists()
                                      else 0o644)
        try:
            write_atomic(env_file, plan.new_text, mode)
        except OSError as err:
            raise JoinError(f"cannot write {env_file} ({err.strerror}): run overlay-join as "
                            "root") from None
        done.append(f"wrote {shown} to {env_file}")
    if plan.restart:
        argv = shlex.split(setting.restart_command)
        restarted = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if restarted.returncode != 0:
            raise JoinError(f"restarting tailscaled with '{setting.restart_command}' failed: "
                            f"{(restarted.stderr or restarted.stdout).strip()[-300:]}")
        _wait_for_localapi(socket_path)
        running = tailscaled_environment()
        want = "" if setting.url == NO_PROXY else setting.url
        if running is not None and proxy_of(running) != want:
            raise JoinError(f"tailscaled was restarted but runs with "
                            f"{redact(proxy_of(running)) or 'no proxy'} instead of the {shown}: "
                            f"its service must read {env_file} (systemd: EnvironmentFile=)")
        done.append(f"restarted tailscaled ('{setting.restart_command}')")
    if not done:
        return f"tailscaled already uses {shown}", False
    return "; ".join(done), True


#: a restarted tailscaled has settled when its state is one of these
_SETTLED = ("Running", "NeedsLogin", "NeedsMachineAuth", "Stopped")


def _proxy_in_file(env_file: str) -> str:
    try:
        text = Path(env_file).read_text()
    except OSError as err:
        raise InputError(f"--proxy file: cannot read {env_file} ({err.strerror})") from None
    try:
        return proxy_from_file(text, env_file)
    except ValueError as err:
        raise InputError(str(err)) from None


def _wait_for_localapi(socket_path: str, wait_s: float = RESTART_WAIT_S) -> None:
    """Wait until a restarted tailscaled answers and has settled (it reconnects to the server
    with its saved state); it may still be Starting after ``wait_s``: joining then goes on."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with LocalAPIClient(socket_path) as client:
                if client.snapshot().backend_state in _SETTLED:
                    return
        except BackendUnavailable as err:
            if time.monotonic() > deadline:
                raise JoinError(f"tailscaled did not answer within {wait_s:g} s after its "
                                f"restart: {err}") from None
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def join(request: JoinRequest, socket_path: str, tailscale: str = "tailscale",
         ca_file: str | None = None, check_server_first: bool = True,
         poll_s: float = 0.2, proxy: ProxySetting | None = None) -> JoinResult:
    """Join (or find this machine already joined), then serve as a peer relay when the request
    names a port. With ``proxy``, first check that the server answers through it, then make
    tailscaled use it (see ``ensure_proxy``)."""
    proxy_note, proxy_changed = "", False
    if proxy is not None and proxy.url == FROM_FILE:
        proxy = ProxySetting(_proxy_in_file(proxy.env_file), proxy.env_file,
                             proxy.restart_command)
    if proxy is not None:
        problems = validate(request) + validate_proxy_url(proxy.url)
        if problems:
            raise InputError("; ".join(problems))
        if check_server_first and proxy.url != NO_PROXY:
            check_server(request.login_server, ca_file, proxy=proxy.url)
        proxy_note, proxy_changed = ensure_proxy(proxy, socket_path)
    result = _join_tailnet(request, socket_path, tailscale, ca_file,
                           check_server_first and (proxy is None or proxy.url == NO_PROXY),
                           poll_s)
    result.proxy, result.proxy_changed = proxy_note, proxy_changed
    if request.relay_server_port:
        result.relay_changed = ensure_relay_server(request.relay_server_port, socket_path,
                                                   tailscale)
        result.relay_server_port = request.relay_server_port
    if request.operator:
        result.operator_changed = ensure_operator(request.operator, socket_path, tailscale)
        result.operator = request.operator
    return result


def _join_tailnet(request: JoinRequest, socket_path: str, tailscale: str, ca_file: str | None,
                  check_server_first: bool, poll_s: float) -> JoinResult:
    problems = validate(request)
    if problems:
        raise InputError("; ".join(problems))
    if shutil.which(tailscale) is None:
        raise JoinError(f"'{tailscale}' not found: install Tailscale (the tailscale package "
                        "provides tailscale and tailscaled)")
    check_key_file(request.auth_key_file)
    client = LocalAPIClient(socket_path)
    try:
        try:
            snapshot = client.snapshot()
            prefs = client.prefs()
        except BackendUnavailable as err:
            raise JoinError(f"tailscaled is not running or not reachable: {err}") from err
        action = decide(request, snapshot.backend_state, prefs)
        if action is Action.NOTHING:
            return JoinResult(action, snapshot)
        if check_server_first:
            check_server(request.login_server, ca_file)
        socket_arg = socket_path if socket_path != DEFAULT_SOCKET else ""
        argv = up_argv(request, action, tailscale, socket_arg)
        returncode, out = _run_up(argv, client, request, poll_s)
        if returncode != 0:
            try:
                after = client.snapshot()
                health, version = after.health, after.version
            except BackendUnavailable:
                health, version = [], snapshot.version
            raise refusal(health, request.hostname, version) or classify_failure(
                out, health=health, user=getpass.getuser())
        deadline = time.monotonic() + request.timeout_s
        while True:
            snapshot = client.snapshot()
            if snapshot.backend_state == "Running" and snapshot.self_peer is not None:
                mismatch = tag_mismatch(request, snapshot.self_peer.tags)
                if mismatch:
                    raise JoinError(mismatch)
                return JoinResult(action, snapshot)
            refused = refusal(snapshot.health, request.hostname, snapshot.version)
            if refused is not None:
                raise refused
            if snapshot.backend_state == "NeedsMachineAuth":
                raise WaitingForApproval("the server wants an administrator to approve this "
                                         "machine")
            if snapshot.backend_state == "NeedsLogin" and time.monotonic() > deadline - \
                    request.timeout_s / 2:
                raise KeyRejected("tailscaled still needs a login after 'tailscale up': the key "
                                  "was not accepted")
            if time.monotonic() > deadline:
                raise JoinTimeout(f"not Running after {request.timeout_s:g} s "
                                  f"(state {snapshot.backend_state})")
            time.sleep(poll_s)
    finally:
        client.close()


def _run_up(argv: list[str], client: LocalAPIClient, request: JoinRequest,
            poll_s: float) -> tuple[int, str]:
    """Run ``tailscale up`` while watching tailscaled's health: a refusal that waiting cannot
    cure (NodeKeyExpired, a client too old) is named at once instead of after the timeout."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        deadline = time.monotonic() + request.timeout_s + 10
        while proc.poll() is None:
            try:
                now = client.snapshot()
                refused = refusal(now.health, request.hostname, now.version)
            except BackendUnavailable:
                refused = None
            if refused is not None or time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                if refused is not None:
                    raise refused
                raise JoinTimeout(f"tailscale up did not finish within {request.timeout_s:g} s")
            time.sleep(poll_s)
        out, _ = proc.communicate()
    return proc.returncode, out


def _ensure_setting(argv: list[str], what: str, read: Callable[[dict[str, Any]], object],
                    want: object, socket_path: str, settle_s: float, hint: str = "") -> bool:
    """Run ``tailscale set …`` unless tailscaled's prefs already say ``want``; check that it
    took. Whether it changed anything."""
    with LocalAPIClient(socket_path) as client:
        if read(client.prefs()) == want:
            return False
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()[:300]
        failure = classify_failure(message, user=getpass.getuser())
        if isinstance(failure, NotOperator):
            raise failure
        raise JoinError(f"tailscale set {what} failed: {message}"
                        + (hint if "flag provided but not defined" in message else ""))
    deadline = time.monotonic() + settle_s
    with LocalAPIClient(socket_path) as client:
        while True:
            actual = read(client.prefs())
            if actual == want:
                return True
            if time.monotonic() > deadline:
                raise JoinError(f"tailscaled did not take {what}: its prefs say "
                                f"{actual or 'none'} instead of {want}")
            time.sleep(0.2)


def ensure_relay_server(port: int, socket_path: str, tailscale: str = "tailscale",
                        settle_s: float = 5.0) -> bool:
    """Serve as a peer relay on UDP ``port`` (``tailscale set --relay-server-port``) and check
    that tailscaled took it; whether it changed."""
    socket_arg = socket_path if socket_path != DEFAULT_SOCKET else ""
    return _ensure_setting(relay_port_argv(port, tailscale, socket_arg),
                           f"--relay-server-port={port}", relay_port_of, port, socket_path,
                           settle_s, " (peer relays need Tailscale 1.86 or newer)")


def ensure_operator(user: str, socket_path: str, tailscale: str = "tailscale",
                    settle_s: float = 5.0) -> bool:
    """Make ``user`` tailscaled's operator (``tailscale set --operator``): that user may then
    run ``tailscale up``/``set`` without root. Whether it changed."""
    socket_arg = socket_path if socket_path != DEFAULT_SOCKET else ""
    return _ensure_setting(operator_argv(user, tailscale, socket_arg), f"--operator={user}",
                           operator_of, user, socket_path, settle_s)


def ensure_guard_route() -> str:
    """Install the guard route for the overlay range when missing; say what happened."""
    if shutil.which("ip") is None:
        return "guard route not checked: 'ip' (iproute2) is missing"
    shown = subprocess.run(guard_route_argv("show"), capture_output=True, text=True, timeout=10)
    if shown.returncode == 0 and has_guard_route(shown.stdout):
        return f"guard route present (unreachable {OVERLAY_RANGE} metric {GUARD_ROUTE_METRIC})"
    added = subprocess.run(guard_route_argv("add"), capture_output=True, text=True, timeout=10)
    if added.returncode != 0:
        return (f"guard route NOT installed ({added.stderr.strip() or 'ip route failed'}): "
                f"run 'sudo {' '.join(guard_route_argv())}' so overlay traffic never leaves "
                "in clear text when tailscaled stops")
    return (f"installed guard route: unreachable {OVERLAY_RANGE} metric {GUARD_ROUTE_METRIC} "
            "(overlay traffic never falls back to the campus network in clear text)")


def default_result_path() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/overlay_bringup/overlay.json")
    return Path.home() / ".ros" / "overlay_bringup" / "overlay.json"


def write_result(result: JoinResult, path: Path) -> Path:
    return write_atomic(path, json.dumps(result.to_json(), indent=2) + "\n")
