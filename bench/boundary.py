"""Benchmark: the robot boundary on the real components, the three discovery modes side by side
in one run (fastdds-peers, fastdds-server with the real fast-discovery-server on r1, and
zenoh-bridge), on a 3-robot tailscale lab:

- across: 1 MB at 10 Hz r1 -> r2 on the restrictive campus (DERP) and the open one (direct),
  clean and with ``--loss`` % on r2's underlay link: messages delivered and latency;
- across while local: 100 kB at 30 Hz r1 -> r2 while r1 runs a 1 MB, 30 Hz stream between two
  of its own nodes (restrictive campus, clean). The local stream is measured alone first, so
  "local slowed" compares like with like. zenoh-bridge carries only the across topic (an
  allowlist, as a team would write it).

Prints a table and writes boundary.json; asserts nothing. Needs root, the lab and the real
components (sudo, after `source tools/env.sh`):
    python bench/boundary.py [--seconds 10] [--loss 1] [--out bench-results/boundary]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from overlay_bringup.discovery.model import BridgePolicy
from overlay_lab import proc
from overlay_lab.impairments import Impairment
from overlay_lab.paths import wait_path
from overlay_lab.ros_demo import chatter_argv, last_json_line, mode_envs
from overlay_lab.runner import lab_down, lab_up, switch_campus
from overlay_lab.state import LabState
from overlay_lab.topology import plan_lab

PREFIX = "ovbnd"
DOMAIN = 53
MODES = ("fastdds-peers", "fastdds-server", "zenoh-bridge")
MB, KB100 = 1_000_000, 100_000
ACROSS_TOPIC, LOCAL_TOPIC = "across", "local"


def _stream(state: LabState, envs: dict[str, dict[str, str]], talker: str, listener: str,
            topic: str, size: int, rate: float, seconds: float) -> tuple[list, list]:
    """argv of a listener (started first) and a talker for one stream."""
    listen = chatter_argv(state, listener, envs[listener], "listen", "--duration",
                          str(seconds + 3), "--topic", topic)
    talk = chatter_argv(state, talker, envs[talker], "talk", "--duration", str(seconds),
                        "--rate", str(rate), "--size", str(size), "--topic", topic)
    return listen, talk


def run_streams(streams: list[tuple[list, list]], seconds: float) -> list[dict]:
    """Run every stream at once; each stream's talker and listener results."""
    listeners = [proc.spawn(listen, stderr=False) for listen, _ in streams]
    time.sleep(1.5)
    talkers = [proc.spawn(talk, stderr=False) for _, talk in streams]
    results = []
    for talker, listener in zip(talkers, listeners, strict=True):
        try:
            sent = last_json_line(talker.communicate(timeout=seconds + 60)[0])
        except Exception:  # noqa: BLE001 - a hung talker is a result too
            talker.kill()
            sent = {}
        try:
            heard = last_json_line(listener.communicate(timeout=seconds + 30)[0])
        except Exception:  # noqa: BLE001 - a listener that hangs is recorded as such
            listener.kill()
            heard = {"hung": True}
        results.append({"sent": sent.get("sent"), "talker_cpu_s": sent.get("cpu_s"), **heard})
    return results


def _with_mode(state: LabState, mode: str, policy: BridgePolicy | None, work) -> object:
    envs, helpers = mode_envs(state, mode, DOMAIN, ("r1", "r2"), policy)
    try:
        return work(envs)
    finally:
        proc.terminate(helpers, grace_s=3.0)


def across_rows(state: LabState, seconds: float, loss: float) -> list[dict]:
    rows = []
    for campus, path in (("restrictive", r"^DERP\("), ("open", r"^\d+\.\d+\.\d+\.\d+:")):
        switch_campus(state.prefix, campus)
        via = wait_path(state, "r1", state.robot("r2").overlay_ip, path, 60)
        for mode in MODES:
            def work(envs, mode=mode):
                return run_streams([_stream(state, envs, "r1", "r2", ACROSS_TOPIC, MB, 10,
                                            seconds)], seconds)[0]
            result = _with_mode(state, mode, None, work)
            rows.append({"mode": mode, "campus": campus, "loss_percent": loss, "path": via,
                         **result})
            print(f"  1 MB across, {campus}, loss {loss:g} %, {mode}: "
                  f"{result.get('received')}/{result.get('sent')}", flush=True)
    return rows


def local_rows(state: LabState, seconds: float) -> list[dict]:
    switch_campus(state.prefix, "restrictive")
    policy = BridgePolicy(rule="allow", topics=(f"/{ACROSS_TOPIC}",))
    rows = []
    for mode in MODES:
        def work(envs):
            local = _stream(state, envs, "r1", "r1", LOCAL_TOPIC, MB, 30, seconds)
            across = _stream(state, envs, "r1", "r2", ACROSS_TOPIC, KB100, 30, seconds)
            (alone,) = run_streams([local], seconds)
            together, crossed = run_streams([local, across], seconds)
            return alone, together, crossed
        alone, together, crossed = _with_mode(state, mode, policy, work)
        rows.append({"mode": mode, "local_alone": alone, "local_with_across": together,
                     "across": crossed})
        print(f"  local 1 MB alone {alone.get('received')}, with 100 kB across "
              f"{together.get('received')}; across {crossed.get('received')}/"
              f"{crossed.get('sent')} ({mode})", flush=True)
    return rows


def _lat(result: dict) -> str:
    median, p95 = result.get("latency_ms_median"), result.get("latency_ms_p95")
    return "–" if median is None else f"{median:.0f} / {p95:.0f}"


def _got(result: dict) -> str:
    """Delivered of sent, and how many were lost between the first and the last arrival (the
    messages before the first one are discovery at start-up, not the transport)."""
    if result.get("hung"):
        return "listener hung"
    got = f"{result.get('received', 0)}/{result.get('sent')}"
    if not result.get("received"):
        return got
    lost = result["last_seq"] - result["first_seq"] + 1 - result["received"]
    return f"{got} ({lost} lost after the first, at {result['first_s']:.1f} s)"


def report(data: dict) -> str:
    lines = ["| mode | campus | underlay loss | 1 MB at 10 Hz delivered | latency ms median / p95 |",
             "|---|---|---|---|---|"]
    for row in data["across"]:
        lines.append(f"| {row['mode']} | {row['campus']} | {row['loss_percent']:g} % | "
                     f"{_got(row)} | {_lat(row)} |")
    lines += ["", "| mode | local 1 MB 30 Hz alone | with 100 kB 30 Hz across | talker CPU s alone / "
              "with | 100 kB across delivered | latency ms |", "|---|---|---|---|---|---|"]
    for row in data["local"]:
        alone, together, crossed = row["local_alone"], row["local_with_across"], row["across"]
        lines.append(f"| {row['mode']} | {_got(alone)} | {_got(together)} | "
                     f"{alone.get('talker_cpu_s')} / {together.get('talker_cpu_s')} | "
                     f"{_got(crossed)} | {_lat(crossed)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--loss", type=float, default=1.0, help="underlay loss on r2, percent")
    parser.add_argument("--out", type=Path, default=Path("bench-results/boundary"))
    parser.add_argument("--report-only", action="store_true",
                        help="render OUT/boundary.json again, measure nothing")
    args = parser.parse_args()
    if args.report_only:
        text = report(json.loads((args.out / "boundary.json").read_text()))
        (args.out / "boundary.md").write_text(text)
        print(text)
        return
    data: dict = {"command": "python bench/boundary.py " + " ".join(
        f"--{k} {v}" for k, v in (("seconds", args.seconds), ("loss", args.loss))),
        "across": [], "local": []}
    for loss in (0.0, args.loss):
        impaired = {"r2": Impairment(loss_percent=loss)} if loss else {}
        state = lab_up(plan_lab(3, PREFIX, impaired, overlay="tailscale",
                                campus="restrictive")).state
        try:
            data["across"] += across_rows(state, args.seconds, loss)
            if not loss:
                data["local"] = local_rows(state, args.seconds)
        finally:
            lab_down(PREFIX)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "boundary.json").write_text(json.dumps(data, indent=2) + "\n")
    text = report(data)
    (args.out / "boundary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
