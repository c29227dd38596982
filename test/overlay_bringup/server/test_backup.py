"""overlay-server backup / restore on a stand-in server tree (a real sqlite database in WAL mode
with a write still in its log, key files, a config that points at them)."""
import os
import sqlite3
import stat
import tarfile

import pytest
import yaml

from overlay_bringup.server.backup import restore_backup, server_paths, write_backup
from overlay_monitor.errors import InputError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    (root / "lib").mkdir(parents=True)
    (root / "tls").mkdir()
    db = root / "lib" / "db.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO nodes (name) VALUES ('r1'), ('r2')")
    conn.commit()  # stays in the write-ahead log while this connection is open
    for name, text in (("lib/noise_private.key", "privkey:NOISE"),
                       ("lib/derp_server_private.key", "privkey:DERP"),
                       ("tls/server.crt", "CERT"), ("tls/server.key", "TLSKEY")):
        (root / name).write_text(text)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({
        "noise": {"private_key_path": str(root / "lib/noise_private.key")},
        "derp": {"server": {"private_key_path": str(root / "lib/derp_server_private.key")}},
        "database": {"type": "sqlite", "sqlite": {"path": str(db)}},
        "tls_cert_path": str(root / "tls/server.crt"), "tls_key_path": str(root / "tls/server.key"),
        "policy": {"mode": "database", "path": ""}}))
    bundles = tmp_path / "bundles"
    (bundles / "team-a").mkdir(parents=True)
    (bundles / "team-a" / "auth.key").write_text("hskey-auth-TESTONLY\n")
    (bundles / "team-a" / "ca.crt").write_text("CA\n")
    yield root, config, bundles, conn
    conn.close()


def test_backup_holds_the_live_database_keys_and_bundles_0600(server, tmp_path):
    root, config, bundles, _ = server
    out = tmp_path / "backup.tar.gz"
    members = write_backup(config, out, bundles)
    assert members == ["db.sqlite", "noise_private.key", "derp_server_private.key",
                       "tls/server.crt", "tls/server.key", "bundles/team-a/auth.key",
                       "bundles/team-a/ca.crt"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup")]  # no temp left
    with tarfile.open(out) as tar:
        assert "manifest.json" in tar.getnames()


def test_restore_puts_everything_back_and_refuses_to_overwrite_without_force(server, tmp_path):
    root, config, bundles, conn = server
    out = tmp_path / "backup.tar.gz"
    write_backup(config, out, bundles)
    conn.close()
    with pytest.raises(InputError, match="exists: stop headscale and pass --force"):
        restore_backup(out)
    for path in (root / "lib").iterdir():
        path.unlink()
    (bundles / "team-a" / "auth.key").unlink()
    written = restore_backup(out)
    assert str(root / "lib" / "db.sqlite") in written
    rows = sqlite3.connect(root / "lib" / "db.sqlite").execute("SELECT name FROM nodes").fetchall()
    assert rows == [("r1",), ("r2",)]  # what was only in the write-ahead log came along
    assert (root / "lib" / "noise_private.key").read_text() == "privkey:NOISE"
    assert stat.S_IMODE(os.stat(root / "lib" / "noise_private.key").st_mode) == 0o600
    assert (bundles / "team-a" / "auth.key").read_text() == "hskey-auth-TESTONLY\n"
    assert stat.S_IMODE(os.stat(bundles / "team-a" / "ca.crt").st_mode) == 0o644
    assert restore_backup(out, force=True)  # over an existing database, when told


def test_backup_errors_name_the_problem(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"type": "postgres"}}))
    with pytest.raises(InputError, match="database.type is 'postgres'; backup handles sqlite"):
        server_paths(config)
    with pytest.raises(InputError, match="cannot read headscale's config"):
        server_paths(tmp_path / "missing.yaml")
    (tmp_path / "junk.tar.gz").write_text("not a tar")
    with pytest.raises(InputError, match="not an overlay-server backup"):
        restore_backup(tmp_path / "junk.tar.gz")
