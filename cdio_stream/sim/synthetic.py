"""A documented, seeded synthetic trace generator (for tests and benchmarks without a GPU).

It writes ordinary :class:`cdio_stream.trace.TraceFrame` records for ``streams`` cameras x
``frames`` frames. Per stream s and frame t (all draws from one seeded generator):

* complexity   c = clip(b_s + d_t + n_t, 0, 1): a per-stream scene level b_s ~ U(0.25, 0.75)
  (weather / traffic density), a slow AR(1) drift d_t = rho * d_{t-1} + N(0, drift_sd) and
  per-frame noise n_t ~ N(0, noise_sd);
* complexity_scales: c split over 4 scales with Dirichlet(4, 3, 2, 1) weights;
* motion       |c_t - c_{t-1}| + |N(0, 0.01)| (frame-difference energy stand-in);
* n_objects    Poisson(4 + 36 c);  jpeg_bytes  (60 kB + 140 kB * c) * LogNormal(0, 0.1);
* accuracy of model m (mAP50 percent):
      clip(map50_m + offset + slope * (100 - map50_m) * (0.5 - c) + e_frame + e_m, 0, 100)
  with map50_m from Table 1, e_frame ~ N(0, frame_sd) shared by all models (some frames are
  hard for everyone), e_m ~ N(0, model_sd). Small models (low map50) lose accuracy faster
  as complexity grows, so complex frames need the cloud model: the preference matters.
  ``offset`` lifts COCO's 80-class mAP towards UA-DETRAC's easier vehicle-only task;
* latency_s of model m: the device profile's inference time on ``latency_device`` times
  LogNormal(0, latency_sd) (the simulator uses the ratio to the mean as per-frame jitter);
* detections of model m: round(n_objects * accuracy / 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cdio_stream.errors import ConfigError
from cdio_stream.system.profiles import Profiles, default_profiles
from cdio_stream.trace import TraceFrame

__all__ = ["SyntheticTraceConfig", "synthetic_trace", "ALL_MODELS"]

ALL_MODELS = ("yolov5s", "yolov5l", "yolov5x", "yolov5s6", "yolov5l6", "yolov5x6")


@dataclass(frozen=True)
class SyntheticTraceConfig:
    streams: int = 6
    frames: int = 1000
    fps: float = 25.0
    models: tuple[str, ...] = ALL_MODELS
    width: int = 960
    height: int = 540
    drift_rho: float = 0.99
    drift_sd: float = 0.015
    noise_sd: float = 0.03
    accuracy_offset: float = 8.0
    accuracy_slope: float = 1.3
    frame_sd: float = 6.0
    model_sd: float = 3.0
    latency_device: str = "cpu-host"
    latency_sd: float = 0.08
    seed: int = 0


def synthetic_trace(config: SyntheticTraceConfig = SyntheticTraceConfig(), profiles: Profiles | None = None
                    ) -> list[TraceFrame]:  # fmt: skip
    """Frames ordered by stream, then frame number; see the module docstring for the model."""
    cfg = config
    if cfg.streams < 1 or cfg.frames < 1 or cfg.fps <= 0:
        raise ConfigError(f"synthetic trace needs streams >= 1, frames >= 1, fps > 0; got {cfg}")
    profiles = profiles or default_profiles()
    model_profiles = [profiles.model(m) for m in cfg.models]
    device = profiles.device(cfg.latency_device)
    rng = np.random.default_rng(cfg.seed)
    s, f = cfg.streams, cfg.frames

    base = rng.uniform(0.25, 0.75, size=s)
    shocks = rng.normal(0.0, cfg.drift_sd, size=(s, f))
    drift = np.empty((s, f))
    drift[:, 0] = shocks[:, 0] / np.sqrt(max(1 - cfg.drift_rho**2, 1e-9))  # start in the stationary law
    for t in range(1, f):
        drift[:, t] = cfg.drift_rho * drift[:, t - 1] + shocks[:, t]
    c = np.clip(base[:, None] + drift + rng.normal(0.0, cfg.noise_sd, size=(s, f)), 0.0, 1.0)
    scales = rng.dirichlet((4.0, 3.0, 2.0, 1.0), size=(s, f)) * c[:, :, None]
    motion = np.abs(np.diff(c, axis=1, prepend=c[:, :1])) + np.abs(rng.normal(0.0, 0.01, size=(s, f)))
    n_obj = rng.poisson(4.0 + 36.0 * c)
    jpeg = ((60_000 + 140_000 * c) * rng.lognormal(0.0, 0.1, size=(s, f))).astype(np.int64)
    e_frame = rng.normal(0.0, cfg.frame_sd, size=(s, f))
    acc, lat = {}, {}
    for mp in model_profiles:
        level = mp.map50 + cfg.accuracy_offset + cfg.accuracy_slope * (100.0 - mp.map50) * (0.5 - c)
        acc[mp.name] = np.clip(level + e_frame + rng.normal(0.0, cfg.model_sd, size=(s, f)), 0.0, 100.0)
        lat[mp.name] = device.inference_time(mp) * rng.lognormal(0.0, cfg.latency_sd, size=(s, f))

    frames = []
    for k in range(s):
        stream = f"SYN_{k + 1:02d}"
        for t in range(f):
            frames.append(
                TraceFrame(
                    stream=stream,
                    frame=t + 1,
                    capture_time=t / cfg.fps,
                    jpeg_bytes=int(jpeg[k, t]),
                    width=cfg.width,
                    height=cfg.height,
                    complexity=float(c[k, t]),
                    complexity_scales=tuple(float(v) for v in scales[k, t]),
                    motion=float(motion[k, t]),
                    n_objects=int(n_obj[k, t]),
                    accuracy={m: float(acc[m][k, t]) for m in cfg.models},
                    latency_s={m: float(lat[m][k, t]) for m in cfg.models},
                    detections={m: int(round(n_obj[k, t] * acc[m][k, t] / 100.0)) for m in cfg.models},
                )
            )
    return frames
