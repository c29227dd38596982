"""ROS discovery over the overlay, which carries no multicast. Pure generators: a request
(mode, own address, peer addresses, …) becomes files and environment variables.

``generate(request)`` returns a :class:`DiscoveryConfig`; ``write_config`` (in ``files``) puts
it on disk atomically with an ``env`` file of ``KEY=VALUE`` lines.
"""
from .model import DiscoveryConfig, DiscoveryRequest
from .modes import MODE_NAMES, MODES, ModeSpec, generate, mode_spec

__all__ = ["MODES", "MODE_NAMES", "DiscoveryConfig", "DiscoveryRequest", "ModeSpec", "generate",
           "mode_spec"]
