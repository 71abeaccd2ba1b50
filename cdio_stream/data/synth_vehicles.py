"""Vehicle shapes for the synthetic generator, as precomputed quad templates.

Each vehicle type is a few boxes (tyres, body, cabin or cargo) plus window bands and
lights, stored once in unit vehicle coordinates: x across (-0.5..0.5 of the width), y up
(0..1 of the height), s along (0 = front .. 1 = rear of the length). Placing a whole fleet
is then a few array operations instead of per-vehicle Python, which keeps dense scenes
(a hundred vehicles) at a few milliseconds per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cdio_stream.data.synth_traffic import Vehicle

__all__ = ["fleet_quads", "ROLE_HEAD", "ROLE_TAIL"]

ROLE_BODY, ROLE_GLASS, ROLE_DARK, ROLE_CARGO, ROLE_HEAD, ROLE_TAIL = range(6)
_ROLE_COLOR = {
    ROLE_GLASS: (70, 55, 45),
    ROLE_DARK: (22, 22, 24),
    ROLE_HEAD: (200, 240, 250),
    ROLE_TAIL: (30, 30, 200),
}
_CARGO = np.array([(200, 200, 200), (40, 90, 160), (150, 150, 150)], np.float64)


def _faces(x0, x1, y0, y1, s0, s1) -> list[tuple[np.ndarray, tuple[int, int, int]]]:
    """Five faces (no bottom) as (4x3 quad: bottom-left, bottom-right, top-right, top-left), normal.

    Normals are in unit coordinates where s grows towards the rear (+s = (0, 0, 1)).
    """
    return [
        (np.array([[x0, y1, s0], [x1, y1, s0], [x1, y1, s1], [x0, y1, s1]]), (0, 1, 0)),
        (np.array([[x0, y0, s0], [x1, y0, s0], [x1, y1, s0], [x0, y1, s0]]), (0, 0, -1)),  # front
        (np.array([[x1, y0, s1], [x0, y0, s1], [x0, y1, s1], [x1, y1, s1]]), (0, 0, 1)),  # rear
        (np.array([[x0, y0, s1], [x0, y0, s0], [x0, y1, s0], [x0, y1, s1]]), (-1, 0, 0)),
        (np.array([[x1, y0, s0], [x1, y0, s1], [x1, y1, s1], [x1, y1, s0]]), (1, 0, 0)),
    ]


def _sub(q: np.ndarray, a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    """Part of quad ``q`` between fractions a (along its bottom edge) and b (upwards)."""

    def at(a: float, b: float) -> np.ndarray:
        return (1 - b) * ((1 - a) * q[0] + a * q[1]) + b * ((1 - a) * q[3] + a * q[2])

    return np.array([at(a0, b0), at(a1, b0), at(a1, b1), at(a0, b1)])


def _template(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    quads: list[np.ndarray] = []
    normals: list[tuple[int, int, int]] = []
    roles: list[int] = []

    def add(q, n, role):
        quads.append(q)
        normals.append(n)
        roles.append(role)

    def box(x0, x1, y0, y1, s0, s1, role, roof=None, windows=None):
        for q, n in _faces(x0, x1, y0, y1, s0, s1):
            add(q, n, roof if (roof is not None and n[1]) else role)
            if windows is not None and not n[1]:
                low, high = windows(n)
                add(_sub(q, 0.06, 0.94, low, high), n, ROLE_GLASS)

    if kind.startswith("far-"):  # distant vehicles: one plain box, a few pixels tall
        box(-0.5, 0.5, 0.0, 1.0 if kind != "far-car" else 0.8, 0.0, 1.0, ROLE_BODY)
        q = np.stack(quads)
        return q, np.array(normals, np.float64), np.array(roles)
    box(-0.47, 0.47, 0.0, 0.3, 0.06, 0.94, ROLE_DARK)  # tyres and undercarriage
    if kind == "car":
        box(-0.5, 0.5, 0.2, 0.6, 0.0, 1.0, ROLE_BODY)
        box(-0.4, 0.4, 0.6, 1.0, 0.3, 0.8, ROLE_GLASS, roof=ROLE_BODY)
        lamp_y, body = (0.45, 0.8), (0.2, 0.6)
    elif kind == "others":  # truck: cab with windscreen, taller cargo box behind
        box(
            -0.5,
            0.5,
            0.15,
            0.8,
            0.0,
            0.24,
            ROLE_BODY,
            windows=lambda n: (0.5, 0.9) if n[2] < 0 else (0.5, 0.85),
        )
        box(-0.5, 0.5, 0.15, 1.0, 0.27, 1.0, ROLE_CARGO)
        lamp_y, body = (0.1, 0.25), (0.15, 0.8)
    else:  # van, bus: one box with a band of windows
        low = 0.55 if kind == "bus" else 0.62
        box(-0.5, 0.5, 0.12, 1.0, 0.0, 1.0, ROLE_BODY, windows=lambda n: (0.35 if n[2] else low, 0.9))
        lamp_y, body = (0.1, 0.22), (0.12, 1.0)
    front, rear = _faces(-0.5, 0.5, body[0], body[1], 0.0, 1.0)[1:3]
    for a0, a1 in ((0.06, 0.24), (0.76, 0.94)):
        add(_sub(front[0], a0, a1, *lamp_y), front[1], ROLE_HEAD)
        add(_sub(rear[0], a0, a1, *lamp_y), rear[1], ROLE_TAIL)
    q = np.stack(quads)
    q[..., 1] = np.minimum(q[..., 1], 1.0)
    return q, np.array(normals, np.float64), np.array(roles)


def _placed(kind: str, direction: int) -> tuple[np.ndarray, ...]:
    """Template of ``kind`` oriented for ``direction`` plus its fixed colours and masks."""
    q, n, r = _template(kind)
    q, n = q.copy(), n.copy()
    if direction > 0:  # moving away from the camera: the front is at the far end (larger Z)
        q[..., 2] = 1.0 - q[..., 2]
        n[:, 2] = -n[:, 2]
    axis = np.argmax(np.abs(n), axis=1)
    shade = np.where(axis == 1, 1.0, np.where(axis == 2, 0.82, 0.66))
    fixed = np.zeros((len(r), 3))
    for role, color in _ROLE_COLOR.items():
        fixed[r == role] = color
    lights = (r == ROLE_HEAD) | (r == ROLE_TAIL)
    shade[lights] = 1.0
    return q, n, r, shade[:, None], fixed, r == ROLE_BODY, r == ROLE_CARGO


_KINDS = ("car", "bus", "van", "others")
_PLACED = {(k, d): _placed(k, d) for k in _KINDS + tuple(f"far-{k}" for k in _KINDS) for d in (-1, 1)}


def fleet_quads(
    vehicles: Sequence[Vehicle], simple: Sequence[bool] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Road-frame quads of all vehicles; ``simple[i]`` draws vehicle i as one plain box (far away).

    Returns ``(verts (Q,4,3), normals (Q,3), colors (Q,3), roles (Q,), owner (Q,))`` where
    ``owner`` indexes ``vehicles``; the quads of one vehicle are contiguous, in draw order.
    """
    verts, normals, colors, roles, owner = [], [], [], [], []
    for i, v in enumerate(vehicles):
        kind = f"far-{v.vehicle_type}" if simple is not None and simple[i] else v.vehicle_type
        q, n, r, shade, fixed, body, cargo = _PLACED[(kind, 1 if v.direction > 0 else -1)]
        verts.append(q * (v.width, v.height, v.length) + (v.x, 0.0, v.z))
        base = fixed.copy()
        base[body] = v.color
        base[cargo] = _CARGO[v.id % len(_CARGO)]
        colors.append(base * shade)
        normals.append(n)
        roles.append(r)
        owner.append(np.full(len(r), i))
    if not verts:
        return (np.zeros((0, 4, 3)), np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, int), np.zeros(0, int))
    return (
        np.concatenate(verts),
        np.concatenate(normals),
        np.concatenate(colors),
        np.concatenate(roles),
        np.concatenate(owner),
    )
