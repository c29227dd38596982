"""Write a discovery configuration to a folder: its files and ``env`` files. Atomic."""
from __future__ import annotations

import shlex
from pathlib import Path

from overlay_monitor.files import write_atomic

from .model import DiscoveryConfig

DEFAULT_DIR = Path.home() / ".ros" / "overlay_bringup" / "discovery"


def environment(config: DiscoveryConfig, directory: Path) -> dict[str, str]:
    """Every variable a ROS process needs, file variables as absolute paths."""
    env = dict(config.env)
    env.update({key: str((directory / name).resolve()) for key, name in config.file_env.items()})
    return env


def env_text(env: dict[str, str]) -> str:
    """``KEY=VALUE`` lines, values shell-quoted where needed (``set -a; . env`` works)."""
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))


def read_env(text: str) -> dict[str, str]:
    """Parse what ``env_text`` wrote (and plain KEY=VALUE files)."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            words = shlex.split(value)
            env[key.strip()] = words[0] if words else ""
    return env


def write_config(config: DiscoveryConfig, directory: Path) -> list[Path]:
    written = [write_atomic(directory / name, content) for name, content in config.files.items()]
    written.append(write_atomic(directory / "env", env_text(environment(config, directory))))
    folder = str(directory.resolve())
    for suffix, extra in config.extra_env.items():
        resolved = {key: value.replace("{dir}", folder) for key, value in extra.items()}
        written.append(write_atomic(directory / f"env.{suffix}", env_text(resolved)))
    return written
