"""Processes in the lab's namespaces: the one module that runs, starts, waits for and stops them.

Every other lab module calls these. Secrets never reach argv: commands read keys from files.

- ``run`` runs a command to its end and returns its output (``CommandFailed`` on non-zero);
- ``start`` starts a long-running process detached, its output in a log file;
- ``spawn`` starts a process whose output the caller reads (pipes);
- ``wait_ready`` polls a readiness check, naming the log's tail when the process dies or
  takes too long;
- ``stop`` / ``terminate`` stop processes (SIGTERM, then SIGKILL after a grace time);
- ``in_namespace`` builds the argv that runs a command inside a namespace, with bind mounts.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import psutil

from overlay_monitor.errors import CommandFailed, LabError

#: how long a started service may take to answer its readiness check
START_TIMEOUT_S = 30.0
LOG_TAIL_CHARS = 800
#: (source folder, mount point) pairs bound inside a command's own mount namespace
Binds = Iterable[tuple[Path, str]]


def run(argv: list[str], stdin: str | None = None, timeout_s: float = 20.0,
        env: Mapping[str, str] | None = None) -> str:
    """Run ``argv`` to its end; its stdout. A non-zero exit raises ``CommandFailed``."""
    result = run_result(argv, stdin, timeout_s, env)
    if result.returncode != 0:
        raise CommandFailed(argv, result.returncode, result.stderr)
    return result.stdout


def run_result(argv: list[str], stdin: str | None = None, timeout_s: float = 20.0,
               env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end and return what it did, whatever its exit status."""
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout_s, check=False,
                              env=None if env is None else dict(env))
    except subprocess.TimeoutExpired as err:
        raise LabError(f"'{' '.join(argv)}' did not finish within {timeout_s:g} s") from err


def call(argv: list[str], timeout_s: float | None = None) -> int:
    """Run ``argv`` with this terminal (a user's interactive command); its exit status."""
    return subprocess.call(argv, timeout=timeout_s)


def start(argv: list[str], log: Path, env_extra: Mapping[str, str] | None = None,
          ) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached (its own session), stdout and stderr appended to ``log``."""
    env = dict(os.environ, **(env_extra or {}))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True)


def spawn(argv: list[str], env: Mapping[str, str] | None = None, stderr: bool = True,
          ) -> subprocess.Popen[str]:
    """Start ``argv`` with its stdout (and stderr, unless ``stderr`` is False) piped as text."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if stderr else subprocess.DEVNULL, text=True,
                            env=None if env is None else dict(env))


def log_tail(log: Path, chars: int = LOG_TAIL_CHARS) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_ready(what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path,
               timeout_s: float = START_TIMEOUT_S, poll_s: float = 0.1) -> None:
    """Return once ``ready()``; a ``LabError`` with the log's tail when the process exits first
    or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            raise LabError(f"{what} exited with {process.returncode}: {log_tail(log)}")
        time.sleep(poll_s)
    raise LabError(f"{what} not ready within {timeout_s:g} s: {log_tail(log)}")


def stop(pid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM ``pid`` and wait for it (gone already is fine)."""
    terminate({pid}, timeout_s)


def terminate(pids: Iterable[int], grace_s: float = 2.0) -> None:
    """SIGTERM every pid, SIGKILL what is still there after ``grace_s``."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)


def interrupt_groups(procs: Iterable[subprocess.Popen[bytes] | subprocess.Popen[str]],
                     grace_s: float = 20.0) -> None:
    """SIGINT each process's group (``ros2 launch`` started with setsid stops its nodes on
    it), wait, SIGKILL the group of whoever is still there after ``grace_s``."""
    started = list(procs)
    for child in started:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGINT)
    for child in started:
        try:
            child.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.communicate()


def alive(pid: int) -> bool:
    return bool(pid) and psutil.pid_exists(pid)


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, oldest first (none when it is gone)."""
    try:
        kids = psutil.Process(pid).children()
    except psutil.Error:
        return []
    return [k.pid for k in sorted(kids, key=lambda k: k.create_time())]


def command_line(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def pids_in(namespace: str) -> set[int]:
    """Every process in ``namespace`` (none when it is gone)."""
    try:
        return {int(p) for p in run(["ip", "netns", "pids", namespace]).split()}
    except CommandFailed:
        return set()


def mount_argv(binds: Binds, argv: list[str]) -> list[str]:
    """``sh -c`` that bind-mounts each (source, target) and then runs ``argv``."""
    pairs = list(binds)
    if not pairs:
        return list(argv)
    script = " && ".join(f'mount --bind "${i * 2 + 1}" "${i * 2 + 2}"' for i in range(len(pairs)))
    words = [str(w) for pair in pairs for w in pair]
    return ["sh", "-c", f'{script} && shift {len(words)} && exec "$@"', "sh", *words, *argv]


def in_namespace(namespace: str, argv: list[str], binds: Binds = ()) -> list[str]:
    """argv that runs ``argv`` inside ``namespace`` with ``binds`` mounted first (``ip netns
    exec`` gives each command its own mount namespace, so the mounts stay private to it)."""
    return ["ip", "netns", "exec", namespace, *mount_argv(binds, argv)]


def python_module(module: str, *args: str) -> list[str]:
    """argv of ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def python_env() -> dict[str, str]:
    """This environment with the lab's and the product's modules importable in every namespace
    (the lab may run from a source tree)."""
    import overlay_bringup

    roots = [str(Path(__file__).resolve().parents[1]),
             str(Path(overlay_bringup.__file__).resolve().parents[1])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        dict.fromkeys(filter(None, [*roots, os.environ.get("PYTHONPATH", "")]))))
