"""The cases: a path (per-direction rate, one-way delay, queue in bytes) and a workload.
From the path issue; sizes in KB are 1000 bytes, queues in KiB/MiB."""

from __future__ import annotations

from dataclasses import dataclass

from bench.fidelity.link import Shape

KiB = 1024
MiB = 1024 * 1024


@dataclass(frozen=True)
class Workload:
    kind: str  # "get" | "parallel" | "behind_bulk"
    size: int  # bytes of each timed GET
    count: int = 1  # "parallel": GETs on as many connections, started together
    bulk_size: int = 0  # "behind_bulk": the download that fills the queue first
    bulk_wait_s: float = 0.0  # ... and how long it runs before the timed GET starts

    def describe(self) -> str:
        size = human(self.size)
        if self.kind == "parallel":
            return f"{self.count} × GET {size} in parallel"
        if self.kind == "behind_bulk":
            return f"GET {size} {self.bulk_wait_s:g} s into a bulk download"
        return f"GET {size}"


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # the profile's name
    down: Shape  # server to client
    up: Shape  # client to server
    workload: Workload
    quick: bool = False  # in the --quick subset

    def describe_path(self) -> str:
        return (
            f"{self.down.rate_bps / 1e6:g}/{self.up.rate_bps / 1e6:g} Mbit/s, "
            f"{self.down.delay_s * 1000:g}/{self.up.delay_s * 1000:g} ms, "
            f"queues {human_bin(self.down.queue_bytes)}/{human_bin(self.up.queue_bytes)}"
        )


def human(n: int) -> str:
    for unit, size in (("MB", 1_000_000), ("KB", 1000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def human_bin(n: int) -> str:
    for unit, size in (("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def _path(down_bps: int, up_bps: int, delay_s: float, down_q: int, up_q: int):
    return Shape(down_bps, delay_s, down_q), Shape(up_bps, delay_s, up_q)


G3 = _path(1_600_000, 768_000, 0.150, 256 * KiB, 128 * KiB)
G4 = _path(9_000_000, 9_000_000, 0.085, 256 * KiB, 256 * KiB)
GEO = _path(19_700_000, 2_400_000, 0.362, 256 * KiB, 256 * KiB)
DEEP = _path(8_000_000, 1_000_000, 0.010, 2 * MiB, 2 * MiB)


def _get(path: str, shapes: tuple[Shape, Shape], size: int, quick: bool = False) -> Case:
    return Case(f"{path} {human(size)}", path, *shapes, Workload("get", size), quick)


CASES: list[Case] = [
    _get("3g", G3, 10_000, quick=True),
    _get("3g", G3, 100_000),
    _get("3g", G3, 1_000_000),
    Case("3g 6×100 KB", "3g", *G3, Workload("parallel", 100_000, count=6), quick=True),
    _get("4g", G4, 30_000),
    _get("4g", G4, 300_000, quick=True),
    _get("4g", G4, 3_000_000),
    _get("satellite-geo", GEO, 30_000),
    _get("satellite-geo", GEO, 300_000),
    _get("satellite-geo", GEO, 3_000_000),
    # 8 Mbit/s fills 2 MiB in ~2.1 s once the sender outruns the link, hence 2.5 s; the
    # bulk download is far longer than the case and is stopped after the timed GET.
    Case(
        "bulk + small 10 KB",
        "bulk+small",
        *DEEP,
        Workload("behind_bulk", 10_000, bulk_size=200_000_000, bulk_wait_s=2.5),
        quick=True,
    ),
]


def select(names: list[str] | None, quick: bool) -> list[Case]:
    if names:
        chosen = [c for c in CASES if c.name in names or c.path in names]
        unknown = set(names) - {c.name for c in CASES} - {c.path for c in CASES}
        if unknown:
            raise ValueError(f"unknown case(s) {sorted(unknown)}; known: {[c.name for c in CASES]}")
        return chosen
    return [c for c in CASES if c.quick] if quick else list(CASES)
