"""`uv run python -m bench`: every measurement in one run; prints a markdown table and
writes bench/results.json and bench/results.md. BENCH_QUICK=1 shortens everything
(a smoke run; its figures are not the benchmark).

`uv run python -m bench fidelity [...]` runs only the packet-level fidelity reference
(root; not part of the full run): see bench/fidelity/runner.py.

`uv run python -m bench apps [...]` runs only the application request/response rates (redis,
PostgreSQL; not part of the full run, needs those packages): see bench/apps.py."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import common, latency, rate, scale, throughput, tui_keys
from bench.common import median

HERE = Path(__file__).resolve().parent


def run(name: str, func: Callable[[], dict]) -> dict:
    print(f"-- {name} ...", flush=True)
    start = time.monotonic()
    try:
        result = func()
    except Exception as exc:  # one failed measurement must not hide the others
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def gbit(bps: float) -> str:
    return f"{bps / 1e9:.2f} Gbit/s"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
        f"{m['date']}; revision {m['revision']}; load average (1 min) at start / end "
        f"{m['loadavg_at_start']:.2f} / {m['loadavg_at_end']:.2f} (other work shares the cores)"
        + ("; engines run from compiled bytecode, as installed" if m.get("bytecode") else "")
        + (" (BENCH_QUICK: smoke run, not the benchmark)" if results["quick"] else ""),
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
    ]

    def row(measure: str, result: str, target: str = "", met: bool | None = None) -> None:
        lines.append(f"| {measure} | {result} | {target} | {'' if met is None else verdict(met)} |")

    def failed(measure: str, section: dict) -> bool:
        if "error" in section:
            row(measure, f"error: {section['error']}")
            return True
        return False

    t = results["throughput"]
    if not failed("unshaped throughput (iperf3, 1 stream)", t):
        row(
            "unshaped throughput: direct / socat -b 262144 / shaper (median of "
            f"{len(t['runs']['shaper'])})",
            f"{gbit(t['direct'])} / {gbit(t['socat'])} / {gbit(t['shaper'])}",
        )
        row(
            "unshaped throughput: shaper ÷ socat (median of the per-round ratios)",
            f"{t['shaper_vs_socat']:.3f}×",
            "≥ 0.9×",
            t["shaper_vs_socat"] >= 0.9,
        )
        row(
            "unshaped throughput: shaper ÷ direct (median of the per-round ratios)",
            f"{t['shaper_vs_direct']:.3f}×",
        )

    r = results["rate"]
    if not failed("rate accuracy", r):
        for flag, fig in r.items():
            if isinstance(fig, dict):
                row(
                    f"rate {flag}: measured ÷ target ({fig['window']:.0f} s window)",
                    f"{fig['ratio']:.4f} (engine CPU {fig['engine_cpu']:.0%})",
                    "1 ± 0.01",
                    abs(fig["ratio"] - 1) <= 0.01,
                )

    lat = results["latency"]
    if not failed("added latency", lat):
        row(
            "RTT direct / through unshaped shaper (baseline)",
            f"{lat['direct_rtt_ms']:.3f} / {lat['unshaped_proxy_rtt_ms']:.3f} ms",
        )
        for flag, _, _ in latency.TARGETS:
            fig = lat[flag]
            row(
                f"latency {flag} each way: RTT error p50 / p99 ({fig['samples']} samples)",
                f"{fig['p50_ms']:+.2f} / {fig['p99_ms']:+.2f} ms",
                "≤ +0.5 / +1.5 ms",
                fig["p50_ms"] <= 0.5 and fig["p99_ms"] <= 1.5,
            )

    for key, label in (("per_connection", "a link each"), ("shared", "one shared link")):
        s = results["scale"].get(key, results["scale"])
        if failed(f"concurrent shaped connections ({label})", s):
            continue
        n = s["connections"]
        if key == "shared":
            row(
                f"{n} connections on one shared link ({s['rate']}): link use (aggregate ÷ rate)",
                f"{s['aggregate_ratio']:.3f}",
                "1 ± 0.05",
                abs(s["aggregate_ratio"] - 1) <= 0.05,
            )
            row(
                f"{n} connections on one shared link: each ÷ a fair share, median / min / max",
                f"{s['ratio_median']:.3f} / {s['ratio_min']:.3f} / {s['ratio_max']:.3f}",
            )
        else:
            row(
                f"{n} connections at {s['rate']} down: per-connection measured ÷ target, "
                "median / min / max",
                f"{s['ratio_median']:.3f} / {s['ratio_min']:.3f} / {s['ratio_max']:.3f}",
                "1 ± 0.01",
                s["worst_error"] <= 0.01,
            )
        row(
            f"{n} connections, {label}: engine RSS (idle before: {s['rss_idle'] / 1e6:.0f} MB)",
            f"{s['rss'] / 1e6:.0f} MB",
            f"≤ 50 MB + buffers = {s['buffer_allowance'] / 1e6:.0f} MB",
            s["rss"] <= s["buffer_allowance"],
        )
        row(
            f"{n} connections, {label}: CPU, engine / load generator (one core = 100 %)",
            f"{s['engine_cpu']:.0%} / {s['bench_cpu']:.0%}",
        )
        row(
            f"{n} connections, {label}: connections that received nothing in the window",
            str(s["starved"]),
            "0",
            s["starved"] == 0,
        )
        if "stats" in s:
            st = s["stats"]
            row(
                f"GET /v1/stats?connections=1 with these {n} downloads running ({label}), "
                "median / max",
                f"{st['median_ms']:.1f} / {st['max_ms']:.1f} ms ({st['bytes'] / 1e6:.1f} MB)",
                "≤ 20 ms",
                st["median_ms"] <= 20,
            )

    c = results.get("control")
    if c is None:
        row("control API (bench/bench_control.py)", "not measured (no bench_control.measure)")
    elif not failed("control API (bench/bench_control.py)", c):
        st, sc = c["stats_latency"], c["stream_cost"]
        row(
            f"GET /v1/stats?connections=1, {st['connections']} idle connections, "
            f"p50 / p95 / max ({st['requests']} requests)",
            f"{st['ms_p50']:.1f} / {st['ms_p95']:.1f} / {st['ms_max']:.1f} ms",
            "≤ 20 ms",
            st["ms_p50"] <= 20,
        )
        row(
            "unshaped throughput cost of a 10 Hz snapshot stream client",
            f"{sc['cost_percent']:.1f} % ({median(sc['gbit_without_stream']):.2f} → "
            f"{median(sc['gbit_with_stream']):.2f} Gbit/s)",
            "≤ 5 %",
            sc["cost_percent"] <= 5,
        )

    a = results["attached"]
    if not failed("throughput with the TUI attached", a):
        row("unshaped throughput, engine with --control, nothing attached", gbit(a["headless"]))
        if "tui" in a:
            row(
                "… with the TUI attached (`shaper attach` in a 160×50 pty): ÷ headless "
                f"(median of {len(a.get('round_ratios', []))} per-round ratios)",
                f"{a['tui_vs_headless']:.3f}× ({gbit(a['tui'])}; the TUI used "
                f"{a['tui_cpu']:.0%} of a core)",
                "≥ 0.95×",
                a["tui_vs_headless"] >= 0.95,
            )
        else:
            row("… with the TUI attached", f"not measured ({a['tui_error']})", "≥ 0.95×")
    k = results.get("keys")
    if k is not None and not failed("key press to screen", k):
        row(
            f"TUI: key press to screen with {k['connections']} connections changing, "
            f"p50 / max ({k['presses']} presses after a first one)",
            f"{k['ms_p50']:.0f} / {k['ms_max']:.0f} ms (first press {k['ms_first']:.0f} ms)",
            "≤ 100 ms",
            k["ms_max"] <= 100,
        )
    return "\n".join(lines) + "\n"


def control_bench() -> Callable[[], dict] | None:
    """The control API's own benchmark, if its developer has provided one."""
    if importlib.util.find_spec("bench.bench_control") is None:
        return None
    module = importlib.import_module("bench.bench_control")
    return getattr(module, "measure", None)


def main() -> int:
    common.raise_nofile()
    started = time.monotonic()
    results: dict = {"machine": common.machine(), "quick": common.QUICK}
    results["throughput"] = run("unshaped throughput", throughput.measure)
    results["rate"] = run("rate accuracy", rate.measure)
    results["latency"] = run("added latency", latency.measure)
    results["scale"] = run("concurrent connections", scale.measure)
    extra = control_bench()
    if extra is not None:
        results["control"] = run("control API (bench/bench_control.py)", extra)
    results["attached"] = run("throughput with the TUI attached", throughput.measure_tui_attached)
    results["keys"] = run("key press to screen", tui_keys.measure)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    text = table(results)
    print()
    print(text)
    print(f"({results['seconds']:.0f} s)")
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["fidelity"]:
        from bench.fidelity.runner import main as fidelity

        raise SystemExit(fidelity(sys.argv[2:]))
    if sys.argv[1:2] == ["apps"]:
        from bench.apps import main as apps

        raise SystemExit(apps(sys.argv[2:]))
    raise SystemExit(main())
