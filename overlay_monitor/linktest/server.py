"""The link-test server: TCP and UDP throughput sinks and a UDP echo, one test at a time.

``overlay-linktest serve`` runs it on PORT (TCP control, UDP echo) and PORT+1 (the data of a
test, TCP or UDP); a second client while a test runs gets ``{"error": "busy: ..."}`` and nothing
else. Every wait is bounded.
"""
from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from typing import Any

from ..errors import InputError
from .metrics import UdpReceiveStats
from .protocol import UDP_HEADER, decode, encode, validate_request

ACCEPT_TIMEOUT_S = 5.0
GRACE_S = 2.0


def _tcp_sink(request: dict[str, Any], control: socket.socket, bind: str,
              data_port: int) -> dict[str, Any]:
    listener = socket.create_server((bind, data_port), reuse_port=False)
    listener.settimeout(ACCEPT_TIMEOUT_S)
    control.sendall(encode({"port": listener.getsockname()[1]}))
    streams: list[socket.socket] = []
    try:
        while len(streams) < request["streams"]:
            conn, _ = listener.accept()
            conn.settimeout(0.2)
            streams.append(conn)
    except TimeoutError:
        if not streams:
            return {"error": "no data connection arrived"}
    finally:
        listener.close()
    start = time.monotonic()
    deadline = start + request["duration_s"] + GRACE_S
    total, last = 0, start
    interval_bytes = [0]
    open_streams = list(streams)
    while open_streams and time.monotonic() < deadline:
        for conn in list(open_streams):
            try:
                chunk = conn.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                open_streams.remove(conn)
                continue
            now = time.monotonic()
            total += len(chunk)
            last = now
            while now - start >= 0.5 * len(interval_bytes):
                interval_bytes.append(0)
            interval_bytes[-1] += len(chunk)
    for conn in streams:
        conn.close()
    seconds = max(last - start, 1e-6)
    return {"bytes": total, "seconds": seconds,
            "intervals_bps": [b * 8 / 0.5 for b in interval_bytes]}


def _udp_sink(request: dict[str, Any], control: socket.socket, bind: str,
              data_port: int) -> dict[str, Any]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sink.bind((bind, data_port))
    sink.settimeout(0.2)
    control.sendall(encode({"port": sink.getsockname()[1]}))
    stats = UdpReceiveStats()
    first = last = 0.0
    deadline = time.monotonic() + request["duration_s"] + GRACE_S + ACCEPT_TIMEOUT_S
    control.settimeout(0.0)
    sent: int | None = None
    buffer = b""
    try:
        while time.monotonic() < deadline:
            try:
                data = sink.recv(70_000)
                arrived = time.time()
                if len(data) >= UDP_HEADER.size:
                    seq, sent_at = UDP_HEADER.unpack_from(data)
                    stats.add(seq, sent_at, arrived, len(data))
                    first = first or arrived
                    last = arrived
            except TimeoutError:
                pass
            with contextlib.suppress(BlockingIOError, TimeoutError):
                buffer += control.recv(4096)
            if b"\n" in buffer:
                sent = int(decode(buffer.split(b"\n", 1)[0]).get("sent", 0))
                # the last datagrams may still be in flight
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    try:
                        data = sink.recv(70_000)
                        if len(data) >= UDP_HEADER.size:
                            seq, sent_at = UDP_HEADER.unpack_from(data)
                            stats.add(seq, sent_at, time.time(), len(data))
                            last = time.time()
                    except TimeoutError:
                        break
                break
    finally:
        sink.close()
        control.settimeout(5.0)
    seconds = max(last - first, 1e-6) if stats.received > 1 else request["duration_s"]
    return {"received": stats.received, "bytes": stats.bytes, "seconds": seconds,
            "jitter_ms": stats.jitter_s * 1000.0, "out_of_order": stats.out_of_order,
            "loss_percent": stats.loss_percent(sent if sent is not None else stats.received)}


class LinkTestServer:
    def __init__(self, bind: str = "0.0.0.0", port: int = 5301) -> None:
        self.bind = bind
        self._busy = threading.Lock()
        server = self

        class Control(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self) -> None:
                try:
                    request = validate_request(decode(self.rfile.readline(4096)))
                except InputError as err:
                    self.wfile.write(encode({"error": str(err)}))
                    return
                if not server._busy.acquire(blocking=False):
                    self.wfile.write(encode({"error": "busy: another link test is running on "
                                                      "this server; try again when it ends"}))
                    return
                try:
                    sink = _tcp_sink if request["test"] == "tcp" else _udp_sink
                    result = sink(request, self.connection, server.bind, server.data_port)
                finally:
                    # free before answering: a client that starts its next test as soon as it
                    # has this answer must not be told "busy"
                    server._busy.release()
                self.wfile.write(encode(result))

        class Echo(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(data, self.client_address)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._control = socketserver.ThreadingTCPServer((bind, port), Control)
        self._control.daemon_threads = True
        self.port = self._control.server_address[1]
        #: data of a test goes to the next port (fixed, so firewalls can open both);
        #: a server on an ephemeral port (tests) uses ephemeral data ports
        self.data_port = self.port + 1 if port else 0
        # one thread answers every echo: a thread per datagram would add ~1 ms to each RTT
        self._echo = socketserver.UDPServer((bind, self.port), Echo)
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                          daemon=True)
                         for s in (self._control, self._echo)]

    def start(self) -> "LinkTestServer":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop serving within about ``timeout_s``: close the listening sockets, join the
        serving threads with a timeout (a test in progress is abandoned: its threads are
        daemons and its sockets time out by themselves)."""
        stoppers = [threading.Thread(target=srv.shutdown, daemon=True)
                    for srv in (self._control, self._echo)]
        for thread in stoppers:
            thread.start()
        for thread in stoppers + self._threads:
            thread.join(timeout_s)
        for srv in (self._control, self._echo):
            srv.server_close()
