"""Serving a trained preference LSTM: checkpoint I/O and batched prediction.

Checkpoint (``torch.save`` of a plain dict, loadable with ``weights_only=True``)::

    {"format": "cdio-rpp-lstm", "version": 1, "state_dict": ..., "seq_len": 8,
     "hyperparameters": {"n_features": 10, "hidden": 32, "layers": 2, "dropout": 0.0},
     "normaliser": {...}, "feature_config": {"reduce": 4, ...} or None, "metrics": {...},
     "model_version": 0}

``version`` is the format of this file; ``model_version`` says which model it is: 0 for a
checkpoint trained offline (the shipped one), n >= 1 for the n-th model the online trainer
promoted (:mod:`cdio_stream.rpp.online`). Every task carries the model version that tagged
it. :meth:`PreferencePredictor.to_bytes` / :meth:`~PreferencePredictor.from_bytes` give the
same content as bytes, which is what the model topic carries.

Without a checkpoint callers use :func:`cdio_stream.rpp.rule.rule_preference` instead.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.features import FeatureConfig, StreamHistory, pad_sequence
from cdio_stream.rpp.model import Normaliser, PreferenceLSTM
from cdio_stream.rpp.rule import Preference, preference_of

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "PreferencePredictor"]

_MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024

CHECKPOINT_FORMAT = "cdio-rpp-lstm"
CHECKPOINT_VERSION = 1


class PreferencePredictor:
    """P(prefers compute) for tasks given their streams' recent feature sequences."""

    def __init__(
        self,
        model: PreferenceLSTM,
        normaliser: Normaliser,
        *,
        seq_len: int,
        hyperparameters: dict,
        feature_config: FeatureConfig | None = None,
        metrics: dict | None = None,
        threshold: float = 0.5,
        version: int = 0,
    ) -> None:
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ConfigError(f"model version must be an integer >= 0, got {version!r}")
        self.version = version
        self.model = model.eval()
        self.normaliser = normaliser
        self.seq_len = seq_len
        self.hyperparameters = dict(hyperparameters)
        self.feature_config = feature_config
        self.metrics = dict(metrics or {})
        self.threshold = threshold

    @property
    def n_features(self) -> int:
        return len(self.normaliser.names)

    def predict_proba(self, seqs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """P(compute) per sequence: (B, T, F) raw vectors (or a list of (T_i, F)) -> (B,) float32.

        Sequences shorter or longer than ``seq_len`` are padded / cut like in training.
        """
        if isinstance(seqs, np.ndarray) and seqs.ndim == 3 and seqs.shape[1] == self.seq_len:
            batch = seqs
        else:
            batch = np.stack([pad_sequence(s, self.seq_len) for s in seqs]) if len(seqs) else None
        if batch is None:
            return np.zeros(0, dtype=np.float32)
        x = torch.from_numpy(self.normaliser(batch))
        with torch.inference_mode():
            return torch.sigmoid(self.model(x)).numpy()

    def predict(self, seqs: np.ndarray | Sequence[np.ndarray]) -> list[Preference]:
        """ "compute" / "bandwidth" per sequence at ``threshold``."""
        return [preference_of(float(p), self.threshold) for p in self.predict_proba(seqs)]

    def predict_streams(self, history: StreamHistory, stream_ids: Sequence[str]) -> np.ndarray:
        """P(compute) for the current task of each named stream, from its history."""
        return self.predict_proba(np.stack([history.sequence(s) for s in stream_ids]))

    def with_version(self, version: int) -> PreferencePredictor:
        """The same model under another version number (the trainer numbers promotions)."""
        return PreferencePredictor(
            self.model,
            self.normaliser,
            seq_len=self.seq_len,
            hyperparameters=self.hyperparameters,
            feature_config=self.feature_config,
            metrics=self.metrics,
            threshold=self.threshold,
            version=version,
        )

    def save(self, path: str | Path) -> None:
        torch.save(self._checkpoint(), Path(path))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        torch.save(self._checkpoint(), buf)
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | Path) -> PreferencePredictor:
        """Load a checkpoint written by :meth:`save`; ConfigError names what is wrong."""
        path = Path(path)
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise ConfigError(f"RPP checkpoint {path} does not exist") from None
        except Exception as exc:  # torch raises many types for a corrupt or foreign file
            raise ConfigError(f"cannot read RPP checkpoint {path}: {exc}") from None
        return cls._from_checkpoint(ckpt, str(path))

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "RPP checkpoint bytes") -> PreferencePredictor:
        """Inverse of :meth:`to_bytes`; ConfigError names what is wrong."""
        if not isinstance(data, bytes | bytearray) or not data:
            raise ConfigError(f"{what}: empty or not bytes")
        if len(data) > _MAX_CHECKPOINT_BYTES:
            raise ConfigError(f"{what}: {len(data)} bytes is larger than {_MAX_CHECKPOINT_BYTES}")
        try:
            ckpt = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ConfigError(f"cannot read {what}: {exc}") from None
        return cls._from_checkpoint(ckpt, what)

    def _checkpoint(self) -> dict:
        fc = self.feature_config
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "state_dict": self.model.state_dict(),
            "seq_len": self.seq_len,
            "hyperparameters": self.hyperparameters,
            "normaliser": self.normaliser.to_dict(),
            "feature_config": None if fc is None else {k: getattr(fc, k) for k in _FC_FIELDS},
            "metrics": self.metrics,
            "threshold": self.threshold,
            "model_version": self.version,
        }

    @classmethod
    def _from_checkpoint(cls, ckpt: object, what: str) -> PreferencePredictor:
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{what} is not an RPP checkpoint (format {CHECKPOINT_FORMAT!r} expected)")
        if ckpt.get("version") != CHECKPOINT_VERSION:
            raise ConfigError(
                f"{what}: RPP checkpoint version {ckpt.get('version')!r}, "
                f"this code reads version {CHECKPOINT_VERSION}"
            )
        try:
            hp = ckpt["hyperparameters"]
            model = PreferenceLSTM(
                hp["n_features"], hidden=hp["hidden"], layers=hp["layers"], dropout=hp["dropout"]
            )
            model.load_state_dict(ckpt["state_dict"])
            fc = ckpt.get("feature_config")
            return cls(
                model,
                Normaliser.from_dict(ckpt["normaliser"]),
                seq_len=int(ckpt["seq_len"]),
                hyperparameters=hp,
                feature_config=None if fc is None else FeatureConfig(**fc),
                metrics=ckpt.get("metrics"),
                threshold=float(ckpt.get("threshold", 0.5)),
                version=int(ckpt.get("model_version", 0)),
            )
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"{what}: malformed RPP checkpoint ({exc!r})") from None


_FC_FIELDS = ("reduce", "block", "n_steps", "motion_level")
