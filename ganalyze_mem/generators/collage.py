"""`collage`: a small differentiable generator with known latent factors, for GANalyze runs offline on a CPU.

It composes bundled photographic object cutouts (`ganalyze_mem/data/demo/cutouts/`) on bundled background photos
(`.../backgrounds/`). Because every latent coordinate has a known meaning, a direction learned by GANalyze
(Goetschalckx et al., ICCV 2019) can be read off in named factors: `factors(z, y)` returns the number of visible
objects, their size, the brightness and the contrast that a latent encodes, so a report can say whether a learned
"more memorable" direction adds objects, raises contrast or darkens the image (the MachineMem paper's claim).

Latent layout (z ~ N(0, 1), dimension `slots * (4 + palette) + 3`):
- per object slot k (drawn back to front): presence, x, y, scale, then `palette` identity logits choosing (softly,
  at a low temperature) one of the slot's own `palette` cutouts;
- globals: background brightness, global brightness, global contrast.
The class vector y (one-hot over the backgrounds) chooses the background; a soft y mixes backgrounds.

Every step is differentiable in z: objects are placed with `affine_grid` + `grid_sample`, composited with
premultiplied alpha scaled by the presence; brightness is a gamma curve and contrast a gain in logit space around
the image's mean, both of which keep values inside (0, 1) without clipping.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import GanalyzeError
from .base import Generator

DATA = Path(__file__).resolve().parents[1] / "data" / "demo"
EPS = 1e-4

# name -> what it measures; higher values mean what the text says. All come from the latent, not the pixels.
FACTORS = {
    "n_objects": "expected number of visible objects (sum of presences, 0..slots)",
    "object_coverage": "sum of presence x (object side / image side)^2: how much of the image objects cover",
    "mean_scale": "presence-weighted mean object side as a fraction of the image side",
    "off_center": "presence-weighted mean distance of object centres from the image centre (0..1)",
    "background_brightness": "log of the background's brightening exponent (> 0 brighter, < 0 darker)",
    "brightness": "log of the global brightening exponent (> 0 brighter, < 0 darker)",
    "contrast": "log of the global contrast gain in logit space (> 0 more contrast, < 0 less)",
}


@functools.lru_cache(maxsize=256)
def _load_rgba(path: Path, side: int) -> torch.Tensor:
    """A cutout as premultiplied RGBA, 4 x side x side, centred on a transparent square."""
    im = Image.open(path).convert("RGBA")
    s = side / max(im.size)
    im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.alpha_composite(im, ((side - im.width) // 2, (side - im.height) // 2))
    x = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return torch.cat([x[:3] * x[3:], x[3:]])


@functools.lru_cache(maxsize=256)
def _load_rgb(path: Path, side: int) -> torch.Tensor:
    im = Image.open(path).convert("RGB").resize((side, side), Image.LANCZOS)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)


class Collage(Generator):
    """Object cutouts composed on a background photo; see the module docstring for the latent layout."""

    def __init__(self, resolution: int = 64, slots: int = 8, palette: int = 6, data_dir: str | Path | None = None,
                 name: str = "collage", truncation: float = 1.0, weights: str | None = None):
        super().__init__()
        if weights not in (None, "random"):
            raise GanalyzeError(f"collage has no weights to load (got weights={weights!r}); leave --weights out.")
        if not 0 < truncation <= 1:
            raise GanalyzeError(f"--truncation must be in (0, 1], got {truncation}.")
        self.truncation = float(truncation)
        data = Path(data_dir) if data_dir else DATA
        cut_files = sorted((data / "cutouts").glob("*.png"))
        bg_files = sorted((data / "backgrounds").glob("*.jpg"))
        if len(cut_files) < slots * palette or not bg_files:
            raise GanalyzeError(f"collage needs {slots * palette} cutouts and at least one background in {data} "
                                f"(found {len(cut_files)} and {len(bg_files)}); regenerate them with "
                                "`python scripts/make_demo_data.py` or lower slots/palette.")
        if resolution < 16:
            raise GanalyzeError(f"collage resolution must be at least 16, got {resolution}.")
        self.name, self.resolution, self.slots, self.palette = name, int(resolution), int(slots), int(palette)
        self.num_classes = len(bg_files)
        self.dim_z = self.slots * (4 + self.palette) + 3
        self.max_scale, self.min_scale = 0.7, 0.2
        side = max(8, int(math.ceil(self.max_scale * self.resolution)))  # no object is drawn bigger than this
        # Decoded files are cached (and cloned here), so building a second collage costs milliseconds.
        cut = torch.stack([_load_rgba(f, side) for f in cut_files[: self.slots * self.palette]]).clone()
        self.register_buffer("cutouts", cut.view(self.slots, self.palette, 4, side, side), persistent=False)
        self.register_buffer("backgrounds", torch.stack([_load_rgb(f, self.resolution) for f in bg_files]).clone(),
                             persistent=False)
        self._class_names = [re.sub(r"^\d+_", "", f.stem).split("_by_")[0] for f in bg_files]
        self.cutout_names = [re.sub(r"^\d+_", "", f.stem) for f in cut_files[: self.slots * self.palette]]
        self.freeze()

    # ---- latent layout -------------------------------------------------------------------------------------
    def split(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views of z: presence, x, y, scale (N x slots), identity (N x slots x palette), and the globals."""
        k = self.slots
        out = {n: z[:, i * k:(i + 1) * k] for i, n in enumerate(("presence", "x", "y", "scale"))}
        out["identity"] = z[:, 4 * k:4 * k + k * self.palette].reshape(-1, k, self.palette)
        g = 4 * k + k * self.palette
        out["background_brightness"], out["brightness"], out["contrast"] = z[:, g], z[:, g + 1], z[:, g + 2]
        return out

    def index(self, part: str, slot: int | None = None) -> int | list[int]:
        """Positions in z of a named part (`presence`, `x`, `y`, `scale`, `brightness`, ...), for tests and reports."""
        k, g = self.slots, 4 * self.slots + self.slots * self.palette
        per_slot = ("presence", "x", "y", "scale")
        if part in per_slot:
            idx = [per_slot.index(part) * k + s for s in range(k)]
            return idx if slot is None else idx[slot]
        globals_ = ("background_brightness", "brightness", "contrast")
        if part in globals_:
            return g + globals_.index(part)
        raise GanalyzeError(f"collage has no latent part '{part}'; use one of {per_slot + globals_}.")

    def parts(self) -> dict[str, list[int]]:
        """Named parts of z and their positions (what a report splits a latent shift into)."""
        k, pal = self.slots, self.palette
        out = {p: self.index(p) for p in ("presence", "x", "y", "scale")}
        out["identity"] = list(range(4 * k, 4 * k + k * pal))
        for p in ("background_brightness", "brightness", "contrast"):
            out[p] = [self.index(p)]
        return out

    def params(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rendering parameters from z (all differentiable)."""
        p = self.split(z)
        return dict(
            presence=torch.sigmoid(5.0 * p["presence"]),
            cx=0.75 * torch.tanh(p["x"]),
            cy=0.75 * torch.tanh(p["y"]),
            scale=self.min_scale + (self.max_scale - self.min_scale) * torch.sigmoid(1.5 * p["scale"]),
            identity=torch.softmax(p["identity"] / 0.08, dim=-1),
            log_bg_gain=0.8 * torch.tanh(p["background_brightness"]),
            log_gain=0.8 * torch.tanh(p["brightness"]),
            log_contrast=0.7 * torch.tanh(p["contrast"]),
        )

    def factors(self, z: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named, interpretable factors (each N) that z encodes; see `FACTORS`. `y` is accepted for symmetry."""
        q = self.params(z)
        pres, mass = q["presence"], q["presence"].sum(1).clamp_min(1e-6)
        out = dict(
            n_objects=pres.sum(1),
            object_coverage=(pres * q["scale"] ** 2).sum(1),
            mean_scale=(pres * q["scale"]).sum(1) / mass,
            off_center=(pres * (q["cx"] ** 2 + q["cy"] ** 2).sqrt() / (0.75 * math.sqrt(2))).sum(1) / mass,
            background_brightness=q["log_bg_gain"],
            brightness=q["log_gain"],
            contrast=q["log_contrast"],
        )
        if y is not None:
            out["background"] = y.argmax(1).float()
        return out

    # ---- rendering -----------------------------------------------------------------------------------------
    def synthesize(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, k, r = z.shape[0], self.slots, self.resolution
        q = self.params(z.float())
        bg = torch.einsum("nb,bchw->nchw", y.float(), self.backgrounds).clamp(EPS, 1 - EPS)
        bg = bg ** torch.exp(-q["log_bg_gain"]).view(n, 1, 1, 1)

        # Each slot's cutout: a soft choice among its palette, then placed by an affine warp.
        tex = torch.einsum("nkp,kpchw->nkchw", q["identity"], self.cutouts).reshape(n * k, *self.cutouts.shape[2:])
        inv = 1.0 / q["scale"].reshape(-1)
        zero = torch.zeros_like(inv)
        theta = torch.stack([torch.stack([inv, zero, -q["cx"].reshape(-1) * inv], -1),
                             torch.stack([zero, inv, -q["cy"].reshape(-1) * inv], -1)], 1)
        grid = F.affine_grid(theta, [n * k, 4, r, r], align_corners=False)
        placed = F.grid_sample(tex, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        placed = placed.view(n, k, 4, r, r) * q["presence"].view(n, k, 1, 1, 1)

        img = bg
        for s in range(k):  # back to front, premultiplied "over"
            img = placed[:, s, :3] + img * (1.0 - placed[:, s, 3:])

        # Global contrast: gain in logit space around the logit of the image's mean (stays inside (0, 1)).
        img = img.clamp(EPS, 1 - EPS)
        centre = torch.logit(img.mean(dim=(1, 2, 3), keepdim=True))
        img = torch.sigmoid(centre + torch.exp(q["log_contrast"]).view(n, 1, 1, 1) * (torch.logit(img) - centre))
        # Global brightness: a gamma curve, x ** exp(-log_gain): log_gain > 0 brightens.
        img = img.clamp(EPS, 1 - EPS) ** torch.exp(-q["log_gain"]).view(n, 1, 1, 1)
        return img

    # ---- classes = backgrounds -----------------------------------------------------------------------------
    def class_names(self) -> list[str]:
        return list(self._class_names)

    def class_index(self, name: str) -> int:
        key = name.strip().lower()
        for i, c in enumerate(self._class_names):
            if c.lower() == key or c.lower().startswith(key):
                return i
        raise GanalyzeError(f"collage has no background '{name}'; backgrounds: {', '.join(self._class_names)}.")


def collage(**kwargs) -> Collage:
    return Collage(**kwargs)
