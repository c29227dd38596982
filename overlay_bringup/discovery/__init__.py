"""ROS discovery over the overlay, which carries no multicast. Pure generators: a request
(mode, own address, peer addresses, …) becomes files and environment variables.

``generate(request)`` returns a :class:`DiscoveryConfig`; ``write_config`` (in ``files``) puts
it on disk atomically with an ``env`` file of ``KEY=VALUE`` lines.
"""
from .model import MODES, DiscoveryConfig, DiscoveryRequest, generate

__all__ = ["MODES", "DiscoveryConfig", "DiscoveryRequest", "generate"]
