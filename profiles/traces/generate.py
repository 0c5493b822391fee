"""Write the capacity traces shipped in this folder (Mahimahi's format: one integer
millisecond timestamp per line, each one chance to deliver a 1500-byte packet; the file
loops after its last line). They are synthetic, made here from seeded random numbers, so
running this again writes the same files byte for byte:

    uv run python profiles/traces/generate.py

How each one is made:

- cellular-drive-down / cellular-drive-up (60 s): a car on a cellular network. The
  capacity drifts as a random walk on a log scale (a new step every 250 ms, pulled back
  towards the mean), around 7 Mbit/s down and 2 Mbit/s up, kept within 0.5-25 Mbit/s
  down (0.15-6 up). Into it go fades: five seconds-long ones (a cutting, an overpass,
  the edge of a cell; capacity falls to 3-15 % for 1-4 s) and two handovers (nothing at
  all for 150-400 ms). Both directions share the fades (the same radio), not the drift.
  With the fades the means are 6.0 and 1.9 Mbit/s. Within a millisecond, packets come
  as a cell scheduler grants them: a Poisson number of packets at the millisecond's
  capacity.
- wifi-congested (30 s, the same file for both directions suits a half-duplex medium):
  a busy Wi-Fi channel shared with other stations. The medium is ours in bursts of
  1-5 ms (aggregated frames: 2-5 packets per millisecond) separated by waits of 6-60 ms
  while others transmit, heavy-tailed (Pareto, shape 1.5); every few seconds a
  neighbour's bulk transfer makes the waits twice as long for 2-5 s. Mean about
  6 Mbit/s, with gaps of tens of milliseconds that a rate limit never has.

Nothing here comes from a third-party trace.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKET_BITS = 1500 * 8


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are a few packets)."""
    if mean <= 0:
        return 0
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def drift(
    rng: random.Random, seconds: int, mean_bps: float, low: float, high: float
) -> list[float]:
    """Capacity per millisecond: a mean-reverting random walk on a log scale, 250 ms steps."""
    rates: list[float] = []
    level = math.log(mean_bps)
    target = math.log(mean_bps)
    for _ in range(seconds * 4):
        level += 0.25 * (target - level) + rng.gauss(0.0, 0.35)
        level = min(max(level, math.log(low)), math.log(high))
        step = math.exp(level)
        rates.extend([step] * 250)
    return rates


def fades(rng: random.Random, seconds: int) -> list[tuple[int, int, float]]:
    """(start ms, length ms, capacity factor): five fades and two handovers."""
    events = []
    for _ in range(5):
        length = rng.randint(1000, 4000)
        start = rng.randint(2000, seconds * 1000 - length - 1000)
        events.append((start, length, rng.uniform(0.03, 0.15)))
    for _ in range(2):
        length = rng.randint(150, 400)
        start = rng.randint(1000, seconds * 1000 - length - 1000)
        events.append((start, length, 0.0))
    return events


def opportunities(rng: random.Random, rates: list[float]) -> list[int]:
    times: list[int] = []
    for ms, rate in enumerate(rates, start=1):
        times.extend([ms] * poisson(rng, rate / 1000 / PACKET_BITS))
    if not times or times[-1] != len(rates):
        times.append(len(rates))  # the period is the trace's length, whatever the last draw
    return times


def cellular(seconds: int = 60, seed: int = 20261202) -> tuple[list[int], list[int]]:
    shared = random.Random(seed)
    events = fades(shared, seconds)
    result = []
    for mean, low, high, offset in ((7e6, 0.5e6, 25e6, 1), (2e6, 0.15e6, 6e6, 2)):
        rng = random.Random(seed + offset)
        rates = drift(rng, seconds, mean, low, high)
        for start, length, factor in events:
            for ms in range(start, start + length):
                rates[ms] *= factor
        result.append(opportunities(rng, rates))
    return result[0], result[1]


def wifi(seconds: int = 30, seed: int = 20261203) -> list[int]:
    rng = random.Random(seed)
    total = seconds * 1000
    busy: list[tuple[int, int]] = []  # (start, end) of neighbours' bulk transfers
    at = rng.randint(1000, 4000)
    while at < total:
        length = rng.randint(2000, 5000)
        busy.append((at, at + length))
        at += length + rng.randint(3000, 8000)
    times: list[int] = []
    ms = 1
    while ms <= total:
        for _ in range(rng.randint(1, 5)):  # our turn on the medium
            if ms > total:
                break
            times.extend([ms] * rng.randint(2, 5))
            ms += 1
        wait = min(60.0, 6.0 * rng.paretovariate(1.5))
        if any(start <= ms < end for start, end in busy):
            wait *= 2
        ms += int(wait)
    if times[-1] != total:
        times.append(total)
    return times


def write(name: str, times: list[int]) -> None:
    (HERE / f"{name}.trace").write_text("".join(f"{t}\n" for t in times), encoding="ascii")
    mean = len(times) * PACKET_BITS / (times[-1] / 1000)
    span = f"{len(times)} opportunities over {times[-1]} ms"
    print(f"{name}.trace: {span}, mean {mean / 1e6:.2f} Mbit/s")


def main() -> None:
    down, up = cellular()
    write("cellular-drive-down", down)
    write("cellular-drive-up", up)
    write("wifi-congested", wifi())


if __name__ == "__main__":
    main()
