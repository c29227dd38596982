"""Thin rclpy adapters over the pure overlay_monitor modules."""
