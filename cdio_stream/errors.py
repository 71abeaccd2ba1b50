"""The project's exception types: one base class, a few specific kinds."""

from __future__ import annotations

__all__ = ["CdioError", "ConfigError", "MessageError", "BrokerError", "DatasetError"]


class CdioError(Exception):
    """Base class of every error cdio-stream raises on purpose."""


class ConfigError(CdioError):
    """A configuration file, environment variable or flag is invalid."""


class MessageError(CdioError):
    """A message on the wire cannot be decoded (truncated, wrong type, oversize...)."""


class BrokerError(CdioError):
    """The local throwaway Kafka broker could not be fetched, started or reached."""


class DatasetError(CdioError):
    """A dataset file (UA-DETRAC layout, XML, trace) is missing or malformed."""
