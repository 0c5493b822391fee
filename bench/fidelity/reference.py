"""The reference side of a case: curl in the client namespace, the server in the server
namespace, every packet through the forwarder (real kernel TCP end to end)."""

from __future__ import annotations

import time

from bench.fidelity import netns, workloads
from bench.fidelity.cases import Case
from bench.fidelity.forwarder import SERVER_ADDR, Forwarder

SERVER_PORT = 8080  # inside the server namespace, where nothing else listens
SETTLE_S = 0.2  # after the path drains: the last FIN/ACKs are through, timers quiet


def _path_counters(st: dict) -> dict:
    return {
        d: {
            k: st[d][k]
            for k in ("dropped", "lost", "paired", "delivered", "max_queued_bytes", "late_ms_p99")
        }
        for d in ("up", "down")
    }


def run(case: Case, fw: Forwarder, pair: netns.Pair, seed: int | None = None) -> dict:
    """One run on an idle path; drops and the deepest queue are counted for this run only
    (until the path is idle again, so the teardown of the run's connections is in).
    `seed`: the loss model's for this run; the traces also start again from their first
    line, as they do in a fresh engine on the shaper side."""
    fw.wait_idle()
    time.sleep(SETTLE_S)
    fw.wait_idle()
    fw.reset(seed)

    def probe() -> dict:
        st = fw.stats()
        return {"down_bytes": st["down"]["queued_bytes"], "up_bytes": st["up"]["queued_bytes"]}

    base = f"http://{SERVER_ADDR}:{SERVER_PORT}"
    prefix = netns.exec_argv(pair.client, [])
    result = workloads.run(prefix, base, case.workload, probe)
    result["path"] = _path_counters(fw.wait_idle(timeout=30.0))
    return result
