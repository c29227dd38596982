"""Backends read an overlay: ``tailscale`` (LocalAPI) and ``wireguard`` (wg dump)."""
