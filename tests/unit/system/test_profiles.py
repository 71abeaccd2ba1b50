"""Device/model profiles: the packaged data loads, every number has a source, the models behave."""

from __future__ import annotations

import pytest
import yaml

from cdio_stream.errors import ConfigError
from cdio_stream.system.profiles import DATA_DIR, default_profiles, load_profiles, make_servers


class TestPackagedData:
    def test_paper_devices_and_models_are_present(self):
        p = default_profiles()
        assert {"jetson-xavier-nx", "a100-40gb", "cpu-host"} <= set(p.devices)
        assert set(p.models) == {"yolov5s", "yolov5l", "yolov5x", "yolov5s6", "yolov5l6", "yolov5x6"}
        assert set(p.deployments) == {"V1", "V2", "V3", "V4"}

    def test_table1_numbers(self):
        p = default_profiles()
        assert (p.model("yolov5s").params_m, p.model("yolov5s").map50, p.model("yolov5s").gflops_640) == (
            7.2,
            56.8,
            16.5,
        )
        assert (p.model("yolov5x6").params_m, p.model("yolov5x6").map50, p.model("yolov5x6").gflops_640) == (
            140.7, 72.7, 209.8,
        )  # fmt: skip

    def test_table2_deployments(self):
        p = default_profiles()
        assert [(d.edge, d.cloud) for d in (p.deployment(v) for v in ("V1", "V2", "V3", "V4"))] == [
            ("yolov5s", "yolov5l"), ("yolov5s", "yolov5x"), ("yolov5s6", "yolov5l6"), ("yolov5s6", "yolov5x6"),
        ]  # fmt: skip

    def test_every_device_number_has_a_source(self):
        p = default_profiles()
        for dev in p.devices.values():
            for key in ("fp16_tflops_source", "working_power_source", "idle_power_source", "uplink_tx_power_source",
                        "calibration_source"):  # fmt: skip
                assert dev.sources[key].strip(), (dev.name, key)

    def test_datasheet_values(self):
        p = default_profiles()
        assert p.device("a100-40gb").fp16_tflops == 312.0
        assert p.device("jetson-xavier-nx").fp16_tflops == 6.0


class TestInferenceTime:
    def test_bigger_models_are_slower_and_the_cloud_is_faster(self):
        p = default_profiles()
        for dev in ("jetson-xavier-nx", "a100-40gb"):
            assert (
                p.inference_time("yolov5s", dev)
                < p.inference_time("yolov5l", dev)
                < p.inference_time("yolov5x", dev)
            )
        assert p.inference_time("yolov5l", "a100-40gb") < p.inference_time("yolov5s", "jetson-xavier-nx")

    def test_calibration_points(self):
        p = default_profiles()
        assert p.inference_time("yolov5s", "jetson-xavier-nx") == pytest.approx(0.035, abs=0.002)
        assert p.inference_time("yolov5x", "a100-40gb") == pytest.approx(0.0115, abs=0.001)

    def test_cloud_batching_follows_the_v100_ratio_and_the_edge_does_not_batch(self):
        p = default_profiles()
        assert p.device("a100-40gb").max_batch == 32 and p.device("jetson-xavier-nx").max_batch == 1
        assert p.device("a100-40gb").sources["max_batch_source"].startswith("estimate")
        t1 = p.inference_time("yolov5l", "a100-40gb")
        assert p.batch_time("yolov5l", "a100-40gb", 1) == pytest.approx(t1)
        assert p.batch_time("yolov5l", "a100-40gb", 32) == pytest.approx(
            32 * t1 * 2.7 / 10.1
        )  # README V100 b32/b1
        times = [p.batch_time("yolov5x", "a100-40gb", b) for b in range(1, 33)]
        assert all(a < b for a, b in zip(times, times[1:], strict=False))
        with pytest.raises(ConfigError, match="batch must be in"):
            p.batch_time("yolov5s", "jetson-xavier-nx", 2)

    def test_role_names_resolve_through_a_deployment(self):
        p = default_profiles()
        server = make_servers("V2")[-1]
        role = type(server)("cloud", "cloud", "cloud", "a100-40gb")
        assert p.server_inference_time(role, "V2") == p.server_inference_time(server)
        with pytest.raises(ConfigError, match="no profile"):
            p.server_inference_time(role)


class TestMakeServers:
    def test_ids_match_topics_yaml_and_tiers(self):
        servers = make_servers("V3")
        assert [s.id for s in servers] == ["edge-1", "edge-2", "edge-3", "edge-4", "cloud"]
        assert {s.model for s in servers if s.tier == "edge"} == {"yolov5s6"}
        assert servers[-1].model == "yolov5l6" and servers[-1].device == "a100-40gb"

    def test_unknown_deployment(self):
        with pytest.raises(ConfigError, match="V9"):
            make_servers("V9")


class TestValidation:
    def _write(self, tmp_path, mutate):
        dev = yaml.safe_load((DATA_DIR / "devices.yaml").read_text())
        mod = yaml.safe_load((DATA_DIR / "models.yaml").read_text())
        mutate(dev, mod)
        (tmp_path / "d.yaml").write_text(yaml.safe_dump(dev))
        (tmp_path / "m.yaml").write_text(yaml.safe_dump(mod))
        return tmp_path / "d.yaml", tmp_path / "m.yaml"

    def test_roundtrip_of_unchanged_files(self, tmp_path):
        d, m = self._write(tmp_path, lambda dev, mod: None)
        assert load_profiles(d, m) == default_profiles()

    def test_missing_source_is_rejected(self, tmp_path):
        d, m = self._write(tmp_path, lambda dev, mod: dev["devices"]["a100-40gb"].pop("idle_power_source"))
        with pytest.raises(ConfigError, match="idle_power_source"):
            load_profiles(d, m)

    def test_deployment_with_unknown_model_is_rejected(self, tmp_path):
        d, m = self._write(tmp_path, lambda dev, mod: mod["deployments"]["V1"].update(cloud="yolov9"))
        with pytest.raises(ConfigError, match="yolov9"):
            load_profiles(d, m)

    def test_bad_number(self, tmp_path):
        d, m = self._write(tmp_path, lambda dev, mod: dev["devices"]["cpu-host"].update(fp16_tflops="fast"))
        with pytest.raises(ConfigError, match="fp16_tflops"):
            load_profiles(d, m)
