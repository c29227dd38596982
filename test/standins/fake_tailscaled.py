"""A stand-in for tailscaled's LocalAPI: HTTP over a real unix socket, scripted by a JSON file.

Not tailscaled. It answers the two endpoints the overlay tools use, the way tailscaled does:
``GET /localapi/v0/status``, ``GET /localapi/v0/metrics`` (script field ``metrics``: an
exposition; without it 403, as for a user who is not the operator) and
``POST /localapi/v0/ping?ip=…&type=…``, rejecting a Host header
other than ``local-tailscaled.sock`` (403) and wrong methods (405). What it answers comes from
the script file, re-read on every request, so a test (or another process) changes the daemon's
state by rewriting it:

    {"mode": "ok" | "garbage" | "partial" | "slow" | "error",
     "delay_s": 3.0,                      # for "slow"
     "status": {...ipnstate.Status...},
     "pings": {"100.64.0.2": {...ipnstate.PingResult...}}, "ping_delay_s": 0.0,
     "prefs": {...ipn.Prefs: ControlURL, Hostname, AdvertiseTags, WantRunning...}}

Every request is appended to ``<script>.requests`` as a JSON line (method, path, host).

Run: python -m standins.fake_tailscaled --socket PATH --script FILE
"""
from __future__ import annotations

import argparse
import json
import os
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOCALAPI_HOST = "local-tailscaled.sock"


def write_script(path: str | Path, script: dict[str, Any]) -> None:
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(script))
    os.replace(tmp, path)


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def address_string(self) -> str:
        return "unix"

    def _script(self) -> dict[str, Any]:
        try:
            return dict(json.loads(Path(self.server.script_path).read_text()))
        except (OSError, ValueError):
            return {"mode": "error"}

    def _record(self) -> None:
        with open(f"{self.server.script_path}.requests", "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path,
                                  "host": self.headers.get("Host", "")}) + "\n")

    def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        self._send(code, json.dumps({"error": message}).encode())

    def _handle(self) -> None:
        self._record()
        if self.headers.get("Host", "") not in ("", LOCALAPI_HOST):
            self._error(403, "invalid localapi request")
            return
        url = urlsplit(self.path)
        script = self._script()
        mode = script.get("mode", "ok")
        if url.path == "/localapi/v0/status":
            if self.command != "GET":
                self._error(405, "want GET")
                return
            if mode == "slow":
                time.sleep(float(script.get("delay_s", 5.0)))
            if mode == "error":
                self._error(500, "backend error")
            elif mode == "garbage":
                self._send(200, b"<html>this is not JSON</html>", "text/html")
            elif mode == "partial":
                self._send(200, json.dumps(script.get("status", {})).encode()[:40])
            else:
                self._send(200, json.dumps(script.get("status", {}), indent="\t").encode())
            return
        if url.path == "/localapi/v0/prefs":
            if self.command != "GET":
                self._error(405, "want GET")
                return
            self._send(200, json.dumps(script.get("prefs", {})).encode())
            return
        if url.path == "/localapi/v0/metrics":  # client metrics: a recorded exposition
            metrics = script.get("metrics")
            if metrics is None:
                self._error(403, "metric access denied")  # what a non-operator user gets
            else:
                self._send(200, str(metrics).encode(), "text/plain")
            return
        if url.path == "/localapi/v0/ping":
            if self.command != "POST":
                self._error(405, "want POST")
                return
            query = parse_qs(url.query)
            ip = query.get("ip", [""])[0]
            if not ip or query.get("type", [""])[0] not in ("disco", "TSMP", "ICMP", "peerapi"):
                self._error(400, "missing 'ip' or invalid 'type' parameter")
                return
            time.sleep(float(script.get("ping_delay_s", 0.0)))
            result = script.get("pings", {}).get(ip)
            if result is None:
                result = {"IP": ip, "Err": "no matching peer"}
            self._send(200, json.dumps(result).encode())
            return
        self._error(404, "not found")

    do_GET = _handle
    do_POST = _handle


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    script_path: str


class FakeTailscaled:
    """Start in a thread (tests) or as a process (``main``)."""

    def __init__(self, socket_path: str | Path, script_path: str | Path) -> None:
        self.socket_path = str(socket_path)
        self.script_path = str(script_path)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def set(self, **script: Any) -> None:
        write_script(self.script_path, {"mode": "ok", **script})

    def script(self) -> dict[str, Any]:
        """The script as it is now (to change one field and ``set`` it again)."""
        loaded: dict[str, Any] = json.loads(Path(self.script_path).read_text())
        return loaded

    def requests(self) -> list[dict[str, str]]:
        path = Path(f"{self.script_path}.requests")
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def start(self) -> "FakeTailscaled":
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        Path(self.socket_path).parent.mkdir(parents=True, exist_ok=True)
        self._server = _Server(self.socket_path, _Handler)
        self._server.script_path = self.script_path
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def serve_forever(self) -> None:
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="stand-in for tailscaled's LocalAPI (tests only)")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--script", required=True)
    args = parser.parse_args()
    import signal

    fake = FakeTailscaled(args.socket, args.script)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    fake.serve_forever()


if __name__ == "__main__":
    main()
