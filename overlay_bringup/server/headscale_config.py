"""Headscale v0.29 config.yaml and DERP map from an inventory, checked before writing. Pure.

Key names and meanings follow Headscale's config-example.yaml. The embedded DERP relay serves on
the control server's HTTPS address; its STUN endpoint listens on UDP ``stun_port``.
``derp.urls`` is empty so no client is ever sent to Tailscale's public relays: all relayed
traffic stays on campus. Extra relays (other buildings) are listed in a DERP map file.
"""
from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import yaml

from overlay_monitor.errors import InputError

from .inventory import TAILSCALE_V4, TAILSCALE_V6, Inventory

HEADSCALE_VERSION = "0.29"
ETC = "/etc/headscale"
VAR_LIB = "/var/lib/headscale"


RUN = "/var/run/headscale"


def server_paths(root: str = "") -> dict[str, str]:
    """Where the server's files live: /etc/headscale, /var/lib/headscale, /var/run/headscale,
    each under ``root`` when given (a lab, or a test that runs headscale unprivileged)."""
    etc, var_lib, run = (root.rstrip("/") + part for part in (ETC, VAR_LIB, RUN))
    return {"etc": etc, "var_lib": var_lib, "run": run,
            "config": f"{etc}/config.yaml", "derp_map": f"{etc}/derp.yaml",
            "policy": f"{etc}/policy.hujson", "tls_cert": f"{etc}/tls/server.crt",
            "tls_key": f"{etc}/tls/server.key", "noise_key": f"{var_lib}/noise_private.key",
            "derp_key": f"{var_lib}/derp_server_private.key", "db": f"{var_lib}/db.sqlite",
            "socket": f"{run}/headscale.sock"}


def headscale_config(inv: Inventory, root: str = "") -> dict[str, Any]:
    paths = server_paths(root)
    return {
        "server_url": inv.server_url,
        "listen_addr": f"0.0.0.0:{inv.https_port}",
        "metrics_listen_addr": f"127.0.0.1:{inv.metrics_port}",
        "grpc_listen_addr": f"127.0.0.1:{inv.grpc_port}",
        "grpc_allow_insecure": False,
        "noise": {"private_key_path": paths["noise_key"]},
        "prefixes": {"v4": inv.prefix_v4, "v6": inv.prefix_v6, "allocation": inv.allocation},
        "derp": {
            "server": {
                "enabled": True,
                "region_id": inv.region_id,
                "region_code": inv.region_code,
                "region_name": inv.region_name,
                "stun_listen_addr": f"0.0.0.0:{inv.stun_port}",
                "private_key_path": paths["derp_key"],
                "automatically_add_embedded_derp_region": True,
            },
            "urls": [],
            "paths": [paths["derp_map"]] if inv.extra_regions else [],
            "auto_update_enabled": False,
            "update_frequency": "24h",
        },
        "disable_check_updates": True,
        "node": {"ephemeral": {"inactivity_timeout": "30m"}},
        "database": {"type": "sqlite",
                     "sqlite": {"path": paths["db"], "write_ahead_log": True}},
        "tls_cert_path": paths["tls_cert"],
        "tls_key_path": paths["tls_key"],
        "log": {"format": "text", "level": "info"},
        "policy": {"mode": inv.policy_mode,
                   "path": paths["policy"] if inv.policy_mode == "file" else ""},
        # no global name servers: the robots keep their own resolvers (override_local_dns
        # true without global name servers is a fatal error in headscale 0.29)
        "dns": {"magic_dns": True, "base_domain": inv.base_domain, "override_local_dns": False,
                "nameservers": {"global": [], "split": {}}, "search_domains": [],
                "extra_records": []},
        "unix_socket": paths["socket"],
        "unix_socket_permission": "0770",
        "logtail": {"enabled": False},
    }


def check_headscale_config(config: dict[str, Any]) -> list[str]:
    """Headscale's documented constraints; every violation, as 'key: problem'."""
    problems: list[str] = []
    url = urlsplit(str(config.get("server_url", "")))
    derp_server = config.get("derp", {}).get("server", {})
    if derp_server.get("enabled") and url.scheme != "https":
        problems.append(f"server_url: {config.get('server_url')!r} must use https when the "
                        "embedded DERP server is enabled (DERP requires TLS)")
    if derp_server.get("enabled") and not derp_server.get("stun_listen_addr"):
        problems.append("derp.server.stun_listen_addr: must be set when the embedded DERP "
                        "server is enabled")
    if derp_server.get("enabled") and not derp_server.get("automatically_add_embedded_derp_region") \
            and not config.get("derp", {}).get("paths"):
        problems.append("derp.paths: the embedded region must be in a DERP map file when it is "
                        "not added automatically")
    base = config.get("dns", {}).get("base_domain", "")
    host = url.hostname or ""
    if config.get("dns", {}).get("magic_dns") and not base:
        problems.append("dns.base_domain: required when magic_dns is on")
    if base and (base == host or host.endswith("." + base)):
        problems.append(f"dns.base_domain: {base!r} must differ from the server_url domain "
                        f"{host!r} and not contain it")
    if config.get("dns", {}).get("override_local_dns", True) and \
            not config.get("dns", {}).get("nameservers", {}).get("global"):
        problems.append("dns.nameservers.global: must be set when dns.override_local_dns is true")
    if base.endswith("."):
        problems.append(f"dns.base_domain: {base!r} must not end with a dot")
    for key, within in (("v4", TAILSCALE_V4), ("v6", TAILSCALE_V6)):
        text = config.get("prefixes", {}).get(key, "")
        try:
            net = ipaddress.ip_network(text)
            if net.version != within.version or not net.subnet_of(within):  # type: ignore[arg-type]
                problems.append(f"prefixes.{key}: {text} is not inside {within}")
        except ValueError:
            problems.append(f"prefixes.{key}: {text!r} is not an IP prefix")
    if url.scheme == "https" and not (config.get("tls_cert_path") and config.get("tls_key_path")) \
            and not config.get("tls_letsencrypt_hostname"):
        problems.append("tls_cert_path/tls_key_path: an https server_url needs a certificate "
                        "(or Let's Encrypt)")
    policy = config.get("policy", {})
    if policy.get("mode") == "file" and not policy.get("path"):
        problems.append("policy.path: required when policy.mode is file")
    if policy.get("mode") not in ("file", "database"):
        problems.append(f"policy.mode: {policy.get('mode')!r} is not file or database")
    return problems


def derp_map(inv: Inventory) -> dict[str, Any]:
    """Extra relay regions, in the DERP map format of ``derp.paths`` files (tailcfg.DERPMap)."""
    return {"regions": {
        region.region_id: {
            "regionid": region.region_id, "regioncode": region.code,
            "regionname": region.name,
            "nodes": [{"name": f"{region.region_id}a", "regionid": region.region_id,
                       "hostname": region.host, "stunport": region.stun_port,
                       "stunonly": False, "derpport": region.https_port}]}
        for region in inv.extra_regions}}


HEADER = ("# Generated by overlay-server from the fleet inventory; edit the inventory, not this "
          "file.\n# Headscale {version}. See Headscale's config-example.yaml for every key.\n")


def render_config(inv: Inventory, root: str = "") -> str:
    config = headscale_config(inv, root)
    problems = check_headscale_config(config)
    if problems:
        raise InputError("generated Headscale config breaks Headscale's constraints:\n" +
                         "\n".join(f"  {p}" for p in problems))
    return HEADER.format(version=HEADSCALE_VERSION) + yaml.safe_dump(config, sort_keys=False)


def render_derp_map(inv: Inventory) -> str:
    return HEADER.format(version=HEADSCALE_VERSION) + yaml.safe_dump(derp_map(inv),
                                                                      sort_keys=False)
