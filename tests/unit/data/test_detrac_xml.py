import logging
import re

import numpy as np
import pytest

from cdio_stream.data.annotations import FrameAnnotation, Occlusion, SequenceAnnotation, Target
from cdio_stream.data.detrac_xml import (
    AnnotationError,
    parse_annotation_bytes,
    parse_annotation_xml,
    write_annotation_xml,
)
from cdio_stream.errors import DatasetError

GOOD = """<?xml version="1.0" encoding="utf-8"?>
<sequence name="MVI_1">
   <sequence_attribute sence_weather="night" camera_state="stable"/>
   <ignored_region>
      <box left="1" top="2" width="3" height="4"/>
   </ignored_region>
   <frame num="2" density="1">
      <target_list>
         <target id="7">
            <box height="20.5" width="10" top="5.25" left="100"/>
            <attribute vehicle_type="bus" truncation_ratio="0.25"/>
         </target>
      </target_list>
   </frame>
</sequence>"""


def _bad(text: str) -> AnnotationError:
    with pytest.raises(AnnotationError) as info:
        parse_annotation_bytes(text.encode(), "bad.xml")
    return info.value


@pytest.fixture(scope="module")
def real(detrac_sample):
    return parse_annotation_xml(detrac_sample / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml")


class TestRealSample:
    def test_sequence_attributes(self, real):
        assert real.name == "MVI_20011"
        assert real.weather == "sunny"
        assert real.camera_state == "unstable"
        assert real.attributes["sence_weather"] == "sunny"
        assert len(real.ignored_regions) == 7
        assert real.ignored_regions[0] == (778.75, 24.75, 181.75, 63.5)
        np.testing.assert_allclose(real.ignored_xyxy[0], [778.75, 24.75, 960.5, 88.25])

    def test_counts_match_the_file(self, real):
        assert len(real.frames) == 664
        assert real.n_boxes == 7655
        assert len({t.id for f in real.frames.values() for t in f.targets}) == 53
        assert sorted(real.frames) == list(range(1, 665))

    def test_frame_one_boxes_match_the_xml(self, real):
        f1 = real.frames[1]
        assert f1.density == 7
        assert [t.id for t in f1.targets] == [1, 2, 3, 4, 5, 6, 7]
        t1 = f1.targets[0]
        assert t1.box == pytest.approx((592.75, 378.8, 592.75 + 160.05, 378.8 + 162.2))
        assert t1.ltwh == pytest.approx((592.75, 378.8, 160.05, 162.2))
        assert t1.vehicle_type == "car" and t1.class_id == 0
        assert t1.truncation_ratio == 0.1 and t1.orientation == 18.488 and t1.speed == 6.859
        assert t1.trajectory_length == 5
        assert f1.targets[1].box == pytest.approx((557.65, 120.98, 604.85, 164.04))
        t3 = f1.targets[2]
        assert t3.occlusions == (Occlusion(box=(553.0, 88.27, 27.45, 1.52), occluder_id=5, status=1),)
        assert all(not t.occlusions for t in f1.targets if t.id != 3)

    def test_vehicle_types(self, real):
        counts = {}
        for f in real.frames.values():
            for t in f.targets:
                counts[t.vehicle_type] = counts.get(t.vehicle_type, 0) + 1
        assert counts == {"car": 7053, "bus": 95, "van": 296, "others": 211}


class TestTolerance:
    def test_attribute_order_and_unknown_attributes(self):
        ann = parse_annotation_bytes(GOOD.encode())
        t = ann.frames[2].targets[0]
        assert t.box == (100.0, 5.25, 110.0, 25.75)
        assert t.vehicle_type == "bus" and t.truncation_ratio == 0.25 and t.speed is None
        assert ann.weather == "night" and ann.ignored_regions == ((1.0, 2.0, 3.0, 4.0),)

    def test_crlf_and_lf_parse_identically(self):
        assert parse_annotation_bytes(GOOD.replace("\n", "\r\n").encode()) == parse_annotation_bytes(
            GOOD.encode()
        )

    def test_unknown_elements_are_skipped(self):
        text = GOOD.replace("<ignored_region>", "<camera_note foo='1'><x/></camera_note><ignored_region>")
        assert parse_annotation_bytes(text.encode()).ignored_regions == ((1.0, 2.0, 3.0, 4.0),)

    def test_empty_sequence(self):
        ann = parse_annotation_bytes(b'<sequence name="MVI_2"></sequence>')
        assert ann.name == "MVI_2" and not ann.frames and ann.weather is None


class TestMalformed:
    def test_syntax_error_names_file_and_line(self):
        err = _bad(GOOD.replace("</target_list>", "</targetlist>"))
        assert err.path == "bad.xml" and err.line == 13
        assert str(err).startswith("bad.xml:13: malformed XML: mismatched tag")

    def test_truncated_file(self):
        err = _bad(GOOD[: GOOD.index("</frame>")])
        assert "malformed XML" in str(err) and err.line >= 12

    def test_empty_file(self):
        err = _bad("")
        assert err.line == 1 and "malformed XML" in str(err)

    def test_non_numeric_coordinate_names_line_and_target(self):
        err = _bad(GOOD.replace('width="10"', 'width="ten"'))
        assert err.line == 10
        assert "target 7" in str(err) and "width='ten'" in str(err)

    def test_nan_coordinate_rejected(self):
        assert _bad(GOOD.replace('top="5.25"', 'top="nan"')).line == 10

    def test_negative_size_rejected(self):
        assert "negative" in str(_bad(GOOD.replace('height="4"', 'height="-4"')))

    def test_missing_vehicle_type(self):
        err = _bad(GOOD.replace('vehicle_type="bus" ', ""))
        assert err.line == 11 and "vehicle_type" in str(err)

    def test_target_without_box(self):
        lines = GOOD.splitlines()
        err = _bad("\n".join(line for line in lines if "<box height" not in line))
        assert err.line == 9 and "no box" in str(err)

    def test_duplicate_frame(self):
        frame = GOOD[GOOD.index("   <frame") : GOOD.index("</sequence>")]
        err = _bad(GOOD.replace("</sequence>", frame + "</sequence>"))
        assert "duplicate frame num=2" in str(err) and err.line == 15

    def test_duplicate_target_id(self):
        target = GOOD[GOOD.index("         <target id") : GOOD.index("      </target_list>")]
        err = _bad(GOOD.replace("      </target_list>", target + "      </target_list>"))
        assert "duplicate target id=7" in str(err)

    def test_bad_frame_number(self):
        assert "num='x'" in str(_bad(GOOD.replace('num="2"', 'num="x"')))
        assert ">= 1" in str(_bad(GOOD.replace('num="2"', 'num="0"')))

    def test_wrong_root(self):
        assert "<sequence>" in str(_bad("<frames/>"))

    def test_missing_file_is_a_dataset_error(self, tmp_path):
        with pytest.raises(DatasetError, match="nope.xml"):
            parse_annotation_xml(tmp_path / "nope.xml")

    def test_error_on_disk_names_the_path(self, tmp_path):
        p = tmp_path / "MVI_9.xml"
        p.write_text(GOOD.replace('left="100"', 'left=""'))
        with pytest.raises(AnnotationError, match=r"MVI_9\.xml:10: "):
            parse_annotation_xml(p)


class TestWriter:
    def test_round_trip(self, tmp_path):
        ann = SequenceAnnotation(
            name="MVI_90001",
            attributes={"camera_state": "stable", "sence_weather": "rainy"},
            ignored_regions=((0.5, 1.25, 100.0, 20.0),),
            frames={
                1: FrameAnnotation(
                    num=1,
                    density=2,
                    targets=(
                        Target(1, (10.0, 20.0, 50.5, 60.25), "car", 0.0, 90.0, 1.5, 1),
                        Target(
                            4,
                            (40.0, 30.0, 80.0, 70.0),
                            "others",
                            0.3,
                            occlusions=(Occlusion((40.0, 30.0, 10.5, 30.25), 1, 1),),
                        ),
                    ),
                ),
                3: FrameAnnotation(num=3, density=1, targets=(Target(2, (1.0, 2.0, 3.0, 4.0), "van"),)),
            },
        )
        path = tmp_path / "MVI_90001.xml"
        write_annotation_xml(ann, path)
        raw = path.read_bytes()
        assert b"\r\n" in raw and b'sence_weather="rainy"' in raw
        assert parse_annotation_xml(path) == ann

    def test_real_file_survives_write_and_read(self, real, tmp_path):
        path = tmp_path / "MVI_20011.xml"
        write_annotation_xml(real, path, newline="\n")
        again = parse_annotation_xml(path)
        assert again.frames[1] == real.frames[1]
        assert again.n_boxes == real.n_boxes and again.attributes == real.attributes


def _fine_grained_xml(types: list[str]) -> str:
    """A generated annotation in the style of later releases: one target per fine-grained type."""
    targets = "".join(
        f'<target id="{i + 1}"><box left="{10 * i}" top="5" width="8" height="6"/>'
        f'<attribute orientation="90" speed="1.5" trajectory_length="3" truncation_ratio="0" '
        f'vehicle_type="{t}"/></target>'
        for i, t in enumerate(types)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\r\n<sequence name="MVI_7">'
        '<sequence_attribute camera_state="stable" sence_weather="rainy"/><ignored_region/>'
        f'<frame density="{len(types)}" num="1"><target_list>{targets}</target_list></frame></sequence>'
    )


class TestFineGrainedVehicleTypes:
    TYPES = ["Sedan", "Suv", "Taxi", "Hatchback", "Police", "Van", "MiniVan", "Bus", "Car", "BUS"]
    TRUCKS = ["Truck-Box-Large", "Truck-Box-Med", "Truck-Util", "Truck-Pickup", "Truck-Flatbed"]

    def test_mapped_case_insensitively_onto_the_four_classes(self, caplog):
        ann = parse_annotation_bytes(_fine_grained_xml(self.TYPES + self.TRUCKS).encode(), "MVI_7.xml")
        got = {t.label: t.vehicle_type for t in ann.frames[1].targets}
        assert got == {
            **dict.fromkeys(["Sedan", "Suv", "Taxi", "Hatchback", "Police", "Car"], "car"),
            **dict.fromkeys(["Van", "MiniVan"], "van"),
            **dict.fromkeys(["Bus", "BUS"], "bus"),
            **dict.fromkeys(self.TRUCKS, "others"),
        }
        assert [t.class_id for t in ann.frames[1].targets][:3] == [0, 0, 0]
        assert "unknown vehicle_type" not in caplog.text  # every one of these is known

    def test_unknown_type_is_others_with_one_warning_per_file(self, caplog):
        caplog.set_level(logging.WARNING, logger="cdio_stream.data.detrac_xml")
        ann = parse_annotation_bytes(
            _fine_grained_xml(["Tram", "Sedan", "Tram", "Rickshaw"]).encode(), "MVI_7.xml"
        )
        assert [t.vehicle_type for t in ann.frames[1].targets] == ["others", "car", "others", "others"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert (
            "MVI_7.xml" in warnings[0] and "'Tram' (2 boxes)" in warnings[0] and "'Rickshaw'" in warnings[0]
        )

    def test_the_file_label_survives_a_round_trip(self, tmp_path):
        ann = parse_annotation_bytes(_fine_grained_xml(["Suv", "car", "Truck-Util"]).encode(), "MVI_7.xml")
        assert [t.raw_vehicle_type for t in ann.frames[1].targets] == ["Suv", None, "Truck-Util"]
        write_annotation_xml(ann, tmp_path / "MVI_7.xml")
        again = parse_annotation_xml(tmp_path / "MVI_7.xml")
        assert again.frames[1].targets == ann.frames[1].targets

    def test_dataset_info_shows_raw_types_and_their_mapping(self, tmp_path, capsys):
        from cdio_stream.cli import main

        xml_dir = tmp_path / "DETRAC-Train-Annotations-XML"
        xml_dir.mkdir()
        (xml_dir / "MVI_7.xml").write_text(_fine_grained_xml(["Suv", "Suv", "Truck-Util", "Tram"]))
        assert main(["dataset", "info", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "4 boxes" in out
        assert re.search(r"Suv\s+2 -> car", out)
        assert re.search(r"Truck-Util\s+1 -> others\n", out)
        assert re.search(r"Tram\s+1 -> others \(unknown type\)", out)
