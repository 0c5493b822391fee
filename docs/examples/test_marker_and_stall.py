import urllib.request

import pytest


@pytest.mark.shaper_profile("satellite-geo")
class TestOverSatellite:
    def test_the_page_arrives_whole(self, shaper_proxy, web_server):
        proxy = shaper_proxy(upstream=web_server)  # starts on satellite-geo
        url = f"http://{proxy.host}:{proxy.port}/page.html"
        assert len(urllib.request.urlopen(url, timeout=30).read()) == 50_000
        assert proxy.stats().profile == "satellite-geo"

    def test_a_stalled_link_times_the_client_out(self, shaper_proxy, web_server):
        proxy = shaper_proxy(upstream=web_server)
        proxy.stall("downstream")  # nothing comes back; the client must give up
        url = f"http://{proxy.host}:{proxy.port}/page.html"
        with pytest.raises(TimeoutError):
            urllib.request.urlopen(url, timeout=1)
        proxy.release("downstream")
        assert len(urllib.request.urlopen(url, timeout=30).read()) == 50_000
