import copy

import pytest
import yaml

from overlay_bringup.server.headscale_config import (
    check_headscale_config,
    derp_map,
    headscale_config,
    render_config,
)
from overlay_bringup.server.inventory import load_inventory
from overlay_monitor.errors import InputError
from overlay_testing import FIXTURES, REPO

INV = load_inventory(REPO / "config" / "fleet.example.yaml")
GOLDEN = FIXTURES / "server" / "config.yaml"


def test_config_matches_the_golden_file():
    # after an intended change, regenerate it as test/fixtures/server/README.md says
    assert render_config(INV) == GOLDEN.read_text()


def test_config_keeps_relayed_traffic_on_campus():
    config = headscale_config(INV)
    assert config["server_url"] == "https://headscale.lab.example.edu"
    assert config["derp"]["urls"] == []  # never Tailscale's public relays
    server = config["derp"]["server"]
    assert server["enabled"] and server["stun_listen_addr"] == "0.0.0.0:3478"
    assert server["region_id"] == 999 and server["automatically_add_embedded_derp_region"]
    assert config["derp"]["paths"] == ["/etc/headscale/derp.yaml"]
    assert config["dns"]["base_domain"] == "fleet.lab.example.edu"
    assert config["policy"] == {"mode": "file", "path": "/etc/headscale/policy.hujson"}
    assert check_headscale_config(config) == []


@pytest.mark.parametrize("edit, problem", [
    (lambda c: c.update(server_url="http://headscale.lab.example.edu"), "must use https when the embedded DERP"),
    (lambda c: c["derp"]["server"].update(stun_listen_addr=""), "stun_listen_addr: must be set"),
    (lambda c: c["dns"].update(base_domain="headscale.lab.example.edu"), "must differ from the server_url domain"),
    (lambda c: c["dns"].update(base_domain="fleet.example."), "must not end with a dot"),
    (lambda c: c["prefixes"].update(v4="10.0.0.0/8"), "prefixes.v4: 10.0.0.0/8 is not inside 100.64.0.0/10"),
    (lambda c: c["prefixes"].update(v6="fd7a::/16"), "prefixes.v6: fd7a::/16 is not inside fd7a:115c:a1e0::/48"),
    (lambda c: c.update(tls_cert_path=""), "an https server_url needs a certificate"),
    (lambda c: c["policy"].update(path=""), "policy.path: required when policy.mode is file"),
])
def test_config_constraints_are_checked(edit, problem):
    config = copy.deepcopy(headscale_config(INV))
    edit(config)
    assert any(problem in p for p in check_headscale_config(config))


def test_render_refuses_a_config_that_breaks_constraints(monkeypatch):
    import overlay_bringup.server.headscale_config as module

    broken = dict(headscale_config(INV), server_url="http://x.example")
    monkeypatch.setattr(module, "headscale_config", lambda *a, **k: broken)
    with pytest.raises(InputError, match="breaks Headscale's constraints"):
        module.render_config(INV)


def test_derp_map_lists_extra_regions_in_tailcfg_shape():
    regions = derp_map(INV)["regions"]
    assert set(regions) == {901}
    node = regions[901]["nodes"][0]
    assert node == {"name": "901a", "regionid": 901, "hostname": "derp-library.lab.example.edu",
                    "stunport": 3478, "stunonly": False, "derpport": 443}
    assert yaml.safe_load(yaml.safe_dump(derp_map(INV))) == derp_map(INV)
