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
# A spelling may return None: the limit is left out (loss on a lossless path, so an
# engine without loss limits still runs the lossless cases).
LIMITS: list[tuple[str, Callable[[Shape], str | None]]] = [
    ("rate", lambda s: f"trace:{s.trace}" if s.trace else f"{s.rate_bps}bit"),
    ("latency", lambda s: f"{round(s.delay_s * 1_000_000)}us"),
    ("buffer", lambda s: str(s.queue_bytes)),
    ("loss", lambda s: f"{s.loss:.6g}" if s.loss else None),
    ("loss-burst", lambda s: f"{s.loss_burst:g}" if s.loss and s.loss_burst != 1 else None),
]


def lossy(case: Case) -> bool:
    return bool(case.up.loss or case.down.loss)


def shaper_flags(case: Case, extra: Sequence[str] = (), seed: int | None = None) -> list[str]:
    """The one mapping from a case to `shaper serve` flags. `extra` (from --shaper-arg)
    comes last, so it can add limits or override these. `seed`: the run's, for the
    engine's loss (the reference reseeds its own loss model with it; the two random
    streams differ, which is why a lossy case takes the median over several seeds)."""
    flags: list[str] = []
    for direction, shape in (("up", case.up), ("down", case.down)):
        for stem, spell in LIMITS:
            value = spell(shape)
            if value is not None:
                flags += [f"--{direction}-{stem}", value]
    if seed is not None and lossy(case):
        flags += ["--seed", str(seed)]
    return [*flags, *extra]


def run(case: Case, server_port: int, extra: Sequence[str] = (), seed: int | None = None) -> dict:
    """One run: a fresh engine (no state carried from the run before), the workload, stop."""
    flags = shaper_flags(case, extra, seed)
    with common.engine(server_port, *flags) as eng:
        result = workloads.run([], f"http://{common.HOST}:{eng.port}", case.workload)
    result["flags"] = flags
    return result
