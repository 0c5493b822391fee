"""The generated JSON encoders write what json.dumps(to_dict()) writes."""

from __future__ import annotations

import json

import pytest

from shaper.control.encoding import TextMemo, encoder, snapshot_json
from shaper.model.snapshots import ConnectionStats, DirectionStats, EngineStats, KernelStats


def direction(name: str) -> DirectionStats:
    return DirectionStats(name, "flowing", 10, 8, 1.5, 0.25, 2, 4096, 0, 0, 0, None, 87380, None)


@pytest.mark.parametrize(
    "faults", [(), ("slow-close",), ('a "quoted" name', "ünïcode\n", "x" * 300)]
)
def test_a_connection_with_its_fault_names_encodes_as_json_does(faults: tuple[str, ...]):
    conn = ConnectionStats(
        id=7,
        route="127.0.0.1:1 -> 127.0.0.1:2",
        client="127.0.0.1:50000",
        server="127.0.0.1:2",
        age=1.25,
        state="open",
        upstream=direction("upstream"),
        downstream=direction("downstream"),
        client_kernel=KernelStats(0, 0, 87380, 16384, 50, 10),
        server_kernel=KernelStats(),
        faults=faults,
        route_name="main",
    )
    text = encoder(ConnectionStats)(conn)
    assert json.loads(text) == json.loads(json.dumps(conn.to_dict()))
    assert json.loads(text)["faults"] == list(faults)


def connection(
    conn_id: int, up: DirectionStats, down: DirectionStats, age: float = 1.0, state: str = "open"
) -> ConnectionStats:
    return ConnectionStats(
        conn_id,
        "127.0.0.1:1 -> 127.0.0.1:2",
        "127.0.0.1:50000",
        "127.0.0.1:2",
        age,
        state,
        up,
        down,
        KernelStats(0, 0, 87380, 16384, 50, 10),
        KernelStats(),
    )


def engine_stats(conns: tuple[ConnectionStats, ...]) -> EngineStats:
    return EngineStats(
        time=1.0,
        uptime=1.0,
        connections_open=len(conns),
        connections_total=len(conns),
        resets=0,
        errors=0,
        upstream=direction("upstream"),
        downstream=direction("downstream"),
        connections=conns,
    )


def test_a_memo_writes_the_same_text_whether_parts_are_kept_new_or_changed():
    memo = TextMemo()
    kept_up, kept_down = direction("upstream"), direction("downstream")
    rounds = []
    for n in range(6):
        # Connection 1 keeps its parts (a resting one) as its age moves on, and its state
        # changes once; 2 gets new equal parts; 3 new different ones; the number of
        # connections changes, so records and parts come and go.
        changed = DirectionStats("upstream", "flowing", n, n, 0.0, 0.0, 0, 4096, 0, 0, 0, 0, 1, 1)
        conns = [
            connection(1, kept_up, kept_down, age=0.5 * n, state="closing" if n == 4 else "open"),
            connection(2, direction("upstream"), direction("downstream")),
            connection(3, changed, kept_down),
        ][: 1 + n % 3]
        rounds.append(engine_stats(tuple(conns)))
    for stats in rounds:
        expected = json.loads(json.dumps(stats.to_dict()))
        assert json.loads(snapshot_json(stats, memo)) == expected
        assert json.loads(snapshot_json(stats, memo)) == expected  # all from the memo now
