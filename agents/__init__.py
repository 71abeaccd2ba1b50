"""The Faust app: wiring only. Every algorithm lives in :mod:`cdio_stream`.

One module per worker role (its options dataclass and its role class), the shared
wiring in :mod:`agents.base`, and :func:`agents.app.create_app`, the app factory.
"""

from agents.app import ROLES, create_app, role_for
from agents.base import Role, RoleOptions
from agents.inference import InferenceOptions
from agents.preprocess import PreprocessOptions
from agents.scheduler import SchedulerOptions
from agents.sink import SinkOptions
from agents.trainer import TrainerOptions

__all__ = [
    "ROLES",
    "create_app",
    "role_for",
    "Role",
    "RoleOptions",
    "PreprocessOptions",
    "SchedulerOptions",
    "InferenceOptions",
    "SinkOptions",
    "TrainerOptions",
]
