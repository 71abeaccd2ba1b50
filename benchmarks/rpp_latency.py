"""Per-frame latency of resource preference prediction (RPP) on 960x540 frames, one CPU core.

Stages timed per frame: wall-clock median and p99, plus the median CPU time of the
benchmark thread and the minimum wall time, which are less disturbed by other processes
on a shared machine:

* decode_gray_r4          JPEG bytes -> 1/4-size grey (libjpeg scaled decode)
* complexity_r4           multiscale complexity of the 1/4-size grey (what RPP uses)
* complexity_full         complexity of the full 960x540 grey, 7 steps (for comparison)
* complexity_from_jpeg    decode_gray_r4 + complexity_r4
* features_jpeg           FeatureExtractor.extract from JPEG bytes (decode, complexity, motion)
* features_gray           FeatureExtractor.extract from a decoded full-size grey frame
* lstm_batch1             LSTM inference, one sequence (8 x 10 features)
* lstm_batch32            LSTM inference, 32 sequences, time / 32
* rpp_full_batch1         RppPipeline.process from JPEG bytes, one frame per call
* rpp_full_batch32        RppPipeline.process from JPEG bytes, 32 frames per call, time / 32
* features_jpeg_r8, rpp_full_batch32_r8: the same with FeatureConfig(reduce=8, motion_level=0),
                          the faster variant (1/8-size decode, coarser features)

Frames are synthetic natural-like scenes (random fields with a 1/f^1.5 amplitude spectrum,
panning per stream, moving blocks, sensor noise), BGR, JPEG q90 (~90 kB, UA-DETRAC ~80 kB);
``--images DIR`` adds the same stages on real JPEGs. The LSTM is untrained (seeded
weights): latency does not depend on the weights.
Paper figure: 14 ms per task. Target: full RPP <= 1 ms per frame, amortised.

    .venv/bin/python benchmarks/rpp_latency.py [--frames 256] [--out benchmarks/results/rpp_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cdio_stream.rpp.complexity import complexity_from_jpeg, decode_gray, multiscale_complexity  # noqa: E402
from cdio_stream.rpp.features import (  # noqa: E402
    FeatureConfig,
    FeatureExtractor,
    StreamHistory,
    feature_names,
)
from cdio_stream.rpp.model import Normaliser, PreferenceLSTM  # noqa: E402
from cdio_stream.rpp.pipeline import FrameTask, RppPipeline  # noqa: E402
from cdio_stream.rpp.predictor import PreferencePredictor  # noqa: E402

W, H = 960, 540


def synthetic_streams(n_streams: int, n_frames: int, *, seed: int, quality: int) -> list[list[bytes]]:
    """JPEG frames per stream: a panning 1/f^1.5 scene, moving dark/bright blocks, noise."""
    rng = np.random.default_rng(seed)
    per_stream = -(-n_frames // n_streams)
    streams = []
    for _ in range(n_streams):
        pan = 3
        width = W + pan * per_stream
        fy = np.fft.fftfreq(H)[:, None]
        fx = np.fft.rfftfreq(width)[None, :]
        k = np.sqrt(fx**2 + fy**2)
        k[0, 0] = 1.0
        spec = (
            rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)
        ) / k**1.5  # amplitude 1/f^1.5: JPEG size and complexity close to UA-DETRAC
        spec[0, 0] = 0.0
        field = np.fft.irfft2(spec, s=(H, width))
        scene = ((field - field.min()) / (field.max() - field.min()) * 200 + 20).astype(np.float32)
        tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
        cars = rng.uniform([0, 0], [W, H - 60], size=(12, 2))
        speed = rng.uniform(-12, 12, size=(12, 2))
        frames = []
        for i in range(per_stream):
            img = scene[:, i * pan : i * pan + W].copy()
            for (x, y), value in zip(cars + i * speed, rng.uniform(0, 255, 12), strict=True):
                xi, yi = int(x) % (W - 80), int(y) % (H - 60)
                img[yi : yi + 40, xi : xi + 70] = value
            img += rng.normal(0, 1.5, img.shape).astype(np.float32)
            bgr = np.clip(img[:, :, None] * tint, 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            frames.append(buf.tobytes())
        streams.append(frames)
    return streams


R8 = FeatureConfig(reduce=8, n_steps=5, motion_level=0)  # the faster variant: 1/8-size decode


def make_predictor(
    vectors: np.ndarray, seq_len: int, seed: int, config: FeatureConfig | None = None
) -> PreferencePredictor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PreferenceLSTM(vectors.shape[1], hidden=32, layers=2)
    norm = Normaliser.fit(vectors, feature_names(vectors.shape[1] - 5))
    hp = {"n_features": vectors.shape[1], "hidden": 32, "layers": 2, "dropout": 0.0}
    config = config or FeatureConfig()
    return PreferencePredictor(model, norm, seq_len=seq_len, hyperparameters=hp, feature_config=config)


def bench_frames(label: str, streams: list[list[bytes]], *, reps: int, seed: int) -> dict:
    """Time every stage on the streams' JPEG frames, stages interleaved round-robin.

    Round-robin (each repetition runs every stage once) spreads any load on a shared
    machine evenly over the stages. Wall time (median, p99) and this thread's CPU time
    (median) are recorded per frame; batch-32 stages run every 4th repetition.
    """
    # frames in capture order across streams, as a preprocess worker would see them
    order = sorted((fi, si) for si, s in enumerate(streams) for fi in range(len(s)))
    jpegs = [streams[si][fi] for fi, si in order]
    tasks = [FrameTask(f"{label}-{si}", fi * 0.04, streams[si][fi], 65.0, 0.4) for fi, si in order]
    n = len(jpegs)
    grays = [decode_gray(b, reduce=1) for b in jpegs]
    small = [decode_gray(b, reduce=4) for b in jpegs]

    hist, fe = StreamHistory(8), FeatureExtractor()
    seqs = np.stack(
        [hist.append(t.stream, fe.extract(t.stream, t.capture_time, t.frame, 65.0, 0.4)) for t in tasks]
    )
    pred = make_predictor(seqs[:, -1, :], 8, seed)
    batches = [slice(s, s + 32) for s in range(0, n - 31, 32)] or [slice(0, n)]
    per32 = batches[0].stop - batches[0].start if n >= 32 else n

    ex_jpeg, ex_gray = FeatureExtractor(), FeatureExtractor()
    pipe1, pipe32 = RppPipeline(pred), RppPipeline(pred)
    ex_r8, pipe32_r8 = (
        FeatureExtractor(R8),
        RppPipeline(make_predictor(seqs[:, -1, :], 8, seed, R8), config=R8),
    )

    def extract(ex: FeatureExtractor, i: int, frame: bytes | np.ndarray) -> None:
        ex.extract(tasks[i].stream, tasks[i].capture_time, frame, 65.0, 0.4)

    stages: dict[str, tuple[Callable[[int], object], int, int]] = {  # name: (fn(rep), frames, every)
        "decode_gray_r4": (lambda r: decode_gray(jpegs[r % n], reduce=4), 1, 1),
        "complexity_r4": (lambda r: multiscale_complexity(small[r % n]), 1, 1),
        "complexity_full": (lambda r: multiscale_complexity(grays[r % n], n_steps=7), 1, 1),
        "complexity_from_jpeg": (lambda r: complexity_from_jpeg(jpegs[r % n]), 1, 1),
        "features_jpeg": (lambda r: extract(ex_jpeg, r % n, jpegs[r % n]), 1, 1),
        "features_gray": (lambda r: extract(ex_gray, r % n, grays[r % n]), 1, 1),
        "lstm_batch1": (lambda r: pred.predict_proba(seqs[r % n][None]), 1, 1),
        "lstm_batch32": (lambda r: pred.predict_proba(seqs[batches[r % len(batches)]]), per32, 4),
        "rpp_full_batch1": (lambda r: pipe1.process([tasks[r % n]]), 1, 1),
        "rpp_full_batch32": (lambda r: pipe32.process(tasks[batches[r % len(batches)]]), per32, 4),
        "features_jpeg_r8": (lambda r: extract(ex_r8, r % n, jpegs[r % n]), 1, 1),
        "rpp_full_batch32_r8": (lambda r: pipe32_r8.process(tasks[batches[r % len(batches)]]), per32, 4),
    }
    for fn, _, _ in stages.values():  # warm-up
        for r in range(3):
            fn(r)
    wall: dict[str, list[float]] = {k: [] for k in stages}
    cpu: dict[str, list[float]] = {k: [] for k in stages}
    for r in range(reps):
        for name, (fn, frames, every) in stages.items():
            if r % every:
                continue
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            fn(r // every)
            c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
            wall[name].append((w1 - w0) / frames / 1e6)
            cpu[name].append((c1 - c0) / frames / 1e6)
    return {
        "frames": n,
        "jpeg_bytes_mean": float(np.mean([len(b) for b in jpegs])),
        "stages": {
            k: {
                "median_ms": float(np.median(wall[k])),
                "p99_ms": float(np.percentile(wall[k], 99)),
                "cpu_median_ms": float(np.median(cpu[k])),
                "min_ms": float(np.min(wall[k])),
                "n": len(wall[k]),
                "frames_per_call": stages[k][1],
            }
            for k in stages
        },
    }


def print_table(results: dict) -> None:
    for label, res in results.items():
        print(f"\n{label}: {res['frames']} frames 960x540, mean JPEG {res['jpeg_bytes_mean'] / 1e3:.1f} kB")
        print(
            f"{'stage (per frame)':<24}{'median ms':>11}{'p99 ms':>10}{'cpu med ms':>12}{'min ms':>9}{'n':>6}"
        )
        for name, s in res["stages"].items():
            print(
                f"{name:<24}{s['median_ms']:>11.3f}{s['p99_ms']:>10.3f}{s['cpu_median_ms']:>12.3f}"
                f"{s['min_ms']:>9.3f}{s['n']:>6}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=256, help="synthetic frames in total")
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the synthetic frames")
    p.add_argument("--images", type=Path, help="also time real 960x540 JPEGs from this folder")
    p.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (target: 1 core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "rpp_latency.json"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    results: dict = {}
    synthetic = synthetic_streams(args.streams, args.frames, seed=args.seed, quality=args.quality)
    results["synthetic"] = bench_frames("synthetic", synthetic, reps=args.frames, seed=args.seed)
    if args.images:
        files = sorted(args.images.glob("*.jpg"))
        if not files:
            p.error(f"no .jpg files in {args.images}")
        real = [f.read_bytes() for f in files]
        copies = max(4, -(-64 // len(real)))  # the same clip as several streams: >= 64 frames
        results["real"] = bench_frames("real", [real] * copies, reps=args.frames, seed=args.seed)
    print_table(results)
    full = results["synthetic"]["stages"]["rpp_full_batch32"]
    print(
        f"\nfull RPP from JPEG, batch 32, amortised: {full['median_ms']:.3f} ms/frame wall, "
        f"{full['cpu_median_ms']:.3f} ms CPU (paper: 14 ms; target <= 1 ms)"
    )
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m_start_end": [load_start, os.getloadavg()[0]],
        "threads": args.threads,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {args.out} ({meta['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
