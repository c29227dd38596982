"""The shipped Ansible content: ansible-lint's production profile passes, site.yml parses and
names only roles that exist, and every secret-carrying task hides its value (no_log)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
ROLES = sorted(p.name for p in (ANSIBLE / "roles").iterdir() if p.is_dir())


def _tasks(role):
    for path in sorted((ANSIBLE / "roles" / role).glob("*/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            if isinstance(task, dict):
                yield path, task


def test_ansible_lint_production_profile_passes():
    lint = shutil.which("ansible-lint")
    if lint is None:
        pytest.fail("ansible-lint is missing: tools/setup.sh installs requirements-test.txt")
    done = subprocess.run([lint, "--profile", "production", "--offline", "--nocolor", "."],
                          cwd=ANSIBLE, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr


def test_site_yml_names_roles_that_exist_and_a_syntax_check_passes(tmp_path):
    plays = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    named = {r["role"] for p in plays for r in p.get("roles", [])}
    named |= {t["ansible.builtin.include_role"]["name"] for p in plays
              for t in p.get("tasks", []) if "ansible.builtin.include_role" in t}
    assert named <= set(ROLES) and named >= {"headscale", "tailscale", "overlay_robot",
                                             "peer_relay", "derper", "prometheus"}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    robots:\n      hosts:\n        r1: {}\n")
    check = subprocess.run(["ansible-playbook", "--syntax-check", "-i", str(inventory),
                            str(ANSIBLE / "site.yml")], capture_output=True, text=True,
                           timeout=120, env={"PATH": str(Path(shutil.which("ansible-playbook")
                                                              or "x").parent), "LANG": "C.UTF-8",
                                             "ANSIBLE_HOME": str(tmp_path)})
    assert check.returncode == 0, check.stdout + check.stderr


def _moves_key_content(task):
    """A task that reads or writes a key's content (not one that names a key file's path)."""
    for module in ("ansible.builtin.copy", "ansible.builtin.slurp", "ansible.builtin.shell",
                   "ansible.builtin.fetch", "ansible.builtin.template"):
        args = task.get(module)
        if isinstance(args, dict):
            paths = [str(args.get(k, "")) for k in ("src", "dest", "creates")]
            if any(p.endswith(".key") for p in paths) or "api_key" in str(args.get("content")):
                return True
    return False


@pytest.mark.parametrize("role", ROLES)
def test_tasks_that_move_keys_hide_them(role):
    moving = [(path, task) for path, task in _tasks(role) if _moves_key_content(task)]
    for path, task in moving:
        assert task.get("no_log") is True, f"{path.name}: task {task.get('name')!r}"
        if "ansible.builtin.copy" in task:
            assert task.get("diff") is False, f"{path.name}: {task.get('name')!r} shows a diff"
            assert task["ansible.builtin.copy"].get("mode") in ("0600", "0640")
    if role in ("headscale", "tailscale", "derper"):
        assert moving, f"role {role} moves a key: the check must see it"


def test_the_proxy_in_tailscaleds_env_file_is_what_overlay_join_expects(tmp_path):
    """The role's /etc/default/tailscaled, rendered by the real ansible template module, sets
    the proxy exactly as overlay-join --proxy would: overlay-join then changes nothing."""
    from overlay_bringup.join.proxy import environment_file_values, plan_proxy

    url = "http://proxy.campus.example:3128"
    out = tmp_path / "tailscaled"
    env = {"PATH": f"{Path(shutil.which('ansible') or 'x').parent}:/usr/bin:/bin",
           "LANG": "C.UTF-8", "ANSIBLE_HOME": str(tmp_path)}
    done = subprocess.run(
        ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m",
         "ansible.builtin.template", "-a",
         f"src={ANSIBLE}/roles/tailscale/templates/tailscaled.default.j2 dest={out}",
         "-e", json.dumps({"tailscale_port": 41641, "tailscale_flags": "",
                           "tailscale_environment": {"TS_DEBUG_MTU": "1280"},
                           "tailscale_proxy": url, "ansible_python_interpreter": sys.executable})],
        capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    values = environment_file_values(out.read_text())
    assert values["HTTPS_PROXY"] == values["HTTP_PROXY"] == url
    assert values["TS_DEBUG_MTU"] == "1280" and values["PORT"] == "41641"
    assert not plan_proxy(url, out.read_text(), {"HTTPS_PROXY": url}).changes
