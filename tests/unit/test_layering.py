"""The library's algorithms import no Kafka client and no Faust (STYLE: cdio_stream/ is
broker-free logic plus thin adapters in kafka/, pipeline/, data/replay, data/camera)."""

from __future__ import annotations

import subprocess
import sys

import pytest

BROKER_FREE = [
    "cdio_stream.messages",
    "cdio_stream.topology",
    "cdio_stream.settings",
    "cdio_stream.trace",
    "cdio_stream.rpp.pipeline",
    "cdio_stream.policy.registry",
    "cdio_stream.calibration",
    "cdio_stream.system.profiles",
    "cdio_stream.sim.simulator",
    "cdio_stream.data.detrac",
    "cdio_stream.data.synth",
    "cdio_stream.inference.registry",
    "cdio_stream.pipeline.preprocess",
    "cdio_stream.pipeline.scheduler",
    "cdio_stream.pipeline.shedding",
    "cdio_stream.pipeline.inference",
    "cdio_stream.pipeline.metrics",
    "cdio_stream.pipeline.dead_letter",
    "cdio_stream.dashboard.view",
]


@pytest.mark.parametrize("module", BROKER_FREE)
def test_imports_no_kafka_client_or_faust(module):
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('aiokafka', 'faust', 'kafka', 'mode')); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{module} pulls in {out}"


def test_the_policy_interface_imports_no_policy():
    """policy/base.py is what every policy imports, so it imports none of them nor the
    registry (which imports every policy): no import cycle, not even inside a function."""
    import ast
    from pathlib import Path

    import cdio_stream.policy.base as base

    imported = set()
    for node in ast.walk(ast.parse(Path(base.__file__).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    policy_modules = {m for m in imported if m.startswith("cdio_stream.policy")}
    assert policy_modules == {"cdio_stream.policy.codec"}
