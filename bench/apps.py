"""`uv run python -m bench apps [--rounds N] [--old REV] [--quick] [--no-write]`

Request/response rates of real applications on connections that are already open, through
shaper: redis-benchmark against a redis-server of its own (5 ms each way), pgbench -S against a
PostgreSQL cluster of its own (the 3g profile). Each is measured through this checkout's engine,
through the same engine with `--tcp off`, and through an older revision of the engine (checked
out into a temporary git worktree with its own environment), in interleaved rounds; writes
bench/apps_results.json and bench/apps_results.md. Not part of the full run: it needs
redis-server, redis-benchmark and PostgreSQL (initdb, postgres, pgbench) installed."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import common
from bench.common import HOST, ROOT, median

HERE = Path(__file__).resolve().parent
DESCRIPTION = (
    "Request/response rates of redis and PostgreSQL on open connections through shaper: "
    "this checkout's engine, the same with --tcp off, and an older revision, interleaved."
)
OLD_REVISION = "a816c1a"  # the engine before the shared bottleneck and the emulated sender
TARGET = 0.95  # the issue: rates on open connections within 5 % of the old engine's

REDIS_LATENCY_MS = 5.0  # each way
REDIS_TESTS = "ping,set,get"  # PING_INLINE, PING_MBULK, SET, GET
PG_PROFILE = "3g"
PG_CLIENTS = (1, 4)


@dataclass(frozen=True)
class Variant:
    name: str
    root: Path | None  # None: this checkout
    flags: tuple[str, ...] = ()


@dataclass
class Tools:
    redis_server: str
    redis_benchmark: str
    pgbench: str
    pg_bin: Path  # initdb, postgres, pg_isready
    problems: list[str] = field(default_factory=list)


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and postgres (or $PG_BIN)."""
    candidates = [Path(os.environ["PG_BIN"])] if os.environ.get("PG_BIN") else []
    versions = Path("/usr/lib/postgresql")
    if versions.is_dir():
        numbered = [p for p in versions.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(numbered, key=lambda p: -int(p.name))]
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "postgres").is_file():
            return cand
    return None


def find_tools() -> Tools:
    problems = []
    found: dict[str, str] = {}
    for name, package in (
        ("redis-server", "apt-get install -y redis-server"),
        ("redis-benchmark", "apt-get install -y redis-tools"),
        ("pgbench", "apt-get install -y postgresql-client"),
        ("git", "apt-get install -y git"),
        ("uv", "pip install uv"),
    ):
        path = shutil.which(name)
        if path is None:
            problems.append(f"{name} not found ({package})")
        found[name] = path or ""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        problems.append(
            "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin "
            "(apt-get install -y postgresql, or set PG_BIN)"
        )
    return Tools(
        found["redis-server"],
        found["redis-benchmark"],
        found["pgbench"],
        pg_bin or Path(),
        problems,
    )


# -- children -------------------------------------------------------------------------------


def run_client(argv: list[str], timeout: float, **kwargs) -> str:
    """Run a load generator to the end (a child `common.stop` ends however this exits)."""
    proc = common.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        common.stop(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {proc.returncode}: {err.strip()[-800:]}")
    return out


def git(*args: str, cwd: Path = ROOT) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


@contextlib.contextmanager
def old_checkout(revision: str) -> Iterator[Path]:
    """`revision` in a temporary detached worktree with its own `uv sync --frozen` environment;
    the worktree is removed however this ends."""
    tmp = Path(tempfile.mkdtemp(prefix="shaper-old-"))
    path = tmp / "shaper"
    try:
        git("worktree", "add", "--detach", "--quiet", str(path), revision)
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        sync = subprocess.run(
            ["uv", "sync", "--frozen", "--quiet"],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
        )
        if sync.returncode != 0:
            raise RuntimeError(f"uv sync in the {revision} worktree: {sync.stderr.strip()}")
        yield path
    finally:
        with contextlib.suppress(RuntimeError):
            git("worktree", "remove", "--force", str(path))
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(RuntimeError):
            git("worktree", "prune")


@contextlib.contextmanager
def redis_server(tools: Tools) -> Iterator[int]:
    port = common.free_port()
    with tempfile.TemporaryDirectory(prefix="shaper-apps-redis-") as d:
        argv = [
            tools.redis_server,
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            d,
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        with common.child(argv):
            common.wait_listening(port)
            yield port


def _unprivileged() -> dict:
    """Popen arguments that run a child as nobody when the bench is root (postgres refuses
    root), with a directory it owns."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("nobody")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres(tools: Tools) -> Iterator[int]:
    """A throwaway cluster on 127.0.0.1 (TCP only, trust auth, user postgres) with the
    pgbench tables at scale 1; its directory and processes go however this ends."""
    tmp = Path(tempfile.mkdtemp(prefix="shaper-apps-pg-"))
    who = _unprivileged()
    try:
        if who:
            os.chown(tmp, who["user"], who["group"])
        data = tmp / "data"
        run_client(
            [
                str(tools.pg_bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            timeout=120,
            cwd=tmp,
            **who,
        )
        port = common.free_port()
        log = open(tmp / "postgres.log", "w")  # noqa: SIM115 (closed below)
        if who:
            os.fchown(log.fileno(), who["user"], who["group"])
        argv = [
            str(tools.pg_bin / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=20",
            "-c",
            "shared_buffers=32MB",
        ]
        proc = common.spawn(argv, cwd=tmp, stderr=log, **who)
        try:
            deadline = time.monotonic() + 30
            isready = [str(tools.pg_bin / "pg_isready"), "-q", "-h", HOST, "-p", str(port)]
            while subprocess.run(isready, cwd=tmp).returncode != 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "postgres did not start: " + (tmp / "postgres.log").read_text()[-1500:]
                    )
                time.sleep(0.1)
            run_client(
                [
                    tools.pgbench,
                    "-i",
                    "-q",
                    "-h",
                    HOST,
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "postgres",
                ],
                timeout=300,
            )
            yield port
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # fast shutdown
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
            common.stop(proc)
            log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the workloads ------------------------------------------------------------------------------


def redis_bench(tools: Tools, port: int, *, requests: int) -> dict[str, dict]:
    """One client, no pipelining: {test: {rps, avg_ms, p50_ms}}."""
    out = run_client(
        [
            tools.redis_benchmark,
            "-h",
            HOST,
            "-p",
            str(port),
            "-t",
            REDIS_TESTS,
            "-n",
            str(requests),
            "-c",
            "1",
            "--csv",
        ],
        timeout=60 + requests * 4 / 20,
    )
    tests = {}
    for row in csv.DictReader(io.StringIO(out)):
        tests[row["test"]] = {
            "rps": float(row["rps"]),
            "avg_ms": float(row["avg_latency_ms"]),
            "p50_ms": float(row["p50_latency_ms"]),
        }
    if not tests:
        raise RuntimeError(f"redis-benchmark printed no results: {out[-500:]!r}")
    return tests


def pg_bench(tools: Tools, port: int, *, clients: int, seconds: int) -> dict:
    """pgbench -S (one SELECT per transaction), connections opened before the clock starts."""
    out = run_client(
        [
            tools.pgbench,
            "-h",
            HOST,
            "-p",
            str(port),
            "-U",
            "postgres",
            "-n",
            "-S",
            "-c",
            str(clients),
            "-j",
            "1",
            "-T",
            str(seconds),
            "postgres",
        ],
        timeout=seconds + 120,
    )

    def grab(pattern: str) -> float:
        m = re.search(pattern, out)
        if m is None:
            raise RuntimeError(f"pgbench output without {pattern!r}: {out[-800:]!r}")
        return float(m.group(1))

    return {
        "tps": grab(r"tps = ([\d.]+) \(without initial connection time\)"),
        "latency_ms": grab(r"latency average = ([\d.]+) ms"),
        "transactions": int(grab(r"number of transactions actually processed: (\d+)")),
        "connect_ms": grab(r"initial connection time = ([\d.]+) ms"),
    }


def profile_rtt_ms(name: str) -> float:
    """The round trip a profile's base limits make (upstream + downstream latency)."""
    from shaper.profiles import load_profile

    limits = load_profile(name).limits
    return (limits.upstream.latency + limits.downstream.latency) / 1000


# -- the rounds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    upstream: int  # the server's port
    flags: tuple[str, ...]  # the path, for every variant
    work: Callable[[int], dict]  # a port -> the load generator's figures
    direct: Callable[[int], dict]  # the same, shorter where that is enough, without shaper


def through(variant: Variant, w: Workload) -> dict:
    """The workload through a fresh engine of `variant`; the engine's CPU seconds beside it."""
    with common.engine(w.upstream, *w.flags, *variant.flags, root=variant.root) as e:
        cpu0 = common.cpu_seconds(e.pid)
        result = w.work(e.port)
        return {"result": result, "engine_cpu_s": round(common.cpu_seconds(e.pid) - cpu0, 3)}


def rotate(items: list, by: int) -> list:
    by %= len(items)
    return items[by:] + items[:by]


def measure(a: argparse.Namespace, tools: Tools) -> dict:
    requests = 100 if a.quick else a.requests
    seconds = 5 if a.quick else a.seconds
    rtt_pg = profile_rtt_ms(PG_PROFILE)
    rtt_redis = 2 * REDIS_LATENCY_MS
    results: dict = {
        "machine": common.machine(),
        "quick": a.quick,
        "rounds": a.rounds,
        "old_revision": git("rev-parse", "--short", a.old),
        "redis": {
            "latency_each_way_ms": REDIS_LATENCY_MS,
            "requests_per_test": requests,
            "bound_per_s": 1000 / rtt_redis,
            "server": version_of(tools.redis_server),
        },
        "pgbench": {
            "profile": PG_PROFILE,
            "rtt_ms": rtt_pg,
            "seconds": seconds,
            "clients": list(PG_CLIENTS),
            "bound_per_client_per_s": 1000 / rtt_pg,
            "server": version_of(str(tools.pg_bin / "postgres")),
        },
        "runs": [],
    }
    with (
        old_checkout(a.old) as old_root,
        redis_server(tools) as redis_port,
        postgres(tools) as pg_port,
    ):
        variants = [
            Variant("old", old_root),
            Variant("new", None),
            Variant("new --tcp off", None, ("--tcp", "off")),
        ]
        results["variants"] = [v.name for v in variants]
        redis = partial(redis_bench, tools, requests=requests)
        # direct, a request takes tens of µs and redis-benchmark times whole milliseconds
        redis_direct = partial(redis_bench, tools, requests=20_000)
        workloads = [
            Workload(
                "redis", redis_port, ("--latency", f"{REDIS_LATENCY_MS:g}ms"), redis, redis_direct
            )
        ]
        workloads += [
            Workload(
                f"pgbench -c {c}",
                pg_port,
                ("--profile", PG_PROFILE),
                partial(pg_bench, tools, clients=c, seconds=seconds),
                partial(pg_bench, tools, clients=c, seconds=2),
            )
            for c in PG_CLIENTS
        ]
        for r in range(a.rounds):
            for w in workloads:
                # the server without shaper: what it adds to a round trip
                results["runs"].append(
                    {
                        "round": r,
                        "workload": w.name,
                        "variant": "direct",
                        "result": w.direct(w.upstream),
                        "engine_cpu_s": None,
                    }
                )
                for v in rotate(variants, r):
                    run = through(v, w)
                    results["runs"].append(
                        {"round": r, "workload": w.name, "variant": v.name, **run}
                    )
                    print(
                        f"   round {r + 1} {w.name:12} {v.name:14} {brief(w.name, run)}", flush=True
                    )
    results["measures"] = summarize(results)
    results["besides"] = besides(results)
    return results


def version_of(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"


def brief(workload: str, run: dict) -> str:
    res = run["result"]
    if workload == "redis":
        text = ", ".join(f"{t} {v['rps']:.1f}/s" for t, v in res.items())
    else:
        text = (
            f"{res['tps']:.3f} tps ({res['transactions']} transactions, connecting took "
            f"{res['connect_ms']:.0f} ms)"
        )
    return f"{text}; engine CPU {run['engine_cpu_s']:.2f} s"


def summarize(results: dict) -> list[dict]:
    """One entry per measure: per-variant runs, medians, ratios to the old engine and to the
    latency bound."""
    names = ["direct", *results["variants"]]
    measures: dict[str, dict] = {}
    for run in results["runs"]:
        res = run["result"]
        if run["workload"] == "redis":
            items = [
                (f"redis-benchmark {t}", v["rps"], results["redis"]["bound_per_s"])
                for t, v in res.items()
            ]
        else:
            clients = int(run["workload"].rsplit(" ", 1)[1])
            bound = clients * results["pgbench"]["bound_per_client_per_s"]
            items = [(f"pgbench -S -c {clients}", res["tps"], bound)]
        for label, value, bound in items:
            m = measures.setdefault(
                label,
                {
                    "measure": label,
                    "bound": bound,
                    "runs": {n: [] for n in names},
                    "engine_cpu_s": {n: [] for n in names[1:]},
                },
            )
            m["runs"][run["variant"]].append(value)
            if run["engine_cpu_s"] is not None:
                m["engine_cpu_s"][run["variant"]].append(run["engine_cpu_s"])
    out = []
    for m in measures.values():
        m["median"] = {n: median(v) for n, v in m["runs"].items()}
        m["vs_bound"] = {n: v / m["bound"] for n, v in m["median"].items() if n != "direct"}
        old = m["median"]["old"]
        m["vs_old"] = {n: m["median"][n] / old for n in results["variants"] if n != "old"}
        m["met"] = m["vs_old"]["new"] >= TARGET
        out.append(m)
    return out


def besides(results: dict) -> list[dict]:
    """Per run, beside the rate: the engine's CPU per request or transaction, and pgbench's
    time to open its connections (before its clock starts) in round trips per connection."""
    rows: dict[str, dict] = {}

    def add(label: str, fmt: str, variant: str, value: float) -> None:
        row = rows.setdefault(label, {"label": label, "format": fmt, "runs": {}})
        row["runs"].setdefault(variant, []).append(value)

    tests = len(REDIS_TESTS.split(",")) + 1  # ping is two tests
    for run in results["runs"]:
        v, res, cpu = run["variant"], run["result"], run["engine_cpu_s"]
        if v == "direct":
            continue
        if run["workload"] == "redis":
            n = results["redis"]["requests_per_test"] * tests
            add("engine CPU per redis request", "{:.0f} µs", v, cpu / n * 1e6)
        else:
            w = run["workload"].replace("pgbench", "pgbench -S")
            clients = int(w.rsplit(" ", 1)[1])
            add(f"engine CPU per transaction, {w}", "{:.0f} µs", v, cpu / res["transactions"] * 1e6)
            add(
                f"{w}: initial connection time per connection ÷ RTT",
                "{:.2f}",
                v,
                res["connect_ms"] / clients / results["pgbench"]["rtt_ms"],
            )
    for row in rows.values():
        row["median"] = {n: median(vals) for n, vals in row["runs"].items()}
    return list(rows.values())


def table(results: dict) -> str:
    m = results["machine"]
    rd, pg = results["redis"], results["pgbench"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; "
        f"{m['date']}; revision {m['revision']} against {results['old_revision']}; load average "
        f"(1 min) at start / end {m['loadavg_at_start']:.2f} / {m['loadavg_at_end']:.2f}"
        + (" (BENCH_QUICK: smoke run, not the benchmark)" if results["quick"] else ""),
        "",
        f"redis ({rd['server']}): redis-benchmark -t {REDIS_TESTS} -n {rd['requests_per_test']} "
        f"-c 1 through `shaper serve --latency {rd['latency_each_way_ms']:g}ms` (RTT "
        f"{2 * rd['latency_each_way_ms']:g} ms: bound {rd['bound_per_s']:.1f} requests/s). "
        f"PostgreSQL ({pg['server']}): pgbench -S -T {pg['seconds']} (scale 1, connections "
        f"opened before the clock) through `shaper serve --profile {pg['profile']}` (RTT "
        f"{pg['rtt_ms']:g} ms: bound {pg['bound_per_client_per_s']:.2f} tps per client). "
        f"Medians of {results['rounds']} interleaved rounds, a fresh engine for each run; "
        "(×bound) is the median ÷ the latency bound.",
        "",
        "| measure | latency bound | direct (no shaper) | old | new | new --tcp off | new ÷ old "
        "| new --tcp off ÷ old | new ≥ 0.95 × old |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for x in results["measures"]:
        med, vb = x["median"], x["vs_bound"]

        def cell(name: str, med=med, vb=vb) -> str:
            return f"{med[name]:.2f} ({vb[name]:.3f}×)"

        lines.append(
            f"| {x['measure']} | {x['bound']:.2f}/s | {med['direct']:.0f} | {cell('old')} "
            f"| {cell('new')} | {cell('new --tcp off')} | {x['vs_old']['new']:.3f}× "
            f"| {x['vs_old']['new --tcp off']:.3f}× | {'yes' if x['met'] else '**no**'} |"
        )
    lines += [
        "",
        "| besides the rate (medians) | " + " | ".join(results["variants"]) + " |",
        "|---|" + "---|" * len(results["variants"]),
    ]
    for row in results["besides"]:
        cells = " | ".join(row["format"].format(row["median"][n]) for n in results["variants"])
        lines.append(f"| {row['label']} | {cells} |")
    return "\n".join(lines) + "\n"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench apps", description=DESCRIPTION)
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument(
        "--old",
        default=OLD_REVISION,
        help=f"the revision to compare against (default {OLD_REVISION})",
    )
    p.add_argument(
        "--requests",
        type=int,
        default=400,
        help="redis-benchmark -n, per test (default 400: about 17 s a run)",
    )
    p.add_argument("--seconds", type=int, default=15, help="pgbench -T (default 15)")
    p.add_argument("--quick", action="store_true", help="1 short round (also BENCH_QUICK=1)")
    p.add_argument("--no-write", action="store_true", help="print only; keep the results files")
    a = p.parse_args(argv)
    a.quick = a.quick or common.QUICK
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    tools = find_tools()
    try:
        git("rev-parse", "--verify", "--quiet", f"{a.old}^{{commit}}")
    except RuntimeError:
        tools.problems.append(f"{a.old!r} is not a commit of this repository")
    if tools.problems:
        for problem in tools.problems:
            print(f"apps: {problem}", file=sys.stderr)
        return 2
    common.raise_nofile()
    started = time.monotonic()
    try:
        results = measure(a, tools)
    except KeyboardInterrupt:
        print("apps: interrupted; servers, engines and the old worktree removed", file=sys.stderr)
        return 130
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    text = table(results)
    print()
    print(text)
    print(f"({results['seconds']:.0f} s)")
    if not a.no_write:
        (HERE / "apps_results.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "apps_results.md").write_text(text)
    return 0
