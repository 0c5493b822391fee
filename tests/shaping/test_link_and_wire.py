"""The link clock, the delay line and jitter, on a fake clock in microseconds."""

from __future__ import annotations

from shaper.shaping.delay import DelayLine
from shaper.shaping.jitter import Jitter
from shaper.shaping.link import LinkClock

MS = 1000
S = 1_000_000


def test_link_paces_at_rate():
    link = LinkClock(rate=8_000_000)  # 1 MB/s
    first = link.send(link.start_time(0), 1000)
    second = link.send(first, 1000)
    assert first == 1 * MS
    assert second == 2 * MS


def test_link_burst_lets_an_idle_link_run_ahead_by_burst_bytes():
    link = LinkClock(rate=8_000_000, burst=10_000)
    link.send(link.start_time(0), 1000)
    # After a long idle, a 10 kB burst departs no later than "now".
    now = 10 * S
    done = link.send(link.start_time(now), 10_000)
    assert done == now
    later = link.send(link.start_time(now), 1000)
    assert later == now + 1 * MS


def test_delay_line_never_reorders_under_negative_jitter():
    line = DelayLine(latency=10 * MS)
    first = line.push(0, memoryview(b"a"), extra=+5 * MS)
    second = line.push(1, memoryview(b"b"), extra=-5 * MS)
    assert second >= first


def test_delay_line_latency_change_retimes_bytes_in_flight():
    line = DelayLine(latency=500 * MS)
    line.push(0, memoryview(b"x"))
    line.set_latency(10 * MS)
    assert line.next_at == 10 * MS


def test_jitter_distributions_stay_in_range():
    uniform = Jitter(5 * MS, "uniform", seed=1)
    normal = Jitter(5 * MS, "normal", seed=1)
    samples_u = [uniform.sample() for _ in range(2000)]
    samples_n = [normal.sample() for _ in range(2000)]
    assert all(-5 * MS <= s <= 5 * MS for s in samples_u)
    assert all(-15 * MS <= s <= 15 * MS for s in samples_n)
    # Normal samples cluster: most within one sigma.
    assert sum(abs(s) <= 5 * MS for s in samples_n) > 1200
