"""Backends read an overlay: ``tailscale`` (LocalAPI) and ``wireguard`` (wg dump)."""
from __future__ import annotations

from ..errors import InputError
from .base import DEFAULT_SOCKET, OverlayBackend

BACKENDS = ("tailscale", "wireguard")


def make_backend(kind: str, socket_path: str = "", interface: str = "",
                 timeout_s: float = 2.0) -> OverlayBackend:
    """The backend named ``kind``; errors name the bad value and what was expected."""
    if kind == "tailscale":
        from .tailscale import LocalAPIClient

        return LocalAPIClient(socket_path or DEFAULT_SOCKET, timeout_s)
    if kind == "wireguard":
        if not interface:
            raise InputError("backend 'wireguard' needs an interface name (e.g. wg0)")
        from .wireguard import WireGuardBackend

        return WireGuardBackend(interface)
    raise InputError(f"backend {kind!r} is not one of {', '.join(BACKENDS)}")
