"""Per-sequence scene parameters and the camera model of the synthetic traffic generator.

A scene is a straight multi-lane road seen from a pole or overpass camera (pinhole, height
``cam_height`` metres, pitched down, slightly yawed), as in UA-DETRAC. Two knobs drive how
hard a sequence is: ``scale`` (0 = low camera, few large close vehicles; 1 = high wide
camera, many small distant ones) and ``density`` (0 = sparse free flow; 1 = dense slow
traffic with heavy occlusion). :func:`sample_scenes` stratifies both over the sequences
of a dataset so even a handful of sequences spans the whole range.

Road frame: X lateral metres from the road centre, Y up, Z metres along the road away
from the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cdio_stream.data.classes import WEATHERS

__all__ = ["SceneParams", "Camera", "sample_scenes"]


@dataclass(frozen=True)
class SceneParams:
    """Everything that makes one synthetic sequence what it is (all derived from a seed)."""

    name: str
    seed: int
    width: int
    height: int
    fps: float
    weather: str  # one of WEATHERS
    camera_state: str  # "stable" or "unstable" (unstable = small per-frame jitter)
    scale: float  # 0 = large close vehicles .. 1 = small distant vehicles
    density: float  # 0 = sparse .. 1 = dense and slow
    cam_height: float  # metres
    pitch_deg: float
    yaw_deg: float
    focal: float  # pixels
    cam_x: float  # camera lateral offset from the road centre, metres
    lane_width: float
    directions: tuple[int, ...]  # per lane, left to right: +1 moves away, -1 comes towards the camera
    median: float  # metres between the two carriageways (0 if one-way)
    spawn_rate: float  # mean vehicles per second per lane
    rate_period_s: float  # period of the platoon modulation of the spawn rate
    speed: float  # mean free speed, m/s
    clutter: float  # 0..1, roadside objects and texture
    z_far: float  # vehicles are simulated up to this distance
    z_ignore: float  # beyond this distance the road is an ignored region (vehicles not annotated)

    @property
    def n_lanes(self) -> int:
        return len(self.directions)

    @property
    def road_half_width(self) -> float:
        return self.n_lanes * self.lane_width / 2 + self.median / 2

    def lane_center(self, lane: int) -> float:
        """Lateral position (X) of a lane's centre line; lanes numbered left to right."""
        x = -self.road_half_width + (lane + 0.5) * self.lane_width
        if self.median and lane >= self.n_lanes // 2:
            x += self.median
        return x


class Camera:
    """Pinhole camera above the road: projects road-frame points to pixels."""

    def __init__(self, p: SceneParams, *, shift: tuple[float, float] = (0.0, 0.0)) -> None:
        self.height = p.cam_height
        self.x = p.cam_x
        self.focal = p.focal
        self.cx = p.width / 2 + shift[0]
        self.cy = p.height / 2 + shift[1]
        t, y = math.radians(p.pitch_deg), math.radians(p.yaw_deg)
        self._st, self._ct, self._sy, self._cy = math.sin(t), math.cos(t), math.sin(y), math.cos(y)

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.height, 0.0])

    def depth(self, pts: np.ndarray) -> np.ndarray:
        """Distance along the optical axis of ``(..., 3)`` road-frame points."""
        rx, ry, rz = pts[..., 0] - self.x, pts[..., 1] - self.height, pts[..., 2]
        zp = rx * self._sy + rz * self._cy
        return -ry * self._st + zp * self._ct

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., 3)`` points -> ``(..., 2)`` pixel coordinates and ``(...)`` depths."""
        rx, ry, rz = pts[..., 0] - self.x, pts[..., 1] - self.height, pts[..., 2]
        xp = rx * self._cy - rz * self._sy
        zp = rx * self._sy + rz * self._cy
        yc = -ry * self._ct - zp * self._st
        zc = -ry * self._st + zp * self._ct
        inv = self.focal / np.maximum(zc, 1e-6)
        uv = np.stack([self.cx + xp * inv, self.cy + yc * inv], axis=-1)
        return uv, zc

    def horizon_y(self) -> float:
        """Image row of the horizon (may be negative: above the frame)."""
        return self.cy - self.focal * self._st / self._ct

    def ground_z_at_row(self, v: float) -> float:
        """Road distance Z seen at image row ``v`` on the optical axis (inf above the horizon)."""
        # a ground point straight ahead satisfies (H ct - Z st) / (H st + Z ct) = (v - cy) / f
        a = (v - self.cy) / self.focal
        denom = a * self._ct + self._st
        num = self.height * (self._ct - a * self._st)
        if denom <= 1e-9 or num <= 0:
            return math.inf
        return num / denom


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _strata(n: int, rng: np.random.Generator) -> np.ndarray:
    """n values in [0, 1): one per equal stratum, in random order (Latin hypercube in 1-D)."""
    return (rng.permutation(n) + rng.uniform(0.0, 1.0, n)) / n


def sample_scenes(
    names: list[str],
    *,
    seed: int,
    width: int,
    height: int,
    fps: float,
    weathers: tuple[str, ...] = WEATHERS,
    scale_range: tuple[float, float] = (0.0, 1.0),
    density_range: tuple[float, float] = (0.0, 1.0),
) -> list[SceneParams]:
    """Scene parameters for each sequence name, stratified over scale, density and weather."""
    n = len(names)
    rng = np.random.default_rng(seed)
    scales = scale_range[0] + (scale_range[1] - scale_range[0]) * _strata(n, rng)
    densities = density_range[0] + (density_range[1] - density_range[0]) * _strata(n, rng)
    offset = int(rng.integers(len(weathers)))
    child_seeds = rng.integers(0, 2**31 - 1, size=n)
    scenes = []
    for i, name in enumerate(names):
        r = np.random.default_rng(int(child_seeds[i]))
        s, d = float(scales[i]), float(densities[i])
        n_lanes = int(r.choice([2, 3, 4] if s < 0.35 else [3, 4, 6] if s < 0.7 else [4, 6, 8]))
        two_way = n_lanes >= 4 or r.random() < 0.5
        half = n_lanes // 2
        directions = (
            tuple([-1] * half + [1] * (n_lanes - half))
            if two_way
            else tuple([int(r.choice([-1, 1]))] * n_lanes)
        )
        # Camera from the size of a car at the bottom row: large and close (s=0) to small
        # and distant under a telephoto lens (s=1); height follows from the pitch.
        focal = width * _lerp(0.9, 1.6, s) * r.uniform(0.95, 1.05)
        car_px = width * _lerp(0.27, 0.075, s) * r.uniform(0.9, 1.1)
        pitch = _lerp(17.0, 7.0, s) + r.uniform(-1.5, 1.5)
        half_fov = math.atan(height / 2 / focal)
        bottom_depth = focal * 1.8 / car_px
        cam_height = bottom_depth * math.sin(math.radians(pitch) + half_fov) / math.cos(half_fov)
        scenes.append(
            SceneParams(
                name=name,
                seed=int(child_seeds[i]),
                width=width,
                height=height,
                fps=fps,
                weather=weathers[(offset + i) % len(weathers)],
                camera_state="unstable" if r.random() < 0.3 else "stable",
                scale=s,
                density=d,
                cam_height=cam_height,
                pitch_deg=pitch,
                yaw_deg=r.uniform(-12.0, 12.0) * (1.0 - 0.6 * s),
                focal=focal,
                cam_x=r.uniform(-0.3, 0.3) * n_lanes * 3.5 / 2,
                lane_width=r.uniform(3.2, 3.8),
                directions=directions,
                median=r.uniform(0.6, 3.0) if two_way else 0.0,
                spawn_rate=_lerp(0.2, 0.9, d) * r.uniform(0.85, 1.15),
                rate_period_s=r.uniform(5.0, 14.0),
                speed=_lerp(15.0, 5.0, d) * r.uniform(0.85, 1.15),
                clutter=float(r.uniform(0.0, 1.0)),
                z_far=max(250.0, focal * 1.5 / 4.0),
                z_ignore=focal * 1.5 / _lerp(12.0, 10.0, s),
            )
        )
    return scenes
