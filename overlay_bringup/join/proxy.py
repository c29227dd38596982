"""A web proxy for tailscaled (a campus where only an HTTP CONNECT proxy reaches outside). Pure.

tailscaled reads ``HTTPS_PROXY`` from its environment once, at start, and then reaches the
control plane and DERP through the proxy with CONNECT to port 443. On a Debian robot that
environment is ``/etc/default/tailscaled`` (the unit's ``EnvironmentFile=``). This module
edits that file's text, reads a running daemon's environment, and decides what must change.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

#: the variables tailscaled's proxy lookup reads (Go's httpproxy: upper case first)
PROXY_KEYS = ("HTTPS_PROXY", "HTTP_PROXY")
_ALL_KEYS = {*PROXY_KEYS, *(key.lower() for key in PROXY_KEYS)}
#: ``--proxy none``: remove the proxy
NO_PROXY = "none"
#: ``--proxy file``: the proxy the env file already names (a URL with a password never goes on
#: a command line)
FROM_FILE = "file"
DEFAULT_ENV_FILE = "/etc/default/tailscaled"
DEFAULT_RESTART = "systemctl restart tailscaled"


def validate_proxy_url(url: str) -> list[str]:
    """What is wrong with a ``--proxy`` value (``[]`` when it is an http(s)://host:port URL or
    ``none``)."""
    if url in (NO_PROXY, FROM_FILE):
        return []
    shown = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        return [f"proxy URL {shown!r} is not a URL ({err}); expected http://HOST:PORT"]
    if parts.scheme not in ("http", "https"):
        return [f"proxy URL {shown!r} must start with http:// (or https://), e.g. "
                "http://proxy.campus.example:3128"]
    if not parts.hostname:
        return [f"proxy URL {shown!r} names no host; expected http://HOST:PORT"]
    if port is None:
        return [f"proxy URL {shown!r} names no port; expected http://HOST:PORT (a campus proxy "
                "usually listens on 3128 or 8080)"]
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return [f"proxy URL {shown!r} has a path; expected just http://HOST:PORT"]
    return []


def redact(url: str) -> str:
    """``url`` with any password replaced, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def has_credentials(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def proxy_from_file(text: str, path: str) -> str:
    """``--proxy file``: the proxy URL the env file names (an error says where it was looked
    for)."""
    url = proxy_of(environment_file_values(text))
    if not url:
        raise ValueError(f"--proxy file: {path} sets no HTTPS_PROXY (expected a line "
                         "HTTPS_PROXY=\"http://HOST:PORT\")")
    return url


def environment_file_values(text: str) -> dict[str, str]:
    """The variables of an ``EnvironmentFile=`` (KEY=VALUE lines, optional quotes, # comments),
    as systemd hands them to the service."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            words = shlex.split(raw, comments=False)
        except ValueError:
            words = [raw.strip()]
        values[key.strip()] = " ".join(words)
    return values


def proxy_of(values: dict[str, str]) -> str:
    """The proxy an environment sets for tailscaled ('' for none), as Go reads it: HTTPS_PROXY,
    then https_proxy."""
    return values.get("HTTPS_PROXY") or values.get("https_proxy") or ""


def environ_values(raw: bytes) -> dict[str, str]:
    """A process's environment from ``/proc/PID/environ`` (NUL-separated KEY=VALUE)."""
    values = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            values[key.decode(errors="replace")] = value.decode(errors="replace")
    return values


def with_proxy(text: str, url: str) -> str:
    """The env file's text with the proxy set to ``url`` (``none``: removed). Every other line
    stays as it was; the proxy lines go at the end."""
    kept = [line for line in text.splitlines()
            if line.strip().partition("=")[0].strip() not in _ALL_KEYS]
    while kept and not kept[-1].strip():
        kept.pop()
    if url != NO_PROXY:
        kept += ["# web proxy for the control plane and DERP (overlay-join --proxy)"] * (
            not any("overlay-join --proxy" in line for line in kept))
        kept += [f'{key}="{url}"' for key in PROXY_KEYS]
    else:
        kept = [line for line in kept if "overlay-join --proxy" not in line]
    return "\n".join(kept) + "\n" if kept else ""


@dataclass(frozen=True)
class ProxyPlan:
    """What making tailscaled use a proxy takes, from what the world says now."""

    #: the env file's new text (None: it already says so)
    new_text: str | None
    #: the running tailscaled has another proxy (or none) in its environment: restart it
    restart: bool

    @property
    def changes(self) -> bool:
        return self.new_text is not None or self.restart


def plan_proxy(url: str, file_text: str, running: dict[str, str] | None) -> ProxyPlan:
    """Compare the env file and the running daemon's environment (None: it could not be read,
    so a changed file restarts it to be sure) with the wanted ``url`` (``none``: no proxy)."""
    want = "" if url == NO_PROXY else url
    values = environment_file_values(file_text)
    unchanged = (all(values.get(key) == want for key in PROXY_KEYS) if want
                 else not _ALL_KEYS & set(values))
    restart = not unchanged if running is None else proxy_of(running) != want
    return ProxyPlan(new_text=None if unchanged else with_proxy(file_text, url), restart=restart)
