import shutil
from pathlib import Path

import numpy as np
import pytest

from cdio_stream.data.detrac import DetracDataset, FrameRef, gt_ref, parse_gt_ref
from cdio_stream.errors import DatasetError


@pytest.fixture(scope="module")
def sample(detrac_sample):
    return DetracDataset(detrac_sample)


@pytest.fixture(scope="module")
def sample_xml(detrac_sample) -> Path:
    return detrac_sample / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml"


@pytest.fixture(scope="module")
def sample_images(detrac_sample) -> Path:
    return detrac_sample / "Insight-MVT_Annotation_Train" / "MVI_20011"


@pytest.fixture
def flat_copy(tmp_path, sample_xml, sample_images) -> Path:
    """The sample rearranged flat: MVI_20011/ and MVI_20011.xml side by side."""
    shutil.copytree(sample_images, tmp_path / "MVI_20011")
    shutil.copy(sample_xml, tmp_path / "MVI_20011.xml")
    return tmp_path


class TestSplitLayout:
    def test_discovers_the_sequence(self, sample, sample_xml, sample_images):
        assert sample.names == ["MVI_20011"]
        seq = sample["MVI_20011"]
        assert seq.split == "Train"
        assert seq.weather == "sunny" and seq.camera_state == "unstable"
        assert seq.xml_path == sample_xml and seq.image_dir == sample_images

    def test_frames_pair_images_with_annotations(self, sample, sample_images):
        seq = sample["MVI_20011"]
        refs = list(seq)
        assert len(seq) == len(refs) == 664
        assert all(isinstance(r, FrameRef) for r in refs)
        assert refs[0] == (1, sample_images / "img00001.jpg", seq.frames[1])
        with_images = [r.num for r in refs if r.image is not None]
        assert with_images == list(range(1, 10))
        assert refs[9].image is None and refs[9].annotation is not None  # frame 10: annotated, no JPEG
        assert [r.num for r in seq.iter_images()] == list(range(1, 10))

    def test_ground_truth_of_frame_one(self, sample):
        gt = sample.ground_truth("MVI_20011/1")
        assert len(gt) == 7
        assert gt.boxes.dtype == np.float32 and gt.boxes.shape == (7, 4)
        np.testing.assert_allclose(gt.boxes[0], [592.75, 378.8, 752.8, 541.0], rtol=1e-6)
        assert gt.classes.tolist() == [0] * 7
        assert gt.track_ids.tolist() == [1, 2, 3, 4, 5, 6, 7]
        assert gt.ignored.shape == (7, 4)
        np.testing.assert_allclose(gt.ignored[5], [0.5, 231.75, 89.25, 353.25])

    def test_unknown_sequence_or_frame(self, sample):
        with pytest.raises(DatasetError, match="MVI_1"):
            sample["MVI_1"]
        with pytest.raises(DatasetError, match="no frame 9999"):
            sample.ground_truth("MVI_20011/9999")


class TestOtherLayouts:
    def test_flat_layout(self, tmp_path, flat_copy):
        ds = DetracDataset(flat_copy)
        seq = ds["MVI_20011"]
        assert seq.split is None and len(seq) == 664 and len(seq.images) == 9
        assert ds.ground_truth("MVI_20011/1").boxes.shape == (7, 4)

    def test_images_without_annotation(self, tmp_path, sample_images):
        root = tmp_path / "ds"
        shutil.copytree(sample_images, root / "Insight-MVT_Annotation_Test" / "MVI_20011")
        seq = DetracDataset(root)["MVI_20011"]
        assert seq.split == "Test" and seq.xml_path is None
        assert [r.annotation for r in seq] == [None] * 9
        assert seq.weather is None
        gt = seq.ground_truth(3)
        assert len(gt) == 0 and gt.ignored.shape == (0, 4)

    def test_annotation_without_images(self, tmp_path, sample_xml):
        xml_dir = tmp_path / "DETRAC-Train-Annotations-XML"
        xml_dir.mkdir()
        shutil.copy(sample_xml, xml_dir)
        seq = DetracDataset(tmp_path)["MVI_20011"]
        assert seq.image_dir is None and len(seq) == 664
        assert all(r.image is None for r in seq) and list(seq.iter_images()) == []

    def test_unrelated_files_are_ignored(self, tmp_path, flat_copy):
        root = flat_copy
        (root / "notes").mkdir()
        (root / "notes" / "readme.txt").write_text("x")
        (root / "MVI_20011" / "thumbs.db").write_bytes(b"x")
        ds = DetracDataset(root)
        assert ds.names == ["MVI_20011"] and len(ds["MVI_20011"].images) == 9

    def test_xml_name_mismatch(self, tmp_path, sample_xml):
        shutil.copy(sample_xml, tmp_path / "MVI_1.xml")
        with pytest.raises(DatasetError, match="does not match"):
            _ = DetracDataset(tmp_path)["MVI_1"].annotation

    def test_malformed_xml_surfaces_lazily_with_file_and_line(self, tmp_path):
        (tmp_path / "MVI_5.xml").write_text('<sequence name="MVI_5">\r\n<frame num="1">\r\n')
        ds = DetracDataset(tmp_path)  # discovery does not parse
        with pytest.raises(DatasetError, match=r"MVI_5\.xml:3: malformed XML"):
            _ = ds["MVI_5"].frames

    def test_validate_parses_every_file_and_counts_images(self, flat_copy):
        assert DetracDataset(flat_copy).validate() == 9

    def test_validate_fails_now_on_a_bad_file_or_no_images(self, tmp_path, sample_xml):
        (tmp_path / "MVI_1.xml").write_text('<sequence name="MVI_1"><frame num="x"/></sequence>')
        with pytest.raises(DatasetError, match="MVI_1.xml:1"):
            DetracDataset(tmp_path).validate()
        only_xml = tmp_path / "only-xml"
        (only_xml / "DETRAC-Train-Annotations-XML").mkdir(parents=True)
        shutil.copy(sample_xml, only_xml / "DETRAC-Train-Annotations-XML")
        with pytest.raises(DatasetError, match="no images"):
            DetracDataset(only_xml).validate()

    def test_missing_or_empty_root(self, tmp_path):
        with pytest.raises(DatasetError, match="does not exist"):
            DetracDataset(tmp_path / "nope")
        with pytest.raises(DatasetError, match="no UA-DETRAC sequences"):
            DetracDataset(tmp_path)


class TestGroundTruthRefs:
    def test_round_trip(self):
        assert gt_ref("MVI_20011", 12) == "MVI_20011/12"
        assert parse_gt_ref("MVI_20011/12") == ("MVI_20011", 12)

    @pytest.mark.parametrize("ref", ["MVI_20011", "/3", "MVI_20011/x", "MVI_20011/", ""])
    def test_malformed(self, ref):
        with pytest.raises(DatasetError, match="ground-truth reference"):
            parse_gt_ref(ref)
