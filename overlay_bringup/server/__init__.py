"""The coordination server: from one fleet inventory to a checked Headscale (v0.29) deployment.

Pure modules: ``inventory`` (validation), ``headscale_config``, ``derp_map``, ``policy``
(generation and evaluation), ``deployment`` (systemd unit, bundles); I/O: ``tls`` (key and
certificate files), ``headscale_api`` (REST client), ``apply``; CLI: ``cli`` (overlay-server).
"""
