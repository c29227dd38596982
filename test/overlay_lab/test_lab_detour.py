"""The detour forwarder over real loopback sockets."""
import asyncio
import socket
import time

from overlay_lab.detour import Route, load_routes, serve


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _endpoint() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2.0)
    return s


def test_detour_forwards_both_ways_with_delay_and_drops_strangers():
    a, b, stranger = _endpoint(), _endpoint(), _endpoint()
    port = _free_udp_port()
    route = Route(port=port, delay_s=0.05, a=a.getsockname(), b=b.getsockname())

    async def scenario() -> None:
        task = asyncio.create_task(serve([route], bind_host="127.0.0.1"))
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        a.sendto(b"from-a", ("127.0.0.1", port))
        data, source = await loop.run_in_executor(None, b.recvfrom, 100)
        elapsed = time.monotonic() - start
        assert data == b"from-a" and source == ("127.0.0.1", port)
        assert elapsed >= 0.05  # never earlier than the configured delay
        b.sendto(b"from-b", ("127.0.0.1", port))
        data, _ = await loop.run_in_executor(None, a.recvfrom, 100)
        assert data == b"from-b"
        stranger.sendto(b"intruder", ("127.0.0.1", port))
        await asyncio.sleep(0.2)
        b.setblocking(False)
        try:
            leaked = b.recv(100)
        except BlockingIOError:
            leaked = None
        assert leaked is None
        task.cancel()

    try:
        asyncio.run(scenario())
    finally:
        for s in (a, b, stranger):
            s.close()


def test_detour_config_is_loaded_with_types():
    routes = load_routes({"routes": [{"port": 40000, "delay_ms": 12.5,
                                      "a": ["198.18.1.2", 51820], "b": ["198.18.2.2", 51820]}]})
    assert routes == [Route(port=40000, delay_s=0.0125, a=("198.18.1.2", 51820),
                            b=("198.18.2.2", 51820))]
    assert routes[0].destination(("198.18.2.2", 51820)) == ("198.18.1.2", 51820)
    assert routes[0].destination(("198.18.3.2", 51820)) is None
