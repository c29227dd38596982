"""Every command the README and docs/ show still parses: each `overlay-*` and `ros2 overlay`
line of a code block goes through that command's real argument parser (verbs, flags, choices,
types, required options), without running it."""
import argparse
import contextlib
import importlib
import io
import re
import shlex

import pytest

from overlay_bringup.ros2cli.verbs import VERBS, verb_argv
from overlay_testing import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MODULES = {"overlay-server": "overlay_bringup.server.cli",
           "overlay-join": "overlay_bringup.join.cli",
           "overlay-discovery": "overlay_bringup.discovery.cli",
           "overlay-status": "overlay_monitor.status_cli",
           "overlay-linktest": "overlay_monitor.linktest.cli",
           "overlay-lab": "overlay_lab.cli"}
#: words that may stand before a command on a docs line (sudo -E env "PATH=$PATH" …)
PREFIX_WORDS = re.compile(r"^(sudo|-E|env|PATH=.*)$")


def _code_lines(page):
    """Logical lines of the page's code blocks (backslash continuations joined)."""
    lines, block, current = [], False, ""
    for raw in page.read_text().splitlines():
        if raw.startswith("```"):
            block = not block
            continue
        if not block:
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current.strip())
        current = ""
    return lines


def _commands(line):
    """Every (command, argv) on one shell line (split at && and ;, comments dropped)."""
    words = shlex.split(line, comments=True)
    found, part = [], []
    for word in [*words, "&&"]:
        if word in ("&&", ";", "||"):
            if part:
                found.append(part)
            part = []
        else:
            part.append(word)
    commands = []
    for part in found:
        while part and PREFIX_WORDS.match(part[0]):
            part = part[1:]
        if part and part[0] in MODULES:
            commands.append((part[0], part[1:]))
        elif part[:2] == ["ros2", "overlay"] and len(part) > 2 and part[2] in VERBS:
            commands.append((VERBS[part[2]].script, verb_argv(part[2], part[3:])))
    return commands


CASES = [(page.name, line, command, argv) for page in PAGES for line in _code_lines(page)
         for command, argv in _commands(line)]


def test_the_docs_show_commands_of_every_console_script():
    shown = {command for _, _, command, _ in CASES}
    assert shown == set(MODULES), set(MODULES) - shown


@pytest.mark.parametrize("page, line, command, argv", CASES,
                         ids=[f"{p}:{' '.join([c, *a])[:60]}" for p, _, c, a in CASES])
def test_a_command_shown_in_the_docs_parses(page, line, command, argv):
    parser = importlib.import_module(MODULES[command])._parser()
    if "--" in argv:  # overlay-lab exec R -- COMMAND: the command is not ours
        argv = argv[:argv.index("--")]
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            parsed = parser.parse_args(argv)
        except SystemExit as err:
            pytest.fail(f"{page}: `{line}` does not parse ({err.code}): {errors.getvalue()}")
    assert isinstance(parsed, argparse.Namespace)
