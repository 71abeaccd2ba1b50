"""DETRAC -> YOLO conversion: label lines, ignored regions painted, split by sequence."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from cdio_stream.data.detrac import DetracDataset
from cdio_stream.data.synth import SynthConfig, generate_dataset
from cdio_stream.inference.yolo_dataset import IGNORED_FILL, export_yolo_dataset, yolo_label_lines


class TestLabelLines:
    def test_normalised_centre_format(self):
        lines = yolo_label_lines(np.array([[100, 50, 300, 150]]), np.array([2]), 1000, 500)
        assert lines == ["2 0.200000 0.200000 0.200000 0.200000"]

    def test_clipped_and_degenerate_boxes(self):
        boxes = np.array([[-10, -10, 50, 50], [990, 10, 1010, 20], [1000, 5, 1005, 9]])
        lines = yolo_label_lines(boxes, np.array([0, 1, 3]), 1000, 500)
        assert lines[0] == "0 0.025000 0.050000 0.050000 0.100000"  # clipped to the image
        assert lines[1].startswith("1 0.995000")
        assert len(lines) == 2  # the third box lies outside the image


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    src = tmp_path_factory.mktemp("detrac")
    generate_dataset(src, SynthConfig(sequences=4, frames=4, seed=5))
    out = tmp_path_factory.mktemp("yolo")
    return src, out, export_yolo_dataset(src, out, val_fraction=0.25, frame_stride=2, seed=0)


class TestExport:
    def test_split_by_sequence(self, exported):
        _, out, result = exported
        assert len(result.val_sequences) == 1 and len(result.train_sequences) == 3
        assert not set(result.val_sequences) & set(result.train_sequences)
        assert (result.train_images, result.val_images) == (6, 2)  # frames 1 and 3 of each sequence
        stems = {p.stem for p in (out / "images" / "val").glob("*.jpg")}
        assert stems == {f"{result.val_sequences[0]}_{n:05d}" for n in (1, 3)}

    def test_data_yaml(self, exported):
        _, out, result = exported
        data = yaml.safe_load(result.data_yaml.read_text())
        assert data["names"] == {0: "car", 1: "bus", 2: "van", 3: "others"}
        assert (out / data["train"]).is_dir() and (out / data["val"]).is_dir()

    def test_labels_match_ground_truth_and_ignored_regions_are_grey(self, exported):
        src, out, result = exported
        name = result.train_sequences[0]
        seq = DetracDataset(src)[name]
        gt = seq.ground_truth(1)
        lines = (out / "labels" / "train" / f"{name}_00001.txt").read_text().splitlines()
        assert len(lines) == len(gt)  # the generator leaves nothing annotated in ignored regions
        assert sorted(int(line.split()[0]) for line in lines) == sorted(gt.classes.tolist())
        image = cv2.imread(str(out / "images" / "train" / f"{name}_00001.jpg"))
        regions = seq.ignored_xyxy.astype(int)
        assert len(regions) > 0  # the generator marks the far road as ignored
        for x1, y1, x2, y2 in regions:
            inner = image[y1 + 3 : y2 - 3, x1 + 3 : x2 - 3].reshape(-1, 3).astype(int)
            assert inner.size > 0
            assert np.abs(inner - np.array(IGNORED_FILL)).max() <= 6  # JPEG noise only

    def test_needs_two_sequences(self, tmp_path, exported):
        src, _, _ = exported
        import shutil

        single = tmp_path / "one"
        for sub in ("Insight-MVT_Annotation_Train", "DETRAC-Train-Annotations-XML"):
            (single / sub).mkdir(parents=True)
        name = DetracDataset(src).names[0]
        shutil.copytree(
            src / "Insight-MVT_Annotation_Train" / name, single / "Insight-MVT_Annotation_Train" / name
        )
        shutil.copy(
            src / "DETRAC-Train-Annotations-XML" / f"{name}.xml", single / "DETRAC-Train-Annotations-XML"
        )
        from cdio_stream.errors import DatasetError

        with pytest.raises(DatasetError, match="at least 2 sequences"):
            export_yolo_dataset(single, tmp_path / "out")
