"""Plain values: units, limits, addresses, routes and snapshots. No I/O."""
