"""Turning a trace into the simulator's task stream: arrivals, requirements, preferences.

* Arrival: a frame arrives at its ``capture_time`` plus a per-stream offset drawn once in
  [0, 1/fps) so that cameras are not phase-locked.
* Arrival with ``stream_offsets=False``: every stream starts at once, as ``cdio-stream
  replay`` and the demo pace them (frame n of every stream at n / fps).
* Requirements (paper 4.2.1): A^q ~ U[50, 80] percent and D^q ~ U[0.2, 0.6] s per task, from
  one generator over the trace; ``requirements="replay"`` draws them per stream as ``cdio-stream
  replay`` and the demo do (:class:`~cdio_stream.data.requirements.RequirementSampler` with the
  same ranges and seed, stream k = the k-th stream name in sorted order, frames in order), so a
  simulated and a live run of the same frames and seed give every task the same A^q and D^q.
* Preference: the live system gets it from the RPP LSTM (cdio_stream.rpp). The simulator
  uses a *noisy oracle* with a stated error rate: the true label is "compute" when the edge
  model's accuracy on the frame is below A^q (the edge cannot satisfy C1), "bandwidth"
  otherwise; the label is flipped with probability ``error`` and reported as probability
  ``confidence`` (or 1 - confidence). ``preference="none"`` gives None for every task.
  ``preference="lstm"`` runs the RPP LSTM (``rpp_checkpoint``, default the shipped one) on
  each stream's last ``seq_len`` tasks, as the live preprocess worker does (:func:`lstm_preferences`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import SlotTask
from cdio_stream.trace import TraceFrame

__all__ = [
    "PREFERENCES",
    "REQUIREMENTS",
    "WorkloadConfig",
    "build_tasks",
    "live_scale_features",
    "lstm_preferences",
]

PREFERENCES = ("noisy-oracle", "lstm", "none")
REQUIREMENTS = ("uniform", "replay")


@dataclass(frozen=True)
class WorkloadConfig:
    a_req_range: tuple[float, float] = (50.0, 80.0)
    d_req_range: tuple[float, float] = (0.2, 0.6)
    preference: str = "noisy-oracle"  # or "lstm" or "none"
    preference_error: float = 0.1
    preference_confidence: float = 0.9
    rpp_checkpoint: str | None = None  # preference "lstm": the checkpoint (None: the shipped one)
    seed: int = 0
    requirements: str = "uniform"  # or "replay" (module docstring)
    stream_offsets: bool = True  # False: every stream starts at time 0 (the replay's pacing)


def build_tasks(
    frames: Sequence[TraceFrame], edge_model: str | None, config: WorkloadConfig = WorkloadConfig()
) -> tuple[list[SlotTask], np.ndarray]:
    """Tasks sorted by arrival time, and for each the index of its frame in ``frames``."""
    cfg = config
    if cfg.preference not in PREFERENCES:
        raise ConfigError(f"preference must be one of {', '.join(PREFERENCES)}, got {cfg.preference!r}")
    if not 0 <= cfg.preference_error <= 1 or not 0.5 <= cfg.preference_confidence <= 1:
        raise ConfigError("preference_error must be in [0, 1] and preference_confidence in [0.5, 1]")
    if cfg.preference == "noisy-oracle" and edge_model is None:
        raise ConfigError("the noisy-oracle preference needs the edge model's name")
    if cfg.requirements not in REQUIREMENTS:
        raise ConfigError(f"requirements must be one of {', '.join(REQUIREMENTS)}, got {cfg.requirements!r}")
    rng = np.random.default_rng(cfg.seed)
    n = len(frames)
    streams = sorted({fr.stream for fr in frames})
    period = _frame_period(frames)
    offsets = dict(zip(streams, rng.uniform(0.0, period, size=len(streams)), strict=True))
    if not cfg.stream_offsets:
        offsets = dict.fromkeys(streams, 0.0)
    a_req = rng.uniform(*cfg.a_req_range, size=n)
    d_req = rng.uniform(*cfg.d_req_range, size=n)
    if cfg.requirements == "replay":
        a_req, d_req = _replay_requirements(frames, streams, cfg)
    flips = rng.random(n) < cfg.preference_error
    lstm = lstm_preferences(frames, a_req, d_req, cfg.rpp_checkpoint) if cfg.preference == "lstm" else None
    tasks = []
    for i, fr in enumerate(frames):
        pref = None if lstm is None else float(lstm[i])
        if cfg.preference == "noisy-oracle":
            try:
                compute = fr.accuracy[edge_model] < a_req[i]
            except KeyError:
                raise ConfigError(
                    f"trace frame {fr.key} has no accuracy for edge model {edge_model!r}"
                ) from None
            compute ^= bool(flips[i])
            pref = cfg.preference_confidence if compute else 1.0 - cfg.preference_confidence
        tasks.append(
            SlotTask(
                task_id=f"{fr.stream}/{fr.frame}",
                stream_id=fr.stream,
                payload_bytes=fr.jpeg_bytes,
                complexity=fr.complexity,
                preference=pref,
                a_req=float(a_req[i]),
                d_req=float(d_req[i]),
                arrival_time=float(fr.capture_time + offsets[fr.stream]),
            )
        )
    order = sorted(range(n), key=lambda i: (tasks[i].arrival_time, i))
    return [tasks[i] for i in order], np.asarray(order, dtype=np.int64)


def _replay_requirements(
    frames: Sequence[TraceFrame], streams: list[str], cfg: WorkloadConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A^q and D^q per frame as the replay draws them: stream k's generator, frames in order."""
    from cdio_stream.data.requirements import RequirementSampler

    sampler = RequirementSampler(tuple(cfg.a_req_range), tuple(cfg.d_req_range), seed=cfg.seed)
    a_req, d_req = np.empty(len(frames)), np.empty(len(frames))
    for k, stream in enumerate(streams):
        draws = sampler.for_stream(k)
        for i in sorted(
            (i for i, fr in enumerate(frames) if fr.stream == stream), key=lambda i: frames[i].frame
        ):
            a_req[i], d_req[i] = draws.draw()
    return a_req, d_req


def _frame_period(frames: Sequence[TraceFrame]) -> float:
    """Median gap between consecutive captures of a stream (1/fps); 0.04 s if unknown."""
    by_stream: dict[str, list[float]] = {}
    for fr in frames:
        by_stream.setdefault(fr.stream, []).append(fr.capture_time)
    gaps = [g for ts in by_stream.values() for g in np.diff(sorted(ts)) if g > 0]
    return float(np.median(gaps)) if gaps else 0.04


def live_scale_features(frames: Sequence[TraceFrame], normaliser) -> np.ndarray:
    """(N, F) raw feature vectors of ``frames`` on the live feature scale of ``normaliser``.

    A synthetic trace's complexity lives on [0, 1] and has 4 scale terms; the live extractor
    gives complexities around 0.002-0.013 with 5 (:class:`~cdio_stream.rpp.features.FeatureConfig`).
    So complexity and motion are standardised over the trace and put back at the mean and
    spread that the checkpoint's training features had (in the normaliser's log space):
    every complexity term takes the frame complexity's z-score, motion its own. A frame
    that is complex for this trace is then as complex, in the model's eyes, as a frame that
    was complex in its training data. inter_arrival (the capture-time gap), A^q and D^q are
    on their real scales already and are left alone; a trace profiled from real frames
    (5 scale terms) is used as it is.
    """
    names = list(normaliser.names)
    n_scales = sum(1 for nm in names if nm.startswith("complexity_"))
    rows = []
    prev: dict[str, float] = {}
    for fr in frames:
        gap = fr.capture_time - prev[fr.stream] if fr.stream in prev else 0.0
        prev[fr.stream] = fr.capture_time
        rows.append((fr.complexity, fr.motion, max(gap, 0.0), *fr.complexity_scales))
    raw = np.array([r[:3] for r in rows], dtype=np.float64)
    if all(len(fr.complexity_scales) == n_scales for fr in frames) and raw[:, 0].max() < 0.1:
        scales = np.array([r[3:] for r in rows], dtype=np.float64)
        return np.column_stack([raw[:, 0], scales, raw[:, 1], raw[:, 2]])  # already live: as profiled
    mean, std = np.asarray(normaliser.mean), np.asarray(normaliser.std)

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / (x.std() or 1.0)

    zc, zm = z(raw[:, 0]), z(np.log(raw[:, 1] + 1e-6))
    cols = [np.exp(mean[k] + std[k] * zc) for k in range(1 + n_scales)]  # complexity, complexity_0..
    k_motion = names.index("motion")
    cols.append(np.exp(mean[k_motion] + std[k_motion] * zm))
    cols.append(raw[:, 2])
    return np.column_stack(cols)


def lstm_preferences(
    frames: Sequence[TraceFrame], a_req: np.ndarray, d_req: np.ndarray, checkpoint: str | None = None
) -> np.ndarray:
    """P(compute) per frame from the RPP LSTM over each stream's history (frames in trace order)."""
    from cdio_stream.rpp.features import pad_sequence
    from cdio_stream.rpp.predictor import PreferencePredictor
    from cdio_stream.rpp.shipped import DEFAULT_RPP_CHECKPOINT

    predictor = PreferencePredictor.load(checkpoint or DEFAULT_RPP_CHECKPOINT)
    names = list(predictor.normaliser.names)
    if names[-2:] != ["a_req", "d_req"]:
        raise ConfigError(f"the LSTM's features {names} do not end with a_req, d_req")
    base = live_scale_features(frames, predictor.normaliser)
    vectors = np.column_stack([base, a_req, d_req]).astype(np.float32)
    order = sorted(range(len(frames)), key=lambda i: (frames[i].stream, frames[i].frame))
    seqs = np.empty((len(frames), predictor.seq_len, vectors.shape[1]), dtype=np.float32)
    history: list[int] = []
    stream = None
    for i in order:
        if frames[i].stream != stream:
            stream, history = frames[i].stream, []
        history.append(i)
        seqs[i] = pad_sequence(vectors[history[-predictor.seq_len :]], predictor.seq_len)
    out = np.empty(len(frames), dtype=np.float64)
    for start in range(0, len(frames), 4096):
        out[start : start + 4096] = predictor.predict_proba(seqs[start : start + 4096])
    return out
