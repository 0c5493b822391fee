"""Packet-level fidelity reference: the same curl workloads over real kernel TCP across a
packet-level emulated path (two network namespaces joined by a forwarder between two TUN
devices) and through shaper on loopback, and the ratio between them.

`uv run python -m bench fidelity` (root only); see runner.py for the flags."""
