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
    "cdio_stream.live_calibration",
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


def _imports(path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _under(imported: set[str], package: str) -> set[str]:
    return {m for m in imported if m == package or m.startswith(package + ".")}


def test_the_library_imports_neither_the_agents_nor_the_command_line():
    """Layers: the library (cdio_stream/ but cli/) <- agents/ (roles, the Faust app) <-
    cdio_stream/cli/ (flags to role options and back, the launcher's command lines)."""
    from pathlib import Path

    import cdio_stream

    root = Path(cdio_stream.__file__).parent
    library = [p for p in root.rglob("*.py") if "cli" not in p.relative_to(root).parts]
    assert len(library) > 50
    for path in library:
        imported = _imports(path)
        wrong = _under(imported, "agents") | _under(imported, "cdio_stream.cli")
        assert not wrong, f"{path.relative_to(root)} imports {sorted(wrong)}"


def test_the_agents_import_no_command_line():
    from pathlib import Path

    import agents

    modules = sorted(Path(agents.__file__).parent.glob("*.py"))
    assert {p.stem for p in modules} >= {
        "app",
        "base",
        "preprocess",
        "scheduler",
        "inference",
        "sink",
        "trainer",
    }
    for path in modules:
        assert not _under(_imports(path), "cdio_stream.cli"), path.name


@pytest.mark.parametrize("module", ["agents", "cdio_stream.cli.worker", "cdio_stream.cli.deployment"])
def test_role_options_load_without_faust_kafka_or_torch(module):
    """Every cdio-stream command parses the worker's flags into role options: reading them
    must not load Faust, a Kafka client or torch (only building and running a role does)."""
    code = (
        f"import sys, {module}; "
        "heavy = ('aiokafka', 'faust', 'kafka', 'mode', 'torch', 'ultralytics'); "
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"{module} pulls in {out.strip()}"
