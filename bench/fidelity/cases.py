"""The cases: a path (per-direction rate, one-way delay, queue in bytes) and a workload.
From the path issue; sizes in KB are 1000 bytes, queues in KiB/MiB."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from bench.fidelity.link import TRACE_PACKET, Shape, read_trace

TRACES = Path(__file__).resolve().parents[2] / "profiles" / "traces"

KiB = 1024
MiB = 1024 * 1024


@dataclass(frozen=True)
class Workload:
    kind: str  # "get" | "parallel" | "behind_bulk"
    size: int  # bytes of each timed GET
    count: int = 1  # "parallel": GETs on as many connections, started together
    bulk_size: int = 0  # "behind_bulk": the download that fills the queue first
    bulk_wait_s: float = 0.0  # ... and how long it runs before the timed GET starts
    max_time_s: float = 60.0  # curl's --max-time (a 3 MB GET at 3 % loss on 3g: ~1 min)

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
    group: str = "path"  # path: the path issue's cases; loss: loss, bursts and traces

    def describe_path(self) -> str:
        if self.down.trace or self.up.trace:
            rates = (
                f"traces {Path(self.down.trace or '-').stem}/{Path(self.up.trace or '-').stem} "
                f"(means {self.down.rate_bps / 1e6:.2f}/{self.up.rate_bps / 1e6:.2f} Mbit/s)"
            )
        else:
            rates = f"{self.down.rate_bps / 1e6:g}/{self.up.rate_bps / 1e6:g} Mbit/s"
        text = (
            f"{rates}, {self.down.delay_s * 1000:g}/{self.up.delay_s * 1000:g} ms, "
            f"queues {human_bin(self.down.queue_bytes)}/{human_bin(self.up.queue_bytes)}"
        )
        if self.down.loss or self.up.loss:
            text += f", loss {self.down.loss * 100:g}/{self.up.loss * 100:g} %"
            if self.down.loss_burst != 1 or self.up.loss_burst != 1:
                text += f" in bursts of {self.down.loss_burst:g}/{self.up.loss_burst:g}"
        return text


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
# LTE-like (the lte preset): 12 Mbit/s and 35 ms each way. Queue 256 KiB each way, the
# preset's: about 175 ms at the link rate, 2.5 times the path's 70 ms RTT, so a lossless
# CUBIC flow fills the link and the queue's own drops stay rare next to random loss.
LTE = _path(12_000_000, 12_000_000, 0.035, 256 * KiB, 256 * KiB)


def _lossy(shapes: tuple[Shape, Shape], loss: float, burst: float = 1.0):
    """The same path with `loss` (a probability) in both directions."""
    return tuple(dataclasses.replace(s, loss=loss, loss_burst=burst) for s in shapes)


def _traced(name_down: str, name_up: str, delay_s: float, down_q: int, up_q: int):
    """A path whose links replay traces; each shape's rate is its trace's mean (shown)."""
    shapes = []
    for name, queue in ((name_down, down_q), (name_up, up_q)):
        path = TRACES / f"{name}.trace"
        times = read_trace(str(path))
        mean = round(len(times) * TRACE_PACKET * 8 * 1000 / times[-1])
        shapes.append(Shape(mean, delay_s, queue, trace=str(path)))
    return shapes[0], shapes[1]


def _get(path: str, shapes: tuple[Shape, Shape], size: int, quick: bool = False) -> Case:
    return Case(f"{path} {human(size)}", path, *shapes, Workload("get", size), quick)


def _loss_get(path: str, shapes, size: int, loss: float, burst: float = 1.0, quick=False):
    name = f"{path} {human(size)} {loss * 100:g}% loss"
    if burst != 1:
        name += f" bursts {burst:g}"
    lossy = _lossy(shapes, loss, burst)
    # Loss caps CUBIC near MSS / RTT × 1.22 / sqrt(loss): 3 MB over 3g at 3 % is ~90 s.
    work = Workload("get", size, max_time_s=300.0 if size >= 1_000_000 else 60.0)
    return Case(name, path, *lossy, work, quick, group="loss")


def _loss_cases() -> list[Case]:
    out = [
        Case("lte 100 KB", "lte", *LTE, Workload("get", 100_000), group="loss"),
        Case("lte 3 MB", "lte", *LTE, Workload("get", 3_000_000), group="loss"),
    ]
    for path, shapes in (("lte", LTE), ("3g", G3)):
        for size in (100_000, 3_000_000):
            for loss in (0.005, 0.01, 0.03):
                quick = path == "lte" and size == 3_000_000 and loss == 0.01
                out.append(_loss_get(path, shapes, size, loss, quick=quick))
    out.append(_loss_get("lte", LTE, 3_000_000, 0.01, burst=3.0))
    drive = _traced("cellular-drive-down", "cellular-drive-up", 0.035, 256 * KiB, 128 * KiB)
    out.append(
        Case(
            "cellular-drive 3 MB (trace)",
            "cellular-drive",
            *drive,
            Workload("get", 3_000_000),
            group="loss",
        )
    )
    return out


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
    *_loss_cases(),
]


def select(names: list[str] | None, quick: bool) -> list[Case]:
    if names:
        chosen = [c for c in CASES if c.name in names or c.path in names or c.group in names]
        known = {c.name for c in CASES} | {c.path for c in CASES} | {c.group for c in CASES}
        unknown = set(names) - known
        if unknown:
            raise ValueError(f"unknown case(s) {sorted(unknown)}; known: {[c.name for c in CASES]}")
        return chosen
    return [c for c in CASES if c.quick] if quick else list(CASES)
