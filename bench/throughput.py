"""Unshaped single-stream throughput (iperf3): direct, through socat, through the engine;
and through the engine with the TUI attached. (The cost of a bare 10 Hz stream client is
measured by bench/bench_control.py.)"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator

from bench.common import (
    HOST,
    QUICK,
    child,
    cpu_seconds,
    engine,
    free_port,
    median,
    spawn,
    stop,
    wait_listening,
)

SECONDS = 2 if QUICK else 5
RUNS = 1 if QUICK else 5
# Five rounds: on this machine two iperf3 runs seconds apart differ by up to 15 %, and the
# per-round ratios of two rounds ranged from 0.85 to 1.07 on one revision.
ATTACHED_RUNS = 1 if QUICK else 5
TUI_START = 3.0 if QUICK else 4.0  # Textual import and first snapshots


def iperf(port: int, seconds: int = SECONDS) -> float:
    """One iperf3 run (one stream, client sends) through `port`; received bits/s."""
    out = subprocess.run(
        ["iperf3", "-c", HOST, "-p", str(port), "-t", str(seconds), "-J"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    data = json.loads(out.stdout)
    if "error" in data:
        raise RuntimeError(f"iperf3: {data['error']}")
    return data["end"]["sum_received"]["bits_per_second"]


@contextlib.contextmanager
def iperf_server() -> Iterator[int]:
    port = free_port()
    with child(["iperf3", "-s", "-B", HOST, "-p", str(port)]):
        wait_listening(port)
        yield port


def measure() -> dict:
    """Median of RUNS runs for each path, the paths interleaved so drift hits all alike."""
    runs: dict[str, list[float]] = {"direct": [], "socat": [], "shaper": []}
    with iperf_server() as iperf_port:
        socat_port = free_port()
        socat = [
            "socat",
            "-b",
            "262144",
            f"TCP-LISTEN:{socat_port},reuseaddr,fork",
            f"TCP:{HOST}:{iperf_port}",
        ]
        with child(socat), engine(iperf_port) as eng:
            wait_listening(socat_port)
            for _ in range(RUNS):
                runs["direct"].append(iperf(iperf_port))
                runs["socat"].append(iperf(socat_port))
                runs["shaper"].append(iperf(eng.port))
    result = {name: median(values) for name, values in runs.items()}
    result["runs"] = runs
    # Ratios within a round (seconds apart) are steadier than ratios of medians:
    # this machine's speed drifts by tens of percent between rounds.
    for other in ("socat", "direct"):
        pairs = zip(runs["shaper"], runs[other], strict=True)
        result[f"shaper_vs_{other}"] = median([a / b for a, b in pairs])
    return result


# -- with the TUI attached ------------------------------------------------------------------


@contextlib.contextmanager
def tui_attached(control_url: str) -> Iterator[dict]:
    """`shaper attach URL` in a 160x50 pseudo-terminal whose output is read and dropped."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    try:
        proc = spawn(
            [sys.executable, "-m", "shaper", "attach", control_url],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
    finally:
        os.close(slave)
    out = {"bytes": 0, "pid": proc.pid}

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            out["bytes"] += len(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        time.sleep(TUI_START)
        if proc.poll() is not None:
            raise RuntimeError(f"the TUI exited with {proc.returncode}")
        yield out
    finally:
        stop(proc)
        os.close(master)
        reader.join(2.0)


def measure_tui_attached() -> dict:
    """Engine with --control: throughput headless and with `shaper attach` on it, alternating."""
    runs: dict[str, list[float]] = {"headless": [], "tui": []}
    tui_error = None
    tui_output, tui_cpu = [], []
    with iperf_server() as iperf_port, engine(iperf_port, control=True) as eng:
        for _ in range(ATTACHED_RUNS):
            runs["headless"].append(iperf(eng.port))
            if tui_error is None:
                try:
                    with tui_attached(eng.control) as screen:
                        before, start = screen["bytes"], time.monotonic()
                        cpu0 = cpu_seconds(screen["pid"])
                        runs["tui"].append(iperf(eng.port))
                        elapsed = time.monotonic() - start
                        tui_output.append((screen["bytes"] - before) / elapsed)
                        tui_cpu.append((cpu_seconds(screen["pid"]) - cpu0) / elapsed)
                except RuntimeError as exc:
                    tui_error = str(exc)
    result: dict = {"runs": runs, "headless": median(runs["headless"])}
    if runs["tui"]:
        result["tui"] = median(runs["tui"])
        # Each round's TUI run against the headless run just before it: steadier than the
        # ratio of the medians while the machine's speed drifts (as in measure()).
        ratios = [t / h for h, t in zip(runs["headless"], runs["tui"], strict=False)]
        result["round_ratios"] = [round(r, 4) for r in ratios]
        result["tui_vs_headless"] = median(ratios)
        result["tui_terminal_bytes_per_s"] = median(tui_output)
        result["tui_cpu"] = median(tui_cpu)  # of one core, while the transfer ran
    else:
        result["tui_error"] = tui_error or "not measured"
    return result
