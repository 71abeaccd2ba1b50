"""The committed trained detectors: they load, and score far above an untrained model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.inference.accuracy import dataset_map50
from cdio_stream.inference.evaluate import evaluate_detector
from cdio_stream.inference.registry import WEIGHTS_DIR, default_registry
from cdio_stream.inference.runner import Detector
from cdio_stream.inference.training import read_card


@pytest.fixture(scope="module")
def unseen_frames(tmp_path_factory) -> DetracDataset:
    """Synthetic frames from a seed the detectors were not trained on (training used seed 0)."""
    root = tmp_path_factory.mktemp("synth-val")
    generate_dataset(root, SynthConfig(sequences=6, frames=2, seed=1234))
    return DetracDataset(root)


def pooled_map50(detector: Detector, dataset: DetracDataset) -> float:
    return dataset_map50(s.match for s in evaluate_detector(detector, dataset))


class TestCommittedWeights:
    @pytest.mark.parametrize("name", ["edge", "cloud"])
    def test_card_matches_weights_and_registry(self, name):
        import hashlib

        spec = default_registry().spec(name)
        card = read_card(spec.weights.with_suffix(".json"))
        assert spec.weights == WEIGHTS_DIR / card.weights_file
        assert hashlib.sha256(spec.weights.read_bytes()).hexdigest() == card.weights_sha256
        assert spec.arch == card.arch
        assert card.command.startswith("cdio-stream models train")

    def test_edge_runs_at_a_lower_resolution_than_cloud(self):
        edge, cloud = default_registry().deployment("trained")
        assert edge.imgsz < cloud.imgsz

    def test_total_size_is_small(self):
        total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.pt"))
        assert total < 30_000_000, total

    def test_trained_edge_far_above_untrained(self, unseen_frames, inference_settings):
        """``yolo val``-style scoring (conf 0.001, pooled over frames) of the shipped weights vs random ones."""
        import torch

        shipped = default_registry().spec("edge")
        trained_spec = replace(shipped, name="trained", conf=0.001)
        untrained_spec = replace(trained_spec, name="untrained", weights=None)
        trained = pooled_map50(Detector(trained_spec, settings=inference_settings), unseen_frames)
        torch.manual_seed(0)  # the untrained model's random weights
        untrained = pooled_map50(Detector(untrained_spec, settings=inference_settings), unseen_frames)
        message = (
            f"trained edge mAP50 {trained:.1f}% vs untrained {untrained:.1f}% on unseen synthetic frames"
        )
        assert trained > 10.0 and trained > 10 * max(untrained, 0.5), message
