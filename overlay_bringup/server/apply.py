"""Make a running Headscale match the inventory: users, one pre-auth key per team, the policy.

Idempotent: a team whose bundle already holds a key that Headscale still accepts keeps it, an
unchanged policy is not uploaded again, existing users are left alone. What changed is reported.
Keys are written into the team's bundle (``auth.key``, 0600) and never printed.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from overlay_monitor.errors import InputError
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


def policy_diff(old: Any, new: Any, limit: int = 40) -> list[str]:
    """What changes between two policies, as unified-diff lines of their indented JSON (at most
    ``limit`` lines; nothing for a first upload)."""
    if old is None:
        return []
    lines = list(difflib.unified_diff(json.dumps(old, indent=1, sort_keys=True).splitlines(),
                                      json.dumps(new, indent=1, sort_keys=True).splitlines(),
                                      "server", "inventory", n=1, lineterm=""))[2:]
    return lines[:limit] + ([f"… {len(lines) - limit} more line(s)"] if len(lines) > limit else [])


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


def _bundle_key_id(bundle: Path) -> int | None:
    """The id of the key the bundle holds (from key.json), or None."""
    meta_path, key_path = bundle / "key.json", bundle / "auth.key"
    if not (meta_path.exists() and key_path.exists()):
        return None
    try:
        return int(json.loads(meta_path.read_text())["id"])
    except (ValueError, KeyError, TypeError):
        return None


def _why_unusable(key: PreAuthKey | None, now: datetime, team: Team) -> str:
    if key is None:
        return "is not on the server"
    if key.expired(now):
        return f"expired on {key.expiration:%Y-%m-%d}"
    if key.used and not key.reusable:
        return "was used (single use)"
    return f"does not carry {team.tag}"


def _ensure_team_key(inv: Inventory, client: HeadscaleClient, team: Team, owner_id: int,
                     keys: dict[int, PreAuthKey], bundles: Path, now: datetime,
                     report: ApplyReport, rotate: bool = False) -> None:
    bundle = bundles / team.name
    meta_path, key_path = bundle / "key.json", bundle / "auth.key"
    key_id = _bundle_key_id(bundle)
    replaced = ""
    if key_id is not None:
        existing = keys.get(key_id)
        if existing is not None and _usable(existing, now, team) and not rotate:
            report.kept.append(f"key {key_id} of team {team.name} (expires "
                               f"{existing.expiration:%Y-%m-%d})" if existing.expiration else
                               f"key {key_id} of team {team.name}")
            return
        if rotate and existing is not None and not existing.expired(now):
            client.expire_preauth_key(key_id)
            replaced = f", expired key {key_id} on the server"
        else:
            replaced = f", replacing key {key_id}, which {_why_unusable(existing, now, team)}"
    key = client.create_preauth_key(owner_id, inv.keys_reusable, inv.keys_ephemeral,
                                    now + expiry_delta(inv.key_expiry), [team.tag])
    write_secret(key_path, key.key + "\n")
    write_atomic(meta_path, json.dumps({
        "id": key.id, "team": team.name, "tags": list(key.acl_tags),
        "reusable": key.reusable, "ephemeral": key.ephemeral,
        "expiration": key.expiration.isoformat() if key.expiration else None}, indent=2) + "\n")
    report.changes.append(f"issued key {key.id} for team {team.name} ({team.tag}, "
                          f"{'reusable' if key.reusable else 'single use'}, expires "
                          f"{key.expiration:%Y-%m-%d}) into {key_path}{replaced}"
                          if key.expiration else
                          f"issued key {key.id} for team {team.name} into {key_path}{replaced}")


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
    _retire_removed(inv, client, keys, now, report)
    return report


def _retire_removed(inv: Inventory, client: HeadscaleClient, keys: dict[int, PreAuthKey],
                    now: datetime, report: ApplyReport) -> None:
    """Keys whose tags belong to no identity of the inventory (a team removed from it) are
    expired, so nobody enrols with them; their nodes are named, not deleted (a person decides)."""
    known = {identity.tag for identity in inv.enrolled}
    for key in keys.values():
        if key.acl_tags and not set(key.acl_tags) & known and not key.expired(now):
            client.expire_preauth_key(key.id)
            report.changes.append(f"expired key {key.id} ({', '.join(key.acl_tags)}): its team "
                                  "is no longer in the inventory")
    robots = {team.tag: set(team.robots) for team in inv.teams}
    for node in client.list_nodes():
        if node.tags and not set(node.tags) & known:
            report.todo.append(f"node {node.name} (id {node.id}, {', '.join(node.tags)}) belongs "
                               f"to no team of the inventory: remove it with 'headscale nodes "
                               f"delete -i {node.id}' if it is gone for good")
            continue
        teams = [tag for tag in node.tags if tag in robots]
        if teams and not any(node.name in robots[tag] for tag in teams):
            report.todo.append(f"node {node.name} (id {node.id}, {', '.join(teams)}) is no robot "
                               f"of its team in the inventory: remove it with 'headscale nodes "
                               f"delete -i {node.id}' if it is gone for good")


def rotate_keys(inv: Inventory, client: HeadscaleClient, bundles: Path,
                teams: tuple[str, ...] = (), now: datetime | None = None) -> ApplyReport:
    """Issue a fresh key for each enrolment identity (or only ``teams``) into its bundle and
    expire the old one on the server. Joined nodes keep working: keys only enrol."""
    now = now or datetime.now(timezone.utc)
    names = {identity.name for identity in inv.enrolled}
    unknown = sorted(set(teams) - names)
    if unknown:
        raise InputError(f"no team {', '.join(map(repr, unknown))} in the inventory (teams: "
                         f"{', '.join(sorted(names))})")
    report = ApplyReport()
    users = {u.name: u for u in client.list_users()}
    if inv.key_owner not in users:
        raise InputError(f"the key owner {inv.key_owner!r} is not a user on the server yet: "
                         "run 'overlay-server apply' first")
    keys = {k.id: k for k in client.list_preauth_keys()}
    for team in inv.enrolled:
        if not teams or team.name in teams:
            _ensure_team_key(inv, client, team, users[inv.key_owner].id, keys, bundles, now,
                             report, rotate=True)
    return report


def _ensure_policy(inv: Inventory, client: HeadscaleClient, policy_text: str,
                   report: ApplyReport) -> None:
    current = _policy_document(client.get_policy())
    wanted = _policy_document(policy_text)
    if current == wanted:
        report.kept.append("policy (unchanged)")
    elif inv.policy_mode == "database":
        client.set_policy(policy_text)
        report.changes.append("uploaded the policy" + "".join(
            f"\n    {line}" for line in policy_diff(current, wanted)))
    else:
        report.todo.append("the server's policy differs from the generated one and policy_mode "
                           "is file: copy policy.hujson to /etc/headscale/policy.hujson and run "
                           "'systemctl reload headscale'")
