"""overlay_bringup: set up a Tailscale/Headscale overlay for ROS 2 robots and make ROS work over it.

Pure modules here never import rclpy; ROS nodes and launch helpers are thin adapters.
"""
