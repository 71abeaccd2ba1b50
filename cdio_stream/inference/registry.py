"""Named detector configurations and the paper's edge/cloud deployment versions.

A :class:`ModelSpec` says how to build one detector: an architecture (a YOLO
YAML shipped with Ultralytics, e.g. ``yolov5n``, or a path to a YAML), optional
weights, the input size and the number of classes. A :class:`ModelRegistry`
maps names to specs and deployment names to (edge, cloud) pairs.

Built in (:func:`default_registry`):

* ``edge`` / ``cloud`` and the deployment ``trained``: the detectors trained on
  synthetic UA-DETRAC-format data, committed in ``cdio_stream/weights/`` and
  declared in ``cdio_stream/weights/models.yaml`` (their JSON model cards say how
  they were made).
* ``yolov5s`` ... ``yolov5x6``: the six models of the paper's Table 1, as Ultralytics'
  COCO-pretrained checkpoints :data:`PRETRAINED_WEIGHTS` (``yolov5su.pt`` ...
  ``yolov5x6u.pt``). These are the anchor-free "YOLOv5u" re-releases, the only YOLOv5
  weights Ultralytics publishes for its current heads: same backbones as the paper's
  models, a different head, so parameter counts are ~25 % above the paper's and the mAP
  differs from Table 1. P5 models run at 640 px, P6 models at 1280 px (their training
  size). Their COCO classes are mapped onto DETRAC's for scoring
  (:data:`~cdio_stream.data.classes.COCO_TO_DETRAC`). Weights are fetched by Ultralytics
  when the machine is online, else read from ``Settings.weights_dir``
  (:func:`~cdio_stream.inference.weights.locate_pretrained`).
* ``yolov5s-untrained`` ... ``yolov5x6-untrained``: the same architectures built from
  their YAMLs with random weights: real latency, params and GFLOPs without any download,
  meaningless detections.
* Deployments ``V1``-``V4`` (paper Table 2), on the pretrained models.
* ``null``: the no-op detector (architecture :data:`NULL_ARCH`): no detections in
  near-zero time, no model loaded. Point every server of a topics.yaml at it to measure
  what the pipeline itself costs (``benchmarks/pipeline_overhead.py``).

Users add or override entries with a YAML file (:func:`load_registry`)::

    models:
      mine: {arch: yolov5m, weights: runs/best.pt, imgsz: 640}
    deployments:
      V5: {edge: yolov5s, cloud: mine}

Relative weight paths are resolved against the YAML file's folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.errors import ConfigError

__all__ = [
    "NULL_ARCH",
    "WEIGHTS_DIR",
    "PAPER_ARCHS",
    "PRETRAINED_WEIGHTS",
    "UNTRAINED_SUFFIX",
    "PAPER_DEPLOYMENTS",
    "Deployment",
    "ModelRegistry",
    "ModelSpec",
    "default_registry",
    "load_registry",
    "resolve_arch",
]

#: Folder of the committed trained detectors (``<name>.pt`` + ``<name>.json`` model card).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

#: Paper Table 2: deployment version -> (edge model, cloud model).
PAPER_DEPLOYMENTS: dict[str, tuple[str, str]] = {
    "V1": ("yolov5s", "yolov5l"),
    "V2": ("yolov5s", "yolov5x"),
    "V3": ("yolov5s6", "yolov5l6"),
    "V4": ("yolov5s6", "yolov5x6"),
}

#: The six models of the paper's Table 1, built untrained from their YAMLs.
PAPER_ARCHS = ("yolov5s", "yolov5l", "yolov5x", "yolov5s6", "yolov5l6", "yolov5x6")

#: Paper model -> Ultralytics' pretrained checkpoint (the anchor-free "u" re-release).
PRETRAINED_WEIGHTS: dict[str, str] = {arch: f"{arch}u.pt" for arch in PAPER_ARCHS}

#: Name suffix of the random-weight builds of the paper's architectures.
UNTRAINED_SUFFIX = "-untrained"

#: How many classes each label set has; "coco" outputs are mapped onto DETRAC for scoring.
LABEL_SETS: dict[str, int] = {"detrac": len(DETRAC_CLASSES), "coco": 80}

_SIZES = ("n", "s", "m", "l", "x")

#: Architecture of the no-op detector: :class:`~cdio_stream.inference.runner.Detector`
#: returns no detections for it and loads no model (no YAML, no weights, no torch).
NULL_ARCH = "null"


@dataclass(frozen=True)
class ModelSpec:
    """How to build one detector.

    ``arch``: ``yolov5n``-style name (``yolov5s6`` means the P6 variant) or a YAML path.
    ``weights``: a file from ``cdio-stream models train`` or any Ultralytics checkpoint.
    ``pretrained``: instead, the file name of an Ultralytics release checkpoint (e.g.
    ``yolov5su.pt``), found in or downloaded to the weights folder. Neither: the
    architecture with random weights. ``labels``: the label set the model predicts,
    ``detrac`` or ``coco`` (mapped onto DETRAC's classes). ``conf``/``iou``/``max_det``
    are the NMS settings used for every prediction.
    """

    name: str
    arch: str
    weights: Path | None = None
    imgsz: int = 640
    num_classes: int = len(DETRAC_CLASSES)
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    pretrained: str | None = None
    labels: str = "detrac"

    def __post_init__(self) -> None:
        if self.labels not in LABEL_SETS:
            raise ConfigError(f"model {self.name!r}: labels must be one of {', '.join(LABEL_SETS)}")
        if self.weights is not None and self.pretrained is not None:
            raise ConfigError(f"model {self.name!r}: give weights or pretrained, not both")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ConfigError(f"model {self.name!r}: imgsz must be a multiple of 32 >= 32, got {self.imgsz}")
        if self.num_classes < 1:
            raise ConfigError(f"model {self.name!r}: num_classes must be >= 1, got {self.num_classes}")
        if not (0.0 <= self.conf < 1.0 and 0.0 < self.iou <= 1.0):
            raise ConfigError(f"model {self.name!r}: conf must be in [0, 1) and iou in (0, 1]")
        if self.max_det < 1:
            raise ConfigError(f"model {self.name!r}: max_det must be >= 1, got {self.max_det}")

    @property
    def trained(self) -> bool:
        return self.weights is not None or self.pretrained is not None

    @property
    def is_null(self) -> bool:
        """The no-op detector: no detections, near-zero time (see :data:`NULL_ARCH`)."""
        return self.arch == NULL_ARCH


@dataclass(frozen=True)
class Deployment:
    """A model deployment version: which registry model runs on the edge, which on the cloud."""

    name: str
    edge: str
    cloud: str


@dataclass(frozen=True)
class ModelRegistry:
    models: Mapping[str, ModelSpec] = field(default_factory=dict)
    deployments: Mapping[str, Deployment] = field(default_factory=dict)

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(f"unknown model {name!r} (known: {', '.join(sorted(self.models))})") from None

    def resolve(self, token: str) -> ModelSpec:
        """A spec from ``name`` or ``name@imgsz`` (the same model at another input size)."""
        name, sep, size = token.strip().partition("@")
        spec = self.spec(name)
        if not sep:
            return spec
        if not size.isdigit():
            raise ConfigError(f"bad model {token!r}: expected NAME or NAME@IMGSZ")
        return replace(spec, name=token.strip(), imgsz=int(size))

    def resolve_list(self, text: str) -> list[ModelSpec]:
        """Specs of a comma-separated list such as ``edge,cloud@448``; names must be unique."""
        specs = [self.resolve(t) for t in text.split(",") if t.strip()]
        if not specs:
            raise ConfigError("no model named (expected e.g. 'edge,cloud')")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"model list {text!r} names a model twice")
        return specs

    def deployment(self, name: str) -> tuple[ModelSpec, ModelSpec]:
        """(edge spec, cloud spec) of a deployment version."""
        try:
            d = self.deployments[name]
        except KeyError:
            known = ", ".join(sorted(self.deployments))
            raise ConfigError(f"unknown deployment {name!r} (known: {known})") from None
        return self.spec(d.edge), self.spec(d.cloud)

    def merged(self, other: ModelRegistry) -> ModelRegistry:
        """This registry with ``other``'s entries added (same name: ``other`` wins); checked."""
        out = ModelRegistry({**self.models, **other.models}, {**self.deployments, **other.deployments})
        out.check()
        return out

    def check(self) -> None:
        for d in self.deployments.values():
            for side in (d.edge, d.cloud):
                if side not in self.models:
                    raise ConfigError(f"deployment {d.name!r} names unknown model {side!r}")


def resolve_arch(arch: str) -> str:
    """Ultralytics model YAML for an architecture name: ``yolov5s`` -> ``yolov5s.yaml``,
    ``yolov5s6`` -> ``yolov5s-p6.yaml``; a path ending in .yaml/.yml is returned unchanged."""
    if arch.endswith((".yaml", ".yml")):
        return arch
    if arch == NULL_ARCH:
        raise ConfigError(
            f"architecture {NULL_ARCH!r} is the no-op detector: it has no model to build or train"
        )
    if arch.startswith("yolov5") and len(arch) in (7, 8) and arch[6] in _SIZES:
        return f"yolov5{arch[6]}-p6.yaml" if arch[7:] == "6" else f"yolov5{arch[6]}.yaml"
    if arch.startswith("yolo") and arch[-1] in _SIZES:  # other families, e.g. yolov8n, yolo11s
        return f"{arch}.yaml"
    raise ConfigError(f"unknown architecture {arch!r}: use e.g. yolov5n, yolov5s6 or a YAML path")


def default_registry(weights_dir: Path = WEIGHTS_DIR) -> ModelRegistry:
    """The built-in models and deployments (see the module docstring).

    ``edge``, ``cloud`` and the ``trained`` deployment come from
    ``weights_dir/models.yaml``, which ships next to the weights it names.
    """
    models = {
        arch: ModelSpec(
            arch,
            arch,
            imgsz=1280 if arch.endswith("6") else 640,
            num_classes=LABEL_SETS["coco"],
            pretrained=PRETRAINED_WEIGHTS[arch],
            labels="coco",
        )
        for arch in PAPER_ARCHS
    }
    models |= {a + UNTRAINED_SUFFIX: ModelSpec(a + UNTRAINED_SUFFIX, a, imgsz=640) for a in PAPER_ARCHS}
    models[NULL_ARCH] = ModelSpec(NULL_ARCH, NULL_ARCH)
    deployments = {n: Deployment(n, e, c) for n, (e, c) in PAPER_DEPLOYMENTS.items()}
    base = ModelRegistry(models, deployments)
    shipped = weights_dir / "models.yaml"
    return load_registry(shipped, base=base) if shipped.is_file() else base


def load_registry(path: str | Path | None = None, *, base: ModelRegistry | None = None) -> ModelRegistry:
    """``base`` (default: :func:`default_registry`) extended with the models and deployments of ``path``."""
    base = base if base is not None else default_registry()
    if path is None:
        return base
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read model registry {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - {"models", "deployments"}:
        raise ConfigError(f"{path}: expected a mapping with 'models' and/or 'deployments'")
    models = {n: _spec_from_yaml(path, n, v) for n, v in (doc.get("models") or {}).items()}
    deployments = {}
    for n, v in (doc.get("deployments") or {}).items():
        if not isinstance(v, dict) or set(v) != {"edge", "cloud"}:
            raise ConfigError(f"{path}: deployment {n!r} needs exactly 'edge' and 'cloud'")
        deployments[str(n)] = Deployment(str(n), str(v["edge"]), str(v["cloud"]))
    return base.merged(ModelRegistry(models, deployments))


def _spec_from_yaml(path: Path, name: str, value: object) -> ModelSpec:
    allowed = {f.name for f in fields(ModelSpec)} - {"name"}
    if not isinstance(value, dict) or "arch" not in value or set(value) - allowed:
        raise ConfigError(f"{path}: model {name!r} needs 'arch' and only keys {', '.join(sorted(allowed))}")
    kwargs = dict(value)
    if kwargs.get("weights") is not None:
        weights = Path(str(kwargs["weights"])).expanduser()
        kwargs["weights"] = weights if weights.is_absolute() else path.parent / weights
    try:
        spec = ModelSpec(name=str(name), **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{path}: model {name!r}: {exc}") from None
    if not spec.is_null:
        resolve_arch(spec.arch)
    return spec
