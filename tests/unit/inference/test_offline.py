"""The offline Ultralytics set-up: environment, fonts, threads."""

from __future__ import annotations

import os

import pytest

from cdio_stream.errors import ConfigError
from cdio_stream.inference.offline import FONT_NAMES, configure_ultralytics, restore_torch_threads


class TestConfigure:
    def test_environment_and_fonts(self, inference_settings):
        module = configure_ultralytics(inference_settings.cache_dir, torch_threads=2)
        assert module.__name__ == "ultralytics"
        assert os.environ["YOLO_OFFLINE"] == "1"
        config_root = inference_settings.cache_dir / "ultralytics"
        assert os.environ["YOLO_CONFIG_DIR"] == str(config_root)
        for name in FONT_NAMES:  # check_font() finds these instead of downloading them
            font = config_root / "Ultralytics" / name
            assert font.is_file() and font.stat().st_size > 100_000

    def test_ultralytics_sees_offline(self, inference_settings):
        configure_ultralytics(inference_settings.cache_dir)
        from ultralytics.utils import is_online

        assert is_online() is False  # no DNS probe is even attempted

    def test_idempotent(self, inference_settings):
        first = configure_ultralytics(inference_settings.cache_dir)
        assert configure_ultralytics(inference_settings.cache_dir) is first


class TestThreads:
    def test_restore(self):
        import torch

        before = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            restore_torch_threads(2)
            assert torch.get_num_threads() == 2
        finally:
            torch.set_num_threads(before)

    def test_rejects_zero(self):
        with pytest.raises(ConfigError, match="torch_threads"):
            restore_torch_threads(0)
