"""The WireGuard lab's delay forwarder ("detour"): forwards WireGuard datagrams between two
robots after a delay. Not to be confused with Tailscale's peer relays (``--peer-relay``).

This kernel has no netem, so delay is added here. A detoured pair (a, b) gets its own port P on
the router: a sends to router:P, the forwarder sends the datagram on to b from the same socket
after ``delay_ms`` (and the other way round). Each robot therefore always sees the forwarder's
address as its peer's endpoint, which keeps WireGuard's roaming stable. It forwards only
datagrams from the two robots of its route and drops anything else.

Run as ``python -m overlay_lab.detour CONFIG.json`` (the lab starts it).
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import cast

Address = tuple[str, int]
#: printed to stderr once every port is bound (the lab waits for it)
READY_LINE = "detour: ready:"


@dataclass(frozen=True)
class Route:
    port: int
    delay_s: float
    a: Address
    b: Address

    def destination(self, source: Address) -> Address | None:
        """Where a datagram from ``source`` goes; None when it is from neither robot."""
        if source == self.a:
            return self.b
        if source == self.b:
            return self.a
        return None


def load_routes(config: dict[str, object]) -> list[Route]:
    routes = config.get("routes")
    if not isinstance(routes, list):
        raise ValueError("detour config: 'routes' must be a list")
    return [Route(port=int(r["port"]), delay_s=float(r["delay_ms"]) / 1000.0,
                  a=(str(r["a"][0]), int(r["a"][1])), b=(str(r["b"][0]), int(r["b"][1])))
            for r in routes]


class _RelayProtocol(asyncio.DatagramProtocol):
    def __init__(self, route: Route) -> None:
        self.route = route
        self.transport: asyncio.DatagramTransport | None = None
        self.forwarded = 0
        self.dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        destination = self.route.destination((str(addr[0]), int(addr[1])))
        if destination is None or self.transport is None:
            self.dropped += 1
            return
        self.forwarded += 1
        loop = asyncio.get_running_loop()
        if self.route.delay_s > 0:
            loop.call_later(self.route.delay_s, self._send, data, destination)
        else:
            self._send(data, destination)

    def _send(self, data: bytes, destination: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, destination)


async def serve(routes: list[Route], bind_host: str = "0.0.0.0") -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    protocols: list[_RelayProtocol] = []
    for route in routes:
        protocol = _RelayProtocol(route)
        await loop.create_datagram_endpoint(lambda p=protocol: p,  # type: ignore[misc]
                                            local_addr=(bind_host, route.port))
        protocols.append(protocol)
    print(f"{READY_LINE} {len(routes)} route(s)", file=sys.stderr, flush=True)
    await stop.wait()
    for protocol in protocols:
        print(f"detour: port {protocol.route.port}: forwarded {protocol.forwarded}, "
              f"dropped {protocol.dropped}", file=sys.stderr, flush=True)
        if protocol.transport is not None:
            protocol.transport.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m overlay_lab.detour CONFIG.json", file=sys.stderr)
        return 2
    routes = load_routes(json.loads(Path(args[0]).read_text()))
    asyncio.run(serve(routes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
