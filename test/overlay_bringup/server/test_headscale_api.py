"""The REST client against the stand-in Headscale over real HTTPS with the fleet's test CA."""
from datetime import datetime, timedelta, timezone

import pytest

from overlay_bringup.server.headscale_api import (
    HeadscaleAuthError,
    HeadscaleClient,
    HeadscaleNotFound,
    HeadscaleTLSError,
    read_api_key,
)
from overlay_bringup.server.tls import ensure_ca
from overlay_monitor.errors import BackendUnavailable, InputError
from overlay_testing import TEST_API_KEY


def _client(headscale, headscale_tls, key=TEST_API_KEY):
    return HeadscaleClient(headscale.url, key, str(headscale_tls[0].path))


def test_api_users_keys_nodes_policy_round_trip(headscale, headscale_tls):
    with _client(headscale, headscale_tls) as client:
        assert client.health()
        fleet = client.create_user("fleet")
        assert fleet.id == 1 and [u.name for u in client.list_users()] == ["fleet"]
        expiry = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
        key = client.create_preauth_key(fleet.id, True, False, expiry, ["tag:team-a"])
        assert key.key.startswith("hskey-auth-") and key.key not in repr(key)
        assert (key.reusable, key.ephemeral, key.acl_tags, key.expiration) == (
            True, False, ("tag:team-a",), expiry)
        listed = client.list_preauth_keys()
        assert [k.id for k in listed] == [key.id] and listed[0].user == "fleet"
        client.expire_preauth_key(key.id)
        assert client.list_preauth_keys()[0].expired(datetime.now(timezone.utc) + timedelta(seconds=1))
        headscale.add_node("robot1", "fleet", "100.64.0.1", ["tag:team-a"])
        nodes = client.list_nodes()
        assert [(n.id, n.name, n.tags, n.expiry) for n in nodes] == [
            (1, "robot1", ("tag:team-a",), None)]
        assert client.set_node_tags(1, ["tag:team-b"]).tags == ("tag:team-b",)
        client.expire_node(1)
        assert client.list_nodes()[0].expiry is not None
        client.delete_node(1)
        assert client.list_nodes() == []
        client.set_policy('{"acls": []}')
        assert client.get_policy() == '{"acls": []}'
    # protojson on the wire: uint64 as strings, camelCase, RFC 3339
    create = next(body for method, path, body in headscale.requests
                  if method == "POST" and path == "/api/v1/preauthkey")
    assert create == {"user": "1", "reusable": True, "ephemeral": False,
                      "expiration": f"{expiry:%Y-%m-%dT%H:%M:%SZ}", "aclTags": ["tag:team-a"]}


def test_api_wrong_key_is_401_and_never_echoed(headscale, headscale_tls):
    wrong = "hskey-api-WRONGKEY000000000000000"
    with pytest.raises(HeadscaleAuthError, match="rejected the API key") as caught:
        _client(headscale, headscale_tls, wrong).list_users()
    assert wrong not in str(caught.value) and TEST_API_KEY not in str(caught.value)
    assert TEST_API_KEY not in repr(_client(headscale, headscale_tls))


def test_api_key_of_the_wrong_shape_is_named(headscale, headscale_tls):
    with pytest.raises(HeadscaleAuthError, match="does not hold an API key") as caught:
        _client(headscale, headscale_tls, "secret-from-elsewhere").list_users()
    assert "secret-from-elsewhere" not in str(caught.value)


def test_api_not_found_names_the_call(headscale, headscale_tls):
    with pytest.raises(HeadscaleNotFound, match="DELETE /api/v1/node/42 failed with HTTP 404: node not found"):
        _client(headscale, headscale_tls).delete_node(42)


def test_api_untrusted_certificate_is_a_tls_error(headscale, tmp_path):
    other = ensure_ca(tmp_path / "other", "other")
    with pytest.raises(HeadscaleTLSError, match="TLS certificate not trusted by the CA in"):
        HeadscaleClient(headscale.url, TEST_API_KEY, str(other.path)).health()


def test_api_connection_refused(headscale_tls):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"https://localhost:{port}: cannot connect"):
        HeadscaleClient(f"https://localhost:{port}", TEST_API_KEY,
                        str(headscale_tls[0].path)).health()


def test_api_key_file_must_be_private(tmp_path):
    path = tmp_path / "api.key"
    path.write_text(TEST_API_KEY + "\n")
    path.chmod(0o644)
    with pytest.raises(InputError, match="readable by group or others; run 'chmod 600") as caught:
        read_api_key(path)
    assert TEST_API_KEY not in str(caught.value)
    path.chmod(0o600)
    assert read_api_key(path) == TEST_API_KEY
