"""Render an object offline from cameras on a sphere and write the views in the NeRF-synthetic format (Mildenhall et
al. 2020): ``transforms_<split>.json`` with ``camera_angle_x`` and one ``transform_matrix`` (camera to world, OpenGL
axes: x right, y up, camera looking down -z) per frame, and RGBA PNGs with a transparent background. So rendered
scenes and downloaded NeRF-synthetic scenes (lego, mic, ...) go through one reader (`nerf.read_scene`).

Rendering uses pybullet's CPU TinyRenderer in a headless (DIRECT) session. Meshes: the presets below ship with
``pybullet_data`` (a LEGO brick, a duck, a mug, ...), or any URDF/OBJ path. Beside each image the renderer also
writes its linear depth as ``<image>_depth.npy`` (metres), used for the visible-faces measure.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.files import atomic_write_text
from ..errors import GanalyzeError
from .config import RenderConfig

# Imported inside functions, optional dependencies, needed only there: `pybullet`, `pybullet_data`.

# preset -> (URDF inside pybullet_data, base orientation as roll/pitch/yaw)
OBJECTS = {
    "lego": ("lego/lego.urdf", (0.0, 0.0, 0.0)),
    "duck": ("duck_vhacd.urdf", (math.pi / 2, 0.0, 0.0)),
    "mug": ("objects/mug.urdf", (0.0, 0.0, 0.0)),
    "teddy": ("teddy_vhacd.urdf", (math.pi / 2, 0.0, 0.0)),
    "r2d2": ("r2d2.urdf", (0.0, 0.0, 0.0)),
    "cube": ("cube.urdf", (0.0, 0.0, 0.0)),
}


def sphere_directions(n: int, min_elevation: float = -90.0, seed: int = 0) -> np.ndarray:
    """n unit vectors spread evenly (Fibonacci lattice) over the sphere cap above `min_elevation` degrees."""
    z_min = math.sin(math.radians(min_elevation))
    i = np.arange(n) + 0.5
    z = 1.0 - (1.0 - z_min) * i / n  # uniform in z = uniform in area on the cap
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    phi = i * math.pi * (3.0 - math.sqrt(5.0)) + np.random.default_rng(seed).uniform(0, 2 * math.pi)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world 4 x 4 in NeRF/OpenGL axes for a camera at `eye` looking at `target` (world z up)."""
    forward = target - eye
    forward /= np.linalg.norm(forward)
    up = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.999 else np.array([0.0, 1.0, 0.0])
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, true_up, -forward, eye
    return c2w


def render_scene(obj: str, folder: str | os.PathLike, cfg: RenderConfig | None = None, split: str = "test",
                 directions: np.ndarray | None = None) -> Path:
    """Render `cfg.views` views of `obj` into `folder` (NeRF-synthetic layout); return `folder`.

    `directions` (N x 3, from the object's centre towards the cameras) replaces the Fibonacci lattice when given.
    """
    import pybullet as p

    cfg = cfg or RenderConfig()
    folder = Path(folder)
    (folder / split).mkdir(parents=True, exist_ok=True)
    client = p.connect(p.DIRECT)
    try:
        body = _load_in(p, client, obj)
        lo, hi = p.getAABB(body, physicsClientId=client)
        lo, hi = np.array(lo), np.array(hi)
        centre, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)
        near, far = radius * max(cfg.distance - 1.5, 0.05), radius * (cfg.distance + 1.5)
        proj = p.computeProjectionMatrixFOV(cfg.fov, 1.0, near, far, physicsClientId=client)
        frames = []
        if directions is None:
            directions = sphere_directions(cfg.views, cfg.min_elevation, cfg.seed)
        directions = np.asarray(directions, dtype=np.float64)
        directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
        for i, d in enumerate(directions):
            c2w = look_at(centre + d * radius * cfg.distance, centre)
            eye, target, up = c2w[:3, 3], centre, c2w[:3, 1]
            view = p.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist(), physicsClientId=client)
            _, _, rgba, depth, seg = p.getCameraImage(
                cfg.size, cfg.size, view, proj, renderer=p.ER_TINY_RENDERER, shadow=0,
                lightDirection=(eye - centre + np.array([0.3, 0.2, 1.0]) * radius).tolist(), physicsClientId=client)
            rgba = np.reshape(np.asarray(rgba, dtype=np.uint8), (cfg.size, cfg.size, 4)).copy()
            mask = np.reshape(np.asarray(seg), (cfg.size, cfg.size)) == body
            rgba[..., 3] = np.where(mask, 255, 0)
            rgba[~mask, :3] = 0
            buf = np.reshape(np.asarray(depth, dtype=np.float64), (cfg.size, cfg.size))
            z = far * near / (far - (far - near) * buf)  # OpenGL depth buffer -> distance along the view axis
            z[~mask] = np.inf
            name = f"{split}/r_{i}"
            Image.fromarray(rgba, mode="RGBA").save(folder / f"{name}.png")
            np.save(folder / f"{name}_depth.npy", z.astype(np.float32))
            frames.append({"file_path": f"./{name}", "rotation": 0.0, "transform_matrix": c2w.tolist()})
    finally:
        p.disconnect(client)
    meta = {"camera_angle_x": math.radians(cfg.fov), "frames": frames,
            "source": {"renderer": "pybullet TinyRenderer", "object": obj, "views": len(frames), "size": cfg.size,
                       "distance": cfg.distance, "centre": centre.tolist(), "radius": radius}}
    atomic_write_text(folder / f"transforms_{split}.json", json.dumps(meta, indent=1))
    return folder


def _load_in(p, client: int, obj: str) -> int:
    import pybullet_data

    p.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
    if obj in OBJECTS:
        urdf, rpy = OBJECTS[obj]
        return p.loadURDF(urdf, baseOrientation=p.getQuaternionFromEuler(rpy), physicsClientId=client)
    path = Path(obj)
    if not path.is_file():
        raise GanalyzeError(f"Unknown object '{obj}': use a preset ({', '.join(OBJECTS)}) or a .urdf/.obj file.")
    if path.suffix.lower() == ".urdf":
        return p.loadURDF(str(path.resolve()), physicsClientId=client)
    if path.suffix.lower() == ".obj":
        vis = p.createVisualShape(p.GEOM_MESH, fileName=str(path.resolve()), rgbaColor=[0.85, 0.6, 0.3, 1.0],
                                  physicsClientId=client)
        return p.createMultiBody(baseMass=0, baseVisualShapeIndex=vis, physicsClientId=client)
    raise GanalyzeError(f"{path}: expected a .urdf or .obj file.")
