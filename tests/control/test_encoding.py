"""The generated JSON encoders write what json.dumps(to_dict()) writes."""

from __future__ import annotations

import json

import pytest

from shaper.control.encoding import encoder
from shaper.model.snapshots import ConnectionStats, DirectionStats, KernelStats


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
