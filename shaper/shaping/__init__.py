"""Sans-IO shaping math: queue, link clock, delay line, jitter, rate meter, the pipe model
and the scenario schedule. Fed with times and bytes; never reads a clock or a socket."""
