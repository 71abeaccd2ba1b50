"""Building YOLO models from a spec, and the compact weights format of the committed detectors.

Compact format (``cdio-yolo/1``): a ``torch.save`` dict holding the architecture
name, class names, training input size and an FP16 ``state_dict``. It loads with
``torch.load(weights_only=True)`` (no pickled code) and is about half the size of
an Ultralytics checkpoint. Any other ``.pt`` is handed to ``ultralytics.YOLO``,
so users' own training outputs (``best.pt``) work unchanged.

Pretrained release checkpoints (``ModelSpec.pretrained``, e.g. ``yolov5su.pt``) are
looked for in the weights folder (``Settings.weights_dir``); when absent, Ultralytics
downloads them there if the machine is online, and an offline machine
(``CDIO_OFFLINE=1``) gets one line naming the file and the folder to put it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.errors import ConfigError
from cdio_stream.inference.registry import ModelSpec, resolve_arch

__all__ = ["COMPACT_FORMAT", "build_yolo", "locate_pretrained", "read_compact", "save_compact"]

COMPACT_FORMAT = "cdio-yolo/1"


def class_names(num_classes: int) -> dict[int, str]:
    if num_classes == len(DETRAC_CLASSES):
        return dict(enumerate(DETRAC_CLASSES))
    return {i: str(i) for i in range(num_classes)}


def locate_pretrained(spec: ModelSpec, weights_dir: Path, *, offline: bool) -> Path:
    """The local file of ``spec.pretrained``: already in ``weights_dir``, or downloaded there.

    Offline, or when the download fails, a missing file is a one-line ConfigError that
    names the file and where to put it.
    """
    assert spec.pretrained is not None
    path = Path(weights_dir).expanduser() / spec.pretrained
    if path.is_file():
        return path
    where = f"put {spec.pretrained} (Ultralytics' release asset of that name) in {path.parent}"
    if offline:
        raise ConfigError(
            f"model {spec.name!r}: {spec.pretrained} not found and offline (CDIO_OFFLINE=1): {where}"
        )
    from ultralytics.utils.downloads import attempt_download_asset

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        got = Path(attempt_download_asset(str(path)))
    except Exception as exc:  # network errors of every kind
        raise ConfigError(
            f"model {spec.name!r}: downloading {spec.pretrained} failed ({exc}); {where}"
        ) from None
    if not got.is_file():
        raise ConfigError(f"model {spec.name!r}: {spec.pretrained} could not be downloaded; {where}")
    return got


def build_yolo(spec: ModelSpec, *, weights_dir: Path | None = None, offline: bool = True) -> Any:
    """An ``ultralytics.YOLO`` for ``spec``: YAML build, compact weights or an Ultralytics checkpoint.

    Ultralytics must already be configured (:func:`~cdio_stream.inference.offline.configure_ultralytics`).
    ``weights_dir``/``offline`` locate ``spec.pretrained`` (see :func:`locate_pretrained`).
    """
    from ultralytics import YOLO

    if spec.pretrained is not None:
        if weights_dir is None:
            raise ConfigError(f"model {spec.name!r}: pretrained weights need a weights folder")
        path = locate_pretrained(spec, weights_dir, offline=offline)
    elif spec.weights is None:
        return _from_yaml(resolve_arch(spec.arch), spec.num_classes, class_names(spec.num_classes))
    else:
        path = Path(spec.weights)
    if not path.is_file():
        raise ConfigError(f"model {spec.name!r}: weights file {path} not found")
    compact = read_compact(path)
    if compact is None:
        try:
            yolo = YOLO(str(path), task="detect")
        except Exception as exc:  # ultralytics raises bare exceptions of many kinds for bad files
            raise ConfigError(f"model {spec.name!r}: cannot load weights {path}: {exc}") from None
        nc = len(yolo.names)
        if nc != spec.num_classes:
            raise ConfigError(f"model {spec.name!r}: {path} has {nc} classes, spec says {spec.num_classes}")
        return yolo
    if len(compact["names"]) != spec.num_classes:
        raise ConfigError(
            f"model {spec.name!r}: {path} has {len(compact['names'])} classes, spec says {spec.num_classes}"
        )
    yolo = _from_yaml(resolve_arch(compact["arch"]), spec.num_classes, dict(enumerate(compact["names"])))
    state = {k: v.float() if v.is_floating_point() else v for k, v in compact["state_dict"].items()}
    try:
        yolo.model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"model {spec.name!r}: {path} does not fit {compact['arch']}: {exc}") from None
    return yolo


def read_compact(path: Path) -> dict[str, Any] | None:
    """The compact weights dict stored at ``path``, or None if the file is in another format."""
    import pickle

    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError):  # an Ultralytics checkpoint pickles modules
        return None
    if isinstance(data, dict) and data.get("format") == COMPACT_FORMAT:
        return data
    return None


def save_compact(model: Any, path: str | Path, *, arch: str, names: list[str], imgsz: int) -> int:
    """Write ``model`` (a DetectionModel) in the compact format; returns the file size in bytes."""
    import torch

    state = {
        k: v.detach().half() if v.is_floating_point() else v.detach() for k, v in model.state_dict().items()
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"format": COMPACT_FORMAT, "arch": arch, "names": list(names), "imgsz": imgsz, "state_dict": state},
        path,
    )
    return path.stat().st_size


def _from_yaml(yaml_name: str, nc: int, names: dict[int, str]) -> Any:
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    yolo = YOLO(yaml_name, task="detect", verbose=False)  # a YOLO shell around the YAML build
    if yolo.model.yaml.get("nc") != nc:  # rebuild with our class count instead of the YAML's 80
        old = yolo.model
        cfg = {**old.yaml, "nc": nc}
        yolo.model = DetectionModel(cfg, verbose=False)
        yolo.model.args, yolo.model.task = old.args, old.task
    yolo.model.names = names
    return yolo
