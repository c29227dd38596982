"""Back up and restore a Headscale server: what it cannot rebuild from the inventory.

A backup is one gzip'd tar (0600, written to a temp file and renamed):
- ``db.sqlite``: a consistent copy of the database while headscale runs (sqlite's online backup
  API, which also carries what still sits in the write-ahead log): users, nodes, keys, policy;
- the noise and DERP private keys (clients trust the server by the noise key);
- the TLS certificate and key, and the policy file in ``policy.mode: file``;
- ``bundles/``: the enrolment bundles (teams' auth keys), when given;
- ``manifest.json``: where each member goes back (the paths of config.yaml).

Restore writes each member back to its path atomically (0600 for secrets) and refuses to run over
an existing database unless told to (stop headscale first: it holds the database open).
"""
from __future__ import annotations

import io
import json
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from overlay_monitor.errors import InputError
from overlay_monitor.files import write_atomic

MANIFEST = "manifest.json"
DATABASE = "db.sqlite"
#: config.yaml key paths of the files a backup carries (besides the database)
FILE_KEYS: dict[str, tuple[str, ...]] = {
    "noise_private.key": ("noise", "private_key_path"),
    "derp_server_private.key": ("derp", "server", "private_key_path"),
    "tls/server.crt": ("tls_cert_path",),
    "tls/server.key": ("tls_key_path",),
    "policy.hujson": ("policy", "path"),
}
PUBLIC = {"tls/server.crt", "policy.hujson"}


@dataclass(frozen=True)
class ServerPaths:
    database: Path
    files: dict[str, Path]       # member name -> path on the server


def _get(config: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = config
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def server_paths(config_file: Path) -> ServerPaths:
    """The paths a backup reads (and a restore writes), from headscale's config.yaml."""
    try:
        config = yaml.safe_load(config_file.read_text())
    except OSError as err:
        raise InputError(f"{config_file}: cannot read headscale's config ({err.strerror})") from None
    if not isinstance(config, dict):
        raise InputError(f"{config_file}: not a headscale config (expected a mapping)")
    if _get(config, ("database", "type")) != "sqlite":
        raise InputError(f"{config_file}: database.type is "
                         f"{_get(config, ('database', 'type'))!r}; backup handles sqlite only "
                         "(use pg_dump for postgres)")
    database = _get(config, ("database", "sqlite", "path"))
    if not database:
        raise InputError(f"{config_file}: database.sqlite.path is empty")
    files = {name: Path(str(_get(config, keys))) for name, keys in FILE_KEYS.items()
             if _get(config, keys)}
    return ServerPaths(Path(str(database)), files)


def _copy_database(source: Path, target: Path) -> None:
    if not source.exists():
        raise InputError(f"{source}: no database there (is this the server's config?)")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    except sqlite3.Error as err:
        raise InputError(f"{source}: cannot copy the database ({err})") from None
    finally:
        dst.close()
        src.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _bundle_files(bundles: Path | None) -> list[tuple[str, Path]]:
    if bundles is None or not bundles.is_dir():
        return []
    return [(f"bundles/{path.relative_to(bundles)}", path) for path in sorted(bundles.rglob("*"))
            if path.is_file()]


def write_backup(config_file: Path, out: Path, bundles: Path | None = None) -> list[str]:
    """Write the backup to ``out`` (0600, atomically); returns the member names."""
    paths = server_paths(config_file)
    members: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / DATABASE
        _copy_database(paths.database, database)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            _add_bytes(tar, DATABASE, database.read_bytes())
            members.append(DATABASE)
            for name, path in paths.files.items():
                if path.is_file():
                    _add_bytes(tar, name, path.read_bytes())
                    members.append(name)
            for name, path in _bundle_files(bundles):
                _add_bytes(tar, name, path.read_bytes())
                members.append(name)
            manifest = {"database": str(paths.database),
                        "files": {n: str(p) for n, p in paths.files.items() if n in members},
                        "bundles": str(bundles) if bundles else None, "members": members}
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
    write_atomic(out, buffer.getvalue(), 0o600)
    return members


def _open(backup: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(backup, mode="r:gz")  # noqa: SIM115  (closed by the caller's with)
    except (OSError, tarfile.TarError) as err:
        raise InputError(f"{backup}: not an overlay-server backup ({err})") from None


def restore_backup(backup: Path, force: bool = False) -> list[str]:
    """Put every member of ``backup`` back where its manifest says; returns the paths written."""
    with _open(backup) as tar:
        try:
            manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
        except (KeyError, AttributeError, ValueError):
            raise InputError(f"{backup}: no {MANIFEST} (not an overlay-server backup)") from None
        database = Path(manifest["database"])
        if database.exists() and not force:
            raise InputError(f"{database} exists: stop headscale and pass --force to replace it "
                             "with the backup's database")
        targets = {DATABASE: database, **{n: Path(p) for n, p in manifest["files"].items()}}
        if manifest.get("bundles"):
            base = Path(manifest["bundles"])
            targets.update({n: base / n.removeprefix("bundles/") for n in manifest["members"]
                            if n.startswith("bundles/")})
        written = []
        for name, target in targets.items():
            member = tar.extractfile(name)
            if member is None:
                raise InputError(f"{backup}: member {name} is missing")
            mode = 0o644 if name in PUBLIC or name.endswith(("ca.crt", "README.md")) else 0o600
            target.parent.mkdir(parents=True, exist_ok=True)
            for stale in (f"{target}-wal", f"{target}-shm") if name == DATABASE else ():
                Path(stale).unlink(missing_ok=True)  # the old log must not replay over it
            write_atomic(target, member.read(), mode)
            written.append(str(target))
    return written
