"""The packet-level path: one process owning a TUN device in each namespace, moving every
IP packet through a `Link` per direction (queue, rate clock, delay) to the other device.

Run as `python -m bench.fidelity.forwarder ...` (root). It prints one JSON line when the
devices are up, then answers line commands on stdin: `stats` (one JSON line), `reset
[SEED]` (zero the counters; with a seed, also reseed the loss model and start the traces
again from their first line: a new run), `quit`. EOF on stdin also ends it. `Forwarder`
is the bench's side.

Timing: one select() whose timeout is the next delivery deadline (absolute, recomputed
every turn; select takes microseconds, where poll/epoll would round to milliseconds).
Every write records its lateness against the scheduled delivery, so the report can say
how far the real schedule strayed from the model."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from bench import common
from bench.fidelity.link import Dropper, Link, Shape
from bench.fidelity.paired_loss import Connections, PairedLoss
from bench.fidelity.tun import open_tun

CLIENT_ADDR = "10.213.0.1"  # private, and only inside the namespaces this bench made
SERVER_ADDR = "10.213.0.2"
MAX_LATENESS_SAMPLES = 200_000
PR_SET_TIMERSLACK = 29
# A wake-up from a long sleep came late here (this VM's idle CPUs): measured lateness
# p50 0.06 ms after 1 ms idle, 0.13 ms after 10 ms, 0.24 ms (p99 1-2 ms) after 50 ms.
# So a sleep longer than LONG_SLEEP ends EARLY before its deadline and polls the rest.
# Busy links never sleep that long, so this costs at most EARLY of CPU per idle gap.
LONG_SLEEP = 0.002
EARLY = 0.0004


def _drain(fd: int, link: Link) -> None:
    """Read every packet waiting on `fd` into `link`, each stamped as it is read."""
    while True:
        try:
            packet = os.read(fd, 65536)
        except BlockingIOError:
            return
        link.arrive(time.monotonic(), packet)


def _direction_seed(seed: int, direction: str) -> int:
    """Each direction its own random stream, both fixed by the run's seed."""
    return seed * 2 + (1 if direction == "down" else 0)


def _pct(values: list[float], q: float) -> float:
    return common.percentile(values, q) * 1000 if values else 0.0


class Loop:
    def __init__(self, client_fd: int, server_fd: int, up: Shape, down: Shape, seed: int = 0):
        self.fds = {"up": (client_fd, server_fd), "down": (server_fd, client_fd)}
        now = time.monotonic()
        self.links = {
            "up": Link(up, seed=_direction_seed(seed, "up"), start=now),
            "down": Link(down, seed=_direction_seed(seed, "down"), start=now),
        }
        self.late: dict[str, list[float]] = {"up": [], "down": []}
        self.write_errors = {"up": 0, "down": 0}

    def reset(self, seed: int | None = None) -> None:
        now = time.monotonic()
        connections = Connections()  # one numbering for both directions of this run
        for name, link in self.links.items():
            if seed is not None:
                own = _direction_seed(seed, name)
                shape = link.shape
                paired = PairedLoss(
                    shape.loss,
                    shape.loss_burst,
                    seed,
                    name,
                    connections,
                    Dropper(shape.loss, shape.loss_burst, own),
                )
                link.restart(own, now, paired)
            link.counters = type(link.counters)()
            self.late[name].clear()
            self.write_errors[name] = 0

    def stats(self) -> dict:
        now = time.monotonic()
        out: dict = {"now": now}
        for name, link in self.links.items():
            late = self.late[name]
            out[name] = {
                **asdict(link.counters),
                "queued_bytes": link.queued_bytes(now),
                "in_flight": link.in_flight(),
                "paired": link.paired_packets,
                "write_errors": self.write_errors[name],
                "late_ms_p50": _pct(late, 50),
                "late_ms_p99": _pct(late, 99),
                "late_ms_max": max(late) * 1000 if late else 0.0,
            }
        return out

    def deliver(self) -> None:
        now = time.monotonic()
        for name, link in self.links.items():
            out_fd = self.fds[name][1]
            late = self.late[name]
            for deliver_at, packet in link.due(now):
                try:
                    os.write(out_fd, packet)
                except OSError as exc:  # e.g. the device went down: count, keep going
                    if exc.errno not in (errno.EAGAIN, errno.EIO, errno.EINVAL):
                        raise
                    self.write_errors[name] += 1
                    continue
                if len(late) < MAX_LATENESS_SAMPLES:
                    late.append(time.monotonic() - deliver_at)

    def run(self, control) -> None:
        readers = [self.fds["up"][0], self.fds["down"][0], control]
        ctl_buf = b""
        spin_until = 0.0
        while True:
            self.deliver()
            nexts = [lk.next_delivery() for lk in self.links.values()]
            nexts = [t for t in nexts if t is not None]
            now = time.monotonic()
            timeout = max(0.0, min(nexts) - now) if nexts else None
            if timeout is not None:
                if now < spin_until:
                    timeout = 0.0
                elif timeout > LONG_SLEEP:
                    spin_until = now + timeout
                    timeout -= EARLY
            ready, _, _ = select.select(readers, [], [], timeout)
            for name in ("up", "down"):
                if self.fds[name][0] in ready:
                    _drain(self.fds[name][0], self.links[name])
            if control in ready:
                chunk = os.read(control, 4096)
                if not chunk:
                    return
                ctl_buf += chunk
                while b"\n" in ctl_buf:
                    line, ctl_buf = ctl_buf.split(b"\n", 1)
                    command = line.strip().decode()
                    if command == "quit":
                        return
                    word, _, arg = command.partition(" ")
                    if word == "reset":
                        self.reset(int(arg) if arg.strip() else None)
                    reply = self.stats() if word in ("stats", "reset") else {"error": command}
                    sys.stdout.write(json.dumps(reply) + "\n")
                    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.fidelity.forwarder")
    p.add_argument("--client-ns", required=True)
    p.add_argument("--server-ns", required=True)
    p.add_argument("--tag", required=True, help="device name stem (≤ 12 characters)")
    for d in ("up", "down"):
        p.add_argument(f"--{d}-rate", type=int, required=True, help="bits/s")
        p.add_argument(f"--{d}-delay", type=float, required=True, help="seconds, one way")
        p.add_argument(f"--{d}-queue", type=int, required=True, help="bytes")
        p.add_argument(f"--{d}-loss", type=float, default=0.0, help="probability per packet")
        p.add_argument(f"--{d}-loss-burst", type=float, default=1.0, help="mean lost run")
        p.add_argument(f"--{d}-trace", default=None, help="a Mahimahi trace (replaces the rate)")
    p.add_argument("--seed", type=int, default=0, help="of the loss model (reset SEED resets)")
    a = p.parse_args(argv)
    # select() sleeps are stretched by the timer slack (50 us by default); 1 ns keeps the
    # wake-up near the deadline at no CPU cost.
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    up = Shape(a.up_rate, a.up_delay, a.up_queue, a.up_loss, a.up_loss_burst, a.up_trace)
    down = Shape(
        a.down_rate, a.down_delay, a.down_queue, a.down_loss, a.down_loss_burst, a.down_trace
    )
    client_dev, server_dev = f"{a.tag}c", f"{a.tag}s"
    client_fd = open_tun(a.client_ns, client_dev, CLIENT_ADDR, SERVER_ADDR)
    server_fd = open_tun(a.server_ns, server_dev, SERVER_ADDR, CLIENT_ADDR)
    loop = Loop(client_fd, server_fd, up, down, a.seed)
    ready = {"client_dev": client_dev, "server_dev": server_dev, "pid": os.getpid()}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        loop.run(sys.stdin.fileno())
    except KeyboardInterrupt:
        pass
    return 0


# -- the bench's side --------------------------------------------------------------------


@dataclass
class Forwarder:
    proc: subprocess.Popen
    client_dev: str
    server_dev: str

    def command(self, word: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        if not select.select([self.proc.stdout], [], [], 5.0)[0]:
            raise RuntimeError("the forwarder did not answer within 5 s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the forwarder exited")
        return json.loads(line)

    def stats(self) -> dict:
        return self.command("stats")

    def reset(self, seed: int | None = None) -> dict:
        return self.command("reset" if seed is None else f"reset {seed}")

    def wait_idle(self, timeout: float = 15.0) -> dict:
        """Until nothing is queued or on the wire in either direction."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s["up"]["in_flight"] == 0 and s["down"]["in_flight"] == 0:
                return s
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulated path did not drain in {timeout:.0f} s")
            time.sleep(0.05)


@contextlib.contextmanager
def forwarder(client_ns: str, server_ns: str, up: Shape, down: Shape):
    tag = f"shf{os.getpid() % 10**7}"
    argv = [sys.executable, "-m", "bench.fidelity.forwarder", "--client-ns", client_ns]
    argv += ["--server-ns", server_ns, "--tag", tag]
    for name, shape in (("up", up), ("down", down)):
        argv += [f"--{name}-rate", str(shape.rate_bps), f"--{name}-delay", repr(shape.delay_s)]
        argv += [f"--{name}-queue", str(shape.queue_bytes)]
        if shape.loss:
            argv += [f"--{name}-loss", repr(shape.loss), f"--{name}-loss-burst"]
            argv += [repr(shape.loss_burst)]
        if shape.trace:
            argv += [f"--{name}-trace", shape.trace]
    proc = common.spawn(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        if not select.select([proc.stdout], [], [], 10.0)[0]:
            raise RuntimeError("the forwarder did not start within 10 s")
        line = proc.stdout.readline()
        if not line:
            proc.wait(5)
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the forwarder failed: {err.strip()[-1500:]}")
        info = json.loads(line)
        yield Forwarder(proc, info["client_dev"], info["server_dev"])
    finally:
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2.0)
        common.stop(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


if __name__ == "__main__":
    raise SystemExit(main())
