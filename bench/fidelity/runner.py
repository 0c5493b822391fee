"""`uv run python -m bench fidelity [--runs N] [--quick] [--case NAME]... [--shaper-arg A]...`

Runs each case N times on the reference path and through shaper, interleaved, and writes
bench/fidelity_results.json and bench/fidelity_results.md. Needs root; makes two network
namespaces (shfid-<pid>-c/-s) and removes them however it ends. Run i uses seed i for the
loss model on both sides. `--case loss` selects the loss, burst and trace cases;
`--reference-only` runs the reference side alone."""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench import common
from bench.fidelity import (
    cases,
    netns,
    preflight,
    pressure,
    reference,
    report,
    selftest,
    shaper_side,
)
from bench.fidelity.forwarder import forwarder

HERE = Path(__file__).resolve().parent.parent
# A run that met TCP memory pressure (see pressure.py) is run again, at most this often in
# all; the last attempt counts, marked, if pressure never went away.
PRESSURE_ATTEMPTS = 3


def _server(argv: list[str]) -> tuple[subprocess.Popen, dict]:
    proc = common.spawn(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if not select.select([proc.stdout], [], [], 10.0)[0]:
        common.stop(proc)
        raise RuntimeError(f"the HTTP server did not start: {argv}")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the HTTP server exited: {argv}")
    return proc, json.loads(line)


def _check_cc(runs: list[dict], side: str) -> str:
    seen = {r["cc"] for r in runs}
    if seen != {"cubic"}:
        raise RuntimeError(f"{side}: the server's accepted sockets used {seen}, not cubic")
    return "cubic"


def run_case(
    case: cases.Case,
    pair: netns.Pair,
    port: int,
    runs: int,
    extra: list[str],
    reference_only: bool = False,
) -> dict:
    out: dict = {
        "name": case.name,
        "path": case.describe_path(),
        "workload": {**case.workload.__dict__, "describe": case.workload.describe()},
        "down": case.down.as_dict(),
        "up": case.up.as_dict(),
        "shaper_flags": shaper_side.shaper_flags(case, extra, seed=1),
    }
    ref_runs: list[dict] = []
    sh_runs: list[dict] = []
    # Set when the engine refuses the case (a limit this revision does not have): the
    # reference column still fills, the shaper's says why it is empty.
    shaper_error = "not run (--reference-only)" if reference_only else None
    with forwarder(pair.client, pair.server, case.up, case.down) as fw:
        for i in range(runs):
            seed = i + 1
            order = ("ref", "shaper") if i % 2 == 0 else ("shaper", "ref")
            for side in order:
                if side == "shaper" and shaper_error is not None:
                    continue
                r = None
                for attempt in range(1, PRESSURE_ATTEMPTS + 1):
                    calm = pressure.wait_calm()
                    with pressure.Watch() as watch:
                        if side == "ref":
                            r = reference.run(case, fw, pair, seed)
                        else:
                            try:
                                r = shaper_side.run(case, port, extra, seed)
                            except RuntimeError as exc:
                                shaper_error = _first_error_line(str(exc))
                                print(f"   {case.name}: shaper side failed: {shaper_error}")
                                r = None
                    if r is None:
                        break
                    r["tcp_memory"] = pressure.after_run(calm, watch)
                    if r["tcp_memory"]["calm"]:
                        break
                    print(
                        f"   {case.name} run {i + 1} {side}: under TCP memory pressure (peak "
                        f"{watch.peak} pages, calm below {calm['tcp_mem_low']}), attempt "
                        f"{attempt} of {PRESSURE_ATTEMPTS}",
                        flush=True,
                    )
                if r is None:
                    continue
                (ref_runs if side == "ref" else sh_runs).append(r)
                r["seed"] = seed
                lost = ""
                if "path" in r and (r["path"]["down"].get("lost") or r["path"]["up"].get("lost")):
                    lost = f", lost {r['path']['down']['lost']}/{r['path']['up']['lost']}"
                marked = "" if r["tcp_memory"]["calm"] else " (under TCP memory pressure)"
                print(
                    f"   {case.name} run {i + 1} {side:6}: TTFB {r['ttfb'] * 1000:7.1f} ms, "
                    f"total {r['total'] * 1000:7.1f} ms{lost}{marked}",
                    flush=True,
                )
    _check_cc(ref_runs, "reference")
    out["reference_runs"], out["shaper_runs"] = ref_runs, sh_runs
    out["reference"] = report.summarize(ref_runs)
    if shaper_error is not None:
        out["shaper_error"] = shaper_error
        sh_runs.clear()
        return out
    _check_cc(sh_runs, "shaper")
    out["shaper"] = report.summarize(sh_runs)
    out["ratio_ttfb"] = out["shaper"]["ttfb"] / out["reference"]["ttfb"]
    out["ratio_total"] = out["shaper"]["total"] / out["reference"]["total"]
    if shaper_side.lossy(case):
        out["ratio_total_paired"] = report.paired_ratio(ref_runs, sh_runs)
    return out


def _first_error_line(text: str) -> str:
    """The engine's own complaint (its last stderr line, e.g. an unknown flag), short."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors[-1] if errors else lines[-1] if lines else text)[:300]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench fidelity", description=__doc__.split("\n")[2])
    p.add_argument("--runs", type=int, default=None, help="runs per case and side (default 3)")
    p.add_argument("--quick", action="store_true", help="1 run of a subset (also BENCH_QUICK=1)")
    p.add_argument("--case", action="append", metavar="NAME", help="a case or a path; repeatable")
    p.add_argument("--no-selftest", action="store_true", help="skip the forwarder self-test")
    p.add_argument(
        "--shaper-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra `shaper serve` argument for every case (e.g. --shaper-arg=--burst=0)",
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep the results files")
    p.add_argument(
        "--out",
        default="fidelity_results",
        metavar="STEM",
        help="results file names in bench/ (default fidelity_results: .json and .md)",
    )
    p.add_argument(
        "--reference-only",
        action="store_true",
        help="run the reference side alone (the shaper column says so)",
    )
    a = p.parse_args(argv)
    a.quick = a.quick or common.QUICK
    if a.runs is None:
        a.runs = 1 if a.quick else 3
    return a


def measure(a: argparse.Namespace, chosen: list[cases.Case]) -> dict:
    results: dict = {"machine": common.machine(), "quick": a.quick, "runs": a.runs}
    with netns.namespaces() as pair:
        print(f"-- namespaces {pair.client}, {pair.server}", flush=True)
        ref_argv = netns.python_argv(
            pair.server,
            "bench.fidelity.server",
            "--host",
            "0.0.0.0",
            "--port",
            str(reference.SERVER_PORT),
        )
        ref_server, ref_info = _server(ref_argv)
        lo_server, lo_info = _server([sys.executable, "-m", "bench.fidelity.server"])
        try:
            with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
                root_cc = f.read().strip()
            results["congestion_control"] = {
                "reference_server": ref_info["cc"],
                "reference_client": netns.read_sysctl(
                    pair.client, "net/ipv4/tcp_congestion_control"
                ),
                "shaper_server": lo_info["cc"],
                "shaper_client": root_cc,
            }
            if not a.no_selftest:
                print("-- forwarder self-test ...", flush=True)
                results["selftest"] = selftest.measure(pair, a.quick)
                for line in selftest.summary(results["selftest"]):
                    print(f"   {line}", flush=True)
            results["cases"] = []
            for case in chosen:
                print(f"-- {case.name}: {case.describe_path()}, {case.workload.describe()}")
                try:
                    results["cases"].append(
                        run_case(
                            case, pair, lo_info["port"], a.runs, a.shaper_arg, a.reference_only
                        )
                    )
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    traceback.print_exc()
                    results["cases"].append(
                        {"name": case.name, "path": case.describe_path(), "error": str(exc)}
                    )
        finally:
            common.stop(lo_server)
            common.stop(ref_server)
    return results


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    try:
        chosen = cases.select(a.case, a.quick)
    except ValueError as exc:
        print(f"fidelity: {exc}", file=sys.stderr)
        return 2
    found = preflight.problems()
    if found:
        for problem in found:
            print(f"fidelity: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        results = measure(a, chosen)
    except KeyboardInterrupt:
        print("fidelity: interrupted; namespaces and children removed", file=sys.stderr)
        return 130
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    text = report.table(results)
    print()
    print(text)
    print(f"({results['seconds']:.0f} s)")
    if not a.no_write:
        (HERE / f"{a.out}.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / f"{a.out}.md").write_text(text)
    return 0
