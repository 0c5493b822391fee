"""Driving shaper from code: the sync `Proxy` (an engine in a child process), the async
`open_proxy` and its `AsyncProxy` (in this event loop or in a child), and the pytest plugin
(`shaper_proxy`, `@pytest.mark.shaper_profile`).

Nothing is imported here: pytest loads the plugin module in every run of a project that
has shaper installed, and that must stay cheap. Import the names from `shaper`.
"""
