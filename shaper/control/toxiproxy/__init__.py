"""Toxiproxy's HTTP API served over shaper's engine: a Toxiproxy proxy is an engine route,
its toxics are that route's limits (latency, bandwidth) and faults (the rest).

shapes: the JSON a Toxiproxy client sends and reads (pure); mapping: toxics onto shaper's
limits and faults (pure); collection: the proxies and what they did to the engine; app:
the application (on shaper.control.http) and its handlers.
"""
