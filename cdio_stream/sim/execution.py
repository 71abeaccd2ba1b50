"""One execution model: what becomes of a task sent to a server, simulated or live.

Three pieces, used by the simulator (:mod:`cdio_stream.sim.simulator`) and by the live
inference stage (:mod:`cdio_stream.pipeline.inference`):

* :func:`sent_bytes` - the payload at the decision's JPEG quality (DAO lowers it);
* :class:`LinkQueue` - one physical link as a FIFO: a transmission starts when the link is
  free (the shared WAN uplink makes every camera's cloud traffic wait for it), takes
  bytes * 8 / rate(start) to serialise plus the link latency to arrive;
* :func:`outcome` - from a :class:`Transfer`, when inference started, how long the task
  waited in inference (its batch's latency) and how much device time it is charged (its
  share of the batch), the accuracy it got: its delay parts, success flags and costs
  (:func:`cdio_stream.system.cost.task_costs`, :func:`~cdio_stream.system.cost.wan_megabits`).

The simulator gets inference start and batch latency from its server queues (dynamic
batching, :meth:`cdio_stream.system.profiles.Profiles.batch_time`); the live stage from its
clock and the detector. Accuracy is given by the caller: the simulator's trace accuracy at
the decision's quality (:func:`accuracy_at`), the live detector's score on the re-encoded
frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdio_stream.errors import ConfigError
from cdio_stream.policy.base import Decision, Feedback, SlotTask
from cdio_stream.system.cost import TaskCosts, scaled_accuracy, scaled_payload, task_costs, wan_megabits
from cdio_stream.system.network import Link
from cdio_stream.system.profiles import DeviceProfile
from cdio_stream.topology import ServerSpec

__all__ = ["Transfer", "LinkQueue", "Outcome", "sent_bytes", "accuracy_at", "outcome"]


def sent_bytes(payload_bytes: int, quality: float) -> int:
    """Bytes put on the link for a frame of ``payload_bytes`` sent at ``quality``."""
    return payload_bytes if quality >= 1.0 else scaled_payload(payload_bytes, quality)


def accuracy_at(accuracy: float, quality: float) -> float:
    """The trace's full-quality accuracy at ``quality`` (the simulator's bitrate model)."""
    return accuracy if quality >= 1.0 else scaled_accuracy(accuracy, quality)


@dataclass(frozen=True, slots=True)
class Transfer:
    start_s: float  # the link starts sending (it may have waited for the link)
    rate_bps: float  # the link's rate in force for the whole transfer
    sending_s: float  # serialisation: bytes * 8 / rate
    latency_s: float
    nbytes: int

    @property
    def arrival_s(self) -> float:
        return self.start_s + self.sending_s + self.latency_s

    @property
    def transmission_s(self) -> float:
        """Start of the transfer to the last packet received (paper 4.2.4)."""
        return self.sending_s + self.latency_s


class LinkQueue:
    """One physical link as a FIFO of transmissions (the shared WAN, or one LAN port)."""

    __slots__ = ("link", "free_s")

    def __init__(self, link: Link, free_s: float = 0.0) -> None:
        self.link = link
        self.free_s = float(free_s)

    def send(self, nbytes: int, t: float, *, commit: bool = True) -> Transfer:
        """Queue ``nbytes`` at time ``t``; the transfer starts when the link is free.
        ``commit=False`` only computes it (see :meth:`commit`)."""
        start = max(t, self.free_s)
        rate = self.link.rate_at(start)
        sending = nbytes * 8.0 / rate
        transfer = Transfer(start, rate, sending, self.link.latency_s, int(nbytes))
        if commit:
            self.commit(transfer)
        return transfer

    def commit(self, transfer: Transfer) -> None:
        """The link is busy until ``transfer`` has been sent."""
        self.free_s = max(self.free_s, transfer.start_s + transfer.sending_s)

    def backlog_s(self, t: float) -> float:
        return max(self.free_s - t, 0.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    task_id: str
    server_id: str
    tier: str
    quality: float
    nbytes: int
    accuracy: float | None
    preprocess_s: float
    queue_s: float  # everything that is not preprocess, transmission or inference
    transmission_s: float
    inference_s: float  # the task's wait in inference: its batch's latency
    total_s: float
    finished_s: float
    batch_size: int
    costs: TaskCosts
    wan_mbit: float  # megabits this task put on the WAN uplink (the objective's B)
    acc_ok: bool | None
    delay_ok: bool

    def feedback(self) -> Feedback:
        """The semi-bandit feedback a policy gets for this outcome."""
        return Feedback(self.task_id, self.server_id, self.accuracy, self.preprocess_s, self.queue_s,
                        self.transmission_s, self.inference_s, self.total_s, self.costs.compute_tflop,
                        self.costs.bandwidth_bps, self.costs.energy.total_j, self.nbytes, self.acc_ok,
                        self.delay_ok)  # fmt: skip


def outcome(
    decision: Decision,
    task: SlotTask,
    server: ServerSpec,
    transfer: Transfer,
    device: DeviceProfile,
    *,
    preprocess_s: float,
    start_s: float,
    inference_s: float,
    accuracy: float | None,
    busy_s: float | None = None,
    idle_s: float = 0.0,
    batch_size: int = 1,
) -> Outcome:
    """What ``task`` got on ``server``; times on the task's clock (``task.arrival_time`` = capture).

    ``start_s`` is when its inference started, ``inference_s`` how long it lasted for this
    task (the batch's latency), ``busy_s`` the device time charged to it (default
    ``inference_s``; a batch of b charges each member L(b) / b), ``idle_s`` the server's idle
    gap this task ended (energy).
    """
    if decision.task_id != task.task_id or decision.server_id != server.id:
        raise ConfigError(f"decision {decision.task_id}->{decision.server_id} is not for task "
                          f"{task.task_id} on {server.id}")  # fmt: skip
    busy = inference_s if busy_s is None else busy_s
    finished = start_s + inference_s
    total = finished - task.arrival_time
    transmission = transfer.transmission_s
    queue = max(total - preprocess_s - transmission - inference_s, 0.0)
    costs = task_costs(device, busy, idle_s, transfer.nbytes, transmission, transfer.sending_s)
    return Outcome(
        task_id=task.task_id,
        server_id=server.id,
        tier=server.tier,
        quality=decision.quality,
        nbytes=transfer.nbytes,
        accuracy=accuracy,
        preprocess_s=preprocess_s,
        queue_s=queue,
        transmission_s=transmission,
        inference_s=inference_s,
        total_s=preprocess_s + queue + transmission + inference_s,
        finished_s=finished,
        batch_size=batch_size,
        costs=costs,
        wan_mbit=wan_megabits(server.tier, transfer.nbytes),
        acc_ok=None if accuracy is None else accuracy >= task.a_req,
        delay_ok=total <= task.d_req,
    )
