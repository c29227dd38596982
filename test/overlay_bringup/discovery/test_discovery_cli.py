import os
import subprocess
import time

from overlay_testing import overlay_cli
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, status


def _run(*args, timeout=60):
    return subprocess.run([*overlay_cli("overlay-discovery"), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_discovery_cli_generate_with_given_peers(tmp_path):
    result = _run("generate", "--mode", "static-peers", "--self", "100.64.0.1", "--peers",
                  "100.64.0.2,100.64.0.3", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'env'}" in result.stdout and "note: " in result.stdout
    assert "ROS_STATIC_PEERS='100.64.0.2;100.64.0.3'" in (tmp_path / "env").read_text()


def test_discovery_cli_reads_the_live_peer_list_and_refuses_humble(tmp_path):
    daemon = FakeTailscaled(tmp_path / "ts.sock", tmp_path / "script.json")
    daemon.set(status=status(peers=[peer_status("robot2", "100.64.0.2")]))
    daemon.start()
    try:
        result = _run("generate", "--mode", "fastdds-peers", "--socket", daemon.socket_path,
                      "--out", str(tmp_path / "d"))
        humble = _run("generate", "--mode", "static-peers", "--ros-distro", "humble",
                      "--socket", daemon.socket_path, "--out", str(tmp_path / "h"))
    finally:
        daemon.stop()
    assert result.returncode == 0, result.stderr
    profile = (tmp_path / "d" / "fastdds_overlay.xml").read_text()
    assert "<address>100.64.0.2</address>" in profile and "<address>100.64.0.1</address>" in profile
    assert humble.returncode == 2 and "needs ROS 2 Iron or newer" in humble.stderr


def test_discovery_cli_watch_regenerates_when_peers_change(tmp_path):
    daemon = FakeTailscaled(tmp_path / "ts.sock", tmp_path / "script.json")
    daemon.set(status=status(peers=[peer_status("robot2", "100.64.0.2")]))
    daemon.start()
    proc = subprocess.Popen([*overlay_cli("overlay-discovery"), "watch", "--mode", "static-peers",
                             "--socket", daemon.socket_path, "--out", str(tmp_path / "w"),
                             "--interval", "0.3", "--count", "12"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        time.sleep(1.0)
        daemon.set(status=status(peers=[peer_status("robot2", "100.64.0.2"),
                                        peer_status("robot4", "100.64.0.4")]))
        out, err = proc.communicate(timeout=30)
    finally:
        daemon.stop()
    assert proc.returncode == 0, err
    assert "peers changed (+100.64.0.4 / --)" in out
    assert "restart running ROS processes to see the new peers" in out
    assert "ROS_STATIC_PEERS='100.64.0.2;100.64.0.4'" in (tmp_path / "w" / "env").read_text()
    assert out.count("peers changed") == 1
