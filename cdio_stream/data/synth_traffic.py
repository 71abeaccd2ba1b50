"""Vehicle traffic for the synthetic generator: lanes, spawning in platoons, car following.

Vehicles keep their lane, follow the one ahead with a simple safe-gap rule (so they never
overlap and queues form in dense scenes), enter at the far or near end of the visible
road depending on the lane's direction, and leave at the other end. The spawn rate is
modulated like traffic released by an upstream signal, so density and occlusion vary over
time within a sequence as well as between sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cdio_stream.data.classes import DETRAC_CLASSES
from cdio_stream.data.synth_scene import SceneParams

__all__ = ["Vehicle", "TrafficSim", "CLASS_PROBS", "VEHICLE_SIZES"]

#: Probability of each vehicle type, in DETRAC_CLASSES order (car, bus, van, others).
#: More buses/vans/others than real traffic so detectors see every class.
CLASS_PROBS: tuple[float, ...] = (0.70, 0.08, 0.12, 0.10)

#: Mean (width, height, length) in metres per vehicle type.
VEHICLE_SIZES: dict[str, tuple[float, float, float]] = {
    "car": (1.8, 1.5, 4.5),
    "bus": (2.55, 3.2, 11.5),
    "van": (2.0, 2.1, 5.2),
    "others": (2.4, 3.0, 8.0),
}

_PAINT = (  # BGR body colours, weighted towards the greys and whites of real traffic
    (235, 235, 235),
    (200, 200, 205),
    (160, 160, 165),
    (40, 40, 42),
    (25, 25, 28),
    (110, 110, 115),
    (40, 40, 170),
    (150, 80, 30),
    (90, 60, 20),
    (50, 110, 60),
    (40, 180, 220),
    (140, 170, 190),
)


@dataclass
class Vehicle:
    """One simulated vehicle; ``z`` is its end nearest the camera (smallest Z)."""

    id: int
    vehicle_type: str
    lane: int
    direction: int  # +1 away from the camera, -1 towards it
    x: float
    z: float
    width: float
    height: float
    length: float
    speed: float
    desired_speed: float
    color: tuple[int, int, int]
    age: int = 0  # frames since it entered the road
    seen: int = 0  # frames in which it was annotated (trajectory_length)

    @property
    def front(self) -> float:
        """Z of the leading bumper."""
        return self.z + self.length if self.direction > 0 else self.z


class TrafficSim:
    """Seeded traffic on the scene's lanes; :meth:`step` advances one frame (1/fps s)."""

    def __init__(self, scene: SceneParams, *, z_min: float, seed: int) -> None:
        self.scene = scene
        self.z_min = z_min
        self.z_far = scene.z_far
        self.rng = np.random.default_rng(seed)
        self.vehicles: list[Vehicle] = []
        self.t = 0.0
        self._next_id = 1
        self._phase = self.rng.uniform(0, 2 * math.pi, scene.n_lanes)
        self._lane_speed = scene.speed * self.rng.uniform(0.85, 1.15, scene.n_lanes)
        # a stretch of road where dense traffic periodically crawls (a junction or merge
        # downstream), so queues with small gaps and heavy occlusion form and dissolve
        self._slow = (float(self.rng.uniform(10.0, 80.0)), float(self.rng.uniform(30.0, 80.0)))
        self._slow_phase = float(self.rng.uniform(0, 2 * math.pi))

    def warm_up(self, seconds: float | None = None, dt: float = 0.25) -> None:
        """Run without rendering until the road holds steady-state traffic; ids restart at 1."""
        if seconds is None:
            seconds = (self.z_far - self.z_min) / max(self.scene.speed * 0.5, 1.0)
        for _ in range(int(seconds / dt)):
            self._advance(dt)
        # renumber so that track ids in the output start at 1 in order of appearance
        for i, v in enumerate(sorted(self.vehicles, key=lambda v: v.id), start=1):
            v.id = i
            v.age = v.seen = 0
        self._next_id = len(self.vehicles) + 1

    def step(self) -> list[Vehicle]:
        self._advance(1.0 / self.scene.fps)
        for v in self.vehicles:
            v.age += 1
        return self.vehicles

    def _rate(self, lane: int) -> float:
        s = self.scene
        return s.spawn_rate * (
            1.0 + 0.8 * math.sin(2 * math.pi * self.t / s.rate_period_s + self._phase[lane])
        )

    def _crawl(self) -> float:
        """Speed factor inside the slow stretch: 1 when flowing, down to ~0.1 in dense scenes."""
        s = self.scene
        wave = max(0.0, math.sin(2 * math.pi * self.t / (1.7 * s.rate_period_s) + self._slow_phase))
        return 1.0 - 0.9 * s.density * wave

    def _advance(self, dt: float) -> None:
        s = self.scene
        self.t += dt
        by_lane: list[list[Vehicle]] = [[] for _ in range(s.n_lanes)]
        for v in self.vehicles:
            by_lane[v.lane].append(v)
        for lane, lane_vs in enumerate(by_lane):
            direction = s.directions[lane]
            # leader first: furthest along the direction of travel
            lane_vs.sort(key=lambda v: -v.front * direction)
            leader: Vehicle | None = None
            crawl = self._crawl()
            for v in lane_vs:
                target = v.desired_speed
                if crawl < 1.0 and self._slow[0] < v.front < self._slow[0] + self._slow[1]:
                    target *= crawl
                if leader is not None:
                    rear_of_leader = leader.z if direction > 0 else leader.z + leader.length
                    gap = (rear_of_leader - v.front) * direction
                    target = min(target, max(0.0, (gap - 1.5) / 1.0))
                accel = 2.5 if target > v.speed else 9.0
                v.speed += min(max(target - v.speed, -accel * dt), accel * dt)
                v.z += direction * v.speed * dt
                leader = v
            if self.rng.random() < self._rate(lane) * dt:
                self._spawn(lane, lane_vs)
        self.vehicles = [v for v in self.vehicles if self.z_min - v.length - 5 < v.z < self.z_far + 5]

    def _spawn(self, lane: int, lane_vs: list[Vehicle]) -> None:
        s = self.scene
        direction = s.directions[lane]
        cls = DETRAC_CLASSES[int(self.rng.choice(len(DETRAC_CLASSES), p=CLASS_PROBS))]
        w, h, length = (m * self.rng.uniform(0.9, 1.1) for m in VEHICLE_SIZES[cls])
        z = self.z_far - 1.0 if direction < 0 else self.z_min - length
        last = lane_vs[-1] if lane_vs else None  # the vehicle nearest the entry point
        if last is not None:
            entry_gap = (last.z - (z + length)) if direction > 0 else (z - (last.z + last.length))
            if entry_gap < 4.0:
                return  # entry blocked: the queue reaches the edge of the road section
        speed = (
            self._lane_speed[lane]
            * self.rng.uniform(0.85, 1.15)
            * (0.85 if cls in ("bus", "others") else 1.0)
        )
        self.vehicles.append(
            Vehicle(
                id=self._next_id,
                vehicle_type=cls,
                lane=lane,
                direction=direction,
                x=s.lane_center(lane) + float(self.rng.uniform(-0.3, 0.3)),
                z=z,
                width=w,
                height=h,
                length=length,
                speed=speed if last is None else min(speed, last.speed + 2.0),
                desired_speed=speed,
                color=_PAINT[int(self.rng.integers(len(_PAINT)))],
            )
        )
        self._next_id += 1
