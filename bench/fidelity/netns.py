"""The two network namespaces of the reference path: created with unique names, removed
when the bench ends (normally, on an exception, on SIGINT/SIGTERM/SIGHUP), and entered
per thread with setns(2) so that sockets and TUN devices can be made inside them."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PREFIX = "shfid"
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

# Per namespace, before any device exists in it: IPv6 off, so that router solicitations
# and MLD reports do not travel the emulated link; and no TCP metrics cache, so that one
# run's ssthresh and RTT do not shape the next run's slow start (a fresh browser has none).
SYSCTLS = {
    "net/ipv6/conf/all/disable_ipv6": "1",
    "net/ipv6/conf/default/disable_ipv6": "1",
    "net/ipv4/tcp_no_metrics_save": "1",
}


@dataclass(frozen=True)
class Pair:
    client: str
    server: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Namespaces an earlier bench made and could not remove (it was SIGKILLed)."""
    removed = []
    if not NETNS_DIR.is_dir():
        return removed
    for entry in NETNS_DIR.iterdir():
        parts = entry.name.split("-")
        mine = len(parts) == 3 and parts[0] == PREFIX and parts[1].isdigit()
        if mine and not _alive(int(parts[1])):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", entry.name)
                removed.append(entry.name)
    return removed


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body with this thread in namespace `name`. Sockets and devices made inside
    stay in that namespace for their whole life, whatever the thread does afterwards."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:  # cannot continue in the wrong place
                os._exit(70)
    finally:
        os.close(target)
        os.close(home)


def read_sysctl(name: str, key: str) -> str:
    with entered(name), open(f"/proc/sys/{key}") as f:
        return f.read().strip()


def _configure(name: str) -> None:
    with entered(name):
        for key, value in SYSCTLS.items():
            path = Path("/proc/sys") / key
            if path.exists():
                path.write_text(value)
    _ip("-n", name, "link", "set", "lo", "up")


def _delete(pair: Pair) -> None:
    for name in (pair.client, pair.server):
        if (NETNS_DIR / name).exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", name)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that clean up


@contextlib.contextmanager
def namespaces() -> Iterator[Pair]:
    """A client and a server namespace, gone again when the block ends however it ends.
    (SIGINT raises KeyboardInterrupt, SIGTERM SystemExit through bench.common, SIGHUP is
    made to do the same; atexit is the net for anything that skips the finally, and a
    SIGKILLed bench's namespaces are removed by the next one, see remove_stale.)"""
    remove_stale()
    pid = os.getpid()
    pair = Pair(f"{PREFIX}-{pid}-c", f"{PREFIX}-{pid}-s")
    previous_hup = signal.signal(signal.SIGHUP, _raise_exit)
    # A shell starts background jobs with SIGINT ignored, and Python then leaves it so;
    # `kill -INT` must still clean up.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit.register(_delete, pair)
    try:
        for name in (pair.client, pair.server):
            _ip("netns", "add", name)
            _configure(name)
        yield pair
    finally:
        _delete(pair)
        atexit.unregister(_delete)
        signal.signal(signal.SIGHUP, previous_hup)
        signal.signal(signal.SIGINT, previous_int)


def exec_argv(name: str, argv: list[str]) -> list[str]:
    """argv run inside namespace `name` (ip netns exec execs in place: the pid is argv's)."""
    return ["ip", "netns", "exec", name, *argv]


def python_argv(name: str, module: str, *args: str) -> list[str]:
    return exec_argv(name, [sys.executable, "-m", module, *args])
