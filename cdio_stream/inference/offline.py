"""The one place that prepares Ultralytics, for machines with or without internet access.

Ultralytics reaches for the network and the home directory in a few places:
a DNS probe (``is_online``), the ``Arial.ttf`` / ``Arial.Unicode.ttf`` fonts that
``train``/``val`` download when missing, its ``settings.json`` and matplotlib's
cache in ``~``, and, on CPU, ``torch.set_num_threads(1)`` inside
``select_device``. :func:`configure_ultralytics` fixes all of these *before*
ultralytics is first imported; every module of this package calls it instead of
importing ultralytics directly. :func:`restore_torch_threads` undoes the thread
change after a call that runs ``select_device`` (predictor setup, training).

Offline is a setting (``Settings.offline``, ``CDIO_OFFLINE=1``; tests and CI set it):
then ``YOLO_OFFLINE=1`` and no download is ever tried. Online, Ultralytics may fetch
pretrained weights (see :mod:`cdio_stream.inference.weights`). Either way its usage
analytics (``sync``) are switched off: a deployment's detector does not report home.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from cdio_stream.errors import ConfigError

__all__ = ["FONT_NAMES", "configure_ultralytics", "ensure_ultralytics", "restore_torch_threads"]

log = logging.getLogger(__name__)

# check_font() looks for these names in $YOLO_CONFIG_DIR/Ultralytics/ before downloading them.
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_CONFIGURED_ENV = "CDIO_ULTRALYTICS_CONFIGURED"  # set once configured, so children inherit it too
_FONT_SOURCE = ("mpl-data", "fonts", "ttf", "DejaVuSans.ttf")  # ships inside matplotlib


def configure_ultralytics(
    cache_dir: str | Path, *, torch_threads: int | None = None, offline: bool = True
) -> ModuleType:
    """Apply the settings, import ultralytics and return the module.

    ``YOLO_OFFLINE=1`` when ``offline``; ``YOLO_CONFIG_DIR`` = ``cache_dir/ultralytics`` and
    ``MPLCONFIGDIR`` = ``cache_dir/matplotlib`` (nothing written to ``~``);
    matplotlib's DejaVuSans copied under the Arial names ultralytics asks for;
    torch threads set to ``torch_threads`` when given. Idempotent. If ultralytics
    was imported earlier with another config dir, that import wins and a warning
    names both directories.
    """
    cache_dir = Path(cache_dir).expanduser()
    config_root = cache_dir / "ultralytics"
    font_dir = config_root / "Ultralytics"  # get_user_config_dir() appends this sub-directory
    try:
        font_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / "matplotlib").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the model cache under {cache_dir}: {exc.strerror}") from None
    _install_fonts(font_dir)

    os.environ[_CONFIGURED_ENV] = str(cache_dir)
    if offline:
        os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_root)
    os.environ.setdefault("MPLCONFIGDIR", str(cache_dir / "matplotlib"))

    already = "ultralytics" in sys.modules
    ultralytics = importlib.import_module("ultralytics")
    if already:
        from ultralytics.utils import USER_CONFIG_DIR

        if Path(USER_CONFIG_DIR) != font_dir:
            log.warning(
                "ultralytics was imported before configure_ultralytics(); its config dir is %s, not %s",
                USER_CONFIG_DIR,
                font_dir,
            )
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync"):
        SETTINGS.update(sync=False)
    if torch_threads is not None:
        restore_torch_threads(torch_threads)
    return ultralytics


def ensure_ultralytics() -> ModuleType:
    """Return ultralytics, configuring it first from ``Settings.from_env()`` if nobody has yet.

    For library functions that need an ultralytics utility but get no settings
    (e.g. the accuracy metric): the CLI and :class:`~cdio_stream.inference.runner.Detector`
    configure it explicitly, and this then only returns the module.
    """
    configured = os.environ.get(_CONFIGURED_ENV)
    if configured and "ultralytics" in sys.modules:
        return sys.modules["ultralytics"]
    from cdio_stream.settings import Settings

    settings = Settings.from_env()
    # a child process of a configured parent: same directories
    return configure_ultralytics(configured or settings.cache_dir, offline=settings.offline)


def restore_torch_threads(n: int) -> None:
    """Set torch's intra-op threads back to ``n`` (ultralytics resets them to 1 on small CPUs)."""
    if n < 1:
        raise ConfigError(f"torch_threads must be >= 1, got {n}")
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _install_fonts(font_dir: Path) -> None:
    spec = importlib.util.find_spec("matplotlib")  # locate without importing: MPLCONFIGDIR is not set yet
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("matplotlib is not installed; ultralytics needs it and its DejaVuSans font")
    source = Path(next(iter(spec.submodule_search_locations))).joinpath(*_FONT_SOURCE)
    if not source.is_file():
        raise ConfigError(f"font {source} not found in the matplotlib package")
    for name in FONT_NAMES:
        target = font_dir / name
        if not target.is_file():
            shutil.copyfile(source, target)
