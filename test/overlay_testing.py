"""Helpers shared by the tests (importable as overlay_testing). Lab tests need root and wireguard-go; in CI (CI=true) a missing
precondition is a failure, never a silent skip."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: a made-up Headscale API key; tests assert it never reaches output, logs or exceptions
TEST_API_KEY = "hskey-api-TESTONLY0123456789abcdef"


#: distinguishes this test run's labs from another run's on the same machine (two suites at once)
RUN_TAG = os.environ.get("OVERLAY_TEST_TAG") or f"{os.getpid() % 0x10000:04x}"


def lab_prefix(base: str) -> str:
    """A lab prefix unique to this run: ``base`` (2-3 letters) plus the run tag."""
    return f"{base}{RUN_TAG}"[:8]


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port P where P and P+1 are free for TCP and UDP (the link-test server uses both)."""
    import random
    import socket

    for _ in range(200):
        port = random.randrange(20000, 60000, 2)
        sockets = []
        try:
            for candidate in (port, port + 1):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    sockets.append(s)
                    s.bind((host, candidate))
            return port
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port pair found in 200 tries")


def skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


def lab_preconditions() -> None:
    if os.geteuid() != 0:
        skip_or_fail("lab tests need root")
    for tool in ("ip", "nft", "wg", "wireguard-go"):
        if shutil.which(tool) is None:
            skip_or_fail(f"lab tests need {tool}")


def real_components_preconditions() -> None:
    """Lab preconditions plus the Go-built tailscale, tailscaled and headscale."""
    lab_preconditions()
    from overlay_bringup.components import find_component

    missing = [n for n in ("tailscale", "tailscaled", "headscale") if find_component(n) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not built (tools/build_components.sh; needs Go)")


def zenoh_preconditions() -> tuple[Path, Path]:
    """zenohd and the folder of its ros2dds plugin (tools/build_zenoh.sh), else skip (fail in
    CI)."""
    from overlay_bringup.components import find_component, zenoh_plugin_dir

    zenohd = find_component("zenohd")
    plugins = zenoh_plugin_dir(zenohd) if zenohd is not None else None
    if zenohd is None or plugins is None:
        skip_or_fail("zenohd and its ros2dds plugin are not built (tools/build_zenoh.sh)")
    assert zenohd is not None and plugins is not None  # skip_or_fail does not return
    return zenohd, plugins


#: the fleet inventories the repository ships: the example (config/) and the lab's
INVENTORY_DIRS = (REPO / "config", REPO / "overlay_lab" / "config")


def inventory_path(name: str) -> Path:
    """A shipped fleet inventory by file name."""
    for folder in INVENTORY_DIRS:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"no inventory {name} in {', '.join(map(str, INVENTORY_DIRS))}")


def overlay_cli(name: str) -> list[str]:
    """argv prefix for one of our console scripts: the installed one when on PATH (as the
    README uses it), else the module it points at."""
    found = shutil.which(name)
    if found:
        return [found]
    modules = {"overlay-lab": "overlay_lab.cli",
               "overlay-status": "overlay_monitor.status_cli",
               "overlay-server": "overlay_bringup.server.cli",
               "overlay-join": "overlay_bringup.join.cli",
               "overlay-discovery": "overlay_bringup.discovery.cli",
               "overlay-linktest": "overlay_monitor.linktest.cli"}
    return [sys.executable, "-m", modules[name]]


def run_in(namespace: str, argv: list[str], timeout: float = 20.0,
           **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True,
                          text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def install_fake_tailscale_cli(bin_dir: Path) -> Path:
    """Put the stand-in ``tailscale`` CLI into ``bin_dir`` (prepend it to PATH to use it)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "tailscale"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} "
                       f"{REPO / 'test' / 'standins' / 'fake_tailscale_cli.py'} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


class Tinyproxy:
    """The real tinyproxy on loopback (a campus web proxy): ``url``, its ``log`` and how many
    CONNECT requests it has logged. ``connect_ports``: the only ports it lets CONNECT reach
    (() allows every port)."""

    def __init__(self, folder: Path, connect_ports: tuple[int, ...] = ()) -> None:
        import time

        if shutil.which("tinyproxy") is None:
            skip_or_fail("tinyproxy is not installed (tools/setup.sh installs it)")
        self.port = free_port_pair()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "tinyproxy.log"
        config = folder / "tinyproxy.conf"
        config.write_text(f"Port {self.port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\n"
                          + "".join(f"ConnectPort {p}\n" for p in connect_ports)
                          + f"LogLevel Info\nLogFile \"{self.log}\"\n")
        self.process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while "listening on fd" not in (self.log.read_text() if self.log.exists() else ""):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"tinyproxy did not start: {self.log.read_text()[-500:]}")
            time.sleep(0.05)

    def connects(self) -> int:
        return self.log.read_text().count("): CONNECT ")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
