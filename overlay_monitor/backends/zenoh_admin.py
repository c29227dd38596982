"""Reads the robot's zenoh bridge over its admin space, as a zenoh client (eclipse-zenoh).

Thin: it opens one client session to the bridge's own endpoint, asks which peer or router it
reached (that is the bridge's zenoh id), queries that id's ``*`` (its ``peer`` or ``router``
key) and ``ros2/route/**`` keys and hands the replies to ``bridge.parse_admin``. A bridge
that is down, or restarting, comes back as an unreachable status with the reason; the next
read opens a new session.
"""
from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from ..bridge import BridgeStatus, BridgeTarget, parse_admin, unreachable
from ..errors import InputError


def _reason(err: BaseException) -> str:
    """zenoh's message without the Rust source location it appends (" at /…/file.rs:N.")."""
    text = str(err) or err.__class__.__name__
    return text.split(" at /", 1)[0].rstrip(". ")


class ZenohAdmin:
    def __init__(self, target: BridgeTarget, timeout_s: float = 2.0) -> None:
        if not 0 < timeout_s <= 60:
            raise InputError(f"bridge query timeout {timeout_s:g} s must be in (0, 60]")
        self.target = target
        self.timeout_s = timeout_s
        self._session: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        import zenoh  # eclipse-zenoh: imported only where a bridge is watched

        config = zenoh.Config()
        config.insert_json5("mode", json.dumps("client"))
        config.insert_json5("connect/endpoints", json.dumps([self.target.endpoint]))
        config.insert_json5("connect/timeout_ms", str(int(self.timeout_s * 1000)))
        config.insert_json5("connect/exit_on_failure", "true")
        config.insert_json5("scouting/multicast/enabled", "false")
        return zenoh.open(config)

    def _get(self, session: Any, selector: str) -> dict[str, bytes]:
        replies = {}
        for reply in session.get(selector, timeout=self.timeout_s):
            if reply.ok is not None:
                replies[str(reply.ok.key_expr)] = reply.ok.payload.to_bytes()
        return replies

    def replies(self) -> tuple[str, dict[str, bytes]]:
        """The bridge's zenoh id and its admin-space replies (raises when it cannot be read)."""
        if self._session is None:
            self._session = self._open()
        info = self._session.info
        reached = [str(z) for z in [*info.peers_zid(), *info.routers_zid()]]
        if not reached:
            raise ConnectionError("the bridge closed the session (restarting?)")
        zid = self.target.zid or reached[0]  # a star: the bridge behind the router
        replies = self._get(self._session, f"@/{zid}/*")  # peer, router or client: its mode
        replies.update(self._get(self._session, f"@/{zid}/ros2/route/**"))
        return zid, replies

    def checked_replies(self) -> tuple[str, dict[str, bytes]]:
        """``replies``, or one ``InputError`` that names the bridge's endpoint and the reason."""
        with self._lock:
            try:
                return self.replies()
            except Exception as err:  # zenoh raises ZError
                self.close_locked()
                raise InputError(f"bridge not reachable at {self.target.endpoint}: "
                                 f"{_reason(err)}") from None

    def status(self) -> BridgeStatus:
        with self._lock:
            try:
                return parse_admin(*self.replies())
            except InputError as err:
                return unreachable(str(err))
            except Exception as err:  # zenoh raises ZError; a bridge read never crashes
                self.close_locked()
                return unreachable(_reason(err))

    def close_locked(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):  # closing a broken session: nothing more to do
                session.close()

    def close(self) -> None:
        with self._lock:
            self.close_locked()
