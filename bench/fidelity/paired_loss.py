"""Common random numbers for the loss cases: the reference loses the same packets of the
byte stream as the engine does in the run with the same seed.

Why: with each side drawing its own random stream, the two sides of a lossy case are two
samples of a wide distribution. Measured here on LTE 3 MB at 0.5 %, the reference alone
took 2.9 to 9.2 s over six seeds: where the first loss falls (early in slow start, or
late with a large window) sets how far CUBIC gets. A median of three seeds per side then
compares luck, not emulation. Losing the same packets on both sides turns each seed into
a paired comparison: what differs between the two runs is how the loss is repaired (the
kernel's TCP against the engine's emulated sender), which is what the bench measures.

What is paired, per connection and direction, in the engine's order: the SYN (upstream) or
SYN-ACK (downstream), then every packet of new data, the stream cut every MSS bytes, a
packet counted in the segment in which it starts (the engine cuts its slices the same
way). The draws come from the engine's own loss model with the engine's seed for that
stream, so the randomness (the input of the comparison) is shared, never the recovery (its
output). Not paired: retransmissions, pure ACKs, FIN and RST, which the engine models
with streams of its own or not at all; they draw from the reference's own stream.

Connections are numbered in the order their SYNs reach the path, as the engine numbers
them in the order it accepts them (a fresh engine per run, so the first is 1)."""

from __future__ import annotations

import struct

from bench.fidelity.link import Dropper
from shaper.shaping.loss import LossModel

MSS = 1448  # the reference path's MTU 1500, IPv4, TCP with timestamps
TCP = 6
SYN, RST = 0x02, 0x04
ENGINE_DIRECTION = {"up": "upstream", "down": "downstream"}


class Connections:
    """Connection ids, shared by both directions of the path for one run."""

    def __init__(self) -> None:
        self._ids: dict[frozenset, int] = {}

    def id_of(self, a: tuple[bytes, int], b: tuple[bytes, int]) -> int:
        key = frozenset((a, b))
        if key not in self._ids:
            self._ids[key] = len(self._ids) + 1
        return self._ids[key]


class _Flow:
    __slots__ = ("model", "isn", "highest")

    def __init__(self, model: LossModel, isn: int):
        self.model = model
        self.isn = isn
        self.highest = 0  # stream offset past the last byte sent so far


class PairedLoss:
    """`lost(packet)` for one direction of the reference path, as Link's loss model."""

    def __init__(
        self,
        loss: float,
        burst: float,
        run_seed: int,
        direction: str,
        connections: Connections,
        own: Dropper,
    ):
        self.loss = loss
        self.burst = burst
        self.run_seed = run_seed
        self.direction = ENGINE_DIRECTION[direction]
        self.connections = connections
        self.own = own
        self.flows: dict[tuple[bytes, int, bytes, int], _Flow] = {}
        self.paired = 0  # packets whose fate was drawn from the engine's stream

    def lost(self, packet: bytes) -> bool:
        parsed = _tcp(packet)
        if parsed is None:
            return self.own.lost()
        src, sport, dst, dport, seq, flags, payload = parsed
        key = (src, sport, dst, dport)
        if flags & SYN:
            flow = self.flows.get(key)
            if flow is None or flow.isn != seq:
                conn = self.connections.id_of((src, sport), (dst, dport))
                seed = f"{self.run_seed}/{conn}/{self.direction}/loss"
                flow = self.flows[key] = _Flow(LossModel(self.loss, self.burst, seed), seq)
            self.paired += 1
            return bool(flow.model.draw(1))  # a resent SYN draws again, as in the engine
        flow = self.flows.get(key)
        if flow is None or not payload or flags & RST:
            return self.own.lost()
        start = (seq - flow.isn - 1) % (1 << 32)
        end = start + payload
        if end <= flow.highest:
            return self.own.lost()  # a retransmission
        start = max(start, flow.highest)
        flow.highest = end
        first = -(-start // MSS)
        count = -(-end // MSS) - first
        if count <= 0:
            return False  # new bytes, but no packet starts in them
        self.paired += 1
        return bool(flow.model.draw(count))


def _tcp(packet: bytes) -> tuple[bytes, int, bytes, int, int, int, int] | None:
    """(src, sport, dst, dport, seq, flags, payload length) of an IPv4 TCP packet."""
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != TCP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    sport, dport, seq = struct.unpack_from("!HHI", packet, ihl)
    offset = (packet[ihl + 12] >> 4) * 4
    flags = packet[ihl + 13]
    return packet[12:16], sport, packet[16:20], dport, seq, flags, total - ihl - offset
