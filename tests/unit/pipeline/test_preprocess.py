from __future__ import annotations

import cv2
import numpy as np
import pytest

from cdio_stream.errors import MessageError
from cdio_stream.messages import Frame, FrameMeta, encode_frame
from cdio_stream.pipeline.preprocess import Preprocessor, load_rpp


def jpeg(seed: int, kind: str = "noise") -> bytes:
    rng = np.random.default_rng(seed)
    if kind == "gradient":
        img = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (180, 1))[..., None].repeat(3, axis=2)
    elif kind == "flat":
        img = np.full((180, 320, 3), 128, dtype=np.uint8)
    else:
        img = rng.integers(0, 255, size=(180, 320, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


class TestPreprocessor:
    def test_frame_becomes_task_with_features_and_preference(self):
        pre = Preprocessor(load_rpp(None), 4_000_000, clock=lambda: 123.0)
        tasks = []
        for i in range(3):
            meta = FrameMeta("cam", i, 10.0 + i * 0.04, a_req=60.0, d_req=0.4, gt_ref=f"MVI_1/{i}")
            tasks.append(pre.handle(*encode_frame(Frame(meta, jpeg(i)))))
        t = tasks[-1]
        assert t.task_id == "cam/2"
        assert t.frame.meta.gt_ref == "MVI_1/2"
        assert t.features.complexity > 0
        assert len(t.features.complexity_scales) == 5
        assert t.features.inter_arrival == pytest.approx(0.04)
        assert t.features.motion > 0  # random frames differ
        assert t.preference in (0.0, 1.0)  # the fallback rule decides without a checkpoint
        assert t.created_at == 123.0

    def test_flat_frame_has_no_complexity_structured_frame_has_some(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        flat = pre.handle(*encode_frame(Frame(FrameMeta("a", 1, 0.0, 60, 0.4), jpeg(1, "flat"))))
        gradient = pre.handle(*encode_frame(Frame(FrameMeta("b", 1, 0.0, 60, 0.4), jpeg(1, "gradient"))))
        assert flat.features.complexity < 1e-9
        assert gradient.features.complexity > 1e-3

    def test_corrupt_jpeg_is_a_message_error(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        good = jpeg(0)
        _, headers = encode_frame(Frame(FrameMeta("cam", 1, 0.0, 60, 0.4), good))
        corrupt = good[:20] + b"\x00" * 50 + b"\xff\xd9"  # markers intact, body destroyed
        with pytest.raises(MessageError):
            pre.handle(corrupt, headers)

    def test_jpeg_cut_in_the_middle_with_an_end_marker_is_a_message_error(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        good = jpeg(0, "gradient")
        _, headers = encode_frame(Frame(FrameMeta("cam", 1, 0.0, 60, 0.4), good))
        half = good[: len(good) // 2] + b"\xff\xd9"  # passes the marker check, not a full decode
        with pytest.raises(MessageError, match="does not decode completely"):
            pre.handle(half, headers)


class TestModelVersions:
    """Published models replace the one in use between frames; tasks say which decided."""

    @staticmethod
    def predictor(version: int, bias: float):
        import torch

        from cdio_stream.rpp.features import feature_names
        from cdio_stream.rpp.model import Normaliser, PreferenceLSTM
        from cdio_stream.rpp.predictor import PreferencePredictor

        torch.manual_seed(0)
        model = PreferenceLSTM(10, hidden=4, layers=1)
        with torch.no_grad():
            model.head.weight.zero_()
            model.head.bias.fill_(bias)  # P(compute) = sigmoid(bias) whatever the frame
        norm = Normaliser.fit(np.random.default_rng(0).random((20, 10)), feature_names(5))
        hp = {"n_features": 10, "hidden": 4, "layers": 1, "dropout": 0.0}
        return PreferencePredictor(model, norm, seq_len=4, hyperparameters=hp, version=version)

    @staticmethod
    def published(pred):
        from cdio_stream.messages import RppModel, encode_rpp_model

        return encode_rpp_model(RppModel(pred.version, pred.to_bytes(), {"parent_version": 0}, 1.0))

    def frame(self, i: int):
        return encode_frame(Frame(FrameMeta("cam", i, i * 0.04, a_req=60.0, d_req=0.4), jpeg(i)))

    def test_switches_to_newer_versions_only(self):
        from cdio_stream.rpp.pipeline import RppPipeline

        pre = Preprocessor(RppPipeline(self.predictor(0, -3.0)), 4_000_000)
        first = pre.handle(*self.frame(0))
        assert first.model_version == 0 and first.preference == pytest.approx(1 / (1 + np.exp(3.0)), rel=1e-5)
        assert pre.adopt(*self.published(self.predictor(2, 3.0))) == 2
        second = pre.handle(*self.frame(1))
        assert second.model_version == 2 and second.preference == pytest.approx(
            1 / (1 + np.exp(-3.0)), rel=1e-5
        )
        assert pre.adopt(*self.published(self.predictor(1, -3.0))) is None  # older: ignored
        assert pre.adopt(*self.published(self.predictor(2, -3.0))) is None  # same version: ignored
        assert pre.handle(*self.frame(2)).model_version == 2
        assert second.features.inter_arrival == pytest.approx(0.04)  # stream history survived the swap

    def test_rule_then_model(self):
        pre = Preprocessor(load_rpp(None), 4_000_000)
        assert pre.handle(*self.frame(0)).model_version is None  # the rule decided
        assert pre.adopt(*self.published(self.predictor(1, 0.0))) == 1
        assert pre.handle(*self.frame(1)).model_version == 1

    def test_bad_model_records_raise_and_keep_the_model(self):
        from cdio_stream.errors import ConfigError
        from cdio_stream.messages import RppModel, encode_rpp_model
        from cdio_stream.rpp.pipeline import RppPipeline

        pre = Preprocessor(RppPipeline(self.predictor(0, -3.0)), 4_000_000)
        with pytest.raises(ConfigError, match="cannot read"):
            pre.adopt(*encode_rpp_model(RppModel(5, b"not a checkpoint", {}, 0.0)))
        with pytest.raises(ConfigError, match="says version 7"):
            pre.adopt(*encode_rpp_model(RppModel(7, self.predictor(6, 0.0).to_bytes(), {}, 0.0)))
        value, headers = self.published(self.predictor(3, 0.0))
        with pytest.raises(MessageError, match="sha256"):
            pre.adopt(value + b"x", headers)
        assert pre.handle(*self.frame(0)).model_version == 0


class TestMicroBatch:
    """handle_batch: one LSTM call per batch, the same tasks as one frame at a time."""

    @staticmethod
    def records(n_frames: int, streams=("a", "b")) -> list:
        out = []
        for i in range(n_frames):
            for s in streams:
                meta = FrameMeta(s, i, 10.0 + i * 0.04, a_req=60.0, d_req=0.4)
                value, headers = encode_frame(Frame(meta, jpeg(i * 7 + len(s))))
                out.append((value, headers, f"0/{len(out)}"))
        return out

    @pytest.fixture(params=["rule", "lstm"])
    def make(self, request):
        from cdio_stream.rpp.shipped import DEFAULT_RPP_CHECKPOINT

        checkpoint = DEFAULT_RPP_CHECKPOINT if request.param == "lstm" else None
        return lambda: Preprocessor(load_rpp(checkpoint), 4_000_000, clock=lambda: 5.0)

    def test_batch_gives_the_tasks_of_one_at_a_time(self, make):
        records = self.records(5)
        single = make()
        one_by_one = [single.handle(*r) for r in records]
        batched = make().handle_batch(records)
        assert len(batched) == len(records)
        for a, b in zip(one_by_one, batched, strict=True):
            assert b.task_id == a.task_id and b.source == a.source and b.model_version == a.model_version
            assert b.features == a.features
            assert b.preference == pytest.approx(a.preference, abs=1e-6)

    def test_a_bad_record_spoils_neither_its_batch_mates_nor_its_streams_state(self, make):
        good = self.records(3, streams=("a",))
        cut = good[1][0][: len(good[1][0]) // 2] + b"\xff\xd9"  # stream a, frame 1, cut short
        batch = [good[0], (cut, good[1][1], "0/1"), (b"junk", good[2][1], "0/2"), good[2]]
        out = make().handle_batch(batch)
        assert isinstance(out[1], MessageError) and isinstance(out[2], MessageError)
        first, third = out[0], out[3]
        assert first.task_id == "a/0" and third.task_id == "a/2"
        # frame 2 follows frame 0 in the stream's state: the bad frame 1 left no trace there
        assert third.features.inter_arrival == pytest.approx(0.08)
        clean = make().handle_batch([good[0], good[2]])
        assert clean[1].features == third.features
        assert clean[1].preference == pytest.approx(third.preference, abs=1e-6)

    def test_batch_time_is_every_tasks_preprocess_time(self, make):
        out = make().handle_batch(self.records(2))
        assert len({t.preprocess_s for t in out}) == 1 and out[0].preprocess_s > 0
        assert make().handle_batch([]) == []
