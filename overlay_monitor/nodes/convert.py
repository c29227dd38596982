"""Models and checks to ROS messages. No rclpy node logic; imports only message classes."""
from __future__ import annotations

import math
from datetime import datetime

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from overlay_msgs.msg import LinkEvent, OverlayStatus, PeerStatus
from std_msgs.msg import Header

from ..fleet import hardware_id
from ..health import Check
from ..models import OverlaySnapshot, Peer, peer_fingerprint
from ..tracker import LinkEvent as LinkEventModel


def time_msg(moment: datetime | None) -> Time:
    """ROS time from a datetime; the zero time for "never"."""
    if moment is None:
        return Time()
    stamp = moment.timestamp()
    sec = math.floor(stamp)
    return Time(sec=int(sec), nanosec=int(round((stamp - sec) * 1e9)) % 1_000_000_000)


def peer_msg(peer: Peer) -> PeerStatus:
    return PeerStatus(
        hostname=peer.hostname, dns_name=peer.dns_name, overlay_ips=list(peer.overlay_ips),
        os=peer.os, tags=list(peer.tags), online=peer.online, state=peer.state.msg_constant,
        derp_region=peer.derp_region, current_endpoint=peer.endpoint,
        rtt_ms=float(peer.rtt_ms), rx_bytes=int(peer.rx_bytes), tx_bytes=int(peer.tx_bytes),
        rx_bytes_per_s=float(peer.rx_bytes_per_s), tx_bytes_per_s=float(peer.tx_bytes_per_s),
        last_handshake=time_msg(peer.last_handshake), last_seen=time_msg(peer.last_seen))


def status_msg(snapshot: OverlaySnapshot, header: Header) -> OverlayStatus:
    msg = OverlayStatus(header=header, backend=snapshot.backend,
                        backend_state=snapshot.backend_state,
                        backend_reachable=snapshot.reachable,
                        peers=[peer_msg(p) for p in snapshot.peers],
                        health=list(snapshot.health)
                        + ([f"backend not readable: {snapshot.error}"] if snapshot.error else []))
    if snapshot.self_peer is not None:
        msg.self = peer_msg(snapshot.self_peer)
    msg.udp = {None: OverlayStatus.UDP_UNKNOWN, True: OverlayStatus.UDP_AVAILABLE,
               False: OverlayStatus.UDP_BLOCKED}[snapshot.udp]
    msg.home_derp_region = snapshot.home_derp
    return msg


def event_msg(event: LinkEventModel, header: Header) -> LinkEvent:
    return LinkEvent(header=header, kind=event.kind, peer=event.peer, peer_key=event.peer_key,
                     old_state=event.old_state, new_state=event.new_state, message=event.message)


def diagnostic_status_msg(check: Check, prefix: str, robot: str = "/") -> DiagnosticStatus:
    return DiagnosticStatus(level=bytes([check.level]), name=f"{prefix}: {check.task}",
                            message=check.message,
                            hardware_id=hardware_id(robot, check.hardware_id),
                            values=[KeyValue(key=k, value=v) for k, v in check.values])


class MessageCache:
    """Builds the node's messages, reusing those of peers and checks that did not change since
    the previous cycle (building a ROS message in Python costs tens of microseconds)."""

    def __init__(self, prefix: str, robot: str = "/") -> None:
        self.prefix = prefix
        self.robot = robot
        self._peers: dict[tuple[object, ...], PeerStatus] = {}
        self._checks: dict[Check, DiagnosticStatus] = {}

    def status(self, snapshot: OverlaySnapshot, header: Header) -> OverlayStatus:
        current: dict[tuple[object, ...], PeerStatus] = {}
        peers = []
        for peer in snapshot.peers:
            key = peer_fingerprint(peer)
            msg = self._peers.get(key) or peer_msg(peer)
            current[key] = msg
            peers.append(msg)
        self._peers = current
        msg = status_msg(OverlaySnapshot(snapshot.backend, snapshot.backend_state,
                                         snapshot.reachable, snapshot.self_peer, [],
                                         snapshot.health, error=snapshot.error,
                                         udp=snapshot.udp), header)
        msg.peers = peers
        return msg

    def diagnostics(self, checks: list[Check], header: Header) -> DiagnosticArray:
        current = {check: self._checks.get(check)
                   or diagnostic_status_msg(check, self.prefix, self.robot) for check in checks}
        self._checks = current
        return DiagnosticArray(header=header, status=[current[c] for c in checks])
