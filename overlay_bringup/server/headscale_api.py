"""Headscale's REST API (v0.29, ``/api/v1``) with a bearer API key. One private method does I/O.

JSON is protojson as grpc-gateway writes it: camelCase names, uint64 ids as strings, RFC 3339
times (``0001-01-01T00:00:00Z`` or null for unset). Errors come back as
``{"code": N, "message": "..."}``. The API key is sent only in the Authorization header and
appears in no message, repr or log; keys created here are hidden in reprs too.
"""
from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import msgspec

from overlay_monitor.errors import (
    BackendUnavailable,
    HeadscaleAuthError,
    HeadscaleError,
    HeadscaleNotFound,
    HeadscaleTLSError,
    InputError,
)
from overlay_monitor.files import is_private, read_input
from overlay_monitor.tailscale_status import parse_go_time

#: headscale >= 0.27 API keys: hskey-api-<12-character prefix>-<64-character secret>
API_KEY_PREFIX = "hskey-api-"


class _UserJSON(msgspec.Struct, rename="camel"):
    id: int
    name: str = ""
    created_at: str | None = None
    display_name: str = ""
    email: str = ""
    provider: str = ""


class _PreAuthKeyJSON(msgspec.Struct, rename="camel"):
    id: int
    key: str = ""
    user: _UserJSON | None = None
    reusable: bool = False
    ephemeral: bool = False
    used: bool = False
    expiration: str | None = None
    created_at: str | None = None
    acl_tags: list[str] = msgspec.field(default_factory=list)


class _NodeJSON(msgspec.Struct, rename="camel"):
    id: int
    name: str = ""
    given_name: str = ""
    user: _UserJSON | None = None
    ip_addresses: list[str] = msgspec.field(default_factory=list)
    online: bool = False
    last_seen: str | None = None
    expiry: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    forced_tags: list[str] = msgspec.field(default_factory=list)
    valid_tags: list[str] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class User:
    id: int
    name: str


@dataclass(frozen=True)
class PreAuthKey:
    id: int
    user: str
    reusable: bool
    ephemeral: bool
    used: bool
    expiration: datetime | None
    acl_tags: tuple[str, ...]
    key: str = field(default="", repr=False)  # the secret: shown once, at creation

    def expired(self, now: datetime) -> bool:
        return self.expiration is not None and self.expiration <= now


@dataclass(frozen=True)
class HeadscaleNode:
    id: int
    name: str
    user: str
    ip_addresses: tuple[str, ...]
    online: bool
    tags: tuple[str, ...]
    expiry: datetime | None
    last_seen: datetime | None = None


def _convert(data: Any, kind: type, what: str) -> Any:
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as err:
        raise HeadscaleError(f"Headscale answered an unexpected {what}: {err}") from None


def _key(raw: _PreAuthKeyJSON) -> PreAuthKey:
    return PreAuthKey(id=raw.id, user=raw.user.name if raw.user else "", reusable=raw.reusable,
                      ephemeral=raw.ephemeral, used=raw.used,
                      expiration=parse_go_time(raw.expiration, "preAuthKey.expiration"),
                      acl_tags=tuple(raw.acl_tags), key=raw.key)


def _node(raw: _NodeJSON) -> HeadscaleNode:
    tags = raw.tags or sorted(set(raw.forced_tags) | set(raw.valid_tags))
    return HeadscaleNode(id=raw.id, name=raw.given_name or raw.name,
                         user=raw.user.name if raw.user else "",
                         ip_addresses=tuple(raw.ip_addresses), online=raw.online,
                         tags=tuple(tags), expiry=parse_go_time(raw.expiry, "node.expiry"),
                         last_seen=parse_go_time(raw.last_seen, "node.lastSeen"))


def read_api_key(path: str | Path) -> str:
    """The API key from a file that only its owner may read."""
    key_path = Path(path)
    try:
        if not is_private(key_path):
            raise InputError(f"{key_path}: readable by group or others; run 'chmod 600 "
                             f"{key_path}' (API keys must stay private)")
    except OSError as err:
        raise InputError(f"{key_path}: cannot read the API key ({err.strerror})") from err
    key = read_input(key_path, "a Headscale API key", max_bytes=4096).strip()
    return key


class HeadscaleClient:
    def __init__(self, url: str, api_key: str, ca_file: str | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        verify: ssl.SSLContext | bool = True
        if ca_file:
            try:
                verify = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as err:
                raise InputError(f"{ca_file}: cannot load the CA certificate ({err})") from None
        self.ca_file = ca_file
        self._key_looks_right = api_key.startswith(API_KEY_PREFIX) or "." in api_key
        self._client = httpx.Client(base_url=self.url, verify=verify, timeout=timeout_s,
                                    headers={"Authorization": f"Bearer {api_key}",
                                             "Accept": "application/json"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HeadscaleClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HeadscaleClient({self.url!r})"

    def _request(self, method: str, path: str, body: Any = None,
                 params: dict[str, str] | None = None) -> Any:
        try:
            response = self._client.request(method, f"/api/v1{path}", json=body, params=params)
        except httpx.ConnectError as err:
            if isinstance(err.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(err):
                trust = f"the CA in {self.ca_file}" if self.ca_file else "the system trust store"
                raise HeadscaleTLSError(f"{self.url}: TLS certificate not trusted by {trust} "
                                        f"({err}); pass --ca-file with the fleet CA") from None
            raise BackendUnavailable(f"{self.url}: cannot connect ({err})") from None
        except httpx.TimeoutException:
            raise BackendUnavailable(f"{self.url}: no answer to {method} {path}") from None
        except httpx.TransportError as err:
            raise BackendUnavailable(f"{self.url}: {err.__class__.__name__}: {err}") from None
        if response.status_code == 401:
            looks = ("" if self._key_looks_right else
                     f" The file does not hold an API key: headscale's start with "
                     f"{API_KEY_PREFIX}.")
            raise HeadscaleAuthError(
                f"{self.url}: Headscale rejected the API key (HTTP 401): it is wrong or expired "
                "(headscale answers both alike; 'headscale apikeys list' on the server shows "
                "each key's expiry). Create one with 'headscale apikeys create --expiration "
                f"90d'.{looks}")
        try:
            data = response.json() if response.content else {}
        except json.JSONDecodeError:
            data = {"message": response.text[:200]}
        if response.status_code >= 400:
            message = data.get("message", "") if isinstance(data, dict) else ""
            kind = HeadscaleNotFound if response.status_code == 404 else HeadscaleError
            raise kind(f"{self.url}: {method} /api/v1{path} failed with HTTP "
                       f"{response.status_code}: {message or 'no message'}")
        return data

    def health(self) -> bool:
        data = self._request("GET", "/health")
        return bool(isinstance(data, dict) and data.get("databaseConnectivity"))

    def list_users(self) -> list[User]:
        raw = _convert(self._request("GET", "/user").get("users") or [], list[_UserJSON], "user list")
        return [User(u.id, u.name) for u in raw]

    def create_user(self, name: str) -> User:
        raw = _convert(self._request("POST", "/user", {"name": name}).get("user"), _UserJSON, "user")
        return User(raw.id, raw.name)

    def create_preauth_key(self, user_id: int, reusable: bool, ephemeral: bool,
                           expiration: datetime, acl_tags: list[str]) -> PreAuthKey:
        body = {"user": str(user_id), "reusable": reusable, "ephemeral": ephemeral,
                "expiration": expiration.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "aclTags": acl_tags}
        raw = self._request("POST", "/preauthkey", body).get("preAuthKey")
        return _key(_convert(raw, _PreAuthKeyJSON, "pre-auth key"))

    def list_preauth_keys(self) -> list[PreAuthKey]:
        raw = self._request("GET", "/preauthkey").get("preAuthKeys") or []
        return [_key(k) for k in _convert(raw, list[_PreAuthKeyJSON], "pre-auth key list")]

    def expire_preauth_key(self, key_id: int) -> None:
        self._request("POST", "/preauthkey/expire", {"id": str(key_id)})

    def list_nodes(self) -> list[HeadscaleNode]:
        raw = self._request("GET", "/node").get("nodes") or []
        return [_node(n) for n in _convert(raw, list[_NodeJSON], "node list")]

    def expire_node(self, node_id: int) -> None:
        self._request("POST", f"/node/{node_id}/expire")

    def delete_node(self, node_id: int) -> None:
        self._request("DELETE", f"/node/{node_id}")

    def set_node_tags(self, node_id: int, tags: list[str]) -> HeadscaleNode:
        raw = self._request("POST", f"/node/{node_id}/tags", {"tags": tags}).get("node")
        return _node(_convert(raw, _NodeJSON, "node"))

    def get_policy(self) -> str:
        """The server's policy text; empty when none was ever set (headscale 0.29.2 answers
        that case in database mode with HTTP 500 "acl policy not found")."""
        try:
            return str(self._request("GET", "/policy").get("policy", ""))
        except HeadscaleError as err:
            if "policy not found" in str(err):
                return ""
            raise

    def set_policy(self, policy: str) -> None:
        self._request("PUT", "/policy", {"policy": policy})
