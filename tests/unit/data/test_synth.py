from dataclasses import replace

import cv2
import numpy as np
import pytest

from cdio_stream.data.classes import DETRAC_CLASSES, WEATHERS
from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.synth import SynthConfig, SyntheticSequence, generate_dataset, scenes_for
from cdio_stream.data.synth_scene import Camera
from cdio_stream.errors import ConfigError

SMALL = SynthConfig(sequences=2, frames=6, width=320, height=180, seed=1)


def _frames(scene, n):
    return list(SyntheticSequence(scene).frames(n))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return root, generate_dataset(root, SMALL)


class TestRoundTrip:
    def test_reader_sees_what_was_written(self, written):
        root, summaries = written
        ds = DetracDataset(root)
        assert ds.names == ["MVI_90001", "MVI_90002"]
        for seq, summary in zip(ds, summaries, strict=True):
            assert seq.split == "Train" and len(seq.images) == 6
            assert seq.weather == summary.weather and seq.camera_state in ("stable", "unstable")
            assert seq.annotation.n_boxes == summary.boxes > 0
            assert len(seq.ignored_regions) == 1
            img = cv2.imread(str(seq.image_path(1)))
            assert img.shape == (180, 320, 3)

    def test_xml_uses_the_dataset_spelling(self, written):
        root, _ = written
        raw = (root / "DETRAC-Train-Annotations-XML" / "MVI_90001.xml").read_bytes()
        assert b"sence_weather=" in raw and b"\r\n" in raw

    def test_boxes_are_valid(self, written):
        root, _ = written
        for seq in DetracDataset(root):
            for ref in seq:
                gt = seq.ground_truth(ref.num)
                assert (
                    np.all(gt.boxes[:, :2] >= 0)
                    and np.all(gt.boxes[:, 2] <= 320)
                    and np.all(gt.boxes[:, 3] <= 180)
                )
                assert np.all(gt.boxes[:, 2:] > gt.boxes[:, :2])
                assert set(gt.classes.tolist()) <= set(range(len(DETRAC_CLASSES)))


class TestDeterminism:
    def test_same_seed_same_frames(self):
        scene = scenes_for(SMALL)[0]
        a, b = _frames(scene, 3), _frames(scene, 3)
        for fa, fb in zip(a, b, strict=True):
            assert np.array_equal(fa.image, fb.image) and fa.annotation == fb.annotation

    def test_other_seed_other_scenes(self):
        assert scenes_for(SMALL) != scenes_for(replace(SMALL, seed=2))
        a = _frames(scenes_for(SMALL)[0], 1)[0]
        b = _frames(scenes_for(replace(SMALL, seed=2))[0], 1)[0]
        assert not np.array_equal(a.image, b.image)


class TestTracks:
    def test_vehicles_move_coherently(self):
        scene = scenes_for(replace(SMALL, density_range=(0.6, 0.6)))[0]
        frames = _frames(scene, 12)
        kept = total = 0
        for prev, cur in zip(frames, frames[1:], strict=False):
            before = {t.id: t.box for t in prev.annotation.targets}
            for t in cur.annotation.targets:
                if t.id in before:
                    (a1, b1, a2, b2), (c1, d1, c2, d2) = before[t.id], t.box
                    shift = np.hypot((a1 + a2 - c1 - c2) / 2, (b1 + b2 - d1 - d2) / 2)
                    assert shift < 0.06 * scene.width, (t.id, before[t.id], t.box)
            total += len(before)
            kept += len(set(before) & {t.id for t in cur.annotation.targets})
        assert total > 0 and kept / total > 0.8
        lengths = {t.id: t.trajectory_length for f in frames for t in f.annotation.targets}
        assert max(lengths.values()) >= 10

    def test_dense_traffic_has_occlusion_inside_the_target_box(self):
        cfg = replace(SMALL, width=480, height=270, density_range=(1.0, 1.0), scale_range=(0.5, 0.5))
        occluded = 0
        for f in _frames(scenes_for(cfg)[0], 6):
            for t in f.annotation.targets:
                for o in t.occlusions:
                    occluded += 1
                    x, y, w, h = o.box
                    assert t.box[0] - 0.01 <= x and x + w <= t.box[2] + 0.02 and w > 0
                    assert t.box[1] - 0.01 <= y and y + h <= t.box[3] + 0.02 and h > 0
                    assert o.occluder_id != t.id and o.occluder_id > 0
                if t.occlusions:  # hidden vehicles are not annotated: at most 3/4 of a box is covered
                    occ = np.array([(x, y, x + w, y + h) for x, y, w, h in (o.box for o in t.occlusions)])
                    g = (np.arange(8) + 0.5) / 8
                    gx, gy = np.meshgrid(
                        t.box[0] + g * (t.box[2] - t.box[0]), t.box[1] + g * (t.box[3] - t.box[1])
                    )
                    px, py = gx.ravel()[:, None], gy.ravel()[:, None]
                    hit = (px >= occ[:, 0]) & (px <= occ[:, 2]) & (py >= occ[:, 1]) & (py <= occ[:, 3])
                    assert hit.any(axis=1).mean() <= 0.75 + 1e-9
        assert occluded > 0


class TestVariety:
    def test_scales_and_weathers_are_stratified(self):
        scenes = scenes_for(SynthConfig(sequences=4, frames=1))
        assert sorted(s.weather for s in scenes) == sorted(WEATHERS)
        assert [int(s.scale * 4) for s in sorted(scenes, key=lambda s: s.scale)] == [0, 1, 2, 3]
        assert [int(s.density * 4) for s in sorted(scenes, key=lambda s: s.density)] == [0, 1, 2, 3]

    def test_scale_sets_the_size_of_vehicles_near_the_camera(self):
        def car_width_at_bottom(scale_range):
            scene = scenes_for(replace(SMALL, width=960, height=540, scale_range=scale_range))[0]
            cam = Camera(scene)
            z = cam.ground_z_at_row(scene.height)
            uv, _ = cam.project(np.array([[scene.cam_x - 0.9, 0.0, z], [scene.cam_x + 0.9, 0.0, z]]))
            return uv[1, 0] - uv[0, 0]

        close, far = car_width_at_bottom((0.0, 0.05)), car_width_at_bottom((0.95, 1.0))
        assert close > 200 and far < 100

    def test_far_dense_scenes_hold_many_more_vehicles(self):
        cfg = replace(SMALL, width=480, height=270)
        counts = {}
        for label, sr, dr in (("easy", (0.0, 0.05), (0.0, 0.05)), ("hard", (0.95, 1.0), (0.95, 1.0))):
            frames = _frames(scenes_for(replace(cfg, scale_range=sr, density_range=dr))[0], 5)
            counts[label] = np.mean([len(f.annotation.targets) for f in frames])
        assert counts["hard"] > 4 * counts["easy"]

    def test_weather_changes_the_look_of_the_same_scene(self):
        base = scenes_for(replace(SMALL, sequences=1))[0]
        stats = {}
        for w in WEATHERS:
            img = _frames(replace(base, weather=w, camera_state="stable"), 1)[0].image
            grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(float)
            stats[w] = (grey.mean(), grey.std())
        assert stats["night"][0] < min(stats[w][0] for w in ("sunny", "cloudy", "rainy")) - 25
        assert stats["sunny"][1] > stats["cloudy"][1] > stats["rainy"][1]


class TestConfig:
    @pytest.mark.parametrize(
        "change",
        [
            {"frames": 0},
            {"sequences": 0},
            {"width": 10},
            {"fps": 0.0},
            {"weathers": ("foggy",)},
            {"weathers": ()},
            {"split": "Val"},
            {"jpeg_quality": 0},
            {"scale_range": (0.5, 0.2)},
            {"density_range": (0.0, 1.5)},
        ],
    )
    def test_invalid(self, change):
        with pytest.raises(ConfigError):
            replace(SMALL, **change).validated()

    def test_weathers_restrict_the_choice(self):
        assert {s.weather for s in scenes_for(replace(SMALL, sequences=3, weathers=("night",)))} == {"night"}
