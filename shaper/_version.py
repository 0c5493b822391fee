"""The version of shaper: written here once, read by the package build and the API."""

__version__ = "0.1.0"
