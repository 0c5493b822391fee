"""A PATCH through the control API during a running transfer: the rate changes at once and
no byte is lost."""

from __future__ import annotations

import asyncio
import bisect
import hashlib

from helpers import engine_env, pattern, source

from shaper.model.limits import Limits

TOTAL = 3_000_000
DATA = pattern(TOTAL, seed=7)


def bytes_between(times: list[float], totals: list[int], start: float, end: float) -> int:
    """Bytes received in [start, end) from (time, cumulative bytes) samples."""

    def total_at(t: float) -> int:
        index = bisect.bisect_right(times, t) - 1
        return totals[index] if index >= 0 else 0

    return total_at(end) - total_at(start)


async def test_live_patch_changes_the_rate_and_loses_nothing():
    limits = Limits().patched({"downstream": {"rate": "8Mbit"}})  # 1 MB/s
    async with engine_env(limits=limits, handler=source(DATA)) as env:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(*env.proxy)
        env.writers.append(writer)
        times: list[float] = []
        totals: list[int] = []
        digest = hashlib.sha256()
        received = 0

        async def read_all() -> None:
            nonlocal received
            while chunk := await reader.read(65536):
                digest.update(chunk)
                received += len(chunk)
                times.append(loop.time())
                totals.append(received)

        reading = asyncio.create_task(read_all())
        start = loop.time()
        await asyncio.sleep(1.0)
        status, body = await env.request(
            "PATCH",
            "/v1/limits",
            json={"downstream": {"rate": "2Mbit"}},  # 250 kB/s
        )
        patched_at = loop.time()
        assert status == 200 and body["downstream"]["rate"] == "2Mbit"
        await asyncio.sleep(1.3)
        status, _ = await env.request("PATCH", "/v1/limits", json={"downstream": {"rate": "off"}})
        assert status == 200
        await asyncio.wait_for(reading, 30)

        assert received == TOTAL
        assert digest.digest() == hashlib.sha256(DATA).digest()

        before = bytes_between(times, totals, start + 0.3, start + 0.9) / 0.6
        # From 100 ms after the change, the new rate holds (a 16 KiB slice of slack).
        soon = bytes_between(times, totals, patched_at + 0.1, patched_at + 0.3)
        after = bytes_between(times, totals, patched_at + 0.1, patched_at + 1.1)
        assert 500_000 < before < 1_300_000, before
        assert soon < 0.2 * 250_000 * 2 + 16384, soon  # the old rate would give 200 kB
        assert 125_000 < after < 375_000, after
