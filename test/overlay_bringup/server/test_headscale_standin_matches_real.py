"""The stand-in Headscale answers with the shapes the real headscale 0.29.3 (as 0.29.2) answered in the lab
(test/fixtures/real/rest_*.json), and the REST client reads the real responses."""
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from overlay_bringup.server.headscale_api import _convert, _key, _node, _NodeJSON, _PreAuthKeyJSON
from overlay_testing import FIXTURES, TEST_API_KEY

REAL = FIXTURES / "real"


def _recorded(name):
    status, _, body = (REAL / name).read_text().partition("\n")
    return int(status.split()[1]), body


def _keys(value):
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


def _call(headscale, method, path, body=None, key=TEST_API_KEY):
    response = httpx.request(method, f"{headscale.url}/api/v1{path}", json=body, verify=False,
                             headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.text


@pytest.mark.parametrize("name, method, path, body", [
    ("rest_health.json", "GET", "/health", None),
    ("rest_users.json", "GET", "/user", None),
    ("rest_preauthkeys.json", "GET", "/preauthkey", None),
    ("rest_policy.json", "GET", "/policy", None),
    ("rest_create_user_again.json", "POST", "/user", {"name": "fleet"}),
])
def test_standin_answers_like_the_real_server(headscale, name, method, path, body):
    headscale.users.clear()
    headscale.keys.clear()
    _call(headscale, "POST", "/user", {"name": "fleet"})
    _call(headscale, "POST", "/preauthkey", {"user": "1", "reusable": True,
                                             "expiration": f"{datetime.now(timezone.utc) + timedelta(days=90):%Y-%m-%dT%H:%M:%SZ}",
                                             "aclTags": ["tag:lab"]})
    headscale.policy = "{}"
    real_status, real_body = _recorded(name)
    status, text = _call(headscale, method, path, body)
    assert status == real_status, text
    real, fake = json.loads(real_body), json.loads(text)
    if name == "rest_users.json":  # the recording has a second user: compare one of each
        real["users"], fake["users"] = real["users"][:1], fake["users"][:1]
    assert _keys(fake) == _keys(real)
    if name == "rest_preauthkeys.json":
        assert fake["preAuthKeys"][0]["key"].endswith("***")
    if name == "rest_create_user_again.json":
        assert fake == real


def test_standin_rejects_a_wrong_key_like_the_real_server(headscale):
    real_status, real_body = _recorded("rest_wrong_api_key.json")
    assert _call(headscale, "GET", "/user", key="hskey-api-wrongTESTONLY") == (real_status,
                                                                               real_body.strip())


def test_client_reads_real_nodes_and_keys():
    nodes = json.loads(_recorded("rest_nodes.json")[1])["nodes"]
    parsed = [_node(n) for n in _convert(nodes, list[_NodeJSON], "node list")]
    assert {n.name for n in parsed} == {"r1", "r2", "r3"}
    assert all(tuple(n.tags) == ("tag:lab",) for n in parsed)
    keys = json.loads(_recorded("rest_preauthkeys.json")[1])["preAuthKeys"]
    parsed_keys = [_key(k) for k in _convert(keys, list[_PreAuthKeyJSON], "pre-auth key list")]
    # apply issued one key per enrolled tag of the lab inventory: the team and the monitoring
    assert sorted(tuple(k.acl_tags) for k in parsed_keys) == [("tag:lab",), ("tag:monitoring",)]
    assert all(k.reusable for k in parsed_keys)


def test_status_rows_from_the_real_node_list():
    from datetime import timedelta

    from overlay_bringup.server.fleet_status import status_json, status_rows
    nodes = json.loads(_recorded("rest_nodes.json")[1])["nodes"]
    parsed = [_node(n) for n in _convert(nodes, list[_NodeJSON], "node list")]
    r3 = next(n for n in parsed if n.name == "r3")
    now = r3.last_seen + timedelta(minutes=32)  # a clock 32 min after r3 was last seen
    rows = status_rows(parsed, now)
    assert [r[0] for r in rows] == ["r1", "r2", "r3"]
    assert all(r[2] == "tag:lab" and r[6] == "never (tagged)" for r in rows)
    # recorded after r3's tailscaled was stopped
    assert [r[4] for r in rows] == ["yes", "yes", "no"] and rows[2][5] == "32 min ago"
    assert all(r[3].startswith("100.64.") for r in rows)
    assert status_json(parsed)[0]["tags"] == ["tag:lab"]
