"""Every file a command reads gives one named line and its exit code for bad content: binary,
empty, truncated, huge and deeply nested input, for the inventory, the link-test dataset, the
status dump and the key files. Never a traceback. The readers are also fuzzed with hypothesis."""
import json
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlay_bringup.join.runner import check_key_file
from overlay_bringup.server.headscale_api import read_api_key
from overlay_bringup.server.inventory import load_inventory
from overlay_monitor.errors import InputError
from overlay_monitor.files import MAX_INPUT_BYTES
from overlay_monitor.linktest.dataset import load_records
from overlay_monitor.status_cli import load_status_file
from overlay_testing import FIXTURES, REPO, overlay_cli

EXAMPLE_INVENTORY = (REPO / "config" / "fleet.example.yaml").read_text()
EXAMPLE_STATUS = next((FIXTURES / "tailscale").glob("status_1.90_running.json")).read_text()
EXAMPLE_DATASET = json.dumps({"timestamp": "2026-01-01T00:00:00+00:00", "location": "lab",
                              "target": "100.64.0.2", "path": "overlay"}) + "\n"

CONTENTS = {
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00",
    "empty": b"",
    "deeply nested": b"[" * 200_000,
}


def _commands(path, tmp_path):
    """(what, argv) of every command that reads a file given on its command line."""
    return {
        "inventory": [*overlay_cli("overlay-server"), "check", "--inventory", str(path)],
        "dataset": [*overlay_cli("overlay-linktest"), "report", "--dataset", str(path), "--out",
                    str(tmp_path / "report")],
        "status": [*overlay_cli("overlay-status"), "--from-file", str(path)],
        "api key": [*overlay_cli("overlay-server"), "status", "--url", "https://127.0.0.1:9",
                    "--api-key-file", str(path)],
    }


def _truncated(what):
    text = {"inventory": EXAMPLE_INVENTORY, "dataset": EXAMPLE_DATASET, "status": EXAMPLE_STATUS,
            "api key": "hskey-api-"}[what]
    return text.encode()[: max(1, len(text) // 3)]


def _check_one_line(result, path, expected_code=2):
    assert result.returncode == expected_code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and str(path) in lines[0], result.stderr
    return lines[0]


@pytest.mark.parametrize("what", ["inventory", "dataset", "status", "api key"])
@pytest.mark.parametrize("kind", [*CONTENTS, "truncated", "huge"])
def test_a_bad_file_is_one_named_line_and_exit_2(tmp_path, what, kind):
    path = tmp_path / "input"
    if kind == "huge":  # sparse: the size is checked before anything is read
        path.touch()
        os.truncate(path, MAX_INPUT_BYTES * 20 if what == "dataset" else MAX_INPUT_BYTES + 1)
    else:
        path.write_bytes(_truncated(what) if kind == "truncated" else CONTENTS[kind])
    path.chmod(0o600)
    result = subprocess.run(_commands(path, tmp_path)[what], capture_output=True, text=True,
                            timeout=60)
    if what == "dataset" and kind == "empty":  # an empty dataset is a dataset with no records
        assert "Traceback" not in result.stderr
        return
    if what == "inventory" and kind == "truncated":  # YAML, but fields missing: check fails
        line = _check_one_line(result, path, expected_code=1)
        assert "problem(s)" in line and "is a required property" in result.stderr
        return
    if what == "api key" and kind == "truncated":  # text: its shape is named on HTTP 401
        assert result.returncode == 3 and "cannot connect" in result.stderr, result.stderr
        return
    line = _check_one_line(result, path)
    expected = {"binary": "not UTF-8", "empty": "is empty", "huge": "too large"}.get(kind)
    if expected:
        assert expected in line, line


def test_a_binary_auth_key_file_is_named(tmp_path):
    key = tmp_path / "auth.key"
    key.write_bytes(CONTENTS["binary"])
    key.chmod(0o600)
    with pytest.raises(InputError, match="auth.key: not an auth key .*not UTF-8"):
        check_key_file(str(key))


READERS = {
    "inventory": load_inventory,
    "dataset": load_records,
    "status": load_status_file,
    "api key": read_api_key,
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(what=st.sampled_from(sorted(READERS)), data=st.binary(max_size=2048))
def test_readers_raise_only_input_errors_on_any_bytes(tmp_path, what, data):
    path = tmp_path / "fuzzed"
    path.write_bytes(data)
    path.chmod(0o600)
    try:
        READERS[what](path)
    except InputError as err:
        assert str(path) in str(err)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(what=st.sampled_from(sorted(READERS)), cut=st.integers(min_value=0, max_value=4000),
       noise=st.binary(max_size=64))
def test_readers_raise_only_input_errors_on_damaged_real_files(tmp_path, what, cut, noise):
    path = tmp_path / "damaged"
    real = {"inventory": EXAMPLE_INVENTORY, "dataset": EXAMPLE_DATASET, "status": EXAMPLE_STATUS,
            "api key": "hskey-api-0123456789ab-" + "f" * 64}[what].encode()
    path.write_bytes(real[:cut] + noise)
    path.chmod(0o600)
    try:
        READERS[what](path)
    except InputError as err:
        assert str(path) in str(err)
