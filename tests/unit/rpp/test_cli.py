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

    def test_several_ranges_number_their_draws_on(self, tmp_path, trace_frame_factory, capsys):
        frames = [trace_frame_factory(frame=i, capture_time=0.04 * (i - 1)) for i in range(1, 6)]
        trace, out = tmp_path / "trace.jsonl", tmp_path / "hist.jsonl"
        write_trace(trace, frames)
        rc = main(
            ["rpp", "history", "--trace", str(trace), "--edge-model", "edge", "--cloud-model", "cloud"]
            + ["--out", str(out), "--a-range", "10", "20", "--a-range", "62", "70", "--draws", "2"]
        )
        assert rc == 0
        recs = read_history(out)
        by_stream = {}
        for r in recs:
            by_stream.setdefault(r.stream, []).append(r.a_req)
        assert sorted(by_stream) == ["s1#1", "s1#2", "s1#3", "s1#4"]
        assert all(10 <= a <= 20 for k in ("s1#1", "s1#2") for a in by_stream[k])
        assert all(62 <= a <= 70 for k in ("s1#3", "s1#4") for a in by_stream[k])
        # edge 60, cloud 75: the low range is served by the edge, the high one only by the cloud
        printed = capsys.readouterr().out
        assert "A^q in [10, 20]: 10 tasks, 0 prefer compute" in printed
        assert "A^q in [62, 70]: 10 tasks, 10 prefer compute" in printed

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


class TestCvAndEvaluateCommands:
    def test_cv_then_evaluate(self, tmp_path, history_factory, capsys):
        import orjson

        hist, other = tmp_path / "hist.jsonl", tmp_path / "other.jsonl"
        write_history(hist, history_factory(1, n_streams=9, n_tasks=20))
        write_history(other, history_factory(2, n_streams=9, n_tasks=20))
        report, ckpt, scores = tmp_path / "cv.json", tmp_path / "m.pt", tmp_path / "eval.json"
        before = torch.get_num_threads()
        try:
            rc = main(
                ["--torch-threads", "1", "rpp", "cv", "--history", str(hist), "--eval", f"x={other}"]
                + ["--folds", "3", "--grid", "hidden=4,8", "--epochs", "2", "--seq-len", "3"]
                + ["--no-sequence-baseline", "--out", str(report)]
            )
            assert rc == 0
            out = capsys.readouterr().out
            assert "9 scenes, 3 folds" in out and "LSTM P(compute)" in out and "a_req_logistic" in out
            data = orjson.loads(report.read_bytes())
            assert set(data["summary"]) == {"x"} and data["label_balance"]["x"]["tasks"] == 180
            assert data["selected_overall"]["config"] in {"hidden=4", "hidden=8"}
            assert data["base_config"]["seq_len"] == 3

            rc = main(
                ["--torch-threads", "1", "rpp", "train", "--history", str(hist), "--out", str(ckpt)]
                + ["--epochs", "2", "--hidden", "4", "--seq-len", "3"]
            )
            assert rc == 0
            rc = main(
                ["--torch-threads", "1", "rpp", "evaluate", "--checkpoint", str(ckpt)]
                + ["--train-history", str(hist), "--eval", f"x={other}", "--out", str(scores)]
            )
        finally:
            torch.set_num_threads(before)
        assert rc == 0
        got = orjson.loads(scores.read_bytes())["x"]
        assert set(got["scores"]) == {
            "lstm",
            "task_logistic",
            "a_req_logistic",
            "a_req_binned",
            "class_prior",
        }
        assert got["scores"]["lstm"]["tasks"] == 180 and got["p_compute_lstm"]["tasks"] == 180

    def test_bad_eval_and_grid_flags(self, tmp_path, history_factory, capsys):
        hist = tmp_path / "hist.jsonl"
        write_history(hist, history_factory(1, n_streams=4, n_tasks=5))
        assert main(["rpp", "cv", "--history", str(hist), "--eval", "nameless"]) == 2
        assert "NAME=HISTORY" in capsys.readouterr().err
        assert main(["rpp", "cv", "--history", str(hist), "--grid", "hidden=a,b"]) == 2
        assert "hidden" in capsys.readouterr().err
        assert main(["rpp", "cv", "--history", str(hist), "--grid", "split=time"]) == 2
