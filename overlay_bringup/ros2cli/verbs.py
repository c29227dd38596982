"""The verbs of ``ros2 overlay`` and the console scripts they are. Pure: no ros2cli import.

Each verb is a thin shell over the same ``main(argv)`` as its console script, so both routes
take the same options and give the same output and exit codes.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    module: str
    script: str
    help: str
    #: options put before the user's (``status`` reports like ``ros2 doctor``)
    defaults: tuple[str, ...] = ()


VERBS: dict[str, Verb] = {
    "status": Verb("overlay_monitor.status_cli", "overlay-status",
                   "this machine's overlay: a check per peer and for the client, like ros2 doctor "
                   "(--json, --watch, --ping, ... as overlay-status)", ("--report",)),
    "join": Verb("overlay_bringup.join.cli", "overlay-join",
                 "join the overlay with a team's bundle (as overlay-join)"),
    "discovery": Verb("overlay_bringup.discovery.cli", "overlay-discovery",
                      "ROS discovery configuration over the overlay (as overlay-discovery)"),
    "linktest": Verb("overlay_monitor.linktest.cli", "overlay-linktest",
                     "measure the overlay against the plain network (as overlay-linktest)"),
    "server": Verb("overlay_bringup.server.cli", "overlay-server",
                   "check, generate and apply a fleet's Headscale server (as overlay-server)"),
}
#: options of ``status`` that choose another output than the report
STATUS_OUTPUTS = ("--json", "--watch", "--prometheus", "--help", "-h")


def verb_argv(name: str, argv: list[str]) -> list[str]:
    """The console script's argv for ``ros2 overlay NAME ARGV...``."""
    verb = VERBS[name]
    if any(word in STATUS_OUTPUTS for word in argv):
        return list(argv)
    return [*verb.defaults, *argv]


def verb_main(name: str) -> Callable[[list[str]], int]:
    main: Callable[[list[str]], int] = importlib.import_module(VERBS[name].module).main
    return main
