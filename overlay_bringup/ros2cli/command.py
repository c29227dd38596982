"""``ros2 overlay VERB …``: a ros2cli command extension (entry point ``ros2cli.command``).

A thin adapter: it parses only the verb and hands every other word to that verb's console
script (``verbs.VERBS``)."""
from __future__ import annotations

import argparse

from ros2cli.command import CommandExtension

from .verbs import VERBS, verb_argv, verb_main

#: the verbs' sub-parsers take no options of their own: with a prefix character no option uses,
#: every word after the verb (--json, --help, ...) is handed to the console script unparsed
NO_OPTIONS = "\x01"


class OverlayCommand(CommandExtension):  # type: ignore[misc]
    """Join, observe and measure the Tailscale/Headscale overlay; set up its server."""

    def add_arguments(self, parser: argparse.ArgumentParser, cli_name: str) -> None:
        self._parser = parser
        verbs = parser.add_subparsers(dest="_overlay_verb", metavar="VERB")
        for name, verb in VERBS.items():
            sub = verbs.add_parser(name, help=verb.help, add_help=False, prefix_chars=NO_OPTIONS,
                                   description=f"{verb.help}. Every option is {verb.script}'s: "
                                               f"ros2 overlay {name} --help shows them.")
            sub.add_argument("argv", nargs=argparse.REMAINDER)

    def main(self, *, parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
        name = getattr(args, "_overlay_verb", None)
        if name is None:
            self._parser.print_help()
            return 0
        return verb_main(name)(verb_argv(name, list(args.argv)))
