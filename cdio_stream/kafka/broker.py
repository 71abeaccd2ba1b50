"""A real, single-node Apache Kafka broker (KRaft) thrown away after use.

No Docker needed: the broker runs from the Apache Kafka jars (fetched by
:mod:`cdio_stream.kafka.jars`) as a JVM child process, on free loopback ports, in a
temporary directory. One process is broker and controller at once.

    with LocalKafkaBroker(cache_dir) as broker:
        print(broker.bootstrap)        # "127.0.0.1:PORT"

Readiness: the client port accepts connections and the broker logged that it started
(it does so once unfenced). If the JVM exits early, start() raises BrokerError with
the tail of the broker's log. Shutdown: SIGTERM to the process group, SIGKILL after a
grace period, then the temporary directory is removed.
"""

from __future__ import annotations

import base64
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path

from cdio_stream.errors import BrokerError
from cdio_stream.kafka.jars import KAFKA_VERSION, ensure_kafka_jars

__all__ = ["LocalKafkaBroker", "free_port"]

log = logging.getLogger(__name__)

_READY_LINE = "Kafka Server started"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan JVM if we are killed


class LocalKafkaBroker:
    """Start/stop a throwaway KRaft broker+controller; usable as a context manager."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        kafka_version: str = KAFKA_VERSION,
        heap: str = "512m",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 15.0,
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.kafka_version = kafka_version
        self.heap = heap
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.extra_properties = dict(extra_properties or {})
        self.port: int | None = None
        self.workdir: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._log_file = None
        self._launch: list[str] | None = None  # the broker's command line, for restart()

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerError("broker is not running")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (benchmarks read its CPU time)."""
        return None if self._proc is None else self._proc.pid

    @property
    def log_path(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "broker.log"

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._proc is not None:
            raise BrokerError("broker already started")
        libs = ensure_kafka_jars(self.cache_dir, self.kafka_version)
        java = self._java()
        self.workdir = Path(tempfile.mkdtemp(prefix="cdio-kafka-"))
        try:
            self._start(java, libs)
        except BaseException:
            self.stop()
            raise

    def _start(self, java: str, libs: Path) -> None:
        assert self.workdir is not None
        t0 = time.monotonic()
        self.port, controller_port = free_port(), free_port()
        props = self.workdir / "server.properties"
        props.write_text(self._properties(self.port, controller_port))
        log4j = self.workdir / "log4j2.properties"
        log4j.write_bytes(
            resources.files("cdio_stream.kafka").joinpath("resources/log4j2.properties").read_bytes()
        )
        jvm = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",  # small heap, one broker: least overhead, fastest start
            "-XX:TieredStopAtLevel=1",  # C1 only: faster JVM warm-up for a short-lived broker
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
        ]
        cluster_id = "-"
        while cluster_id.startswith("-"):  # StorageTool would read a leading '-' as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        fmt = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if fmt.returncode != 0:
            raise BrokerError(f"kafka StorageTool format failed:\n{(fmt.stdout + fmt.stderr)[-3000:]}")
        self._launch = [*jvm, "kafka.Kafka", str(props)]
        self._spawn(t0)

    def _spawn(self, t0: float) -> None:
        """Run the broker on the formatted log dir and wait until it serves."""
        assert self.workdir is not None and self._launch is not None and self.port is not None
        log_start = len(self._read_log())
        self._log_file = open(self.workdir / "broker.log", "ab")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(
            self._launch,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stop() signals the whole group
            preexec_fn=_die_with_parent,
        )
        deadline = t0 + self.start_timeout_s
        while True:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"Kafka broker exited with code {self._proc.returncode} during start-up:\n{self.log_tail()}"
                )
            if _port_open(self.port) and _READY_LINE in self._read_log()[log_start:]:
                break
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"Kafka broker not ready within {self.start_timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        log.info(
            "Kafka %s broker ready at %s in %.1f s (pid %d, dir %s)",
            self.kafka_version,
            self.bootstrap,
            time.monotonic() - t0,
            self._proc.pid,
            self.workdir,
        )

    def _properties(self, port: int, controller_port: int) -> str:
        assert self.workdir is not None
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "message.max.bytes": str(8 * 1024 * 1024),
            "log.flush.interval.messages": str(2**62),  # the OS page cache is durable enough here
            **self.extra_properties,
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    @staticmethod
    def _java() -> str:
        home = os.environ.get("JAVA_HOME")
        candidate = Path(home, "bin", "java") if home else None
        if candidate and candidate.is_file():
            return str(candidate)
        java = shutil.which("java")
        if java is None:
            raise BrokerError(
                "Java (17 or newer) is needed to run the local Kafka broker; 'java' is not on PATH"
            )
        return java

    def _read_log(self) -> str:
        path = self.log_path
        try:
            return path.read_text(errors="replace") if path else ""
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self._read_log().splitlines()[-lines:])

    # Faults for tests and benchmarks/faults.py: the broker process dies or freezes, its
    # log dir (every topic and committed offset) stays.
    def kill(self) -> None:
        """SIGKILL the broker; ``restart()`` brings it back on the same log dir and port."""
        if self._proc is None:
            raise BrokerError("broker is not running")
        os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def restart(self) -> None:
        if self._proc is not None:
            raise BrokerError("broker is still running; kill() it first")
        self._spawn(time.monotonic())

    def pause(self) -> None:
        """SIGSTOP: the broker holds its connections but answers nothing until ``resume()``."""
        if self._proc is None:
            raise BrokerError("broker is not running")
        os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is None:
            raise BrokerError("broker is not running")
        os.killpg(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, self.stop_timeout_s), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("Kafka broker did not stop on %s; escalating", sig.name)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.port = None
