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


@pytest.mark.timeout(20)
async def test_a_long_batch_of_due_timers_lets_the_loop_in():
    """An engine with more timers due than it can run (1,000 busy connections) must still
    serve its sockets and control API between them: a batch stops after BATCH_SECONDS."""
    from shaper.engine import timers as module

    loop = asyncio.get_running_loop()
    made = make_timers(loop)
    if not isinstance(made, TimerFdTimers):
        pytest.skip("the batch bound belongs to the timerfd timers (Linux)")
    ran = 0
    seen_at: list[int] = []
    done = asyncio.Event()
    count = 400
    work = module.BATCH_SECONDS / 20  # 20 timers fill a batch: 400 are 20 batches' worth

    def busy() -> None:
        nonlocal ran
        if ran == 0:
            loop.call_soon(lambda: seen_at.append(ran))  # what the loop would serve next
        end = loop.time() + work
        while loop.time() < end:
            pass
        ran += 1
        if ran == count:
            done.set()

    try:
        due = loop.time() + 0.01
        for _ in range(count):
            made.call_at(due, busy)
        await asyncio.wait_for(done.wait(), 10)
        # Served after about one batch (the clock is read every BATCH_CHECK timers), not
        # after all 400.
        assert seen_at and seen_at[0] <= 20 + module.BATCH_CHECK
    finally:
        made.close()
