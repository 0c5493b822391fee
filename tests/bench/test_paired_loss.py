"""The reference path's paired loss: for a given seed it loses the packets of the stream the
engine's loss model loses, whatever else crosses the path (ACKs, retransmissions)."""

from __future__ import annotations

import struct

import pytest

from bench.fidelity.link import Dropper
from bench.fidelity.paired_loss import MSS, Connections, PairedLoss
from shaper.shaping.loss import LossModel

CLIENT, SERVER = bytes([10, 213, 0, 1]), bytes([10, 213, 0, 2])
SYN, ACK = 0x02, 0x10
ISN = 4_000_000_000  # near the top: offsets must wrap around 2**32


def packet(src: bytes, dst: bytes, seq: int, flags: int, payload: int = 0) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 32 + payload, 0, 0, 64, 6, 0, src, dst)
    sport, dport = (40000, 8080) if src == CLIENT else (8080, 40000)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, 0, 8 << 4, flags, 0, 0, 0)
    return ip + tcp + bytes(12) + bytes(payload)


def engine_losses(loss: float, burst: float, seed: int, direction: str, packets: int) -> set:
    """What the engine's model loses on that stream: the handshake packet, then packets."""
    model = LossModel(loss, burst, f"{seed}/1/{direction}/loss")
    handshake = bool(model.draw(1))
    return {("handshake", handshake), *(("data", i) for i in model.draw(packets))}


@pytest.mark.parametrize("burst", [1.0, 3.0])
def test_the_downstream_loses_the_packets_the_engine_loses(burst: float) -> None:
    loss, seed, count = 0.03, 7, 4000
    down = PairedLoss(loss, burst, seed, "down", Connections(), Dropper(loss, burst, 99))
    seen = {("handshake", down.lost(packet(SERVER, CLIENT, ISN, SYN | ACK)))}
    for i in range(count):
        if down.lost(packet(SERVER, CLIENT, ISN + 1 + i * MSS, ACK, MSS)):
            seen.add(("data", i))
        if i % 50 == 10:  # a retransmission and a pure ACK in between draw elsewhere
            down.lost(packet(SERVER, CLIENT, ISN + 1 + (i - 5) * MSS, ACK, MSS))
            down.lost(packet(SERVER, CLIENT, ISN + 1 + i * MSS, ACK))
    expected = engine_losses(loss, burst, seed, "downstream", count)
    assert seen == expected
    assert 60 < sum(1 for kind, _ in seen if kind == "data") < 180  # about 3 % of 4000


def test_segments_that_are_not_whole_packets_count_where_packets_start() -> None:
    """The engine cuts the stream every MSS bytes; a segment carries the packets that start
    in it (a short one may carry none, a coalesced one two)."""
    loss, seed = 0.2, 3
    down = PairedLoss(loss, 1.0, seed, "down", Connections(), Dropper(loss, 1.0, 1))
    down.lost(packet(SERVER, CLIENT, ISN, SYN | ACK))
    sizes = [500, 948, 2 * MSS, 100, MSS - 100, MSS] * 50
    model = LossModel(loss, 1.0, f"{seed}/1/downstream/loss")
    model.draw(1)
    offset = 0
    for size in sizes:
        first, end = -(-offset // MSS), -(-(offset + size) // MSS)
        expected = bool(model.draw(end - first)) if end > first else False
        assert down.lost(packet(SERVER, CLIENT, ISN + 1 + offset, ACK, size)) == expected
        offset += size


def test_connections_are_numbered_in_the_order_they_open() -> None:
    connections = Connections()
    up = PairedLoss(0.5, 1.0, 5, "up", connections, Dropper(0.5, 1.0, 1))
    firsts = []
    for port in (40001, 40002):
        syn = bytearray(packet(CLIENT, SERVER, 1000, SYN))
        struct.pack_into("!H", syn, 20, port)
        firsts.append(up.lost(bytes(syn)))
    expected = [bool(LossModel(0.5, 1.0, f"5/{n}/upstream/loss").draw(1)) for n in (1, 2)]
    assert firsts == expected
    assert up.paired == 2
