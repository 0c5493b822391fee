"""The `shaper` command: one flags module, `serve`, the verbs that talk to a running
engine, the profile verbs and the verbs that open the display."""
