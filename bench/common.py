"""Process helpers shared by the measurements: children that are always cleaned up,
the engine as a child process, /proc readers, the machine description."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import json
import math
import os
import platform
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
HOST = "127.0.0.1"

_children: list[subprocess.Popen] = []


def raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit (1,000 connections need ~4,000 descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _child_setup() -> None:  # runs in the child between fork and exec
    raise_nofile()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the bench


def spawn(argv: Sequence[str], **kwargs) -> subprocess.Popen:
    """Start a child that `stop_all` (and exit) will end."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    kwargs.setdefault("stderr", subprocess.DEVNULL)
    kwargs.setdefault("cwd", ROOT)
    proc = subprocess.Popen(list(argv), preexec_fn=_child_setup, **kwargs)
    _children.append(proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    with contextlib.suppress(ValueError):
        _children.remove(proc)


def stop_all() -> None:
    for proc in list(_children):
        stop(proc, timeout=2.0)


atexit.register(stop_all)


def _exit_on_signal(signum: int, frame: object) -> None:
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _exit_on_signal)


@contextlib.contextmanager
def child(argv: Sequence[str], **kwargs) -> Iterator[subprocess.Popen]:
    proc = spawn(argv, **kwargs)
    try:
        yield proc
    finally:
        stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    """Is a TCP socket listening on `port`? Read from /proc, so no connection is made."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """For children without a readiness pipe (iperf3, socat)."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout}s")
        time.sleep(0.02)


# -- the engine as a child process ------------------------------------------------------


@dataclass
class EngineChild:
    proc: subprocess.Popen
    port: int  # the listen port clients connect to
    control: str | None  # control API URL, if started with one

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.contextmanager
def engine(
    upstream_port: int, *flags: str, control: bool = False, root: Path | None = None
) -> Iterator[EngineChild]:
    """`shaper serve` in its own process (never in the bench's: the GIL would skew both).

    `root`: another checkout with its own `.venv` (another revision of the engine), run from
    that directory; by default, this checkout's engine with the bench's interpreter."""
    read_fd, write_fd = os.pipe()
    python = sys.executable if root is None else str(root / ".venv" / "bin" / "python")
    argv = [
        python,
        "-m",
        "shaper",
        "serve",
        "--listen",
        f"{HOST}:0",
        "--upstream",
        f"{HOST}:{upstream_port}",
        "--ready-fd",
        str(write_fd),
        *flags,
    ]
    if control:
        argv += ["--control", f"{HOST}:0"]
    if os.environ.get("BENCH_PROFILE"):  # a directory: each engine writes a cProfile there
        out = Path(os.environ["BENCH_PROFILE"]) / f"engine-{time.time():.0f}-{upstream_port}.prof"
        argv[1:1] = ["-m", "cProfile", "-o", str(out)]
    try:
        proc = spawn(argv, pass_fds=(write_fd,), stderr=subprocess.PIPE, cwd=root or ROOT)
    finally:
        os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as ready:
            if not select.select([ready], [], [], 20.0)[0]:
                raise RuntimeError("the engine did not report ready within 20 s")
            line = ready.readline()
        if not line:
            proc.wait(5)
            raise RuntimeError(f"the engine exited: {proc.stderr.read().decode()[-2000:]}")
        info = json.loads(line)
        listen = info["listen"][0]
        port = int(listen[1]) if isinstance(listen, list) else int(listen.rsplit(":", 1)[1])
        yield EngineChild(proc, port, info.get("control"))
    finally:
        stop(proc)
        if proc.stderr is not None:
            proc.stderr.close()


# -- /proc ---------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "loadavg_at_start": os.getloadavg()[0],
        "revision": revision(),
        "bytecode": compile_bytecode(),
    }


def compile_bytecode() -> bool:
    """Compile shaper and its dependencies to bytecode before measuring, as an installed
    package has it (pip compiles at install; Python caches on first import). Where
    PYTHONDONTWRITEBYTECODE is set, every engine would compile from source instead, which
    costs start-up time and leaves ~3 MB more RSS in each (42.1 against 45.0 MB idle here)."""
    import compileall
    import sysconfig

    paths = [ROOT / "shaper", Path(sysconfig.get_paths()["purelib"])]
    return all(compileall.compile_dir(str(p), quiet=2, workers=1) for p in paths if p.is_dir())


def revision() -> str:
    """The commit measured, with '+changes' when shaper/ differs from it."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain", "--", "shaper") else ""
    )


# -- small statistics ------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in 0..100."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]
