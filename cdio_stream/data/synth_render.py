"""Drawing for the synthetic generator: a static background per sequence, vehicles per frame,
and the weather look (lighting, haze, rain, night lights, noise, blur).

Everything expensive (road, roadside clutter, textures, lighting maps, noise and rain
layers) is prepared once per sequence; a frame costs a background copy, a few hundred
small polygon fills and a handful of whole-image OpenCV operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cdio_stream.data.synth_scene import Camera, SceneParams
from cdio_stream.data.synth_traffic import Vehicle
from cdio_stream.data.synth_vehicles import ROLE_HEAD, ROLE_TAIL, fleet_quads

__all__ = ["Renderer", "DrawnVehicle", "MARGIN"]

MARGIN = 8  # background border (px) that camera jitter may reveal
_SHIFT = 4  # sub-pixel bits for cv2 polygon fills
_DARK = (22, 22, 24)

# weather -> (light level, haze amount, haze grey, contrast, noise sigma, blur)
_LOOK: dict[str, tuple[float, float, int, float, float, int]] = {
    "sunny": (1.00, 0.10, 200, 1.10, 2.0, 0),
    "cloudy": (0.86, 0.30, 175, 0.90, 2.5, 0),
    "rainy": (0.70, 0.40, 135, 0.80, 4.5, 3),
    "night": (0.26, 0.05, 30, 1.00, 7.0, 3),
}


@dataclass(frozen=True)
class DrawnVehicle:
    """A vehicle as drawn in one frame: its full (unclipped) box and its draw order."""

    vehicle: Vehicle
    box: tuple[float, float, float, float]  # xyxy, may extend past the image border
    depth: float  # camera depth of its centre (larger = further)


def _box_faces(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float
) -> list[tuple[np.ndarray, tuple]]:
    """Quads (4x3, ordered bottom-left, bottom-right, top-right, top-left) + outward normals."""
    return [
        (np.array([[x0, y1, z0], [x1, y1, z0], [x1, y1, z1], [x0, y1, z1]]), (0, 1, 0)),  # top
        (np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0]]), (0, 0, -1)),  # near end
        (np.array([[x1, y0, z1], [x0, y0, z1], [x0, y1, z1], [x1, y1, z1]]), (0, 0, 1)),  # far end
        (np.array([[x0, y0, z1], [x0, y0, z0], [x0, y1, z0], [x0, y1, z1]]), (-1, 0, 0)),  # left
        (np.array([[x1, y0, z0], [x1, y0, z1], [x1, y1, z1], [x1, y1, z0]]), (1, 0, 0)),  # right
    ]


class Renderer:
    """Renders frames of one scene; construct once per sequence (prepares the background)."""

    def __init__(self, scene: SceneParams, *, seed: int) -> None:
        self.scene = scene
        self.rng = np.random.default_rng(seed)
        self.look = _LOOK[scene.weather]
        w, h = scene.width, scene.height
        self.cam0 = Camera(scene, shift=(MARGIN, MARGIN))
        self.lamps: list[tuple[float, float, float]] = []  # street lamp heads, lit at night
        self.background = self._background(w + 2 * MARGIN, h + 2 * MARGIN)
        self._mul, self._add = self._lighting(w, h)
        self._noise = [self._noise_layer(w, h) for _ in range(3)]
        self._rain = [self._rain_layer(w, h) for _ in range(6)] if scene.weather == "rainy" else []
        sun = self.rng.uniform(-1.0, 1.0)
        self._shadow = (sun, 0.6) if scene.weather == "sunny" else (0.0, 0.15)

    # --- per-sequence preparation -------------------------------------------------------
    def _fill(self, img: np.ndarray, cam: Camera, quad: np.ndarray, color, near: float = 0.5) -> None:
        depth = cam.depth(quad)
        if np.all(depth < near):
            return
        if np.any(depth < near):
            quad = _clip_near(quad, depth, near)
        uv, _ = cam.project(quad)
        cv2.fillPoly(img, [np.round(uv * (1 << _SHIFT)).astype(np.int32)], color, cv2.LINE_AA, _SHIFT)

    def _background(self, w: int, h: int) -> np.ndarray:
        s, r, cam = self.scene, self.rng, self.cam0
        img = np.empty((h, w, 3), np.uint8)
        ground = np.array([(70, 110, 85), (120, 125, 125), (95, 120, 130)][int(r.integers(3))], np.float64)
        img[:] = ground.astype(np.uint8)
        hy = int(max(0, min(h, cam.horizon_y() + 1)))
        if hy > 0:  # sky with a hazy gradient towards the horizon
            ramp = np.linspace(0.0, 1.0, hy)[:, None, None]
            img[:hy] = ((1 - ramp) * np.array([200, 175, 150]) + ramp * np.array([225, 220, 215])).astype(
                np.uint8
            )
        hw, far = s.road_half_width, 3000.0
        sidewalk = 2.0 + 3.0 * r.random()
        self._fill(img, cam, _ground(-hw - sidewalk - 0.3, hw + sidewalk + 0.3, 0.0, far), (150, 155, 158))
        self._fill(img, cam, _ground(-hw, hw, 0.0, far), (92, 94, 96))
        if s.median:
            m0 = s.lane_center(s.n_lanes // 2 - 1) + s.lane_width / 2
            self._box(img, cam, m0, m0 + s.median, 0.0, 0.5, 0.0, far, (165, 170, 170))
        self._markings(img, cam)
        n_obj = int(6 + 40 * s.clutter)
        for _ in range(n_obj):
            self._roadside_object(img, cam, hw + sidewalk)
        texture = cv2.resize(r.normal(0, 12 * (0.5 + s.clutter), (h // 16 + 1, w // 16 + 1)), (w, h))
        fine = r.normal(0, 5, (h, w))
        return np.clip(img + (texture + fine)[..., None], 0, 255).astype(np.uint8)

    def _box(self, img, cam, x0, x1, y0, y1, z0, z1, color, shade=(1.0, 0.85, 0.7)) -> None:
        pos = cam.position
        for quad, normal in _box_faces(x0, x1, y0, y1, z0, z1):
            if np.dot(normal, pos - quad.mean(axis=0)) <= 0:
                continue
            k = shade[0] if normal[1] else shade[1] if normal[2] else shade[2]
            self._fill(img, cam, quad, tuple(float(c) * k for c in color))

    def _markings(self, img: np.ndarray, cam: Camera) -> None:
        s = self.scene
        hw = s.road_half_width
        for x in (-hw + 0.2, hw - 0.2):
            self._fill(img, cam, _ground(x - 0.1, x + 0.1, 0.0, 3000.0), (225, 225, 225))
        for lane in range(s.n_lanes - 1):
            x = s.lane_center(lane) + s.lane_width / 2
            if s.directions[lane] != s.directions[lane + 1]:
                if not s.median:
                    for dx in (-0.12, 0.12):
                        self._fill(
                            img, cam, _ground(x + dx - 0.05, x + dx + 0.05, 0.0, 3000.0), (40, 190, 215)
                        )
                continue
            for z in np.arange(0.0, 160.0, 9.0):
                self._fill(img, cam, _ground(x - 0.08, x + 0.08, z, z + 3.0), (215, 215, 215))

    def _roadside_object(self, img: np.ndarray, cam: Camera, edge: float) -> None:
        r = self.rng
        side = 1 if r.random() < 0.5 else -1
        z = float(r.uniform(3.0, 220.0))
        kind = r.random()
        if kind < 0.35:  # tree: trunk and a crown
            x = side * (edge + r.uniform(1.0, 8.0))
            self._box(img, cam, x - 0.15, x + 0.15, 0, 2.5, z - 0.15, z + 0.15, (50, 70, 90))
            uv, d = cam.project(np.array([x, 2.5 + 2.0, z]))
            if d > 1.0:
                rad = int(cam.focal * r.uniform(1.5, 2.8) / d)
                green = tuple(int(c) for c in r.integers([20, 70, 30], [60, 120, 70]))
                cv2.circle(img, (int(uv[0]), int(uv[1])), max(rad, 1), green, -1, cv2.LINE_AA)
        elif kind < 0.6:  # street light pole
            x = side * (edge - 0.5)
            self._box(img, cam, x - 0.1, x + 0.1, 0, 9.0, z - 0.1, z + 0.1, (140, 140, 140))
            self._box(
                img,
                cam,
                min(x, x - side * 2.0),
                max(x, x - side * 2.0),
                8.8,
                9.0,
                z - 0.1,
                z + 0.1,
                (140, 140, 140),
            )
            self.lamps.append((x - side * 2.0, 8.8, z))
        elif kind < 0.75:  # guard-rail section
            x = side * (edge - 0.1)
            self._box(img, cam, x - 0.05, x + 0.05, 0.6, 0.9, z, z + r.uniform(10, 40), (190, 195, 200))
        else:  # building block with a grid of windows, kept away from the camera
            z = float(r.uniform(30.0, 260.0))
            x0 = side * (edge + r.uniform(6.0, 20.0))
            depth, height, length = r.uniform(8, 20), r.uniform(6, 40), r.uniform(10, 40)
            base = r.uniform(110, 200)
            color = (base * r.uniform(0.85, 1.0), base * r.uniform(0.9, 1.0), base * r.uniform(0.9, 1.1))
            xa, xb = (x0, x0 + side * depth) if side > 0 else (x0 + side * depth, x0)
            self._box(img, cam, xa, xb, 0, height, z, z + length, color)
            face_x = xa if side > 0 else xb  # the facade towards the road
            win = (70.0, 60.0, 55.0)
            for y in np.arange(2.0, height - 1.0, 3.2):
                for zz in np.arange(z + 1.0, z + length - 1.0, 2.8):
                    self._fill(
                        img,
                        cam,
                        np.array(
                            [
                                [face_x, y, zz],
                                [face_x, y, zz + 1.4],
                                [face_x, y + 1.6, zz + 1.4],
                                [face_x, y + 1.6, zz],
                            ]
                        ),
                        win,
                    )

    def _lighting(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel multiply and add maps: light level, haze rising towards the horizon, lamps."""
        light, haze, grey, contrast, _, _ = self.look
        cam = Camera(self.scene)
        hy = cam.horizon_y()
        rows = np.arange(h, dtype=np.float64)
        far = np.clip(1.0 - (rows - hy) / max(h - hy, 1.0), 0.0, 1.0) ** 2  # 1 at horizon, 0 at bottom
        a = (haze * far)[:, None] * np.ones((1, w))
        gain = np.full((h, w), light * contrast)
        if self.scene.weather == "night":
            pools = np.zeros((h, w), np.float32)
            for lamp in self.lamps:
                uv, d = cam.project(np.array([lamp[0], 0.0, lamp[2]]))
                if d > 1.0:
                    cv2.circle(pools, (int(uv[0]), int(uv[1])), int(cam.focal * 6.0 / d), 1.0, -1)
            gain += 0.6 * cv2.GaussianBlur(pools, (0, 0), 15)
        mul = np.clip(255 * gain * (1 - a), 0, 255)
        add = (a * grey + (1 - contrast) * 128 * light)[..., None] * np.ones((1, 1, 3))
        return np.repeat(mul[..., None], 3, axis=2).astype(np.uint8), np.clip(add, 0, 255).astype(np.uint8)

    def _noise_layer(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.rng.normal(0.0, self.look[4], (h, w, 1)).repeat(3, axis=2)
        return np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)

    def _rain_layer(self, w: int, h: int) -> np.ndarray:
        layer = np.zeros((h, w, 3), np.uint8)
        r = self.rng
        n = int(500 + 800 * r.random())
        xs, ys = r.uniform(0, w, n), r.uniform(0, h, n)
        ln, slant = r.uniform(8, 25, n), 0.25
        for x, y, length, val in zip(xs, ys, ln, r.integers(25, 70, n), strict=True):
            cv2.line(layer, (int(x), int(y)), (int(x + slant * length), int(y + length)), (int(val),) * 3, 1)
        return layer

    # --- per frame --------------------------------------------------------------------
    def render(
        self, vehicles: list[Vehicle], frame_index: int, jitter: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray, list[DrawnVehicle]]:
        """Draw one frame; returns the BGR image and the drawn vehicles, far to near."""
        s = self.scene
        dx, dy = jitter
        img = self.background[
            MARGIN + dy : MARGIN + dy + s.height, MARGIN + dx : MARGIN + dx + s.width
        ].copy()
        cam = Camera(s, shift=(-dx, -dy))
        drawn: list[DrawnVehicle] = []
        glow: list[tuple[float, float, float, bool]] = []
        if vehicles:
            drawn, glow = self._draw_vehicles(img, cam, vehicles)
        img = cv2.add(cv2.multiply(img, self._mul, scale=1 / 255), self._add)
        if s.weather == "night" and glow:
            img = cv2.add(img, self._glow(glow, s.width, s.height))
        if self._rain:
            img = cv2.add(img, self._rain[frame_index % len(self._rain)])
        pos_n, neg_n = self._noise[frame_index % len(self._noise)]
        img = cv2.subtract(cv2.add(img, pos_n), neg_n)
        if self.look[5]:
            img = cv2.GaussianBlur(img, (self.look[5], self.look[5]), 0)
        return img, drawn

    def _draw_vehicles(self, img: np.ndarray, cam: Camera, vehicles: list[Vehicle]):
        s = self.scene
        centers = np.array([(v.x, v.height / 2, v.z + v.length / 2) for v in vehicles])
        cdepth = cam.depth(centers)
        heights = np.array([v.height for v in vehicles])
        simple = cam.focal * heights / np.maximum(cdepth, 1e-3) < 10.0  # a few pixels: no details
        verts, normals, colors, roles, owner = fleet_quads(vehicles, simple.tolist())
        uv, depth = cam.project(verts)
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        ends = np.r_[starts[1:], len(owner)]
        flat_uv = uv.reshape(len(uv), -1, 2)
        x1 = np.minimum.reduceat(flat_uv[..., 0].min(axis=1), starts)
        y1 = np.minimum.reduceat(flat_uv[..., 1].min(axis=1), starts)
        x2 = np.maximum.reduceat(flat_uv[..., 0].max(axis=1), starts)
        y2 = np.maximum.reduceat(flat_uv[..., 1].max(axis=1), starts)
        near = np.minimum.reduceat(depth.min(axis=1), starts)
        keep = (cdepth > 2.0) & (near > 0.5) & (x2 > 0) & (y2 > 0) & (x1 < s.width) & (y1 < s.height)
        order = [int(i) for i in np.argsort(-cdepth) if keep[i]]
        if not order:
            return [], []
        visible = np.einsum("qk,qk->q", normals, cam.position - verts.mean(axis=1)) > 0
        polys = np.round(np.clip(uv, -1e5, 1e5) * (1 << _SHIFT)).astype(np.int32)
        color_list = colors.tolist()
        self._shadows(img, cam, [vehicles[i] for i in order])
        drawn, glow = [], []
        lights = (roles == ROLE_HEAD) | (roles == ROLE_TAIL)
        night = s.weather == "night"
        for i in order:
            for q in range(starts[i], ends[i]):
                if visible[q]:
                    cv2.fillConvexPoly(img, polys[q], color_list[q], cv2.LINE_AA, _SHIFT)
                    if night and lights[q]:
                        u, v = uv[q].mean(axis=0)
                        glow.append((float(u), float(v), cam.focal * 0.5 / cdepth[i], roles[q] == ROLE_HEAD))
            box = (float(x1[i]), float(y1[i]), float(x2[i]), float(y2[i]))
            drawn.append(DrawnVehicle(vehicle=vehicles[i], box=box, depth=float(cdepth[i])))
        return drawn, glow

    def _shadows(self, img: np.ndarray, cam: Camera, vehicles: list[Vehicle]) -> None:
        """Ground shadows under every vehicle, drawn before any vehicle body."""
        sx, sz = self._shadow
        a = np.array(
            [(v.x - v.width / 2, v.x + v.width / 2, v.z, v.z + v.length, v.height) for v in vehicles]
        )
        foot = np.stack(
            [
                np.stack([a[:, 0], 0 * a[:, 0], a[:, 2]], 1),
                np.stack([a[:, 1], 0 * a[:, 0], a[:, 2]], 1),
                np.stack([a[:, 1], 0 * a[:, 0], a[:, 3]], 1),
                np.stack([a[:, 0], 0 * a[:, 0], a[:, 3]], 1),
            ],
            axis=1,
        )
        cast = foot + np.stack([sx * a[:, 4], 0 * a[:, 4], sz * a[:, 4]], 1)[:, None, :]
        uv, _ = cam.project(np.concatenate([foot, cast], axis=1))
        pts = np.round(np.clip(uv, -1e5, 1e5) * (1 << _SHIFT)).astype(np.int32)
        for p in pts:
            cv2.fillConvexPoly(img, cv2.convexHull(p), _DARK, cv2.LINE_AA, _SHIFT)

    @staticmethod
    def _glow(lights: list[tuple[float, float, float, bool]], w: int, h: int) -> np.ndarray:
        """Blurred light blobs (headlights white, tail lights red) drawn at reduced resolution."""
        k = 4 if w >= 640 else 2
        small = np.zeros((h // k, w // k, 3), np.uint8)
        for u, v, radius, head in lights:
            strength = min(1.0, radius / 3.0)  # distant lights are faint points
            c = (
                (255 * strength, 255 * strength, 255 * strength)
                if head
                else (60 * strength, 60 * strength, 255 * strength)
            )
            cv2.circle(small, (int(u / k), int(v / k)), max(1, int(radius / k)), c, -1)
        small = cv2.GaussianBlur(small, (0, 0), 1.5)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _ground(x0: float, x1: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[x0, 0.0, z0], [x1, 0.0, z0], [x1, 0.0, z1], [x0, 0.0, z1]])


def _clip_near(quad: np.ndarray, depth: np.ndarray, near: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a planar polygon against the plane depth = near."""
    out = []
    n = len(quad)
    for i in range(n):
        a, b, da, db = quad[i], quad[(i + 1) % n], depth[i], depth[(i + 1) % n]
        if da >= near:
            out.append(a)
        if (da >= near) != (db >= near):
            out.append(a + (b - a) * (near - da) / (db - da))
    return np.array(out)
