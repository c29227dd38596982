"""In-field link tests: RTT, jitter, loss and throughput over the overlay and the underlay.

``metrics`` (pure: statistics, RFC 3550 jitter, percent log-change), ``protocol`` (pure: the
link-test server's messages), ``server`` and ``client`` (sockets), ``dataset`` (JSONL).
"""
