"""A stand-in for Headscale's REST API (v0.29 paths, auth and protojson shapes) over real HTTPS.

Not Headscale. It keeps users, pre-auth keys, nodes and the policy in memory and answers as the
real headscale 0.29.2 and 0.29.3 answered in the lab (test/fixtures/real/rest_*.json, checked by
test_headscale_standin_matches_real.py): camelCase JSON, uint64 ids as strings, RFC 3339 times,
errors as ``{"code": N, "message": "...", "details": []}``, a plain-text 401 "Unauthorized"
without a valid ``Authorization: Bearer``, HTTP 500 "acl policy not found" for the policy of a
database-mode server that never had one, listed keys masked as a prefix and "***".
Requests are recorded (method, path, body) without the Authorization header.
"""
from __future__ import annotations

import json
import secrets
import ssl
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

GRPC_NOT_FOUND, GRPC_INVALID, GRPC_UNAUTHENTICATED, GRPC_FAILED_PRECONDITION = 5, 3, 16, 9


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeHeadscale:
    def __init__(self, cert_file: str, key_file: str, api_key: str,
                 policy_mode: str = "database") -> None:
        self.api_key = api_key
        self.policy_mode = policy_mode
        self.users: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.policy = ""
        self.requests: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reply_text(self, code: int, text: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = urlsplit(self.path).path
                with fake._lock:
                    fake.requests.append((self.command, self.path, body))
                    if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                        self._reply_text(401, "Unauthorized")
                        return
                    code, answer = fake.route(self.command, path, body)
                self._reply(code, answer)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def start(self) -> "FakeHeadscale":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the API -------------------------------------------------------------------------------
    def _user(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u["id"] == str(user_id)), None)

    def add_node(self, name: str, user: str, ip: str, tags: list[str]) -> dict[str, Any]:
        owner = next(u for u in self.users if u["name"] == user)
        node = {"id": str(len(self.nodes) + 1), "machineKey": "mkey:" + secrets.token_hex(32),
                "nodeKey": "nodekey:" + secrets.token_hex(32),
                "discoKey": "discokey:" + secrets.token_hex(32), "ipAddresses": [ip],
                "name": name, "user": owner, "lastSeen": _now(),
                "expiry": "0001-01-01T00:00:00Z", "preAuthKey": None, "createdAt": _now(),
                "registerMethod": "REGISTER_METHOD_AUTH_KEY", "givenName": name,
                "online": True, "approvedRoutes": [], "availableRoutes": [],
                "subnetRoutes": [], "tags": tags}
        self.nodes.append(node)
        return node

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        def error(code: int, grpc: int, message: str) -> tuple[int, Any]:
            return code, {"code": grpc, "message": message, "details": []}

        parts = path.strip("/").split("/")[2:]  # after api/v1
        if parts == ["health"] and method == "GET":
            return 200, {"databaseConnectivity": True}
        if parts == ["user"]:
            if method == "GET":
                return 200, {"users": self.users}
            if method == "POST":
                if any(u["name"] == body.get("name") for u in self.users):
                    return error(500, 13, "creating user: creating user: constraint failed: "
                                          "UNIQUE constraint failed: users.name (2067)")
                user = {"id": str(len(self.users) + 1), "name": body["name"],
                        "createdAt": _now(), "displayName": "", "email": "",
                        "providerId": "", "provider": "", "profilePicUrl": ""}
                self.users.append(user)
                return 200, {"user": user}
        if parts == ["preauthkey"]:
            if method == "GET":
                # 0.28+: all keys; the secret only as a prefix after creation
                return 200, {"preAuthKeys": [{**k, "key": k["key"][:22] + "***"}
                                             for k in self.keys]}
            if method == "POST":
                user = self._user(body.get("user", ""))
                if user is None and not body.get("aclTags"):
                    return error(404, GRPC_NOT_FOUND, "user not found")
                key = {"user": user, "id": str(len(self.keys) + 1),
                       "key": "hskey-auth-" + secrets.token_urlsafe(24),
                       "reusable": bool(body.get("reusable")),
                       "ephemeral": bool(body.get("ephemeral")), "used": False,
                       "expiration": body.get("expiration") or "0001-01-01T00:00:00Z",
                       "createdAt": _now(), "aclTags": body.get("aclTags") or []}
                self.keys.append(key)
                return 200, {"preAuthKey": key}
        if parts == ["preauthkey", "expire"] and method == "POST":
            key = next((k for k in self.keys if k["id"] == str(body.get("id"))), None)
            if key is None:
                return error(404, GRPC_NOT_FOUND, "preauthkey not found")
            key["expiration"] = _now()
            return 200, {}
        if parts == ["node"] and method == "GET":
            return 200, {"nodes": self.nodes}
        if len(parts) >= 2 and parts[0] == "node":
            node = next((n for n in self.nodes if n["id"] == parts[1]), None)
            if node is None:
                return error(404, GRPC_NOT_FOUND, "node not found")
            if len(parts) == 2 and method == "DELETE":
                self.nodes.remove(node)
                return 200, {}
            if parts[2:] == ["expire"] and method == "POST":
                node["expiry"] = _now()
                return 200, {"node": node}
            if parts[2:] == ["tags"] and method == "POST":
                tags = body.get("tags") or []
                bad = [t for t in tags if not t.startswith("tag:")]
                if bad:
                    return error(400, GRPC_INVALID, f"invalid tag: {bad[0]!r}")
                node["tags"] = tags
                return 200, {"node": node}
        if parts == ["policy"]:
            if method == "GET":
                if not self.policy and self.policy_mode == "database":
                    return error(500, 13, "loading ACL from database: acl policy not found")
                return 200, {"policy": self.policy, "updatedAt": _now()}
            if method == "PUT":
                if self.policy_mode != "database":
                    return error(500, GRPC_FAILED_PRECONDITION,
                                 "update is disabled for modes other than 'database'")
                self.policy = body.get("policy", "")
                return 200, {"policy": self.policy, "updatedAt": _now()}
        return error(404, GRPC_NOT_FOUND, f"Not Found: {method} {path}")
