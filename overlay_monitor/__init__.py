"""overlay_monitor: observe an overlay network (Tailscale or plain WireGuard) and report link health.

Pure modules here never import rclpy; ROS nodes live in ``overlay_monitor.nodes``.
This package never imports ``overlay_bringup``.
"""
