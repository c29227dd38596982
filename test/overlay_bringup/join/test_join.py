"""Joining with the stand-in tailscale CLI (on PATH) and the stand-in tailscaled (real socket),
against the stand-in Headscale over real HTTPS."""
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from overlay_bringup.join.plan import (
    Action,
    JoinRequest,
    JoinTimeout,
    KeyRejected,
    ServerNotTrusted,
    ServerUnreachable,
    WaitingForApproval,
    classify_failure,
    decide,
    guard_route_argv,
    has_guard_route,
    tag_mismatch,
    up_argv,
    validate,
)
from overlay_bringup.join.proxy import environ_values
from overlay_bringup.server.tls import ensure_ca, ensure_server_cert
from overlay_testing import (
    FIXTURES,
    TEST_API_KEY,
    Tinyproxy,
    install_fake_tailscale_cli,
    overlay_cli,
)
from standins.fake_headscale import FakeHeadscale
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import status

TEST_AUTH_KEY = "hskey-auth-TESTONLYjoinkey0123456789"
URL = "https://headscale.fleet.example"


def test_decide_is_idempotent_and_resets_when_configured_elsewhere():
    request = JoinRequest(URL, "/k", "robot1", ("tag:team-a",))
    prefs = {"ControlURL": URL + "/", "Hostname": "robot1", "AdvertiseTags": ["tag:team-a"]}
    assert decide(request, "Running", prefs) is Action.NOTHING
    assert decide(request, "Stopped", prefs) is Action.UP
    assert decide(request, "NoState", {}) is Action.UP
    assert decide(request, "Running", {**prefs, "ControlURL": "https://other"}) is Action.UP_RESET
    assert decide(request, "Running", {**prefs, "Hostname": "robot9"}) is Action.UP_RESET


def test_up_argv_passes_the_key_by_file_only():
    argv = up_argv(JoinRequest(URL, "/etc/k", "robot1", ("tag:a", "tag:b"), False, 30),
                   Action.UP_RESET, socket="/tmp/ts.sock")
    # no --advertise-tags: the key carries the tags (headscale 0.29 rejects requested tags)
    assert argv == ["tailscale", "--socket", "/tmp/ts.sock", "up", "--login-server", URL,
                    "--auth-key", "file:/etc/k", "--hostname", "robot1", "--accept-dns=false",
                    "--timeout=30s", "--reset"]


def test_guard_route_command_and_detection():
    assert guard_route_argv() == ["ip", "route", "add", "unreachable", "100.64.0.0/10",
                                  "metric", "4000"]
    assert has_guard_route("unreachable 100.64.0.0/10 metric 4000 \n")
    assert not has_guard_route("") and not has_guard_route("unreachable 10.0.0.0/8 metric 1\n")


def test_tags_come_from_the_key_and_a_mismatch_is_named():
    request = JoinRequest(URL, "/k", "robot1", ("tag:team-a",))
    assert tag_mismatch(request, ["tag:team-a"]) == ""
    assert "instead of tag:team-a" in tag_mismatch(request, ["tag:team-b"])
    assert tag_mismatch(JoinRequest(URL, "/k", "robot1"), ["tag:x"]) == ""


def _recorded(name):
    """stderr and the health lines of a real `tailscale up` failure (test/fixtures/real)."""
    text = (FIXTURES / "real" / name).read_text()
    stderr = text.split("--- stderr\n", 1)[1].split("--- stdout", 1)[0]
    health = text.split("right after\n", 1)[1].splitlines()
    return stderr, health


@pytest.mark.parametrize("name, kind, says", [
    ("up_expired_key.txt", KeyRejected, "authkey expired"),
    ("up_used_key.txt", KeyRejected, "authkey already used"),
    ("up_untrusted_ca.txt", ServerNotTrusted, "x509: certificate signed by unknown authority"),
    ("up_server_down.txt", ServerUnreachable, "connection refused"),
])
def test_real_up_failures_map_to_named_errors(name, kind, says):
    stderr, health = _recorded(name)
    error = classify_failure(stderr, health=health)
    assert type(error) is kind and says in str(error)


def test_without_health_a_timeout_is_a_timeout_and_machine_auth_is_named():
    assert type(classify_failure(_recorded("up_server_down.txt")[0])) is JoinTimeout
    assert isinstance(classify_failure(
        "timeout waiting for Tailscale service to enter a Running state; last state: "
        "NeedsMachineAuth"), WaitingForApproval)


def test_failure_text_never_carries_the_key():
    error = classify_failure(f"invalid key {TEST_AUTH_KEY}", secret=TEST_AUTH_KEY)
    assert TEST_AUTH_KEY not in str(error) and "<auth key>" in str(error)


def test_a_user_who_is_not_the_operator_gets_the_one_command_and_its_own_code():
    from overlay_monitor.errors import JoinError, NotOperator

    # what tailscale 1.102 prints to a user who is neither root nor the operator
    printed = ("Access denied: prefs write access denied\n\nUse 'sudo tailscale up'.\n"
               "To not require root, use 'sudo tailscale set --operator=$USER' once.\n")
    error = classify_failure(printed, user="robot")
    assert type(error) is NotOperator and error.exit_code != JoinError.exit_code
    assert "'tailscale set --operator=robot'" in str(error) and "as root" in str(error)


def test_join_request_validation():
    problems = validate(JoinRequest("http://x", "/k", "Robot_1", ("team-a",), timeout_s=1))
    assert len(problems) == 4 and "must be an https:// URL" in problems[0]


@pytest.fixture
def world(tmp_path):
    """Stand-in tailscaled + tailscale CLI on PATH + stand-in Headscale over HTTPS."""
    ca = ensure_ca(tmp_path / "tls", "localhost")
    cert = ensure_server_cert(tmp_path / "tls", ca, "localhost", ("127.0.0.1",))
    headscale = FakeHeadscale(str(cert.path), str(cert.key_path), TEST_API_KEY).start()
    daemon = FakeTailscaled(tmp_path / "tailscaled.sock", tmp_path / "script.json")
    daemon.set(status=status("NeedsLogin"), prefs={})
    daemon.start()
    bin_dir = tmp_path / "bin"
    install_fake_tailscale_cli(bin_dir)
    key = tmp_path / "auth.key"
    key.write_text(TEST_AUTH_KEY + "\n")
    key.chmod(0o600)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               FAKE_TAILSCALE_ARGV_LOG=str(tmp_path / "argv.log"),
               FAKE_TAILSCALED_SCRIPT=str(tmp_path / "script.json"))
    yield {"tmp": tmp_path, "ca": str(ca.path), "url": headscale.url, "daemon": daemon,
           "key": key, "env": env, "argv_log": tmp_path / "argv.log"}
    daemon.stop()
    headscale.stop()


def _join(world, *extra, key=None):
    args = ["--login-server", world["url"], "--auth-key-file", str(key or world["key"]),
            "--hostname", "robot1", "--tags", "tag:team-a", "--ca-file", world["ca"],
            "--socket", world["daemon"].socket_path, "--out", str(world["tmp"] / "overlay.json"),
            "--timeout", "10", "--no-guard-route", *extra]
    return subprocess.run([*overlay_cli("overlay-join"), *args], capture_output=True, text=True,
                          env=world["env"], timeout=60)


def _argvs(world):
    path = world["argv_log"]
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_join_runs_tailscale_up_waits_for_running_and_writes_the_result(world):
    result = _join(world)
    assert result.returncode == 0, result.stderr
    assert "joined: robot1 100.64.0.1" in result.stdout and "2 peer(s)" in result.stdout
    (argv,) = _argvs(world)
    assert argv[2:5] == ["up", "--login-server", world["url"]]
    assert f"file:{world['key']}" in argv and "--advertise-tags" not in argv
    assert "not asked (--no-guard-route)" in result.stdout
    data = json.loads((world["tmp"] / "overlay.json").read_text())
    assert data["backend_state"] == "Running" and data["self"]["ips"][0] == "100.64.0.1"
    assert [p["hostname"] for p in data["peers"]] == ["robot2", "robot3"]
    for text in (result.stdout, result.stderr, json.dumps(argv), json.dumps(data)):
        assert TEST_AUTH_KEY not in text
    again = _join(world)
    assert again.returncode == 0 and "already joined" in again.stdout
    assert len(_argvs(world)) == 1  # nothing to do: tailscale up was not run again


def test_join_to_another_server_resets(world):
    world["daemon"].set(status=status("Running"), prefs={
        "ControlURL": "https://old.example", "Hostname": "robot1", "AdvertiseTags": ["tag:team-a"]})
    result = _join(world)
    assert result.returncode == 0, result.stderr
    assert _argvs(world)[-1][-1] == "--reset"


def test_join_refuses_a_key_file_others_can_read(world):
    world["key"].chmod(0o644)
    result = _join(world)
    assert result.returncode == 2 and "readable by group or others" in result.stderr
    assert _argvs(world) == []


def test_join_rejected_key_is_a_clear_error(world):
    expired = world["tmp"] / "expired.key"
    expired.write_text("hskey-auth-expired-TESTONLY\n")
    expired.chmod(0o600)
    result = _join(world, key=expired)
    assert result.returncode == 13
    assert "rejected the auth key" in result.stderr and "authkey expired" in result.stderr
    assert "hskey-auth-expired" not in result.stderr


def test_a_node_the_server_keeps_with_an_expired_key_is_named_at_once(world):
    """headscale < 0.29.3 after 'tailscale logout': tailscale up would wait its whole timeout;
    overlay-join reads tailscaled's health meanwhile and names the remedy (the stand-in's
    'tailscale up' sleeps 120 s: waiting for it would end in JoinTimeout, exit 15)."""
    stuck = world["tmp"] / "stuck.key"
    stuck.write_text("hskey-auth-keyexpired-TESTONLY\n")
    stuck.chmod(0o600)
    result = _join(world, key=stuck)
    assert result.returncode == 17, result.stderr
    assert "headscale nodes delete --identifier <ID of robot1>" in result.stderr
    assert "headscale#3371" in result.stderr and "keyexpired" not in result.stderr


def test_join_waiting_for_approval(world):
    pending = world["tmp"] / "pending.key"
    pending.write_text("hskey-auth-machineauth-TESTONLY\n")
    pending.chmod(0o600)
    result = _join(world, key=pending)
    assert result.returncode == 14 and "approve this machine" in result.stderr


def test_join_untrusted_server_certificate(world):
    other = ensure_ca(world["tmp"] / "other", "other")
    args = ["--login-server", world["url"], "--auth-key-file", str(world["key"]), "--hostname",
            "robot1", "--ca-file", str(other.path), "--socket", world["daemon"].socket_path,
            "--out", str(world["tmp"] / "o.json")]
    result = subprocess.run([*overlay_cli("overlay-join"), *args], capture_output=True,
                            text=True, env=world["env"], timeout=60)
    assert result.returncode == 12 and "TLS certificate not trusted" in result.stderr


def test_join_server_down(world):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--login-server", f"https://localhost:{port}", "--auth-key-file", str(world["key"]),
            "--hostname", "robot1", "--socket", world["daemon"].socket_path,
            "--out", str(world["tmp"] / "o.json")]
    result = subprocess.run([*overlay_cli("overlay-join"), *args], capture_output=True,
                            text=True, env=world["env"], timeout=60)
    assert result.returncode == 11 and "cannot connect" in result.stderr


def test_join_without_tailscaled(world):
    world["daemon"].stop()
    result = _join(world)
    assert result.returncode == 10 and "tailscaled is not running" in result.stderr


def test_join_result_file_is_written_atomically_and_readable(world):
    _join(world)
    mode = stat.S_IMODE(os.stat(world["tmp"] / "overlay.json").st_mode)
    assert mode == 0o644  # no secret in it: other tools read it


def test_install_ca_copies_into_the_trust_store_and_runs_the_updater(tmp_path, monkeypatch):
    import overlay_bringup.join.runner as runner

    store = tmp_path / "ca-certificates"
    monkeypatch.setattr(runner, "SYSTEM_CA_DIR", store)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "updated"
    updater = bin_dir / "update-ca-certificates"
    updater.write_text(f"#!/bin/sh\ntouch {marker}\n")
    updater.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    ca = ensure_ca(tmp_path / "tls", "fleet")
    installed = runner.install_ca(str(ca.path))
    assert installed == store / "overlay-bringup-fleet.crt"
    assert installed.read_bytes() == ca.path.read_bytes() and marker.exists()


def test_join_as_peer_relay_sets_the_port_and_checks_it_took(world):
    result = _join(world, "--relay-server-port", "40641")
    assert result.returncode == 0, result.stderr
    assert "serving as a peer relay on UDP port 40641" in result.stdout
    up, relay = _argvs(world)
    assert up[2] == "up" and relay[-2:] == ["set", "--relay-server-port=40641"]
    assert json.loads((world["tmp"] / "overlay.json").read_text())["relay_server_port"] == 40641


def test_join_as_peer_relay_on_a_tailscale_without_relays_is_named(world):
    script = json.loads((world["tmp"] / "script.json").read_text())
    world["daemon"].set(**{**script, "no_relay_flag": True})
    result = _join(world, "--relay-server-port", "40641")
    assert result.returncode != 0
    assert "peer relays need Tailscale 1.86 or newer" in result.stderr


def test_join_makes_the_ros_user_the_operator_once(world):
    first = _join(world, "--operator", "robot", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["operator"] == "robot"
    assert _argvs(world)[-1][-2:] == ["set", "--operator=robot"]
    again = _join(world, "--operator", "robot", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False  # joined, and robot is the operator
    assert _argvs(world)[-1][-2:] == ["set", "--operator=robot"]  # no second 'set'


def test_join_refuses_an_operator_that_is_no_user_name(world):
    result = _join(world, "--operator", "Robot; rm")
    assert result.returncode != 0 and "operator 'Robot; rm' is not a user name" in result.stderr
    assert _argvs(world) == []


def test_join_refuses_a_relay_port_out_of_range(world):
    result = _join(world, "--relay-server-port", "80")
    assert result.returncode != 0 and "relay server port 80 is out of range" in result.stderr
    assert _argvs(world) == []


@pytest.fixture
def proxied(world):
    """A real tinyproxy between overlay-join and the server, and a process named tailscaled
    (this machine's, in its network namespace) restarted by a script that reads the env file
    as systemd's EnvironmentFile= does."""
    tmp = world["tmp"]
    proxy = Tinyproxy(tmp)
    env_file = tmp / "tailscaled.default"
    env_file.write_text('PORT="41641"\nFLAGS=""\n')
    daemon = tmp / "bin" / "tailscaled"
    daemon.write_text("#!/bin/sh\nwhile true; do sleep 1; done\n")
    daemon.chmod(0o755)
    pidfile, restarts = tmp / "tailscaled.pid", tmp / "restarts"
    restart = tmp / "restart.sh"
    restart.write_text(f"#!/bin/sh\nkill $(cat {pidfile}) 2>/dev/null\nset -a; . {env_file}; "
                       f"set +a\n{daemon} >/dev/null 2>&1 &\necho $! > {pidfile}\n"
                       f"echo restarted >> {restarts}\n")
    restart.chmod(0o755)
    first = subprocess.Popen([str(daemon)])
    pidfile.write_text(f"{first.pid}\n")
    yield {"proxy": proxy, "env_file": env_file, "pidfile": pidfile, "restarts": restarts,
           "restart": str(restart)}
    subprocess.run(["sh", "-c", f"kill $(cat {pidfile})"], check=False)
    first.kill()
    first.wait()
    proxy.stop()


def _running_proxy(pidfile):
    environ = (Path("/proc") / pidfile.read_text().strip() / "environ").read_bytes()
    return environ_values(environ).get("HTTPS_PROXY", "")


def test_join_through_a_web_proxy_writes_it_restarts_tailscaled_once_and_checks(world, proxied):
    args = ("--proxy", proxied["proxy"].url, "--proxy-env-file", str(proxied["env_file"]),
            "--restart-command", proxied["restart"])
    result = _join(world, *args)
    assert result.returncode == 0, result.stderr
    assert f"wrote proxy {proxied['proxy'].url}" in result.stdout and "restarted" in result.stdout
    assert proxied["env_file"].read_text().startswith('PORT="41641"\nFLAGS=""\n')
    assert f'HTTPS_PROXY="{proxied["proxy"].url}"' in proxied["env_file"].read_text()
    assert _running_proxy(proxied["pidfile"]) == proxied["proxy"].url
    assert proxied["proxy"].connects() == 1  # the server check went through the proxy
    again = _join(world, *args)
    assert again.returncode == 0 and "tailscaled already uses proxy" in again.stdout
    assert proxied["restarts"].read_text().count("restarted") == 1
    removed = _join(world, "--proxy", "none", "--proxy-env-file", str(proxied["env_file"]),
                    "--restart-command", proxied["restart"])
    assert removed.returncode == 0 and "wrote no proxy" in removed.stdout
    assert "PROXY" not in proxied["env_file"].read_text()
    assert _running_proxy(proxied["pidfile"]) == ""


def test_join_through_a_proxy_that_is_down_changes_nothing(world, proxied):
    proxied["proxy"].stop()
    before = proxied["env_file"].read_text()
    result = _join(world, "--proxy", proxied["proxy"].url, "--proxy-env-file",
                   str(proxied["env_file"]), "--restart-command", proxied["restart"])
    assert result.returncode == 18, result.stderr
    assert f"the web proxy {proxied['proxy'].url} cannot be reached" in result.stderr
    assert proxied["env_file"].read_text() == before and not proxied["restarts"].exists()
    assert _argvs(world) == []  # tailscale up never ran


def test_a_restart_that_does_not_give_tailscaled_the_proxy_is_named(world, proxied):
    result = _join(world, "--proxy", proxied["proxy"].url, "--proxy-env-file",
                   str(proxied["env_file"]), "--restart-command", "true")
    assert result.returncode == 10
    assert "runs with no proxy instead of the proxy" in result.stderr
    assert "EnvironmentFile=" in result.stderr


def test_a_client_older_than_the_server_accepts_is_named_with_its_version():
    from overlay_bringup.join.plan import client_too_old, refusal

    # what tailscale 1.78.3's health says against headscale 0.29.3 (lab, test_campus_lab.py)
    health = ["You are logged out. The last login error was: fetch control key: 400 Bad Request"]
    error = client_too_old(health, "1.78.3-overlay")
    assert error is not None and error.exit_code == 19
    assert "tailscale 1.78.3 as too old" in str(error) and "upgrade tailscale" in str(error)
    assert refusal(health, "robot1", "1.78.3") is not None
    assert client_too_old(["fetch control key: 503 Service Unavailable"], "1.78.3") is None
    assert refusal(["Tailscale is starting"], "robot1", "1.102.5") is None
