"""Model specs, the built-in registry (edge/cloud, paper V1-V4) and user registry files."""

from __future__ import annotations

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.inference.registry import (
    PAPER_ARCHS,
    PAPER_DEPLOYMENTS,
    ModelSpec,
    default_registry,
    load_registry,
    resolve_arch,
)


class TestResolveArch:
    @pytest.mark.parametrize(
        ("arch", "yaml_name"),
        [
            ("yolov5n", "yolov5n.yaml"),
            ("yolov5x", "yolov5x.yaml"),
            ("yolov5s6", "yolov5s-p6.yaml"),
            ("yolov5l6", "yolov5l-p6.yaml"),
            ("yolov8n", "yolov8n.yaml"),
            ("my/model.yaml", "my/model.yaml"),
        ],
    )
    def test_names(self, arch, yaml_name):
        assert resolve_arch(arch) == yaml_name

    @pytest.mark.parametrize("arch", ["resnet50", "yolov5q", ""])
    def test_unknown(self, arch):
        with pytest.raises(ConfigError, match="unknown architecture"):
            resolve_arch(arch)


class TestModelSpec:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"imgsz": 300}, "multiple of 32"),
            ({"num_classes": 0}, "num_classes"),
            ({"conf": 1.0}, "conf"),
            ({"iou": 0.0}, "iou"),
            ({"max_det": 0}, "max_det"),
            ({"labels": "imagenet"}, "labels"),
            ({"weights": "a.pt", "pretrained": "b.pt"}, "not both"),
        ],
    )
    def test_rejects_bad_values(self, kwargs, message):
        with pytest.raises(ConfigError, match=message):
            ModelSpec("bad", "yolov5n", **kwargs)


class TestDefaultRegistry:
    def test_paper_deployments(self):
        reg = default_registry()
        for version, (edge, cloud) in PAPER_DEPLOYMENTS.items():
            e, c = reg.deployment(version)
            assert (e.arch, c.arch) == (edge, cloud)
            assert e.trained and c.trained and e.labels == c.labels == "coco" and e.num_classes == 80
        assert reg.deployment("V3")[0].arch == "yolov5s6"

    def test_v1_resolves_to_ultralytics_pretrained_u_checkpoints(self):
        reg = default_registry()
        assert [s.pretrained for s in reg.deployment("V1")] == ["yolov5su.pt", "yolov5lu.pt"]
        assert [reg.spec(a).pretrained for a in PAPER_ARCHS] == [
            "yolov5su.pt",
            "yolov5lu.pt",
            "yolov5xu.pt",
            "yolov5s6u.pt",
            "yolov5l6u.pt",
            "yolov5x6u.pt",
        ]
        assert reg.spec("yolov5s").imgsz == 640 and reg.spec("yolov5x6").imgsz == 1280

    def test_untrained_builds_stay_available(self):
        spec = default_registry().spec("yolov5l6-untrained")
        assert spec.arch == "yolov5l6" and not spec.trained and spec.weights is None

    def test_trained_pair_points_at_committed_weights(self):
        edge, cloud = default_registry().deployment("trained")
        assert edge.weights is not None and edge.weights.is_file(), edge.weights
        assert cloud.weights is not None and cloud.weights.is_file(), cloud.weights

    def test_registry_without_shipped_weights_has_only_the_paper_models(self, tmp_path):
        reg = default_registry(weights_dir=tmp_path)
        assert set(reg.models) == set(PAPER_ARCHS) | {f"{a}-untrained" for a in PAPER_ARCHS} | {"null"}
        assert set(reg.deployments) == {"V1", "V2", "V3", "V4"}

    def test_null_detector_is_built_in_and_has_no_model(self):
        spec = default_registry().spec("null")
        assert spec.is_null and not spec.trained
        assert not default_registry().spec("edge").is_null
        with pytest.raises(ConfigError, match="no-op detector"):
            resolve_arch(spec.arch)

    def test_unknown_names(self):
        reg = default_registry()
        with pytest.raises(ConfigError, match="unknown model 'nope'"):
            reg.spec("nope")
        with pytest.raises(ConfigError, match="unknown deployment 'V9'"):
            reg.deployment("V9")


class TestLoadRegistry:
    def test_user_models_and_deployments(self, tmp_path):
        (tmp_path / "w").mkdir()
        f = tmp_path / "models.yaml"
        f.write_text(
            "models:\n"
            "  mine: {arch: yolov5m, weights: w/best.pt, imgsz: 320}\n"
            "deployments:\n"
            "  V5: {edge: edge, cloud: mine}\n"
        )
        reg = load_registry(f)
        mine = reg.spec("mine")
        assert (mine.arch, mine.imgsz, mine.weights) == ("yolov5m", 320, tmp_path / "w" / "best.pt")
        assert reg.deployment("V5")[1] == mine
        assert "V1" in reg.deployments  # built-ins kept

    def test_override_a_builtin(self, tmp_path):
        f = tmp_path / "models.yaml"
        f.write_text("models:\n  yolov5s: {arch: yolov5s, imgsz: 320}\n")
        assert load_registry(f).deployment("V1")[0].imgsz == 320

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("models:\n  m: {imgsz: 320}\n", "needs 'arch'"),
            ("models:\n  m: {arch: yolov5n, colour: red}\n", "only keys"),
            ("models:\n  m: {arch: resnet}\n", "unknown architecture"),
            ("deployments:\n  V9: {edge: yolov5s}\n", "exactly 'edge' and 'cloud'"),
            ("deployments:\n  V9: {edge: yolov5s, cloud: ghost}\n", "unknown model 'ghost'"),
            ("servers: []\n", "expected a mapping"),
            ("models: [\n", "invalid YAML"),
        ],
    )
    def test_bad_files(self, tmp_path, text, message):
        f = tmp_path / "models.yaml"
        f.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_registry(f)

    def test_missing_file(self, tmp_path):
        with pytest.raises(ConfigError, match="cannot read"):
            load_registry(tmp_path / "absent.yaml")
