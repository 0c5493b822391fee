"""A small HTTP/1.1 server for the control and Toxiproxy APIs, over h11 (sans-IO, pure
Python): the engine answers a handful of JSON requests and a few event streams, which do not
need a web framework. aiohttp's server cost the engine 15 MB of its ~44 MB at idle.

app: the application (routes, state, the error hook); router: path patterns to handlers;
request and response: what a handler reads and returns; protocol: one connection driven
through h11; serving: listening, and shutting down with the open streams ended.
"""
