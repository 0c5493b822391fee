"""Exit codes of every `shaper` verb."""

OK = 0
FAILED = 1  # the engine could not be reached, failed, or is not a shaper engine
USAGE = 2  # bad input: a flag, a value, a profile, a name
