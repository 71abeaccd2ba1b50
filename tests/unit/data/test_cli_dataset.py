from cdio_stream.cli import main
from cdio_stream.data.detrac import DetracDataset


class TestDatasetCommand:
    def test_synth_then_info(self, tmp_path, capsys):
        out = tmp_path / "synth"
        args = ["dataset", "synth", "--out", str(out), "--sequences", "2", "--frames", "3"]
        rc = main(
            args
            + ["--width", "320", "--height", "180", "--seed", "5", "--weather", "night", "--split", "Test"]
        )
        assert rc == 0
        text = capsys.readouterr().out
        assert "wrote 6 frames" in text and "MVI_90002" in text
        ds = DetracDataset(out)
        assert ds.names == ["MVI_90001", "MVI_90002"]
        assert {s.split for s in ds} == {"Test"} and {s.weather for s in ds} == {"night"}
        assert all(len(s.images) == 3 for s in ds)

        assert main(["dataset", "info", str(out)]) == 0
        info = capsys.readouterr().out
        assert "2 sequences, 6 images" in info and "night" in info

    def test_info_on_the_real_sample(self, capsys, detrac_sample):
        assert main(["dataset", "info", str(detrac_sample)]) == 0
        out = capsys.readouterr().out
        assert "MVI_20011" in out and "9 images, 664 annotated frames, 7655 boxes" in out
        assert "7053" in out  # cars

    def test_bad_arguments_are_reported(self, tmp_path, capsys):
        assert main(["dataset", "synth", "--out", str(tmp_path), "--frames", "0"]) == 2
        assert "frame" in capsys.readouterr().err
        assert main(["dataset", "info", str(tmp_path / "missing")]) == 2
        assert "does not exist" in capsys.readouterr().err
