"""Start and stop pipeline worker processes (the demo and the integration tests use it).

Each worker is ``python -m cdio_stream.cli ARGS`` in its own process, with the broker,
topic prefix and cache passed through ``CDIO_*`` environment variables and its output in
a log file. What to start comes as a :class:`LaunchSpec`, a name and the arguments: for
pipeline workers, :class:`cdio_stream.cli.deployment.WorkerSpec` (a role's typed options,
turned into ``worker ROLE --flag ...`` by the command line, which owns the flags).
``check()`` raises as soon as a worker died; ``stop()`` sends SIGTERM (Faust shuts down
cleanly: the scheduler saves its state), then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cdio_stream.errors import CdioError
from cdio_stream.settings import Settings

__all__ = ["LaunchSpec", "WorkerProcess", "Launcher", "READY_MARKER", "DASHBOARD_MARKER"]

log = logging.getLogger(__name__)


class LaunchSpec(Protocol):
    """One process to start: ``cdio-stream`` arguments under a name unique among the
    launcher's workers (its log file is ``<name>.log``)."""

    @property
    def name(self) -> str: ...

    @property
    def argv(self) -> Sequence[str]: ...


# What `cdio-stream worker` prints once its Faust worker has started consuming.
READY_MARKER = "cdio-stream worker ready"
# What a sink with --dashboard-port prints, followed by the page's URL.
DASHBOARD_MARKER = "dashboard at "


@dataclass
class WorkerProcess:
    spec: LaunchSpec
    proc: subprocess.Popen
    log_path: Path
    log_start: int = 0  # where this run's output begins in the (appended) log file

    def log_text(self) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self.log_start)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    @property
    def ready(self) -> bool:
        return READY_MARKER in self.log_text()

    @property
    def dashboard_url(self) -> str | None:
        """The URL a sink with --dashboard-port printed, once it has."""
        for line in self.log_text().splitlines():
            if line.startswith(DASHBOARD_MARKER):
                return line[len(DASHBOARD_MARKER) :].strip()
        return None


@dataclass
class Launcher:
    settings: Settings
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: dict[str, WorkerProcess] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {**os.environ, **self.extra_env}
        env.update(
            CDIO_KAFKA_BOOTSTRAP=s.bootstrap or "",
            CDIO_TOPICS=str(s.topics_path),
            CDIO_CACHE_DIR=str(s.cache_dir),
            CDIO_LOG_LEVEL=s.log_level,
            CDIO_TORCH_THREADS=str(s.torch_threads),
            CDIO_OFFLINE="1" if s.offline else "0",
            CDIO_WEIGHTS_DIR=str(s.weights_dir),
        )
        if s.topic_prefix is not None:
            env["CDIO_TOPIC_PREFIX"] = s.topic_prefix
        return env

    def start(self, spec: LaunchSpec) -> WorkerProcess:
        if spec.name in self.workers and self.workers[spec.name].proc.poll() is None:
            raise CdioError(f"worker {spec.name} is already running")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{spec.name}.log"
        log_start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cdio_stream.cli", *spec.argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not each worker
            )
        wp = WorkerProcess(spec, proc, log_path, log_start)
        self.workers[spec.name] = wp
        log.info("started worker %s (pid %d, log %s)", spec.name, proc.pid, log_path)
        return wp

    def check(self) -> None:
        """Raise CdioError naming the first worker that exited, with its log tail."""
        for name, wp in self.workers.items():
            code = wp.proc.poll()
            if code is not None:
                raise CdioError(f"worker {name} exited with code {code}; its log ends:\n{wp.log_tail()}")

    def wait_ready(self, timeout_s: float = 300.0, poll_s: float = 0.5) -> float:
        """Block until every worker consumes (or raise if one died or time ran out); returns seconds."""
        t0 = time.monotonic()
        while True:
            self.check()
            waiting = [name for name, wp in self.workers.items() if not wp.ready]
            if not waiting:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                raise CdioError(f"workers not ready after {timeout_s:.0f} s: {', '.join(waiting)}")
            time.sleep(poll_s)

    def kill(self, name: str) -> int | None:
        """SIGKILL the worker's process group (a crash: no shutdown code runs)."""
        wp = self.workers.pop(name)
        if wp.proc.poll() is None:
            os.killpg(wp.proc.pid, signal.SIGKILL)
        return wp.proc.wait()

    def stop(self, name: str, timeout_s: float = 30.0) -> int | None:
        wp = self.workers.pop(name)
        return _terminate(wp.proc, timeout_s)

    def stop_all(self, timeout_s: float = 30.0) -> None:
        procs = list(self.workers.values())
        self.workers.clear()
        for wp in procs:
            if wp.proc.poll() is None:
                wp.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for wp in procs:
            _terminate(wp.proc, max(0.1, deadline - time.monotonic()))


def _terminate(proc: subprocess.Popen, timeout_s: float) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("worker pid %d ignored SIGTERM for %.0f s; killing it", proc.pid, timeout_s)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode
