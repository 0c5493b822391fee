"""The shaper side of a case: the same server and curl on 127.0.0.1, with `shaper serve`
between them, its limits set from the case's path."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench import common
from bench.fidelity import workloads
from bench.fidelity.cases import Case
from bench.fidelity.link import Shape

# One row per limit: the flag's stem and how a direction's shape spells its value. A new
# limit (link sharing, TCP emulation, loss) is a new row here plus, if it varies per
# case, a field on Shape or Case; nothing else changes.
LIMITS: list[tuple[str, Callable[[Shape], str]]] = [
    ("rate", lambda s: f"{s.rate_bps}bit"),
    ("latency", lambda s: f"{round(s.delay_s * 1_000_000)}us"),
    ("buffer", lambda s: str(s.queue_bytes)),
]


def shaper_flags(case: Case, extra: Sequence[str] = ()) -> list[str]:
    """The one mapping from a case to `shaper serve` flags. `extra` (from --shaper-arg)
    comes last, so it can add limits or override these."""
    flags: list[str] = []
    for direction, shape in (("up", case.up), ("down", case.down)):
        for stem, spell in LIMITS:
            flags += [f"--{direction}-{stem}", spell(shape)]
    return [*flags, *extra]


def run(case: Case, server_port: int, extra: Sequence[str] = ()) -> dict:
    """One run: a fresh engine (no state carried from the run before), the workload, stop."""
    flags = shaper_flags(case, extra)
    with common.engine(server_port, *flags) as eng:
        result = workloads.run([], f"http://{common.HOST}:{eng.port}", case.workload)
    result["flags"] = flags
    return result
