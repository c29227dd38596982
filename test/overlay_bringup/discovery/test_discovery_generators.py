import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from overlay_bringup.discovery import DiscoveryRequest, generate
from overlay_bringup.discovery.files import env_text, environment, read_env, write_config
from overlay_monitor.errors import InputError
from overlay_testing import skip_or_fail

PEERS = ("100.64.0.1", "100.64.0.2", "100.64.0.3")
NS = {"f": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}


def _xsd() -> Path:
    venv = Path(sys.prefix)
    for candidate in (venv / "share" / "fastRTPS_profiles.xsd",
                      Path("/opt/ros") / "jazzy" / "share" / "fastrtps" / "fastRTPS_profiles.xsd"):
        if candidate.exists():
            return candidate
    skip_or_fail("Fast DDS's fastRTPS_profiles.xsd not found (install the ROS 2 wheels)")
    raise AssertionError


def _validate(xml_text: str, tmp_path: Path) -> None:
    if shutil.which("xmllint") is None:
        skip_or_fail("xmllint not installed (libxml2-utils)")
    path = tmp_path / "profile.xml"
    path.write_text(xml_text)
    result = subprocess.run(["xmllint", "--noout", "--schema", str(_xsd()), str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_fastdds_peers_profile_validates_against_the_fastdds_xsd(tmp_path):
    config = generate(DiscoveryRequest("fastdds-peers", "100.64.0.1", PEERS, interface="ovlwg1"))
    xml_text = config.files["fastdds_overlay.xml"]
    _validate(xml_text, tmp_path)
    root = ET.fromstring(xml_text)
    assert root.find(".//f:maxMessageSize", NS).text == "1200"
    assert root.find(".//f:useBuiltinTransports", NS).text == "false"
    assert [a.text for a in root.findall(".//f:interfaceWhiteList/f:address", NS)] == ["100.64.0.1"]
    peers = [a.text for a in root.findall(".//f:initialPeersList//f:address", NS)]
    assert peers == ["100.64.0.2", "100.64.0.3", "100.64.0.1"]
    assert "1280-byte overlay MTU (no IP fragmentation)" in xml_text
    assert config.file_env == {"FASTRTPS_DEFAULT_PROFILES_FILE": "fastdds_overlay.xml",
                               "FASTDDS_DEFAULT_PROFILES_FILE": "fastdds_overlay.xml"}
    assert config.env["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert config.restart_needed_on_peer_change


def test_fastdds_message_size_follows_the_mtu():
    config = generate(DiscoveryRequest("fastdds-peers", "100.64.0.1", PEERS, mtu=1500))
    assert "<maxMessageSize>1420</maxMessageSize>" in config.files["fastdds_overlay.xml"]


def test_fastdds_server_mode_sets_the_server_and_a_super_client_env(tmp_path):
    config = generate(DiscoveryRequest("fastdds-server", "", (), server="100.64.0.1:11811"))
    _validate(config.files["fastdds_overlay.xml"], tmp_path)
    assert config.env["ROS_DISCOVERY_SERVER"] == "100.64.0.1:11811"
    assert config.extra_env["introspection"] == {"ROS_SUPER_CLIENT": "TRUE"}
    assert "fastdds discovery -i 0 -l 100.64.0.1 -p 11811" in " ".join(config.notes)
    assert not config.restart_needed_on_peer_change
    # no own address known: the allowlist names the interface instead
    assert "<interface>tailscale0</interface>" in config.files["fastdds_overlay.xml"]


def test_cyclone_config_has_no_multicast_and_lists_peers():
    config = generate(DiscoveryRequest("cyclone", "100.64.0.2", PEERS, interface="tailscale0"))
    root = ET.fromstring(config.files["cyclonedds_overlay.xml"])
    ns = {"c": "https://cdds.io/config"}
    assert root.find(".//c:AllowMulticast", ns).text == "false"
    assert root.find("c:Domain", ns).attrib == {"Id": "any"}  # cyclonedds.xsd: Id, not id
    assert root.find(".//c:NetworkInterface", ns).get("name") == "tailscale0"
    assert root.find(".//c:ParticipantIndex", ns).text == "auto"
    assert [p.get("Address") for p in root.findall(".//c:Peer", ns)] == [
        "100.64.0.1", "100.64.0.3", "100.64.0.2"]
    assert config.env["RMW_IMPLEMENTATION"] == "rmw_cyclonedds_cpp"


def test_static_peers_lists_the_others_and_keeps_discovery_off_the_underlay():
    config = generate(DiscoveryRequest("static-peers", "100.64.0.1", PEERS, domain_id=7))
    assert config.env == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                          "ROS_STATIC_PEERS": "100.64.0.2;100.64.0.3", "ROS_DOMAIN_ID": "7"}


def test_static_peers_is_refused_on_humble():
    with pytest.raises(InputError, match="needs ROS 2 Iron or newer.*humble does not have it"):
        generate(DiscoveryRequest("static-peers", "100.64.0.1", PEERS, ros_distro="humble"))


def test_zenoh_connects_routers_to_the_other_members():
    config = generate(DiscoveryRequest("zenoh", "100.64.0.1", PEERS))
    assert config.env["ZENOH_ROUTER_CONFIG_OVERRIDE"] == (
        'connect/endpoints=["tcp/100.64.0.2:7447", "tcp/100.64.0.3:7447"];'
        "scouting/multicast/enabled=false")
    assert config.env["RMW_IMPLEMENTATION"] == "rmw_zenoh_cpp"


def test_ros1_points_at_the_master_over_the_overlay():
    config = generate(DiscoveryRequest("ros1", "100.64.0.2", (), server="robot1.fleet.example"))
    assert config.env["ROS_MASTER_URI"] == "http://robot1.fleet.example:11311"
    assert config.env["ROS_IP"] == "100.64.0.2"


@pytest.mark.parametrize("request_, message", [
    (DiscoveryRequest("multicast", "100.64.0.1", PEERS), "mode 'multicast' is not one of"),
    (DiscoveryRequest("fastdds-peers", "100.64.0.1", ("x",)), "peer: 'x' is not an IP address"),
    (DiscoveryRequest("fastdds-peers", "", PEERS), "needs this member's own overlay address"),
    (DiscoveryRequest("fastdds-peers", "100.64.0.1", ()), "needs the overlay addresses of the other"),
    (DiscoveryRequest("fastdds-server", "", (), server="100.64.0.1"), "is not IP:PORT"),
    (DiscoveryRequest("fastdds-server", "", ()), "needs the Discovery Server as IP:PORT"),
    (DiscoveryRequest("fastdds-peers", "100.64.0.1", PEERS, mtu=100), "MTU 100 is out of range"),
    (DiscoveryRequest("static-peers", "100.64.0.1", PEERS, domain_id=300), "domain id 300"),
])
def test_discovery_requests_are_validated(request_, message):
    with pytest.raises(InputError, match=message):
        generate(request_)


def test_files_are_written_atomically_with_a_sourceable_env(tmp_path):
    config = generate(DiscoveryRequest("static-peers", "100.64.0.1", PEERS))
    written = write_config(config, tmp_path)
    assert [p.name for p in written] == ["env"]
    text = (tmp_path / "env").read_text()
    assert "ROS_STATIC_PEERS='100.64.0.2;100.64.0.3'" in text
    assert read_env(text) == config.env
    shell = subprocess.run(["bash", "-c", f"set -a; . {tmp_path / 'env'}; echo $ROS_STATIC_PEERS"],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == "100.64.0.2;100.64.0.3"
    fast = generate(DiscoveryRequest("fastdds-peers", "100.64.0.1", PEERS))
    env = environment(fast, tmp_path)
    assert env["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(tmp_path.resolve() / "fastdds_overlay.xml")
    assert env_text({"A": "b c"}) == "A='b c'\n"
