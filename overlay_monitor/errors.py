"""The exception hierarchy shared by every overlay tool.

Messages name the bad value and what was expected. They never contain a secret.
"""
from __future__ import annotations


class OverlayError(Exception):
    """Base class for every error the overlay tools raise on purpose."""

    #: exit code a CLI returns for this kind of error
    exit_code: int = 1


class InputError(OverlayError):
    """A file, argument or response did not have the expected content."""

    exit_code = 2


class BackendUnavailable(OverlayError):
    """The overlay backend (tailscaled, wg) could not be reached or read."""

    exit_code = 3


class BackendProtocolError(BackendUnavailable):
    """The backend answered, but not with what its protocol promises (garbage, partial JSON)."""


class CommandFailed(OverlayError):
    """An external command exited non-zero."""

    exit_code = 4

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr.strip()
        detail = f": {self.stderr}" if self.stderr else ""
        super().__init__(f"'{' '.join(argv)}' exited with {returncode}{detail}")
