"""The RPP package stays broker-free, and its torch-free part does not pull in torch."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import sys
import cdio_stream.rpp
light = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'faust', 'aiokafka', 'kafka'))
import cdio_stream.rpp.model, cdio_stream.rpp.predictor, cdio_stream.rpp.train
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'faust', 'aiokafka', 'kafka', 'confluent_kafka'})
print(repr((light, heavy)))
"""


def test_rpp_imports_no_broker_client_and_torch_only_where_needed():
    out = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    light, heavy = ast.literal_eval(out.strip().splitlines()[-1])
    assert light == [], f"import cdio_stream.rpp pulled in {light}"
    assert heavy == [], f"the RPP modules pulled in {heavy}"
