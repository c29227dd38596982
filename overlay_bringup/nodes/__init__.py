"""Thin rclpy programs of overlay_bringup."""
