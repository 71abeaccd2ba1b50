"""Resource consumption of one task, as the paper measures it (4.2.3-4.2.5).

* computing consumption = device FP16 TFLOPS x inference time, in TFLOP;
* bandwidth consumption = bits sent / transmission time, in bits/s (transmission time runs
  from the start of the transfer to the last packet received, latency included);
* energy = working power x processing time + idle power x idle time + uplink transmission
  power x the time the sender spends sending (serialisation, latency excluded), in joules.
  A server's idle time is charged to the task that ends the idle gap; the simulator adds
  the idle tail after each server's last task when it sums a run.

The objective's cost of a task (eq. 8's U + phi B, used by every policy that weighs cost
and by the regret tracker) is :func:`objective_cost`: compute in TFLOP plus ``phi`` times
the megabits the task put on the WAN uplink (:func:`wan_megabits`; edge nodes are on the
LAN, so edge tasks cost the WAN nothing). The paper's per-task bandwidth (bits over
transmission time) is highest on the fastest link, so weighing it would push work to the
slow link; what the operator pays for, and what contends for the shared uplink, is WAN
occupancy, so that is what the objective weighs. The paper's figure is still reported.

``quality`` (a JPEG bitrate scale in (0, 1], used only by DAO) shrinks the payload
linearly and multiplies accuracy by ``quality ** QUALITY_ACCURACY_EXPONENT``: an
assumption (about -7 % accuracy at half bitrate), not a measured curve.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdio_stream.errors import ConfigError
from cdio_stream.system.profiles import DeviceProfile

__all__ = [
    "QUALITY_ACCURACY_EXPONENT",
    "DEFAULT_PHI",
    "WAN_TIERS",
    "Energy",
    "TaskCosts",
    "task_costs",
    "wan_megabits",
    "objective_cost",
    "compute_consumption",
    "bandwidth_consumption",
    "task_energy",
    "scaled_payload",
    "scaled_accuracy",
]

QUALITY_ACCURACY_EXPONENT = 0.1
# phi of eq. 8, TFLOP per WAN megabit: one 130 kB frame sent to the cloud (about 1 Mbit) then
# weighs about a third of its A100 compute (2.8 TFLOP for YOLOv5l). A choice, not a measurement.
DEFAULT_PHI = 1.0
WAN_TIERS = ("cloud",)  # tiers reached over the WAN uplink; edge nodes sit on the LAN


@dataclass(frozen=True)
class Energy:
    working_j: float
    idle_j: float
    transmission_j: float

    @property
    def total_j(self) -> float:
        return self.working_j + self.idle_j + self.transmission_j


def compute_consumption(device: DeviceProfile, inference_s: float) -> float:
    """TFLOP: the device's FP16 TFLOPS times the inference time (paper 4.2.3)."""
    return device.fp16_tflops * inference_s


def bandwidth_consumption(nbytes: float, transmission_s: float) -> float:
    """Bits per second: data sent over its transmission time (paper 4.2.4); 0 if nothing sent."""
    if transmission_s <= 0:
        return 0.0
    return nbytes * 8.0 / transmission_s


def task_energy(device: DeviceProfile, inference_s: float, idle_s: float, sending_s: float) -> Energy:
    """Joules of one task (paper 4.2.5); ``idle_s`` is the idle gap this task ends."""
    return Energy(
        working_j=device.working_power_w * inference_s,
        idle_j=device.idle_power_w * max(idle_s, 0.0),
        transmission_j=device.uplink_tx_power_w * sending_s,
    )


@dataclass(frozen=True)
class TaskCosts:
    """One task's consumption, as results and records carry it."""

    compute_tflop: float
    bandwidth_bps: float  # the paper's per-task definition (4.2.4)
    energy: Energy


def task_costs(
    device: DeviceProfile,
    inference_s: float,
    idle_s: float,
    nbytes: float,
    transmission_s: float,
    sending_s: float,
) -> TaskCosts:
    """Everything a task consumed; the simulator and the live inference stage both call this."""
    return TaskCosts(
        compute_tflop=compute_consumption(device, inference_s),
        bandwidth_bps=bandwidth_consumption(nbytes, transmission_s),
        energy=task_energy(device, inference_s, idle_s, sending_s),
    )


def wan_megabits(tier: str, nbytes: float) -> float:
    """Megabits a task sent to a server of ``tier`` puts on the WAN uplink (0 on the LAN)."""
    return nbytes * 8.0 / 1e6 if tier in WAN_TIERS else 0.0


def objective_cost(compute_tflop: float, wan_mbit: float, phi: float) -> float:
    """Eq. 8's per-task cost U + phi B: TFLOP plus phi x WAN megabits (see module docstring)."""
    return compute_tflop + phi * wan_mbit


def _check_quality(quality: float) -> None:
    if not 0 < quality <= 1:
        raise ConfigError(f"quality must be in (0, 1], got {quality}")


def scaled_payload(nbytes: int, quality: float) -> int:
    """Payload after re-encoding at ``quality`` of the captured bitrate."""
    _check_quality(quality)
    return max(1, int(round(nbytes * quality)))


def scaled_accuracy(accuracy: float, quality: float) -> float:
    """Accuracy of a frame re-encoded at ``quality`` (see module docstring)."""
    _check_quality(quality)
    return accuracy * quality**QUALITY_ACCURACY_EXPONENT
