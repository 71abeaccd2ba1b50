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
    "cdio_stream.system.profiles",
    "cdio_stream.sim.simulator",
    "cdio_stream.data.detrac",
    "cdio_stream.data.synth",
    "cdio_stream.inference.registry",
    "cdio_stream.pipeline.preprocess",
    "cdio_stream.pipeline.scheduler",
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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
