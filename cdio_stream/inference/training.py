"""Train a small YOLO detector on DETRAC-format data with Ultralytics, and write its model card.

One real ``ultralytics`` training run from scratch (no pretrained weights exist
offline) on a dataset written by :func:`~cdio_stream.inference.yolo_dataset.export_yolo_dataset`.
The best epoch's weights are stored in the compact FP16 format
(:mod:`cdio_stream.inference.weights`) as ``<out>/<name>.pt`` next to a JSON
model card ``<out>/<name>.json`` saying what was trained, on what, how long it
took and how well it scored on the validation split.

``time_budget_s`` uses Ultralytics' own ``time`` mode: after each epoch it
re-plans the number of epochs (and the learning-rate schedule) to fit the budget,
which keeps training on a shared CPU within a known wall time.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.errors import ConfigError
from cdio_stream.inference.offline import configure_ultralytics, restore_torch_threads
from cdio_stream.inference.registry import resolve_arch
from cdio_stream.inference.weights import save_compact
from cdio_stream.settings import Settings

__all__ = ["TrainConfig", "ModelCard", "train_detector", "read_card", "write_card"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (the rest are Ultralytics' defaults)."""

    arch: str = "yolov5n"
    imgsz: int = 256
    epochs: int = 20
    time_budget_s: float | None = None  # if set, Ultralytics fits the epochs into this wall time
    batch: int = 16
    workers: int = 0  # dataloader processes; 0 keeps the shared CPU for the model
    seed: int = 0
    patience: int = 100
    init: str | None = None  # start from these weights (compact or Ultralytics .pt) instead of scratch

    def validated(self) -> TrainConfig:
        resolve_arch(self.arch)
        if self.imgsz < 64 or self.imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32 >= 64, got {self.imgsz}")
        if self.epochs < 1 or self.batch < 1 or self.workers < 0:
            raise ConfigError("epochs and batch must be >= 1 and workers >= 0")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ConfigError(f"time_budget_s must be > 0, got {self.time_budget_s}")
        return self


@dataclass(frozen=True)
class ModelCard:
    """The JSON written next to trained weights."""

    name: str
    arch: str
    imgsz: int
    names: list[str]
    weights_file: str
    weights_sha256: str
    weights_bytes: int
    epochs_run: int
    train_time_s: float
    val_map50: float  # percent, Ultralytics' validation of the best epoch
    val_map50_95: float
    train_images: int
    val_images: int
    config: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)  # how the training data was made
    command: str = ""  # the command line that reproduces the weights
    environment: dict[str, str] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)  # optional: results of later evaluations


def write_card(card: ModelCard, path: str | Path) -> None:
    Path(path).write_text(json.dumps(asdict(card), indent=2, sort_keys=False) + "\n")


def read_card(path: str | Path) -> ModelCard:
    path = Path(path)
    try:
        return ModelCard(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"bad model card {path}: {exc}") from None


def train_detector(
    data_yaml: str | Path,
    out_dir: str | Path,
    name: str,
    config: TrainConfig = TrainConfig(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    settings: Settings | None = None,
    data_info: dict[str, Any] | None = None,
    command: str = "",
) -> ModelCard:
    """Train ``config.arch`` on ``data_yaml``; write ``out_dir/name.pt`` and ``out_dir/name.json``.

    Ultralytics' run folder (plots off, checkpoints, results.csv) goes to
    ``settings.cache_dir/train-runs/name``.
    """
    config = config.validated()
    settings = settings or Settings()
    threads = settings.torch_threads
    configure_ultralytics(settings.cache_dir, torch_threads=threads, offline=settings.offline)
    import torch
    from ultralytics import YOLO, __version__

    yolo = YOLO(resolve_arch(config.arch), task="detect", verbose=False)
    if config.init is not None:
        from cdio_stream.inference.registry import ModelSpec
        from cdio_stream.inference.weights import build_yolo

        start = build_yolo(ModelSpec("init", config.arch, Path(config.init), imgsz=config.imgsz))
        yolo.load(start.model)  # Ultralytics then seeds training from these weights

    def keep_threads(_trainer) -> None:  # select_device() in trainer/validator drops torch to 1 thread
        restore_torch_threads(threads)

    for event in ("on_pretrain_routine_end", "on_train_start", "on_fit_epoch_end"):
        yolo.add_callback(event, keep_threads)

    run_root = Path(settings.cache_dir) / "train-runs"
    started = time.monotonic()
    yolo.train(
        data=str(Path(data_yaml).resolve()),
        imgsz=config.imgsz,
        epochs=config.epochs,
        time=None if config.time_budget_s is None else config.time_budget_s / 3600.0,
        batch=config.batch,
        nbs=config.batch,  # one optimizer step per batch (the default nbs=64 accumulates 4 batches of 16)
        workers=config.workers,
        seed=config.seed,
        deterministic=False,  # torch deterministic kernels made CPU training ~2.5x slower here
        patience=config.patience,
        device="cpu",
        cache="ram",
        plots=False,
        project=str(run_root),
        name=name,
        exist_ok=True,
        verbose=True,
    )
    train_time = time.monotonic() - started
    restore_torch_threads(threads)
    trainer = yolo.trainer
    best = Path(trainer.best)
    if not best.is_file():
        raise ConfigError(f"training produced no {best}")
    metrics = trainer.metrics or {}
    trained = YOLO(str(best), task="detect")

    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.pt"
    size = save_compact(
        trained.model, weights, arch=config.arch, names=list(DETRAC_CLASSES), imgsz=config.imgsz
    )
    card = ModelCard(
        name=name,
        arch=config.arch,
        imgsz=config.imgsz,
        names=list(DETRAC_CLASSES),
        weights_file=weights.name,
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
        weights_bytes=size,
        epochs_run=int(trainer.epoch) + 1,
        train_time_s=round(train_time, 1),
        val_map50=round(100.0 * float(metrics.get("metrics/mAP50(B)", 0.0)), 2),
        val_map50_95=round(100.0 * float(metrics.get("metrics/mAP50-95(B)", 0.0)), 2),
        train_images=len(trainer.train_loader.dataset),
        val_images=len(trainer.test_loader.dataset),
        config=asdict(config),
        data=dict(data_info or {}),
        command=command,
        environment={
            "ultralytics": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": str(threads),
        },
    )
    write_card(card, out_dir / f"{name}.json")
    return card
