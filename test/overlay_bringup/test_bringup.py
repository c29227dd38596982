"""bring_up without launch: read the overlay, generate discovery, return the environment."""
import pytest

from overlay_bringup.bringup import BringupOptions, bring_up, truthy
from overlay_monitor.errors import InputError
from standins.fake_tailscaled import FakeTailscaled
from standins.tailscale_shapes import peer_status, status


@pytest.fixture
def daemon(tmp_path):
    fake = FakeTailscaled(tmp_path / "ts.sock", tmp_path / "script.json")
    fake.set(status=status(peers=[peer_status("robot2", "100.64.0.2"),
                                  peer_status("robot3", "100.64.0.3", state="offline")]))
    fake.start()
    yield fake
    fake.stop()


def test_bring_up_without_join_uses_the_live_peer_list(daemon, tmp_path):
    plan = bring_up(BringupOptions(socket_path=daemon.socket_path, discovery_mode="fastdds-peers",
                                   domain_id=5, discovery_dir=str(tmp_path / "d")))
    assert plan.joined == "not asked"
    assert plan.env["ROS_DOMAIN_ID"] == "5"
    profile = (tmp_path / "d" / "fastdds_overlay.xml").read_text()
    assert plan.env["FASTRTPS_DEFAULT_PROFILES_FILE"] == str((tmp_path / "d" / "fastdds_overlay.xml").resolve())
    for address in ("100.64.0.1", "100.64.0.2", "100.64.0.3"):  # offline peers too: they may return
        assert f"<address>{address}</address>" in profile


def test_bring_up_refuses_when_not_running_and_not_asked_to_join(daemon, tmp_path):
    daemon.set(status=status("NeedsLogin"))
    with pytest.raises(InputError, match="the overlay is NeedsLogin, not Running, and no login_server"):
        bring_up(BringupOptions(socket_path=daemon.socket_path, discovery_dir=str(tmp_path)))


def test_bring_up_join_needs_a_key(tmp_path):
    with pytest.raises(InputError, match="auth_key_file is empty"):
        bring_up(BringupOptions(login_server="https://x.example", discovery_dir=str(tmp_path)))


def test_truthy():
    assert truthy("True") and not truthy("off")
    with pytest.raises(InputError, match="'maybe' is not true or false"):
        truthy("maybe")


def test_bring_up_relay_port_without_joining_is_refused(daemon, tmp_path):
    with pytest.raises(InputError, match="relay_server_port needs login_server"):
        bring_up(BringupOptions(socket_path=daemon.socket_path, relay_server_port=40641,
                                discovery_dir=str(tmp_path)))


def test_bring_up_proxy_without_joining_is_refused(daemon, tmp_path):
    with pytest.raises(InputError, match="proxy needs login_server"):
        bring_up(BringupOptions(socket_path=daemon.socket_path, proxy="http://proxy:3128",
                                discovery_dir=str(tmp_path)))


def test_bring_up_names_a_bad_proxy_url_before_touching_anything(tmp_path):
    key = tmp_path / "auth.key"
    key.write_text("k\n")
    key.chmod(0o600)
    with pytest.raises(InputError, match="proxy URL 'proxy:3128' must start with http://"):
        bring_up(BringupOptions(login_server="https://hs.example", auth_key_file=str(key),
                                robot_name="r1", proxy="proxy:3128",
                                proxy_env_file=str(tmp_path / "env"),
                                discovery_dir=str(tmp_path)))
    assert not (tmp_path / "env").exists()
