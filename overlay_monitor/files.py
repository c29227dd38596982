"""Atomic file writes: a temporary file in the same directory, then os.replace.

A reader never sees a half-written file, and a secret is never readable by others, not even
for a moment: the temporary file is created with its final mode before anything is written.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = PUBLIC_MODE) -> Path:
    """Write ``data`` to ``path`` atomically with permission bits ``mode``; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


def write_secret(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write a secret (key material) atomically, readable by the owner only (0600)."""
    return write_atomic(path, data, SECRET_MODE)


def is_private(path: str | os.PathLike[str]) -> bool:
    """True when neither group nor others may read or write ``path``."""
    return (os.stat(path).st_mode & 0o077) == 0


#: the largest input file a command reads whole (inventories, dumps, keys are kilobytes)
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input(path: str | os.PathLike[str], what: str, max_bytes: int = MAX_INPUT_BYTES,
               allow_empty: bool = False) -> str:
    """The text of an input file, or one ``InputError`` that names the file, what it should be
    and what is wrong: missing or unreadable, a folder, empty, larger than ``max_bytes``, or not
    UTF-8 text (a binary file)."""
    from .errors import InputError

    source = Path(path)
    try:
        size = source.stat().st_size
        if source.is_dir():
            raise InputError(f"{source}: is a folder, not {what}")
        if size > max_bytes:
            raise InputError(f"{source}: {size} bytes is too large for {what} (at most "
                             f"{max_bytes} bytes)")
        data = source.read_bytes()
    except OSError as err:
        raise InputError(f"{source}: cannot read {what} ({err.strerror})") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{source}: not {what}: not UTF-8 text (byte 0x{data[err.start]:02x} "
                         f"at offset {err.start}; a binary file?)") from None
    if not allow_empty and not text.strip():
        raise InputError(f"{source}: is empty; expected {what}")
    return text
