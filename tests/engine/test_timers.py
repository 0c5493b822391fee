"""Pipe timers: never early, in deadline order, cancellable, on either implementation."""

from __future__ import annotations

import asyncio
import random

import pytest

from shaper.engine.timers import LoopTimers, TimerFdTimers, make_timers


@pytest.fixture(params=["timerfd", "loop"])
async def timers(request, monkeypatch):
    if request.param == "loop":
        monkeypatch.setenv("SHAPER_LOOP_TIMERS", "1")
    made = make_timers(asyncio.get_running_loop())
    expected = TimerFdTimers if request.param == "timerfd" else LoopTimers
    assert isinstance(made, expected)
    yield made
    made.close()


@pytest.mark.timeout(20)
async def test_timers_fire_in_order_never_before_their_deadline(timers):
    loop = asyncio.get_running_loop()
    rng = random.Random(3)
    start = loop.time()
    fired: list[tuple[float, float]] = []
    done = asyncio.Event()
    deadlines = sorted(start + rng.uniform(0.001, 0.3) for _ in range(200))
    for when in rng.sample(deadlines, len(deadlines)):

        def record(when=when):
            fired.append((when, loop.time()))
            if len(fired) == len(deadlines):
                done.set()

        timers.call_at(when, record)
    await asyncio.wait_for(done.wait(), 5)
    early = timers.early
    assert [when for when, _ in fired] == deadlines
    assert all(at >= when - early for when, at in fired)
    # A generous functional bound: nothing is badly late on a quiet loop.
    assert sorted(at - when for when, at in fired)[len(fired) // 2] < 0.005


@pytest.mark.timeout(20)
async def test_a_cancelled_timer_does_not_fire(timers):
    loop = asyncio.get_running_loop()
    fired = []
    cancelled = timers.call_at(loop.time() + 0.01, lambda: fired.append("cancelled"))
    timers.call_at(loop.time() + 0.02, lambda: fired.append("kept"))
    cancelled.cancel()
    await asyncio.sleep(0.1)
    assert fired == ["kept"]


@pytest.mark.timeout(20)
async def test_a_failing_callback_does_not_stop_the_others(timers):
    loop = asyncio.get_running_loop()
    errors = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    fired = []

    def boom():
        raise RuntimeError("boom")

    now = loop.time()
    timers.call_at(now + 0.01, boom)
    timers.call_at(now + 0.01, lambda: fired.append(1))
    await asyncio.sleep(0.1)
    assert fired == [1]
    assert len(errors) == 1


async def test_the_spin_credit_is_earned_back_by_a_lone_timer():
    """A spent spin budget refills with time even when deadlines come one at a time (it
    used to refill only when a second deadline fell close to one that had just run)."""
    from shaper.engine import timers as module

    made = make_timers(asyncio.get_running_loop())
    if not isinstance(made, TimerFdTimers):
        pytest.skip("the spin budget belongs to the timerfd timers (Linux)")
    try:
        made._spin_credit = 0.0  # spent
        await asyncio.sleep(0.1)
        fired = asyncio.Event()
        made.call_at(asyncio.get_running_loop().time() + 0.01, fired.set)
        # 0.1 s at a 2.5 % share: 2.5 ms of credit, enough to spin the last 0.4 ms.
        assert made._spin_credit >= module.SPIN_AHEAD
        await asyncio.wait_for(fired.wait(), 2)
    finally:
        made.close()
