import copy

import pytest
import yaml

from overlay_bringup.server.inventory import (
    InventoryError,
    load_inventory,
    parse_inventory,
    validation_errors,
)
from overlay_monitor.errors import InputError
from overlay_testing import REPO

EXAMPLE = REPO / "config" / "fleet.example.yaml"


def _example():
    return yaml.safe_load(EXAMPLE.read_text())


def test_inventory_example_is_valid_and_complete():
    inv = load_inventory(EXAMPLE)
    assert inv.server_url == "https://headscale.lab.example.edu"
    assert [t.name for t in inv.teams] == ["team-a", "team-b"]
    assert inv.team("team-a").robots == ("robot1", "robot2", "robot3")
    assert inv.team("team-b").tag == "tag:team-b" and inv.team("team-b").ros_domain_id == 20
    assert [p.user for p in inv.people] == ["alice@", "bruno@"]
    assert inv.extra_regions[0].code == "library" and inv.stun_port == 3478
    (relay,) = inv.relays
    assert (relay.name, relay.port, relay.teams, relay.people) == (
        "dmz-relay", 40641, ("team-a", "team-b"), ("bruno",))
    assert relay.tag == "tag:relay-dmz-relay" and inv.relays_for("team-b") == (relay,)
    assert [t.name for t in inv.enrolled] == ["team-a", "team-b", "relay-dmz-relay"]


@pytest.mark.parametrize("change, message", [
    (lambda r: r["teams"][1]["robots"].append("robot_4!"),
     'teams[1].robots[2]: "robot_4!" is not a valid hostname'),
    (lambda r: r["server"].update(fqdn="Headscale"), 'server.fqdn: "Headscale" is not a valid domain name'),
    (lambda r: r["teams"][0].update(ros_domain_id=233), "teams[0].ros_domain_id: 233 is not a ROS domain id from 0 to 232"),
    (lambda r: r["teams"][0].update(discovery="multicast"), "teams[0].discovery: 'multicast' is not one of"),
    (lambda r: r["server"].update(https_port=70000), "server.https_port: 70000 is greater than the maximum of 65535"),
    (lambda r: r["server"].update(colour="red"), "server: Additional properties are not allowed ('colour' was unexpected)"),
    (lambda r: r.pop("teams"), "(top level): 'teams' is a required property"),
    (lambda r: r["derp"]["extra_regions"][0].update(region_id=1), "derp.extra_regions[0].region_id: 1 is not a region id from 900 to 999"),
    (lambda r: r["keys"].update(expiry="forever"), 'keys.expiry: "forever" is not a duration such as 12h, 90d or 4w'),
    (lambda r: r["overlay"].update(prefix_v4="10.0.0.0/8"), "overlay.prefix_v4: 10.0.0.0/8 is not inside 100.64.0.0/10"),
    (lambda r: r["overlay"].update(prefix_v6="fd00::/8"), "overlay.prefix_v6: fd00::/8 is not inside fd7a:115c:a1e0::/48"),
    (lambda r: r["overlay"].update(base_domain="lab.example.edu"), "overlay.base_domain: 'lab.example.edu' must differ from the server's name"),
    (lambda r: r["overlay"].update(base_domain="headscale.lab.example.edu"), "must differ from the server's name"),
    (lambda r: r["teams"][1].update(ros_domain_id=10), "teams[1].ros_domain_id: 10 is already used by team 'team-a'"),
    (lambda r: r["teams"][1]["robots"].append("robot1"), "teams[1].robots[2]: robot 'robot1' is already in team 'team-a'"),
    (lambda r: r["people"][0]["teams"].append("team-z"), "people[0].teams[1]: no team 'team-z' (teams: team-a, team-b)"),
    (lambda r: r["teams"].append(copy.deepcopy(r["teams"][0]) | {"robots": ["x1"], "ros_domain_id": 30}), "teams[2].name: team 'team-a' is defined twice"),
    (lambda r: r["server"].update(addresses=["not-an-ip"]), "server.addresses[0]: 'not-an-ip' is not an IP address"),
    (lambda r: r["derp"]["extra_regions"].append(dict(r["derp"]["extra_regions"][0])), "region_id: 901 is used twice"),
    (lambda r: r["relays"][0].update(port=80), "relays[0].port: 80 is not a UDP port from 1024 to 65535"),
    (lambda r: r["relays"][0].update(port=65536), "relays[0].port: 65536 is not a UDP port from 1024 to 65535"),
    (lambda r: r["relays"][0].update(teams=[], people=[]), "relays[0]: relay 'dmz-relay' serves nobody"),
    (lambda r: r["relays"][0].pop("people") and r["relays"][0].pop("teams"), "relays[0]: relay 'dmz-relay' serves nobody"),
    (lambda r: r["relays"][0]["teams"].append("team-z"), "relays[0].teams[2]: no team 'team-z'"),
    (lambda r: r["relays"][0]["people"].append("zoe"), "relays[0].people[1]: no person 'zoe' in people"),
    (lambda r: r["relays"][0].update(name="robot2"), "relays[0].name: 'robot2' is also a robot of team 'team-a'"),
    (lambda r: r["relays"].append(dict(r["relays"][0])), "relays[1].name: relay 'dmz-relay' is defined twice"),
])
def test_inventory_rejects_bad_fields_with_path_and_expectation(change, message):
    raw = _example()
    change(raw)
    errors = validation_errors(raw)
    assert any(message in e for e in errors), errors


def test_inventory_reports_every_error_at_once():
    raw = _example()
    raw["teams"][1]["robots"].append("robot_4!")
    raw["teams"][0]["ros_domain_id"] = -1
    raw["people"][1]["teams"] = ["team-q"]
    raw["overlay"]["prefix_v4"] = "192.0.2.0/24"
    with pytest.raises(InventoryError) as caught:
        parse_inventory(raw, "fleet.yaml")
    assert len(caught.value.errors) == 4
    assert str(caught.value).startswith("fleet.yaml: 4 problem(s):")


def test_inventory_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "fleet.yaml"
    bad.write_text("server:\n  fqdn: [unclosed\nteams: []\n")
    with pytest.raises(InputError, match=r"fleet.yaml: not valid YAML at line 3"):
        load_inventory(bad)
    with pytest.raises(InputError, match="cannot read a fleet inventory"):
        load_inventory(tmp_path / "missing.yaml")
