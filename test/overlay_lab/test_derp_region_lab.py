"""A second DERP region on the real components: the inventory's ``derp.extra_regions`` entry
becomes a region of the DERP map that headscale serves, the real derper serves it from its own
namespace with a certificate from the fleet CA, and the robot in the library (which reaches STUN
only there) homes there. Tailscale, the monitor and `tailscale ping` name the region; the RTT
through each region is measured in the same run."""
import json
import re

import pytest
from lab_probes import monitor_view, run_in

from overlay_lab.runner import lab_down, lab_up
from overlay_lab.services import server_out
from overlay_lab.topology import DERP_REGION_CODE, DERP_REGION_HOST, plan_lab
from overlay_testing import lab_prefix, real_components_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real]
PREFIX = lab_prefix("odr")


@pytest.fixture(scope="module")
def region_lab():
    real_components_preconditions()
    try:
        yield lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="restrictive",
                              derp_region=True)).state
    finally:
        lab_down(PREFIX)


def _nearest(state, robot):
    out = run_in(state, robot, ["tailscale", "netcheck"]).stdout
    return re.search(r"Nearest DERP: (.+)", out).group(1).strip()


def _icmp_avg_ms(state, source, target_ip):
    out = run_in(state, source, ["ping", "-q", "-c", "20", "-i", "0.05", target_ip]).stdout
    return float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))


def test_the_library_robot_homes_in_the_second_region_and_everyone_says_so(region_lab):
    state = region_lab
    derp_map = json.loads(run_in(state, "r1", ["tailscale", "debug", "derp-map"]).stdout)
    assert {k: (v["RegionCode"], [n["HostName"] for n in v["Nodes"]])
            for k, v in derp_map["Regions"].items()} == {
        "999": ("campus", ["headscale.lab.example.edu"]),
        "901": (DERP_REGION_CODE, [DERP_REGION_HOST])}
    assert _nearest(state, "r3") == "Library relay"
    assert _nearest(state, "r1") == "Campus embedded relay"
    r2_ip, r3_ip = (state.robot(r).tailscale_ips[0] for r in ("r2", "r3"))
    paths = {}
    for name, ip in (("r2", r2_ip), ("r3", r3_ip)):
        out = run_in(state, "r1", ["tailscale", "ping", "-c", "3", "--until-direct=false",
                                   ip]).stdout
        paths[name] = re.findall(r"via (\S+)", out)[-1]
    assert paths == {"r2": "DERP(campus)", "r3": "DERP(library)"}
    status = json.loads(run_in(state, "r1", ["tailscale", "status", "--json"]).stdout)
    assert {p["HostName"]: p["Relay"] for p in status["Peer"].values()} == {
        "r2": "campus", "r3": "library"}
    seen = monitor_view(state, "r1")
    assert (seen["r2"]["state"], seen["r2"]["derp_region"]) == ("derp", "campus")
    assert (seen["r3"]["state"], seen["r3"]["derp_region"]) == ("derp", "library")
    campus_ms, library_ms = _icmp_avg_ms(state, "r1", r2_ip), _icmp_avg_ms(state, "r1", r3_ip)
    print(f"RTT r1 -> r2 through DERP campus (headscale's embedded): {campus_ms:.2f} ms; "
          f"r1 -> r3 through DERP library (derper): {library_ms:.2f} ms (ICMP, 20 each)")


def test_the_derper_certificate_comes_from_the_fleet_ca(region_lab):
    state = region_lab
    probe = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             f"https://{DERP_REGION_HOST}/derp/probe"]
    ca = server_out(PREFIX) / "tls" / "ca.crt"
    trusted = run_in(state, "r1", [*probe, "--cacert", str(ca)])
    assert (trusted.returncode, trusted.stdout) == (0, "200"), trusted.stderr
    untrusted = run_in(state, "r1", [*probe, "--cacert", "/etc/ssl/certs/ca-certificates.crt"])
    assert untrusted.returncode == 60, untrusted  # curl: peer certificate cannot be verified
