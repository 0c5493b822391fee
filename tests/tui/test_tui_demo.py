"""`shaper demo` in a real terminal (a pty at 80x24): it shows traffic, quits on `q`
(or SIGTERM), and leaves no process behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_until(fd: int, predicate, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if predicate(ANSI.sub(b"", seen)):
                return seen
    return seen


@pytest.mark.parametrize("how", ["q", "sigterm"])
def test_demo_shows_traffic_and_quits_cleanly(how):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="80", LINES="24")
    process = subprocess.Popen(
        [sys.executable, "-m", "shaper", "demo"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    os.close(slave)
    children: set[int] = set()
    try:

        def traffic(text: bytes) -> bool:
            return bool(
                re.search(rb"conn [1-9]", text)
                and re.search(rb"FLOWING|BACKPRESSURED|BLOCKED", text)
                and re.search(rb"out +[1-9][0-9.]* (kbit|Mbit)/s", text)
            )

        screen = read_until(master, traffic, timeout=45)
        assert traffic(ANSI.sub(b"", screen)), ANSI.sub(b"", screen)[-3000:]
        children = children_of(process.pid)
        assert len(children) >= 2  # the engine and the demo's server/clients
        if how == "q":
            os.write(master, b"q")
        else:
            process.send_signal(signal.SIGTERM)
        read_until(master, lambda _text: process.poll() is not None, timeout=20)
        assert process.wait(timeout=20) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)], "processes left behind"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        os.close(master)
