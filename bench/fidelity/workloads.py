"""The workloads, run with curl (HTTP/1.1, a new process and so a fresh connection per
run, bodies to /dev/null). `prefix` runs curl somewhere else (the client namespace)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from bench import common
from bench.fidelity.cases import Workload

CURL = "/usr/bin/curl"
FIELDS = ("connect", "ttfb", "total", "size", "connects", "code", "cc")
WRITE_OUT = (
    "%{time_connect} %{time_starttransfer} %{time_total} %{size_download} "
    "%{num_connects} %{http_code} %header{x-tcp-cc}\n"
)
BASE = [CURL, "--silent", "--show-error", "--http1.1", "--noproxy", "*", "--max-time", "60"]


def _run(argv: list[str], timeout: float = 70.0) -> str:
    proc = common.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        common.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"curl failed ({proc.returncode}): {err.strip()[-500:]}")
    return out


def _transfers(out: str, size: int) -> list[dict]:
    rows = []
    for line in out.splitlines():
        values = line.split()
        if len(values) < 6:
            continue
        row = dict(zip(FIELDS, values, strict=False))
        for key in ("connect", "ttfb", "total"):
            row[key] = float(row[key])
        row["connects"] = int(row["connects"])
        if row["code"] != "200" or int(row["size"]) != size:
            raise RuntimeError(f"unexpected transfer: {line}")
        rows.append(row)
    return rows


def get(prefix: list[str], base: str, w: Workload) -> dict:
    argv = [*prefix, *BASE, "-o", "/dev/null", "-w", WRITE_OUT, f"{base}/{w.size}"]
    if w.max_time_s != 60:
        argv[argv.index("--max-time") + 1] = f"{w.max_time_s:g}"
    (t,) = _transfers(_run(argv, timeout=w.max_time_s + 10), w.size)
    return {"connect": t["connect"], "ttfb": t["ttfb"], "total": t["total"], "cc": t["cc"]}


def parallel(prefix: list[str], base: str, w: Workload) -> dict:
    """All transfers start together (--parallel-immediate: no waiting to see whether one
    connection could be multiplexed); each is timed from that common start, so the last
    one's time_total is the time until all are done."""
    argv = [*prefix, *BASE, "--parallel", "--parallel-immediate"]
    argv += ["--parallel-max", str(w.count), "-w", WRITE_OUT]
    for i in range(w.count):
        argv += ["-o", "/dev/null", f"{base}/{w.size}?n={i}"]
    start = time.monotonic()
    rows = _transfers(_run(argv), w.size)
    wall = time.monotonic() - start
    connects = sum(r["connects"] for r in rows)
    if len(rows) != w.count or connects != w.count:
        raise RuntimeError(f"expected {w.count} transfers on as many connections: {rows}")
    return {
        "connect": max(r["connect"] for r in rows),
        "ttfb": max(r["ttfb"] for r in rows),  # the last first byte
        "total": max(r["total"] for r in rows),
        "first_total": min(r["total"] for r in rows),
        "connections": connects,
        "curl_wall": wall,
        "cc": ",".join(sorted({r["cc"] for r in rows})),
    }


def behind_bulk(
    prefix: list[str], base: str, w: Workload, probe: Callable[[], dict] | None = None
) -> dict:
    """A bulk download on one connection, then (bulk_wait_s after it started) a timed GET
    on a new one. `probe` (the reference's forwarder) is asked what is queued then."""
    argv = [*prefix, *BASE, "-o", "/dev/null", f"{base}/{w.bulk_size}"]
    bulk = common.spawn(argv, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        time.sleep(max(0.0, start + w.bulk_wait_s - time.monotonic()))
        queued = probe() if probe else None
        if bulk.poll() is not None:
            raise RuntimeError(f"the bulk download ended early: {bulk.stderr.read()[-500:]}")
        result = get(prefix, base, Workload("get", w.size))
        if bulk.poll() is not None:
            raise RuntimeError("the bulk download ended before the timed GET did")
    finally:
        common.stop(bulk)
        if bulk.stderr is not None:
            bulk.stderr.close()
    if queued is not None:
        result["queued_at_start"] = queued
    return result


def run(prefix: list[str], base: str, w: Workload, probe: Callable[[], dict] | None = None):
    if w.kind == "get":
        return get(prefix, base, w)
    if w.kind == "parallel":
        return parallel(prefix, base, w)
    if w.kind == "behind_bulk":
        return behind_bulk(prefix, base, w, probe)
    raise ValueError(f"unknown workload {w.kind}")
