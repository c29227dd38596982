"""topology_markers node: the monitor's OverlayStatus as an rviz MarkerArray (~/markers).

Members are spheres with labels, links are lines coloured by state (green direct, amber DERP,
cyan peer relay, blue idle, red offline) labelled with the RTT. Open config/overlay.rviz.
"""
from __future__ import annotations

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from overlay_msgs.msg import OverlayStatus
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ..fleet import STATUS_TOPIC
from ..topology import MarkerSpec, topology_markers
from .spin import run_node
from .status_topic import snapshot_from_msg

KINDS = {"sphere": Marker.SPHERE, "text": Marker.TEXT_VIEW_FACING, "line": Marker.LINE_LIST}
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def marker_msg(spec: MarkerSpec, frame_id: str, stamp) -> Marker:  # type: ignore[no-untyped-def]
    marker = Marker(type=KINDS[spec.kind], ns=spec.namespace, id=spec.marker_id,
                    action=Marker.ADD, frame_locked=True, text=spec.text,
                    color=ColorRGBA(r=spec.colour[0], g=spec.colour[1], b=spec.colour[2],
                                    a=spec.colour[3]),
                    lifetime=Duration(sec=0))
    marker.header.frame_id, marker.header.stamp = frame_id, stamp
    marker.pose.orientation.w = 1.0
    if spec.kind == "line":
        marker.points = [Point(x=p[0], y=p[1], z=p[2]) for p in spec.points]
        marker.scale.x = spec.scale
    else:
        marker.pose.position = Point(x=spec.points[0][0], y=spec.points[0][1],
                                     z=spec.points[0][2])
        marker.scale.x = marker.scale.y = marker.scale.z = spec.scale
    return marker


class TopologyMarkers(Node):
    def __init__(self) -> None:
        super().__init__("topology_markers")
        self.declare_parameter("frame_id", "overlay", ParameterDescriptor(
            description="frame of the markers (set rviz's fixed frame to it)", read_only=True))
        self.declare_parameter("radius", 3.0, ParameterDescriptor(
            description="circle radius of the peers (m)", read_only=True,
            floating_point_range=[FloatingPointRange(from_value=0.5, to_value=100.0, step=0.0)]))
        self.declare_parameter("status_topic", STATUS_TOPIC, ParameterDescriptor(
            description="the monitor's OverlayStatus topic; relative, it is the one of this "
                        "node's namespace (run it under /r1 for robot r1's)", read_only=True))
        self._publisher = self.create_publisher(MarkerArray, "~/markers", LATCHED)
        self._previous = 0
        self.create_subscription(OverlayStatus, self.get_parameter("status_topic").value,
                                 self._on_status, LATCHED)

    def _on_status(self, msg: OverlayStatus) -> None:
        specs = topology_markers(snapshot_from_msg(msg), self.get_parameter("radius").value)
        frame = self.get_parameter("frame_id").value
        array = MarkerArray(markers=[Marker(action=Marker.DELETEALL)] +
                            [marker_msg(s, frame, msg.header.stamp) for s in specs])
        self._publisher.publish(array)


def main(args: list[str] | None = None) -> int:
    return run_node("topology_markers", TopologyMarkers, args)

if __name__ == "__main__":
    raise SystemExit(main())
