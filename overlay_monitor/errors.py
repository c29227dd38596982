"""Every error the overlay tools raise on purpose, and the exit code a command returns for it.

One table, one screen. Messages name the bad value and what was expected; they never contain a
secret. A subclass without a code of its own shares its parent's (a more precise message, the
same meaning for a script). Every command documents this table in ``--help``.
"""
from __future__ import annotations

#: exit code -> (error class, what it means to someone who runs the command)
EXIT_CODES: dict[int, tuple[str, str]] = {
    1: ("OverlayError", "failed (a test or check did not pass)"),
    2: ("InputError", "a file, argument or answer is not what was expected"),
    3: ("BackendUnavailable", "tailscaled, wg or the server could not be reached or read"),
    4: ("CommandFailed", "an external command exited non-zero"),
    5: ("LabError", "the lab cannot be built, read or torn down as asked"),
    6: ("HeadscaleError", "Headscale answered with an error"),
    7: ("HeadscaleAuthError", "Headscale rejected the API key"),
    8: ("HeadscaleTLSError", "the server's certificate is not trusted"),
    9: ("ComponentMissing", "a real program (tailscale, headscale, derper, zenohd) is missing"),
    10: ("JoinError", "joining the overlay failed"),
    11: ("ServerUnreachable", "the login server cannot be reached"),
    12: ("ServerNotTrusted", "the login server's certificate is not trusted"),
    13: ("KeyRejected", "the server refused the auth key"),
    14: ("WaitingForApproval", "the node waits for an admin's approval"),
    15: ("JoinTimeout", "tailscale did not reach Running in time"),
    16: ("NotOperator", "this user may not control tailscaled (run one command as root once)"),
    17: ("NodeKeyExpired", "the server keeps this machine's node with an expired key: release it"),
    18: ("ProxyUnreachable", "the web proxy is down, refused the CONNECT, or is no proxy"),
    19: ("ClientTooOld", "the server refuses this machine's tailscale as too old: upgrade it"),
}


def _code(name: str) -> int:
    return next(code for code, (cls, _) in EXIT_CODES.items() if cls == name)


def exit_codes_help() -> str:
    """The table as the epilog lines of a command's ``--help``."""
    return "exit codes:\n" + "".join(f"  {code:>2}  {meaning}\n"
                                     for code, (_, meaning) in sorted(EXIT_CODES.items()))


class OverlayError(Exception):
    """Base class for every error the overlay tools raise on purpose."""

    exit_code: int = _code("OverlayError")


class InputError(OverlayError):
    exit_code = _code("InputError")


class BackendUnavailable(OverlayError):
    exit_code = _code("BackendUnavailable")


class BackendProtocolError(BackendUnavailable):
    """The backend answered, but not with what its protocol promises (garbage, partial JSON)."""


class CommandFailed(OverlayError):
    exit_code = _code("CommandFailed")

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr.strip()
        detail = f": {self.stderr}" if self.stderr else ""
        super().__init__(f"'{' '.join(argv)}' exited with {returncode}{detail}")


class LabError(OverlayError):
    exit_code = _code("LabError")


class HeadscaleError(OverlayError):
    exit_code = _code("HeadscaleError")


class HeadscaleAuthError(HeadscaleError):
    exit_code = _code("HeadscaleAuthError")


class HeadscaleNotFound(HeadscaleError):
    """The object asked for does not exist on the server."""


class HeadscaleTLSError(BackendUnavailable):
    exit_code = _code("HeadscaleTLSError")


class ComponentMissing(OverlayError):
    exit_code = _code("ComponentMissing")


class JoinError(OverlayError):
    exit_code = _code("JoinError")


class ServerUnreachable(JoinError):
    exit_code = _code("ServerUnreachable")


class ServerNotTrusted(JoinError):
    exit_code = _code("ServerNotTrusted")


class KeyRejected(JoinError):
    exit_code = _code("KeyRejected")


class WaitingForApproval(JoinError):
    exit_code = _code("WaitingForApproval")


class JoinTimeout(JoinError):
    exit_code = _code("JoinTimeout")


class NotOperator(JoinError):
    exit_code = _code("NotOperator")


class NodeKeyExpired(JoinError):
    exit_code = _code("NodeKeyExpired")


class ProxyUnreachable(JoinError):
    exit_code = _code("ProxyUnreachable")


class ClientTooOld(JoinError):
    exit_code = _code("ClientTooOld")
