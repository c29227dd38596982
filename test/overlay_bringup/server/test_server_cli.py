import os
import stat
import subprocess
from datetime import datetime, timezone

import yaml

from overlay_testing import REPO, TEST_API_KEY, overlay_cli

EXAMPLE = REPO / "config" / "fleet.example.yaml"


def _run(*args, cwd=None):
    return subprocess.run([*overlay_cli("overlay-server"), *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_server_check_accepts_the_example():
    result = _run("check", "--inventory", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "OK (2 teams, 5 robots, 2 people)" in result.stdout


def test_server_check_prints_every_error_and_exits_1(tmp_path):
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["teams"][1]["robots"].append("robot_4!")
    raw["people"][0]["teams"].append("team-z")
    bad = tmp_path / "fleet.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = _run("check", "--inventory", str(bad))
    assert result.returncode == 1
    assert f"{bad}: 2 problem(s):" in result.stderr
    assert 'teams[1].robots[2]: "robot_4!" is not a valid hostname' in result.stderr
    assert "people[0].teams[1]: no team 'team-z'" in result.stderr


def test_server_generate_writes_everything_and_keeps_it_the_second_time(tmp_path):
    out = tmp_path / "server"
    first = _run("generate", "--inventory", str(EXAMPLE), "--out", str(out))
    assert first.returncode == 0, first.stderr
    for name in ("config.yaml", "policy.hujson", "derp.yaml", "headscale.service",
                 "tls/ca.crt", "tls/ca.key", "tls/server.crt", "tls/server.key",
                 "bundles/team-a/ca.crt", "bundles/team-a/README.md", "bundles/team-b/README.md"):
        assert (out / name).exists(), name
    for key in ("tls/ca.key", "tls/server.key"):
        assert stat.S_IMODE(os.stat(out / key).st_mode) == 0o600
    assert "made CA certificate" in first.stdout and "SHA-256 " in first.stdout
    assert "443/tcp" in first.stdout and "3478/udp" in first.stdout
    readme = (out / "bundles/team-a/README.md").read_text()
    assert "robot_name:=robot2" in readme
    # the tailscale-only command joins as the real headscale 0.29.2 allows: tags from the key
    assert ("tailscale up --login-server https://headscale.lab.example.edu --auth-key "
            "file:/etc/overlay_bringup/auth.key --hostname robot2\n") in readme
    commands = [line for line in readme.splitlines() if line.lstrip().startswith("tailscale up")]
    assert len(commands) == 3 and not any("--advertise-tags" in c for c in commands)
    assert "Peer relay: dmz-relay (UDP 40641)" in readme
    second = _run("generate", "--inventory", str(EXAMPLE), "--out", str(out))
    assert "kept CA certificate" in second.stdout and "kept server certificate" in second.stdout
    assert f"kept {out / 'config.yaml'} (unchanged)" in second.stdout
    assert "wrote" not in second.stdout


def test_server_apply_converges_and_a_second_run_changes_nothing(tmp_path, headscale, headscale_tls):
    out = tmp_path / "out"
    _, fleet, common = _apply_world(tmp_path, headscale, headscale_tls)
    args = ("apply", "--inventory", str(fleet), *common)
    first = _run(*args)
    assert first.returncode == 0, first.stderr
    assert "changed: created user fleet (id 1)" in first.stdout
    assert "changed: created user alice" in first.stdout and "changed: uploaded the policy" in first.stdout
    assert first.stdout.count("changed: issued key") == 3  # two teams and the peer relay
    for team in ("team-a", "team-b", "relay-dmz-relay"):
        auth = out / "bundles" / team / "auth.key"
        assert stat.S_IMODE(os.stat(auth).st_mode) == 0o600
        secret = auth.read_text().strip()
        assert secret.startswith("hskey-auth-")
        assert secret not in first.stdout + first.stderr
    assert TEST_API_KEY not in first.stdout + first.stderr
    assert [k["aclTags"] for k in headscale.keys] == [["tag:team-a"], ["tag:team-b"],
                                                       ["tag:relay-dmz-relay"]]
    second = _run(*args)
    assert second.returncode == 0, second.stderr
    assert "changed:" not in second.stdout
    assert "nothing to change: the server matches the inventory" in second.stdout
    assert len(headscale.keys) == 3 and len(headscale.users) == 3


def test_server_apply_in_file_mode_says_what_to_do(tmp_path, headscale, headscale_tls):
    headscale.policy_mode = "file"
    key_file = tmp_path / "api.key"
    key_file.write_text(TEST_API_KEY)
    key_file.chmod(0o600)
    result = _run("apply", "--inventory", str(EXAMPLE), "--url", headscale.url,
                  "--api-key-file", str(key_file), "--ca-file", str(headscale_tls[0].path),
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "to do: the server's policy differs" in result.stdout
    assert not any(m == "PUT" for m, _, _ in headscale.requests)


def test_server_apply_with_a_wrong_key_is_one_clear_line(tmp_path, headscale, headscale_tls):
    key_file = tmp_path / "api.key"
    key_file.write_text("hskey-api-NOTTHEKEY")
    key_file.chmod(0o600)
    result = _run("apply", "--inventory", str(EXAMPLE), "--url", headscale.url,
                  "--api-key-file", str(key_file), "--ca-file", str(headscale_tls[0].path),
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 7
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"overlay-server: error: {headscale.url}: Headscale rejected the API "
                           "key (HTTP 401): it is wrong or expired")
    assert "headscale apikeys create --expiration 90d" in line and "NOTTHEKEY" not in line
    assert "does not hold an API key" not in line  # it has the right shape


def _apply_world(tmp_path, headscale, headscale_tls):
    key_file = tmp_path / "api.key"
    key_file.write_text(TEST_API_KEY)
    key_file.chmod(0o600)
    inv = yaml.safe_load(EXAMPLE.read_text())
    inv["server"]["policy_mode"] = "database"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(inv))
    common = ("--url", headscale.url, "--api-key-file", str(key_file), "--ca-file",
              str(headscale_tls[0].path), "--out", str(tmp_path / "out"))
    return inv, fleet, common


def test_rotate_keys_issues_new_keys_and_expires_the_old(tmp_path, headscale, headscale_tls):
    _, fleet, common = _apply_world(tmp_path, headscale, headscale_tls)
    assert _run("apply", "--inventory", str(fleet), *common).returncode == 0
    bundle = tmp_path / "out" / "bundles" / "team-a"
    old_key = (bundle / "auth.key").read_text()
    rotated = _run("rotate-keys", "--inventory", str(fleet), "--team", "team-a", *common)
    after = datetime.now(timezone.utc)
    assert rotated.returncode == 0, rotated.stderr
    assert "changed: issued key 4 for team team-a" in rotated.stdout
    assert "expired key 1 on the server" in rotated.stdout and "team-b" not in rotated.stdout
    assert (bundle / "auth.key").read_text() != old_key
    assert stat.S_IMODE(os.stat(bundle / "auth.key").st_mode) == 0o600
    # key 1 (team-a's old key) now expires no later than the rotation; key 2 (team-b) lives on
    expirations = [datetime.fromisoformat(k["expiration"].replace("Z", "+00:00"))
                   for k in headscale.keys]
    assert [e <= after for e in expirations][:2] == [True, False]
    unknown = _run("rotate-keys", "--inventory", str(fleet), "--team", "team-z", *common)
    assert unknown.returncode == 2 and "no team 'team-z' in the inventory" in unknown.stderr
    again = _run("apply", "--inventory", str(fleet), *common)
    assert "nothing to change" in again.stdout  # the rotated keys are the bundles' keys now


def test_apply_converges_on_a_changed_inventory_and_shows_the_policy_diff(
        tmp_path, headscale, headscale_tls):
    inv, fleet, common = _apply_world(tmp_path, headscale, headscale_tls)
    assert _run("apply", "--inventory", str(fleet), *common).returncode == 0
    headscale.add_node("rover1", "fleet", "100.64.0.9", ["tag:team-b"])
    inv["teams"] = [t for t in inv["teams"] if t["name"] != "team-b"]
    inv["teams"].append({"name": "team-c", "robots": ["c1"], "ros_domain_id": 30})
    inv["teams"][0]["robots"].append("robot4")
    for person in inv["people"]:
        person["teams"] = ["team-a"]
    inv["relays"][0]["teams"] = ["team-a", "team-c"]
    fleet.write_text(yaml.safe_dump(inv))
    changed = _run("apply", "--inventory", str(fleet), *common)
    assert changed.returncode == 0, changed.stderr
    out = changed.stdout
    assert "changed: issued key 4 for team team-c (tag:team-c" in out
    assert "changed: expired key 2 (tag:team-b): its team is no longer in the inventory" in out
    assert "to do: node rover1 (id 1, tag:team-b) belongs to no team of the inventory" in out
    assert "changed: uploaded the policy" in out
    diff = [" ".join(line.split()) for line in out.split("uploaded the policy")[1].splitlines()
            if line.startswith("    ")]
    assert diff[0].startswith("@@") and '- "tag:team-b:*"' in diff and '+ "tag:team-c:*"' in diff
    assert _run("apply", "--inventory", str(fleet), *common).stdout.count("changed:") == 0


def test_apply_replaces_a_used_single_use_key_and_says_why(tmp_path, headscale, headscale_tls):
    inv, fleet, common = _apply_world(tmp_path, headscale, headscale_tls)
    inv["keys"]["reusable"] = False
    fleet.write_text(yaml.safe_dump(inv))
    assert _run("apply", "--inventory", str(fleet), *common).returncode == 0
    headscale.keys[0]["used"] = True
    again = _run("apply", "--inventory", str(fleet), *common)
    assert "issued key 4 for team team-a" in again.stdout
    assert "replacing key 1, which was used (single use)" in again.stdout


def test_generate_makes_each_extra_derp_region_a_certificate_and_instructions(tmp_path):
    from cryptography import x509

    out = tmp_path / "out"
    assert _run("generate", "--inventory", str(EXAMPLE), "--out", str(out)).returncode == 0
    folder = out / "derp" / "library"
    host = "derp-library.lab.example.edu"
    cert = x509.load_pem_x509_certificate((folder / f"{host}.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((out / "tls" / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [host]
    assert stat.S_IMODE(os.stat(folder / f"{host}.key").st_mode) == 0o600
    readme = (folder / "README.md").read_text()
    assert f"derper --hostname={host} -a=:443 --http-port=-1 --stun-port=3478" in readme
    assert "--certmode=manual --certdir=/etc/derper" in readme
