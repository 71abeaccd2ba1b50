"""WorkerProcess reads what its worker printed: the ready marker and the dashboard URL."""

from __future__ import annotations

from agents.sink import SinkOptions
from cdio_stream.cli.deployment import WorkerSpec
from cdio_stream.pipeline.launcher import DASHBOARD_MARKER, READY_MARKER, WorkerProcess


def test_dashboard_url_comes_from_this_runs_part_of_the_log(tmp_path):
    log = tmp_path / "sink.log"
    log.write_text(f"{DASHBOARD_MARKER}http://127.0.0.1:1111/\n{READY_MARKER}\n")  # an earlier run
    start = log.stat().st_size
    wp = WorkerProcess(WorkerSpec(SinkOptions()), proc=None, log_path=log, log_start=start)
    assert wp.dashboard_url is None and not wp.ready
    with log.open("a") as fh:
        fh.write(f"2026 INFO faust starting\n{DASHBOARD_MARKER}http://127.0.0.1:2222/\n")
    assert wp.dashboard_url == "http://127.0.0.1:2222/"
