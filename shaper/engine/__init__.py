"""The asyncio data path: the engine, its connections and pipes, timers, kernel readers,
the scenario runner and the in-process API. Nothing here imports the control API, the
command line or the display."""
