"""The lab: simulated robots in network namespaces joined by real WireGuard tunnels.

``topology`` and ``impairments`` are pure (plans and parsing); ``runner`` changes the machine;
``udp_relay`` is the userspace relay (delay, relayed paths); ``cli`` is ``overlay-lab``.
"""
from overlay_monitor.errors import OverlayError


class LabError(OverlayError):
    """The lab cannot be built, read or torn down as asked."""

    exit_code = 5
