"""Calibration read from the deployed detectors' model cards (data, not constants in code).

A card (the JSON next to a detector's weights, :mod:`cdio_stream.inference.training`) may
carry ``evaluation.per_frame_map50``: the detector's per-frame mAP50 distribution on
annotated frames it was not trained on::

    {"data": "...", "frames": 160, "mean": 37.7, "p10": ..., "p50": ..., "p90": ...,
     "quantiles": [20 values at levels 2.5 %, 7.5 %, ..., 97.5 %]}

From it come the reference model's prior (:func:`reference_judge`) and the
``--accuracy-range auto`` rule (:func:`auto_accuracy_range`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdio_stream.errors import ConfigError
from cdio_stream.feedback.judge import ReferenceJudge

__all__ = ["auto_accuracy_range", "card_of", "deployed_accuracy_range", "per_frame_map50", "reference_judge"]


def card_of(weights: Path | None) -> dict[str, Any] | None:
    """The model card next to ``weights`` (``<name>.json``), or None when there is none."""
    if weights is None:
        return None
    path = Path(weights).with_suffix(".json")
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"bad model card {path}: {exc}") from None


def per_frame_map50(name: str, weights: Path | None) -> dict[str, Any]:
    """The card's per-frame mAP50 distribution of model ``name``; a clear error without one."""
    card = card_of(weights)
    stats = (card or {}).get("evaluation", {}).get("per_frame_map50")
    if not isinstance(stats, dict) or not {"mean", "p50", "p90", "quantiles"} <= set(stats):
        raise ConfigError(
            f"model {name!r} has no evaluation.per_frame_map50 (mean, p50, p90, quantiles) in its card "
            f"({Path(weights).with_suffix('.json') if weights else 'no weights file'}); measure it with "
            "`cdio-stream models evaluate` or pass explicit numbers"
        )
    return stats


def reference_judge(name: str, weights: Path | None) -> ReferenceJudge:
    """The reference model's prior: its card's per-frame mAP50 quantiles (one complexity bucket)."""
    stats = per_frame_map50(name, weights)
    return ReferenceJudge(name, (tuple(float(q) for q in stats["quantiles"]),))


def auto_accuracy_range(edge: dict[str, Any], cloud: dict[str, Any]) -> tuple[float, float]:
    """``--accuracy-range auto``: from the edge model's median per-frame mAP50 to the cloud
    model's 90th percentile, so that A^q spans what the deployment can do: the easiest
    requirement is met by the edge on half of the frames, the hardest by the cloud on a
    tenth of them (the paper's [50, 80] plays that role for its own models)."""
    lo, hi = float(edge["p50"]), float(cloud["p90"])
    if not hi > lo:
        raise ConfigError(f"auto accuracy range is empty: edge median {lo} >= cloud 90th percentile {hi}")
    return round(lo, 1), round(hi, 1)


def deployed_accuracy_range(topology, models_file: Path | None = None) -> tuple[float, float]:
    """:func:`auto_accuracy_range` for the deployment of ``topology``: its first edge
    server's model and its first cloud server's model, from their registry cards."""
    from cdio_stream.inference.registry import default_registry, load_registry

    registry = load_registry(models_file) if models_file else default_registry()
    edge = next((s for s in topology.servers if s.tier == "edge"), None)
    cloud = next((s for s in topology.servers if s.tier == "cloud"), None)
    if edge is None or cloud is None:
        raise ConfigError("--accuracy-range auto needs an edge and a cloud server in topics.yaml")
    stats = [per_frame_map50(s.model, registry.spec(s.model).weights) for s in (edge, cloud)]
    return auto_accuracy_range(*stats)
