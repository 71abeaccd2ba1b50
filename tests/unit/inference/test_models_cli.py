"""``cdio-stream models``: list, and a minimal real training run end to end."""

from __future__ import annotations

import json

import pytest

from cdio_stream.cli import main
from cdio_stream.inference.weights import read_compact


def cli(settings, *args: str) -> int:
    return main(["--cache-dir", str(settings.cache_dir), "--torch-threads", "2", *args])


class TestList:
    def test_lists_models_and_deployments(self, inference_settings, capsys):
        assert cli(inference_settings, "models", "list") == 0
        out = capsys.readouterr().out
        assert "deployment V4       edge=yolov5s6   cloud=yolov5x6" in out
        assert "yolov5n-detrac.pt" in out


@pytest.mark.slow
class TestTrain:
    def test_tiny_training_writes_weights_and_card(self, inference_settings, tmp_path, capsys):
        out = tmp_path / "w"
        args = ["models", "train", "--name", "tiny", "--out", str(out), "--imgsz", "64", "--epochs", "1"]
        args += ["--batch", "4", "--synth-sequences", "2", "--synth-frames", "3", "--frame-stride", "1"]
        assert cli(inference_settings, *args) == 0
        card = json.loads((out / "tiny.json").read_text())
        assert card["arch"] == "yolov5n" and card["imgsz"] == 64 and card["epochs_run"] == 1
        assert (card["train_images"], card["val_images"]) == (3, 3)
        assert card["data"]["synth_config"]["sequences"] == 2
        assert card["command"].startswith("cdio-stream models train --name tiny")
        assert "--synth-sequences 2" in card["command"]
        assert read_compact(out / "tiny.pt")["arch"] == "yolov5n"
        assert '"val_map50"' in capsys.readouterr().out  # the card summary is printed
