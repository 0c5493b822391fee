"""The one error the server raises into an application: a status it has to answer."""

from __future__ import annotations


class HttpError(Exception):
    """404 (no route), 405 (`allowed` lists the methods the path takes), 413 (a body over
    the application's limit) or 400 (a request h11 could not read)."""

    def __init__(self, status: int, message: str = "", allowed: tuple[str, ...] = ()):
        super().__init__(message or str(status))
        self.status = status
        self.message = message
        self.allowed = allowed
