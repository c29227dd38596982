"""Stand-ins for tailscaled, the tailscale CLI and Headscale, used only by the tests.

They speak the real protocols over real sockets, with JSON shapes following Tailscale's and
Headscale's sources. They are never installed and never presented as the products.
"""
