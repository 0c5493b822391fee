"""Toxiproxy's toxics in shaper's own terms, with no I/O.

latency and bandwidth become the route's limits: Toxiproxy delays each connection's
chunks and paces each connection on its own, which is shaper's per-connection link with
the emulated TCP sender turned off. Every other toxic is a fault of the same name's kind,
targeted at the proxy's route and the toxic's stream.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable

from shaper.control.toxiproxy.shapes import Toxic, ToxiproxyError
from shaper.faults import FaultSpec
from shaper.model.limits import DIRECTIONS, DirectionLimits, LimitError, Limits

LIMIT_TYPES = ("latency", "bandwidth")
MS = 1000  # µs
KB_PER_S = 8 * 1000  # bit/s: Toxiproxy's rate is bytes per millisecond

# A toxiproxy proxy with no toxics is a plain relay: its own link per connection (no
# shared bottleneck between connections) and no emulated handshake or window.
PLAIN = DirectionLimits(link="per-connection", tcp="off")
BASE = Limits(upstream=PLAIN, downstream=PLAIN)
# Behind a latency with no rate, the bytes on the wire count against the bound (nothing
# else bounds them), so the bound caps a connection at bound / latency: 4 MiB keeps that at
# 40 MiB/s for 100 ms while memory stays bounded (Toxiproxy's latency toxic holds up to
# 1024 reads of 32 KiB per connection).
LATENCY_BUFFER = 4 * 1024**2


def is_limit(toxic: Toxic) -> bool:
    return toxic.type in LIMIT_TYPES


def limits_for(toxics: Iterable[Toxic], chosen: Callable[[Toxic], bool]) -> Limits:
    """The limits of a connection touched by the latency and bandwidth toxics `chosen`
    picks. As in Toxiproxy's chain, latencies (and jitters) add up and the slowest rate
    wins; a rate of 0 stalls the stream (Toxiproxy spins sending nothing)."""
    latency = dict.fromkeys(DIRECTIONS, 0)
    jitter = dict.fromkeys(DIRECTIONS, 0)
    rate: dict[str, int | None] = dict.fromkeys(DIRECTIONS, None)
    stall = dict.fromkeys(DIRECTIONS, False)
    for toxic in toxics:
        if not is_limit(toxic) or not chosen(toxic):
            continue
        d = toxic.direction
        if toxic.type == "latency":
            latency[d] += toxic.attribute("latency") * MS
            jitter[d] += toxic.attribute("jitter") * MS
        else:
            value = toxic.attribute("rate") * KB_PER_S
            if value == 0:
                stall[d] = True
            current = rate[d]
            rate[d] = value if current is None else min(current, value)
    directions = {}
    for d in DIRECTIONS:
        limits = dataclasses.replace(
            PLAIN,
            latency=latency[d],
            jitter=jitter[d],
            rate=rate[d] or 0,
            stall=stall[d],
            buffer=LATENCY_BUFFER if latency[d] or jitter[d] else PLAIN.buffer,
        )
        try:
            limits.check(d)
        except LimitError as exc:
            raise ToxiproxyError(400, f"attributes: {exc} (the {d} toxics add up to it)") from None
        directions[d] = limits
    return Limits(**directions)


def at_full(toxic: Toxic) -> bool:
    """Toxics every connection gets: those the route's limits carry."""
    return toxic.toxicity >= 1.0


def chosen_for(seed: int, proxy: str, toxic: Toxic, conn_id: int) -> bool:
    """Whether a toxic with a toxicity between 0 and 1 touches a connection: drawn once,
    from the engine's seed, the proxy, the toxic and the connection, so a seed replays."""
    if toxic.toxicity <= 0.0:
        return False
    if toxic.toxicity >= 1.0:
        return True
    return random.Random(f"{seed}/{proxy}/{toxic.name}/{conn_id}").random() < toxic.toxicity


def fault_for(toxic: Toxic, route: str, fault_name: str) -> FaultSpec:
    """The fault a timeout, reset_peer, limit_data, slicer or slow_close toxic is."""
    attr = toxic.attribute
    direction = toxic.direction
    if toxic.type == "timeout":
        settings: dict[str, int] = {"after": attr("timeout") * MS}
    elif toxic.type == "reset_peer":
        # shaper resets both legs at once; the first byte either way starts the clock.
        direction = "both"
        settings = {"after": attr("timeout") * MS}
    elif toxic.type == "limit_data":
        settings = {"bytes": attr("bytes")}
    elif toxic.type == "slicer":
        # Toxiproxy loops forever on an average of 0 and on variations past the average;
        # here a piece is always at least one byte.
        average = max(1, attr("average_size"))
        settings = {
            "average_size": average,
            "size_variation": min(attr("size_variation"), average - 1),
            "delay": attr("delay"),  # already µs
        }
    elif toxic.type == "slow_close":
        settings = {"delay": attr("delay") * MS}
    else:
        raise ValueError(f"{toxic.type} is carried by limits, not a fault")
    return FaultSpec(
        name=fault_name,
        type=toxic.type,
        direction=direction,
        toxicity=toxic.toxicity,
        route=route,
        settings=settings,
    )
