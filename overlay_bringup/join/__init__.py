"""Joining the overlay: ``tailscale up`` against the self-hosted server, checked and idempotent.

``decide`` and ``classify_failure`` are pure; ``runner`` runs the CLI and reads tailscaled.
"""
