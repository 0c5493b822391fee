"""The one shape of a value shaper cannot take: which field, the value, the accepted forms.

Every layer raises a subclass (limits, routes, faults), so the CLI, the API and the display
report all of them the same way: exit 2, HTTP 400 with field/value/accepted, inline text.
"""

from __future__ import annotations


class FieldError(ValueError):
    def __init__(self, field: str, value: object, accepted: str, message: str | None = None):
        self.field = field
        self.value = value
        self.accepted = accepted
        super().__init__(message or f"{field}: invalid value {value!r}: expected {accepted}")
