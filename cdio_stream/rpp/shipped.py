"""The preference LSTM shipped with the project, and which checkpoint a worker starts from.

``rpp-default.pt`` was trained on a profiling trace of the shipped detectors on synthetic
data (``cdio_stream/rpp/checkpoints/README.md`` and its JSON card). Torch-free: a worker
decides here whether it needs torch at all.
"""

from __future__ import annotations

from pathlib import Path

from cdio_stream.errors import ConfigError

__all__ = ["DEFAULT_RPP_CHECKPOINT", "checkpoint_or_shipped"]

DEFAULT_RPP_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "rpp-default.pt"


def checkpoint_or_shipped(checkpoint: Path | None) -> Path | None:
    """The given checkpoint (which must exist), else the shipped one if present."""
    if checkpoint is None and DEFAULT_RPP_CHECKPOINT.is_file():
        checkpoint = DEFAULT_RPP_CHECKPOINT
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigError(f"RPP checkpoint {checkpoint} does not exist")
    return checkpoint
