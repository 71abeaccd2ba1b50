import pytest

from cdio_stream.data.classes import CLASS_IDS, DETRAC_CLASSES, WEATHERS, class_id, class_name
from cdio_stream.errors import DatasetError


class TestClasses:
    def test_ids_are_the_documented_order(self):
        assert DETRAC_CLASSES == ("car", "bus", "van", "others")
        assert [class_id(n) for n in ("car", "bus", "van", "others")] == [0, 1, 2, 3]
        assert CLASS_IDS == {"car": 0, "bus": 1, "van": 2, "others": 3}

    def test_name_round_trip(self):
        for cid, name in enumerate(DETRAC_CLASSES):
            assert class_name(cid) == name

    def test_unknown_type_and_id_raise(self):
        with pytest.raises(DatasetError, match="truck"):
            class_id("truck")
        with pytest.raises(DatasetError, match="out of range"):
            class_name(4)

    def test_weathers_are_the_dataset_spelling(self):
        assert set(WEATHERS) == {"sunny", "cloudy", "rainy", "night"}
