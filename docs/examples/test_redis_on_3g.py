import time

import redis


def test_a_cache_hit_costs_a_round_trip_on_3g(shaper_proxy, redis_server):
    proxy = shaper_proxy(upstream=redis_server, profile="3g")
    cache = redis.Redis(proxy.host, proxy.port)
    cache.set("greeting", "hello")  # the connection is open from here on
    started = time.monotonic()
    assert cache.get("greeting") == b"hello"
    assert time.monotonic() - started >= 0.3  # 3g: 150 ms each way
    cache.close()
    proxy.wait_for_connections(0)
    assert proxy.stats().bytes_upstream > 0  # lifetime totals outlive the connection
