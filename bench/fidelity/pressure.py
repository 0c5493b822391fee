"""Linux's TCP memory pressure: a run of either side must not start under it.

When the TCP memory of the whole machine (every socket's buffers, /proc/net/sockstat
`mem`, in pages) goes above tcp_mem[1], Linux enters memory pressure and leaves it only
below tcp_mem[0]. Under it, a receiver stops growing its window and clamps it to four
segments (tcp_adjust_rcv_ssthresh). Seen here: with another program holding 4,000 busy
loopback sockets (1.7 GB of TCP memory, above the 1.5 GB threshold of this 24 GB VM), the
reference's curl advertised 6 KB for most of an LTE 3 MB download at 0.5 % loss, which
then took 22-36 s instead of 3-9 s: a reference run measuring the neighbour, not the
path. So each run waits for the machine to be calm first and says what it found."""

from __future__ import annotations

import threading
import time

WAIT_S = 120.0  # how long a run waits for other work to release its sockets
POLL_S = 0.5


def tcp_pages() -> int:
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1])
    raise RuntimeError("/proc/net/sockstat has no TCP line")


def thresholds() -> tuple[int, int, int]:
    with open("/proc/sys/net/ipv4/tcp_mem") as f:
        low, pressure, high = (int(v) for v in f.read().split())
    return low, pressure, high


def wait_calm(timeout: float = WAIT_S) -> dict:
    """Wait until the machine's TCP memory is below tcp_mem[0]; what was seen."""
    low = thresholds()[0]
    start = time.monotonic()
    pages = tcp_pages()
    while pages >= low and time.monotonic() - start < timeout:
        time.sleep(POLL_S)
        pages = tcp_pages()
    return {
        "tcp_mem_pages": pages,
        "tcp_mem_low": low,
        "waited_s": round(time.monotonic() - start, 1),
        "calm": pages < low,
    }


class Watch:
    """The highest TCP memory seen while a run goes on (sampled every POLL_S / 2 in a
    thread): pressure that comes and goes within a run is caught too."""

    def __init__(self) -> None:
        self.peak = tcp_pages()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S / 2):
            self.peak = max(self.peak, tcp_pages())

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tcp_pages())


def after_run(before: dict, watch: Watch) -> dict:
    """`before` with the peak seen during the run; calm only if it stayed below tcp_mem[0]."""
    calm = before["calm"] and watch.peak < before["tcp_mem_low"]
    return {**before, "tcp_mem_pages_peak": watch.peak, "calm": calm}
