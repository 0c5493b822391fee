import time

import aiohttp
import pytest

import shaper


@pytest.mark.asyncio
async def test_the_page_loads_in_under_three_seconds_on_3g(web_server):
    async with shaper.open_proxy(upstream=web_server, profile="3g") as proxy:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            async with session.get(f"http://{proxy.host}:{proxy.port}/page.html") as page:
                body = await page.read()
            elapsed = time.monotonic() - started
        stats = await proxy.stats()
    assert len(body) == 50_000
    assert 0.6 < elapsed < 3.0  # handshake, request, slow start: several 300 ms round trips
    assert stats.bytes_downstream > 50_000
