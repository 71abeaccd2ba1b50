"""Task features x_t (paper eq. 3) and the per-stream state that produces them.

One task = one frame. Its feature vector, in this fixed order (length ``n_steps + 5``):

| index   | name           | meaning                                            | unit, typical range |
|---------|----------------|----------------------------------------------------|---------------------|
| 0       | complexity     | C_t, multiscale structural complexity (eq. 2)      | >= 0, 1e-3 .. 5e-2  |
| 1 .. N  | complexity_<n> | per-scale terms C_n, n = 0 .. N-1                  | >= 0                |
| N+1     | motion         | I_t part 1: mean squared difference to the stream's| >= 0, 0 .. 1e-2     |
|         |                | previous frame on pyramid level ``motion_level``   |                     |
| N+2     | inter_arrival  | I_t part 2: capture-time gap to the previous frame | seconds, ~0.04      |
| N+3     | a_req          | A_t, accuracy requirement                          | mAP50 %, 50 .. 80   |
| N+4     | d_req          | D_t, delay requirement                             | seconds, 0.2 .. 0.6 |

The first frame of a stream (or one after its state was evicted, or whose size differs
from the previous frame) has motion 0 and inter_arrival 0. The vector holds raw values in
these units; the model's normalisation (log of the complexity/motion terms, then z-score,
fitted on training data) lives with the checkpoint, see ``cdio_stream.rpp.model``.

What the features are computed on: the grey frame at 1/``reduce`` size (JPEG decoded
directly at reduced size; arrays are block-averaged to the same size), pixels in [0, 1].
The same :class:`FeatureConfig` must be used for the training history and at serving time.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

import cv2
import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.rpp.complexity import decode_gray, pyramid_complexity, reduce_gray

__all__ = [
    "FeatureConfig",
    "FeatureExtractor",
    "StreamHistory",
    "TaskFeatures",
    "feature_names",
    "pad_sequence",
]


def feature_names(n_scales: int) -> tuple[str, ...]:
    """Names of the vector entries, in order, for ``n_scales`` complexity terms."""
    return (
        "complexity",
        *(f"complexity_{n}" for n in range(n_scales)),
        "motion",
        "inter_arrival",
        "a_req",
        "d_req",
    )


@dataclass(frozen=True)
class TaskFeatures:
    """x_t of one task: spatial complexity, temporal feature, requirements (raw units)."""

    complexity: float
    complexity_scales: tuple[float, ...]
    motion: float
    inter_arrival: float
    a_req: float
    d_req: float

    def vector(self) -> np.ndarray:
        """float32 vector in the order of :func:`feature_names` (length n_scales + 5)."""
        return np.array(
            (
                self.complexity,
                *self.complexity_scales,
                self.motion,
                self.inter_arrival,
                self.a_req,
                self.d_req,
            ),
            dtype=np.float32,
        )

    @property
    def size(self) -> int:
        return len(self.complexity_scales) + 5


@dataclass(frozen=True)
class FeatureConfig:
    """How frames become features; record it with any history or model built from them."""

    reduce: int = 4  # decode / downscale factor before everything else (1, 2, 4, 8)
    block: int = 2  # coarse-graining block G
    n_steps: int = 5  # number of complexity terms C_n
    motion_level: int = 1  # pyramid level the frame difference is taken on (0 = reduced frame)

    def __post_init__(self) -> None:
        if self.reduce not in (1, 2, 4, 8):
            raise ConfigError(f"reduce must be 1, 2, 4 or 8, got {self.reduce!r}")
        if not isinstance(self.block, int) or self.block < 2:
            raise ConfigError(f"block must be an integer >= 2, got {self.block!r}")
        if not isinstance(self.n_steps, int) or self.n_steps < 1:
            raise ConfigError(f"n_steps must be an integer >= 1, got {self.n_steps!r}")
        if not 0 <= self.motion_level <= self.n_steps:
            raise ConfigError(
                f"motion_level must be in [0, n_steps={self.n_steps}], got {self.motion_level!r}"
            )

    @property
    def n_features(self) -> int:
        return self.n_steps + 5


@dataclass
class _StreamState:
    last_time: float
    last_level: np.ndarray


class FeatureExtractor:
    """Per-stream stateful feature extraction; holds at most ``max_streams`` streams.

    Keeps, per stream, the capture time and a small coarse-grained copy of the last frame
    (float32, ~32 KB for 960x540 at the defaults), evicting the least recently seen stream
    beyond ``max_streams``. Not thread-safe; use one per worker.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig(), *, max_streams: int = 1024) -> None:
        if max_streams < 1:
            raise ConfigError(f"max_streams must be >= 1, got {max_streams}")
        self.config = config
        self.max_streams = max_streams
        self._state: OrderedDict[str, _StreamState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._state)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._state

    def reduced_gray(self, frame: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
        """Grey [0, 1] float64 image at 1/reduce size from JPEG bytes or a grey/BGR array."""
        if isinstance(frame, np.ndarray):
            return reduce_gray(frame, self.config.reduce)
        return decode_gray(frame, reduce=self.config.reduce).astype(np.float64) * (1.0 / 255.0)

    def extract(
        self,
        stream_id: str,
        capture_time: float,
        frame: bytes | bytearray | memoryview | np.ndarray,
        a_req: float,
        d_req: float,
    ) -> TaskFeatures:
        """Features of one frame; updates the stream's state. Frames must come in time order."""
        cfg = self.config
        gray = self.reduced_gray(frame)
        terms, level = pyramid_complexity(
            gray, block=cfg.block, n_steps=cfg.n_steps, keep_level=cfg.motion_level
        )
        assert level is not None
        level32 = level.astype(np.float32)
        prev = self._state.get(stream_id)
        if prev is not None and prev.last_level.shape == level32.shape:
            motion = cv2.norm(level32, prev.last_level, cv2.NORM_L2SQR) / level32.size
            inter_arrival = max(0.0, float(capture_time) - prev.last_time)
        else:
            motion = 0.0
            inter_arrival = 0.0
        self._state[stream_id] = _StreamState(float(capture_time), level32)
        self._state.move_to_end(stream_id)
        if len(self._state) > self.max_streams:
            self._state.popitem(last=False)
        return TaskFeatures(
            complexity=float(terms.sum()),
            complexity_scales=tuple(terms.tolist()),
            motion=float(motion),
            inter_arrival=inter_arrival,
            a_req=float(a_req),
            d_req=float(d_req),
        )

    def forget(self, stream_id: str) -> None:
        self._state.pop(stream_id, None)


def pad_sequence(vectors: list[np.ndarray] | np.ndarray, seq_len: int) -> np.ndarray:
    """(seq_len, F) float32 array of the last ``seq_len`` vectors, oldest first.

    Shorter histories are left-padded by repeating the oldest vector, the same rule in
    training and serving (a stream start looks like a steady scene).
    """
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"need a non-empty (T, F) sequence, got shape {arr.shape}")
    arr = arr[-seq_len:]
    if arr.shape[0] < seq_len:
        pad = np.repeat(arr[:1], seq_len - arr.shape[0], axis=0)
        arr = np.concatenate([pad, arr], axis=0)
    return arr


class StreamHistory:
    """Bounded per-stream history of feature vectors: the LSTM's input sequences.

    Keeps the last ``seq_len`` vectors of at most ``max_streams`` streams (least recently
    seen evicted first).
    """

    def __init__(self, seq_len: int = 8, *, max_streams: int = 1024) -> None:
        if seq_len < 1:
            raise ConfigError(f"seq_len must be >= 1, got {seq_len}")
        if max_streams < 1:
            raise ConfigError(f"max_streams must be >= 1, got {max_streams}")
        self.seq_len = seq_len
        self.max_streams = max_streams
        self._streams: OrderedDict[str, deque[np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._streams

    def append(self, stream_id: str, features: TaskFeatures | np.ndarray) -> np.ndarray:
        """Add a task's features; returns the stream's padded (seq_len, F) sequence."""
        vec = features.vector() if isinstance(features, TaskFeatures) else np.asarray(features, np.float32)
        buf = self._streams.get(stream_id)
        if buf is None or (buf and buf[-1].shape != vec.shape):
            buf = deque(maxlen=self.seq_len)
            self._streams[stream_id] = buf
        buf.append(vec)
        self._streams.move_to_end(stream_id)
        if len(self._streams) > self.max_streams:
            self._streams.popitem(last=False)
        return pad_sequence(list(buf), self.seq_len)

    def sequence(self, stream_id: str) -> np.ndarray:
        """The stream's current padded sequence; KeyError for an unknown stream."""
        return pad_sequence(list(self._streams[stream_id]), self.seq_len)

    def forget(self, stream_id: str) -> None:
        self._streams.pop(stream_id, None)
