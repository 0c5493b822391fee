"""HyStart inside the window: delay and ack-train exits, grouped acks, on a fake path."""

from __future__ import annotations

import pytest
from path_sim import US, Bottleneck

from shaper.shaping.hystart import HyStart, ack_delay, delay_threshold
from shaper.shaping.window import SenderWindow

MS = 1000
MSS = 1448


def train_round(
    window: SenderWindow, start: float, rtt: float, per_event: int = 0, spacing: float = 0.0
) -> float:
    """The acks of the current flight return from `start`, `per_event` segments per
    event (0: all in one event), `spacing` apart, each carrying the RTT sample `rtt`;
    each is answered by sending what the window allows. Returns the next round's start."""
    flight = window.in_flight
    step = per_event * MSS if per_event else flight
    now = start
    while flight > 0:
        part = min(step, flight)
        flight -= part
        window.on_ack(now, part, rtt)
        window.on_send(now, window.room())
        now += spacing
    return start + rtt


def started(**kwargs) -> SenderWindow:
    window = SenderWindow(0, **kwargs)
    window.on_send(0, window.room())
    return window


def test_delay_threshold_is_an_eighth_of_min_rtt_within_4_to_16_ms():
    assert delay_threshold(10 * MS) == 4 * MS
    assert delay_threshold(80 * MS) == 10 * MS
    assert delay_threshold(400 * MS) == 16 * MS


def test_ack_delay_cushion_is_at_most_1ms():
    assert ack_delay(None) == 0
    assert ack_delay(12_500_000) == 1 * MS  # 100 Mbit/s: a 64 KB burst takes 21 ms
    assert ack_delay(1e10) == pytest.approx(26.2144)  # 80 Gbit/s


def test_flat_rtt_never_leaves_slow_start():
    window = started()
    now = 0.0
    for _ in range(10):
        now = train_round(window, now + 40 * MS, 40 * MS, per_event=4)
    assert window.ssthresh is None
    assert window.cwnd_segments == 10 * 2**10


@pytest.mark.parametrize(("per_event", "exit_cwnd"), [(1, 88), (4, 88), (0, 80)])
def test_rtt_rise_beyond_the_threshold_ends_slow_start(per_event, exit_cwnd):
    """Min RTT 40 ms gives a 5 ms threshold. Once cwnd is 80 segments the queue adds
    6 ms. The first 8 samples of the round only set its minimum; the event holding
    the 9th ends slow start with ssthresh = cwnd then: after 8 single acks, after two
    events of 4, or at once for one event of 80 (which counts as 80 samples)."""
    window = started()
    now = 0.0
    while window.cwnd_segments < 80:
        now = train_round(window, now + 40 * MS, 40 * MS, per_event=per_event)
    train_round(window, now + 46 * MS, 46 * MS, per_event=per_event)
    assert window.ssthresh == exit_cwnd * MSS
    assert window.phase == "congestion-avoidance"
    # The rest of the round's acks grow it only by CUBIC's first-epoch 5 %.
    assert exit_cwnd <= window.cwnd_segments <= exit_cwnd * 1.05


def test_rtt_rise_within_the_threshold_keeps_slow_start():
    window = started()
    now = 0.0
    while window.cwnd_segments < 80:
        now = train_round(window, now + 40 * MS, 40 * MS, per_event=4)
    train_round(window, now + 44.9 * MS, 44.9 * MS, per_event=4)
    assert window.ssthresh is None
    assert window.cwnd_segments == 160


def test_no_exit_below_the_low_window_of_16_segments():
    window = started(initial_segments=4)
    now = 0.0
    for rtt in (40 * MS, 200 * MS):  # cwnd 4, then 8: a huge rise, ignored
        now = train_round(window, now + rtt, rtt, per_event=1)
    assert window.ssthresh is None
    assert window.cwnd_segments == 16
    train_round(window, now + 200 * MS, 200 * MS, per_event=1)  # cwnd 16: now it counts
    assert window.ssthresh == (16 + 8) * MSS


def test_ack_train_longer_than_half_the_min_rtt_ends_slow_start():
    """Acks 1 ms apart (a 1448-byte segment per ms bottleneck), 20 ms min RTT: the
    train may last (20 ms + 1 ms cushion) / 2 = 10.5 ms. In the round that starts
    at cwnd 20, the 12th ack comes 11 ms after the first: ssthresh = 20 + 11."""
    window = started()
    now = 0.0
    now = train_round(window, now + 20 * MS, 20 * MS, per_event=1, spacing=1 * MS)
    assert window.cwnd_segments == 20
    train_round(window, now, 20 * MS, per_event=1, spacing=1 * MS)
    assert window.ssthresh == 31 * MSS
    assert window.phase == "congestion-avoidance"


def test_grouped_acks_form_a_train_when_each_segment_is_within_2ms():
    """The same 1 ms-per-segment path acked a 4 ms slice at a time: each event
    acknowledges 4 segments, so a 4 ms gap still means 1 ms per segment. The event
    at 12 ms ends slow start (cwnd 20 + 12 before it)."""
    window = started()
    now = train_round(window, 20 * MS, 20 * MS, per_event=4, spacing=4 * MS)
    train_round(window, now, 20 * MS, per_event=4, spacing=4 * MS)
    assert window.ssthresh == 32 * MSS


def test_sparse_acks_are_no_train():
    """One segment per 4 ms is a slow bottleneck, not a train: no exit, even as the
    flight's acks spread over most of a 200 ms round trip."""
    window = started()
    now = 0.0
    while window.cwnd_segments < 80:
        now = train_round(window, now + 200 * MS, 200 * MS, per_event=1, spacing=4 * MS)
    assert window.ssthresh is None


def test_hystart_rounds_end_past_the_sequence_sent_at_their_start():
    hystart = HyStart(0, sent_to=0)
    hystart.update(
        10, acked_to=100, sent_to=1000, cwnd=20, rtt=1, delay_min=1, segments=1, pacing_rate=None
    )
    assert (hystart.round_start, hystart.end_seq) == (10, 1000)
    hystart.update(
        20, acked_to=1000, sent_to=3000, cwnd=20, rtt=1, delay_min=1, segments=1, pacing_rate=None
    )
    assert hystart.round_start == 10  # 1000 is not past 1000
    hystart.update(
        30, acked_to=1001, sent_to=5000, cwnd=20, rtt=1, delay_min=1, segments=1, pacing_rate=None
    )
    assert (hystart.round_start, hystart.end_seq) == (30, 5000)


@pytest.mark.parametrize("hystart", [True, False])
def test_deep_queue_slow_start_ends_before_overflowing(hystart, monkeypatch):
    """12 Mbit/s, 40 ms (a BDP of 41 segments), a 4-BDP drop-tail queue: HyStart
    leaves slow start while the queue still has room, so in the first second the
    flow never overflows; without HyStart the doubling runs into the queue."""
    path = Bottleneck(12_000_000, 4 * 60_000, 20 * MS, jitter_us=1 * MS)
    flow = path.add_flow(0, hystart=hystart)
    signals = []
    original = SenderWindow.on_congestion

    # Slotted windows take no attribute of their own: the class is patched, for this flow.
    def on_congestion(self, now, seq=None):
        if self is flow.window:
            signals.append(now)
        original(self, now, seq)

    monkeypatch.setattr(SenderWindow, "on_congestion", on_congestion)
    path.run(1 * US)
    assert flow.window.ssthresh is not None
    if hystart:
        assert not signals
        assert path.max_queued < path.capacity
        assert 41 <= flow.window.ssthresh // MSS <= 41 + 4 * 41
    else:
        assert signals
