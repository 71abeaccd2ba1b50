"""External programs some tests drive (a browser, Prometheus): found on PATH or by an
environment variable; without one the test skips with how to install it, under CI=true
(where .ci/run installs them) it fails."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["find_binary"]


def find_binary(names: tuple[str, ...], env_var: str, install_hint: str) -> str:
    path = os.environ.get(env_var) or next((p for n in names if (p := shutil.which(n))), None)
    if path:
        return path
    message = f"no {names[0]} found: {install_hint} or set {env_var}=/path/to/{names[0]}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
