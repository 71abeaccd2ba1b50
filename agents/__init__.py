"""The Faust app: wiring only. Every algorithm lives in :mod:`cdio_stream`."""

from agents.app import ROLES, WorkerParts, create_app

__all__ = ["ROLES", "WorkerParts", "create_app"]
