"""Read a NeRF-synthetic scene (Mildenhall et al. 2020: ``transforms_{train,val,test}.json`` + RGBA PNGs) and
measure how much each view shows.

Per-view measures (computed from the image's alpha channel, its pixels and, when present, its depth):
- ``foreground_area``: fraction of pixels covered by the object (alpha > 0.5),
- ``silhouette_complexity``: isoperimetric ratio P^2 / (4 pi A) of the silhouette (1 for a disc, larger when the
  outline is longer or more ragged; perimeter by skimage.measure.perimeter),
- ``edge_density``: fraction of pixels on Canny edges (skimage.feature.canny) of the view composited on white,
- ``visible_faces`` (a documented proxy, needs depth): surface normals are estimated from the depth map, turned into
  world axes with the camera pose, and each foreground pixel is assigned to the nearest of the six axis directions
  (+-x, +-y, +-z); the count of directions covering at least 5% of the object is the number of visible faces for a
  box-like object (a LEGO brick seen from a corner shows 3, head-on 1); ``orientation_entropy`` is the entropy in
  bits of that 6-way split, a continuous version. Depth comes from ``<image>_depth.npy`` (metric, written by
  `render`). NeRF-synthetic's own test-split depth PNGs are not used: their encoding is not documented with the
  data, so for downloaded scenes these two measures are n/a rather than guessed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.feature import canny
from skimage.measure import perimeter

from ..errors import GanalyzeError

SPLITS = ("train", "val", "test")
FACE_SHARE = 0.05  # a direction counts as a visible face when it covers at least this share of the object


@dataclass
class View:
    split: str
    index: int
    image: Path
    c2w: np.ndarray  # 4 x 4 camera to world
    depth: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def azimuth(self) -> float:
        return math.degrees(math.atan2(self.c2w[1, 3], self.c2w[0, 3]))

    @property
    def elevation(self) -> float:
        pos = self.c2w[:3, 3]
        return math.degrees(math.asin(np.clip(pos[2] / max(np.linalg.norm(pos), 1e-12), -1, 1)))


@dataclass
class Scene:
    folder: Path
    camera_angle_x: float
    views: list[View]


def _image_path(folder: Path, file_path: str) -> Path:
    p = (folder / file_path).resolve()
    if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return p
    return p.with_name(p.name + ".png")


def read_scene(folder: str | os.PathLike, splits: tuple[str, ...] = SPLITS) -> Scene:
    """All frames of the requested splits present in `folder`; each image must exist."""
    folder = Path(folder)
    found = [s for s in splits if (folder / f"transforms_{s}.json").is_file()]
    if not found:
        raise GanalyzeError(f"{folder} holds no transforms_{{{','.join(splits)}}}.json; pass a NeRF-synthetic scene "
                            "folder (e.g. nerf_synthetic/lego) or render one with --render lego.")
    views, angle = [], None
    for split in found:
        try:
            meta = json.loads((folder / f"transforms_{split}.json").read_text(encoding="utf-8"))
            angle = float(meta["camera_angle_x"]) if angle is None else angle
            frames = meta["frames"]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise GanalyzeError(f"{folder / f'transforms_{split}.json'}: not a NeRF transforms file ({e}).") from None
        for i, fr in enumerate(frames):
            img = _image_path(folder, fr["file_path"])
            if not img.is_file():
                raise GanalyzeError(f"{img} is listed in transforms_{split}.json but does not exist.")
            c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
            cand = img.with_name(img.stem + "_depth.npy")
            depth = cand if cand.is_file() else None
            views.append(View(split, i, img, c2w, depth))
    return Scene(folder, angle, views)


def _load_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0


def _load_depth(path: Path, mask: np.ndarray) -> np.ndarray:
    z = np.load(path).astype(np.float64)
    z[~mask] = np.nan
    return z


def world_normals(depth: np.ndarray, c2w: np.ndarray, camera_angle_x: float) -> np.ndarray:
    """H x W x 3 unit normals in world axes from a depth map (distance along the view axis); NaN off the object."""
    h, w = depth.shape
    f = 0.5 * w / math.tan(0.5 * camera_angle_x)
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    pts = np.stack([(u - w / 2) / f * depth, -(v - h / 2) / f * depth, -depth], axis=-1)  # OpenGL camera axes
    n = np.cross(np.gradient(pts, axis=1), np.gradient(pts, axis=0))
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    flip = np.sum(n * pts, axis=-1) > 0  # normals must face the camera (at the origin)
    n[flip] *= -1
    return n @ c2w[:3, :3].T


def view_measures(view: View, camera_angle_x: float) -> dict[str, float]:
    rgba = _load_rgba(view.image)
    alpha = rgba[..., 3] if rgba[..., 3].min() < 1 else np.ones(rgba.shape[:2])
    mask = alpha > 0.5
    area = float(mask.mean())
    rgb = rgba[..., :3] * alpha[..., None] + (1 - alpha[..., None])  # on white, as the scorer sees it
    grey = rgb @ np.array([0.299, 0.587, 0.114])
    complexity = float(perimeter(mask) ** 2 / (4 * math.pi * mask.sum())) if mask.any() else math.nan
    out = {"foreground_area": area, "silhouette_complexity": complexity,
           "edge_density": float(canny(grey, sigma=1.0).mean()),
           "visible_faces": math.nan, "orientation_entropy": math.nan}
    if view.depth is not None and mask.sum() > 20:
        inner = ndimage.binary_erosion(mask, iterations=2)  # normals across the silhouette edge are meaningless
        n = world_normals(_load_depth(view.depth, mask), view.c2w, camera_angle_x)
        ok = inner & np.isfinite(n).all(axis=-1)
        if ok.sum() > 10:
            nn = n[ok]
            axis = np.argmax(np.abs(nn), axis=1)
            sign = np.take_along_axis(nn, axis[:, None], axis=1)[:, 0] > 0
            counts = np.bincount(axis * 2 + sign, minlength=6).astype(np.float64)
            share = counts / counts.sum()
            out["visible_faces"] = float((share >= FACE_SHARE).sum())
            nz = share[share > 0]
            out["orientation_entropy"] = float(abs((nz * np.log2(nz)).sum()))
    return out
