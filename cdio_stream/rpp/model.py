"""The multi-layer LSTM of paper 3.2 (eqs. 4-7) and its feature normalisation.

:class:`PreferenceLSTM` is ``torch.nn.LSTM`` (the gates of eqs. 4-6) over a stream's
last ``seq_len`` feature vectors, followed by a linear head on the last hidden state that
gives the logit of P(prefers compute). Training uses BCE on that probability (eq. 7, in
the numerically stable logits form).

:class:`Normaliser` maps raw feature vectors (units of
:mod:`cdio_stream.rpp.features`) to model inputs: log(x + eps) for the complexity and
motion entries (they span orders of magnitude), then a z-score with mean and std fitted
on the training set. It is saved in the checkpoint with the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cdio_stream.errors import ConfigError

__all__ = ["LOG_EPS", "Normaliser", "PreferenceLSTM"]

LOG_EPS = 1e-5


@dataclass(frozen=True)
class Normaliser:
    """Per-feature log (where ``log_mask``) then z-score; fitted once, applied everywhere."""

    names: tuple[str, ...]
    log_mask: tuple[bool, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eps: float = LOG_EPS

    @classmethod
    def fit(cls, vectors: np.ndarray, names: Sequence[str]) -> Normaliser:
        """Fit on an (N, F) array of raw vectors; complexity* and motion get the log."""
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != len(names) or vectors.shape[0] == 0:
            raise ConfigError(f"cannot fit normaliser: vectors {vectors.shape} vs {len(names)} names")
        log_mask = tuple(n.startswith("complexity") or n == "motion" for n in names)
        x = _log_where(vectors, np.array(log_mask), LOG_EPS)
        std = x.std(axis=0)
        std[std < 1e-8] = 1.0  # constant feature: centre it, do not blow it up
        return cls(tuple(names), log_mask, tuple(x.mean(axis=0).tolist()), tuple(std.tolist()))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Normalise raw vectors (..., F) -> float32 array of the same shape."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.shape[-1] != len(self.names):
            raise ConfigError(
                f"feature vectors have {x.shape[-1]} entries, the model expects {len(self.names)}"
            )
        x = _log_where(x, np.array(self.log_mask), self.eps)
        return ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(
            np.float32, copy=False
        )

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "log_mask": list(self.log_mask),
            "mean": list(self.mean),
            "std": list(self.std),
            "eps": self.eps,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Normaliser:
        return cls(
            names=tuple(data["names"]),
            log_mask=tuple(bool(b) for b in data["log_mask"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            eps=float(data["eps"]),
        )


def _log_where(x: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
    out = x.copy()
    out[..., mask] = np.log(np.maximum(out[..., mask], 0.0) + eps)
    return out


class PreferenceLSTM(nn.Module):
    """Stacked LSTM + linear head: (B, T, F) normalised inputs -> (B,) logits."""

    def __init__(self, n_features: int, *, hidden: int = 32, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if n_features < 1 or hidden < 1 or layers < 1:
            raise ConfigError(f"bad LSTM size: n_features={n_features}, hidden={hidden}, layers={layers}")
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :]).squeeze(-1)
