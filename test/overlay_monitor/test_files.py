import os
import stat

import pytest

from overlay_monitor.files import is_private, write_atomic, write_secret


def test_write_secret_is_0600_and_leaves_no_temp_file(tmp_path):
    path = write_secret(tmp_path / "sub" / "key", "secret-material\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert is_private(path)
    assert path.read_text() == "secret-material\n"
    assert os.listdir(path.parent) == ["key"]


def test_write_atomic_replaces_and_keeps_old_content_on_failure(tmp_path):
    path = write_atomic(tmp_path / "f.txt", "old")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

    with pytest.raises(TypeError):
        write_atomic(path, 12345)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
    write_atomic(path, b"new")
    assert path.read_text() == "new"
