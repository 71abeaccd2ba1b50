"""``cdio-stream rpp history`` and ``cdio-stream rpp train`` through the real entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cdio_stream.cli import main
from cdio_stream.rpp.history import read_history, write_history
from cdio_stream.rpp.predictor import PreferencePredictor
from cdio_stream.trace import write_trace


class TestHistoryCommand:
    def test_builds_history_from_trace(self, tmp_path, trace_frame_factory, capsys):
        frames = [trace_frame_factory(frame=i, capture_time=0.04 * (i - 1)) for i in range(1, 11)]
        trace, out = tmp_path / "trace.jsonl", tmp_path / "hist.jsonl"
        write_trace(trace, frames)
        rc = main(
            ["rpp", "history", "--trace", str(trace), "--edge-model", "edge", "--cloud-model", "cloud"]
            + ["--out", str(out), "--seed", "4", "--a-range", "55", "60"]
        )
        assert rc == 0
        recs = read_history(out)
        assert len(recs) == 10 and all(55 <= r.a_req <= 60 for r in recs)
        # edge mAP 60 >= every a_req: all tasks prefer bandwidth
        assert "wrote 10 tasks" in capsys.readouterr().out and all(r.label() == 0 for r in recs)

    def test_missing_model_is_a_clean_error(self, tmp_path, trace_frame_factory, capsys):
        trace = tmp_path / "trace.jsonl"
        write_trace(trace, [trace_frame_factory()])
        rc = main(
            ["rpp", "history", "--trace", str(trace), "--edge-model", "nope", "--cloud-model", "cloud"]
            + ["--out", str(tmp_path / "h.jsonl")]
        )
        assert rc == 2 and "'nope'" in capsys.readouterr().err


class TestTrainCommand:
    def test_trains_and_writes_checkpoint(self, tmp_path, history_factory, capsys):
        hist, ckpt = tmp_path / "hist.jsonl", tmp_path / "models" / "rpp.pt"
        write_history(hist, history_factory(1, n_streams=6, n_tasks=60))
        before = torch.get_num_threads()
        try:
            rc = main(
                ["--torch-threads", "1", "rpp", "train", "--history", str(hist), "--out", str(ckpt)]
                + ["--epochs", "3", "--seed", "1", "--seq-len", "4", "--hidden", "8"]
            )
        finally:
            torch.set_num_threads(before)
        assert rc == 0
        out = capsys.readouterr().out
        assert out.count("epoch ") >= 1 and "val_accuracy" in out and f"saved {ckpt}" in out
        pred = PreferencePredictor.load(ckpt)
        assert pred.seq_len == 4 and pred.hyperparameters["hidden"] == 8
        assert pred.metrics["train_config"]["seed"] == 1
        assert pred.predict_proba(np.zeros((2, 4, 10), np.float32)).shape == (2,)

    def test_scene_split_report(self, tmp_path, history_factory, capsys):
        import orjson

        hist, ckpt, report = tmp_path / "hist.jsonl", tmp_path / "rpp.pt", tmp_path / "report.json"
        write_history(hist, history_factory(1, n_streams=10, n_tasks=30))
        before = torch.get_num_threads()
        try:
            rc = main(
                ["--torch-threads", "1", "rpp", "train", "--history", str(hist), "--out", str(ckpt)]
                + ["--epochs", "2", "--hidden", "8", "--split", "scene", "--report", str(report)]
            )
        finally:
            torch.set_num_threads(before)
        assert rc == 0
        out = capsys.readouterr().out
        assert "held-out (scene split)" in out and "a_req_only" in out and "class_prior" in out
        data = orjson.loads(report.read_bytes())
        assert data["split"] == "scene" and data["n_val"] == 60  # 2 of 10 streams x 30 tasks
        assert set(data["heldout"]) == {"model", "a_req_only", "class_prior"}

    def test_bad_history_file(self, tmp_path, capsys):
        hist = tmp_path / "bad.jsonl"
        hist.write_text("{}\n")
        rc = main(["rpp", "train", "--history", str(hist), "--out", str(tmp_path / "x.pt")])
        assert rc == 2 and "bad.jsonl:1" in capsys.readouterr().err

    def test_action_is_required(self):
        with pytest.raises(SystemExit):
            main(["rpp"])
