"""tailscaled's LocalAPI over its unix socket (httpx). One private method does all HTTP I/O.

Endpoints used: ``GET /localapi/v0/status`` (ipnstate.Status),
``POST /localapi/v0/ping?ip=…&type=disco`` (ipnstate.PingResult) and ``GET /localapi/v0/metrics``
(client metrics: the netcheck counters that say whether UDP works here). tailscaled accepts LocalAPI
requests whose Host header is ``local-tailscaled.sock`` (its apitype.LocalAPIHost).
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime, timezone
from typing import Any

import httpx

from ..errors import BackendProtocolError, BackendUnavailable, InputError
from ..models import OverlaySnapshot, Peer
from ..netcheck import UdpTracker, stun_counters
from ..tailscale_status import PingOutcome, ping_from_json, snapshot_from_status
from .base import DEFAULT_SOCKET

LOCALAPI_HOST = "local-tailscaled.sock"
DEFAULT_TIMEOUT_S = 2.0
#: how often the netcheck counters are read (tailscaled runs a netcheck every 20-30 s)
UDP_READ_EVERY_S = 5.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class LocalAPIClient:
    """A small client for the parts of the LocalAPI the overlay tools need."""

    name = "tailscale"
    #: tailscaled knows whether a peer is online; a failed disco ping is only an unknown RTT
    probe_decides_reachability = False

    def __init__(self, socket_path: str = DEFAULT_SOCKET,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self._udp = UdpTracker()
        self._udp_read_at = -UDP_READ_EVERY_S
        self._client = httpx.Client(transport=httpx.HTTPTransport(uds=socket_path),
                                    base_url=f"http://{LOCALAPI_HOST}",
                                    timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "LocalAPIClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 timeout_s: float | None = None) -> bytes:
        where = f"tailscaled ({self.socket_path})"
        if not os.path.exists(self.socket_path):
            raise BackendUnavailable(f"{where}: socket does not exist; is tailscaled running? "
                                     "(set the socket path if it lives elsewhere)")
        try:
            response = self._client.request(method, path, params=params,
                                            timeout=timeout_s or self.timeout_s)
        except httpx.TimeoutException as err:
            raise BackendUnavailable(f"{where}: no answer to {method} {path} within "
                                     f"{timeout_s or self.timeout_s:g} s") from err
        except httpx.TransportError as err:
            raise BackendUnavailable(f"{where}: cannot connect ({err})") from err
        body = response.content[:MAX_RESPONSE_BYTES]
        if response.status_code != 200:
            raise BackendUnavailable(f"{where}: {method} {path} answered HTTP "
                                     f"{response.status_code}: {_error_text(body)}")
        return body

    def status_json(self) -> Any:
        body = self._request("GET", "/localapi/v0/status")
        try:
            return json.loads(body)
        except ValueError as err:
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): status is not JSON "
                                       f"({err})") from err

    def snapshot(self) -> OverlaySnapshot:
        body = self._request("GET", "/localapi/v0/status")
        try:
            snapshot = snapshot_from_status(body, datetime.now(timezone.utc))
        except InputError as err:  # garbage, partial JSON, a shape that is not ipnstate.Status
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): {err}") from err
        snapshot.udp = self._udp_available()
        return snapshot

    def client_metrics(self) -> str:
        """tailscaled's client metrics (``GET /localapi/v0/metrics``, Prometheus text; root or
        the operator only)."""
        return self._request("GET", "/localapi/v0/metrics").decode(errors="replace")

    def _udp_available(self) -> bool | None:
        """UDP availability from the netcheck counters, read at most every UDP_READ_EVERY_S
        (unknown where this user may not read them)."""
        now = time.monotonic()
        if now - self._udp_read_at >= UDP_READ_EVERY_S:
            self._udp_read_at = now
            with contextlib.suppress(BackendUnavailable, InputError):  # 403: not the operator
                self._udp.update(stun_counters(self.client_metrics()))
        return self._udp.available

    def prefs(self) -> dict[str, Any]:
        """ipn.Prefs (``GET /localapi/v0/prefs``): ControlURL, Hostname, AdvertiseTags, …"""
        body = self._request("GET", "/localapi/v0/prefs")
        try:
            prefs = json.loads(body)
        except ValueError as err:
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): prefs are not JSON "
                                       f"({err})") from err
        if not isinstance(prefs, dict):
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): prefs are not an object")
        return prefs

    def ping(self, ip: str, ping_type: str = "disco", timeout_s: float = 5.0) -> PingOutcome:
        body = self._request("POST", "/localapi/v0/ping", params={"ip": ip, "type": ping_type},
                             timeout_s=timeout_s)
        try:
            raw = json.loads(body)
        except ValueError as err:
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): ping answer is not "
                                       f"JSON ({err})") from err
        try:
            return ping_from_json(raw, ip)
        except InputError as err:
            raise BackendProtocolError(f"tailscaled ({self.socket_path}): {err}") from err

    def probe_rtt_ms(self, peer: Peer, timeout_s: float = 5.0) -> float:
        """RTT by disco ping (NaN when it fails); used by the monitor's pinger."""
        if not peer.overlay_ips:
            return float("nan")
        return self.ping(peer.overlay_ips[0], "disco", timeout_s).latency_ms


def _error_text(body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return str(parsed["error"])
    except ValueError:
        pass
    return text[:200] or "(empty body)"
