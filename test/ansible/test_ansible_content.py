"""The shipped Ansible content: ansible-lint's production profile passes, site.yml parses and
names only roles that exist, and every secret-carrying task hides its value (no_log)."""
import shutil
import subprocess
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
