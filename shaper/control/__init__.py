"""The control API: an HTTP/JSON server on the engine's loop (server, handlers, request
parsing, security), its metrics, OpenAPI document and JSON encoders, and the client the
display, the command line and tests use."""
