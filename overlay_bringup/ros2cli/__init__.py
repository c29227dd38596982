"""``ros2 overlay``: the overlay commands as a ros2cli extension (see ``command``)."""
