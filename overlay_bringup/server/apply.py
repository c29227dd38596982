"""Make a running Headscale match the inventory: users, one pre-auth key per team, the policy.

Idempotent: a team whose bundle already holds a key that Headscale still accepts keeps it, an
unchanged policy is not uploaded again, existing users are left alone. What changed is reported.
Keys are written into the team's bundle (``auth.key``, 0600) and never printed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from overlay_monitor.files import write_atomic, write_secret

from .headscale_api import HeadscaleClient, PreAuthKey
from .inventory import Inventory, Team

_UNITS = {"h": 1, "d": 24, "w": 24 * 7}


def expiry_delta(text: str) -> timedelta:
    return timedelta(hours=int(text[:-1]) * _UNITS[text[-1]])


@dataclass
class ApplyReport:
    changes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _policy_document(text: str) -> Any:
    """The policy as data, ignoring // comments and formatting; None when it does not parse."""
    stripped = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    stripped = re.sub(r",(\s*[}\]])", r"\1", stripped)  # HuJSON allows trailing commas
    try:
        return json.loads(stripped) if stripped.strip() else None
    except ValueError:
        return None


def _usable(key: PreAuthKey, now: datetime, team: Team) -> bool:
    return (not key.expired(now) and (key.reusable or not key.used)
            and team.tag in key.acl_tags)


def _ensure_team_key(inv: Inventory, client: HeadscaleClient, team: Team, owner_id: int,
                     keys: dict[int, PreAuthKey], bundles: Path, now: datetime,
                     report: ApplyReport) -> None:
    bundle = bundles / team.name
    meta_path, key_path = bundle / "key.json", bundle / "auth.key"
    if meta_path.exists() and key_path.exists():
        try:
            key_id = int(json.loads(meta_path.read_text())["id"])
        except (ValueError, KeyError, TypeError):
            key_id = -1
        existing = keys.get(key_id)
        if existing is not None and _usable(existing, now, team):
            report.kept.append(f"key {key_id} of team {team.name} (expires "
                               f"{existing.expiration:%Y-%m-%d})" if existing.expiration else
                               f"key {key_id} of team {team.name}")
            return
    key = client.create_preauth_key(owner_id, inv.keys_reusable, inv.keys_ephemeral,
                                    now + expiry_delta(inv.key_expiry), [team.tag])
    write_secret(key_path, key.key + "\n")
    write_atomic(meta_path, json.dumps({
        "id": key.id, "team": team.name, "tags": list(key.acl_tags),
        "reusable": key.reusable, "ephemeral": key.ephemeral,
        "expiration": key.expiration.isoformat() if key.expiration else None}, indent=2) + "\n")
    report.changes.append(f"issued key {key.id} for team {team.name} ({team.tag}, "
                          f"{'reusable' if key.reusable else 'single use'}, expires "
                          f"{key.expiration:%Y-%m-%d}) into {key_path}" if key.expiration else
                          f"issued key {key.id} for team {team.name} into {key_path}")


def apply_inventory(inv: Inventory, client: HeadscaleClient, policy_text: str, bundles: Path,
                    now: datetime | None = None) -> ApplyReport:
    now = now or datetime.now(timezone.utc)
    report = ApplyReport()
    users = {u.name: u for u in client.list_users()}
    for name in [inv.key_owner] + [p.name for p in inv.people]:
        if name in users:
            report.kept.append(f"user {name}")
        else:
            users[name] = client.create_user(name)
            report.changes.append(f"created user {name} (id {users[name].id})")
    # the policy before the keys: a tagged key needs its tag's owner in the policy
    _ensure_policy(inv, client, policy_text, report)
    keys = {k.id: k for k in client.list_preauth_keys()}
    for team in inv.enrolled:
        _ensure_team_key(inv, client, team, users[inv.key_owner].id, keys, bundles, now, report)
    return report


def _ensure_policy(inv: Inventory, client: HeadscaleClient, policy_text: str,
                   report: ApplyReport) -> None:
    current = _policy_document(client.get_policy())
    wanted = _policy_document(policy_text)
    if current == wanted:
        report.kept.append("policy (unchanged)")
    elif inv.policy_mode == "database":
        client.set_policy(policy_text)
        report.changes.append("uploaded the policy")
    else:
        report.todo.append("the server's policy differs from the generated one and policy_mode "
                           "is file: copy policy.hujson to /etc/headscale/policy.hujson and run "
                           "'systemctl reload headscale'")
