"""`photoedit`: a generator whose latents are global photographic edits of a real photo.

The class vector y picks a photo (one class per photo: the bundled demo photos, or every image in a folder the user
names with ``--generator-weights FOLDER``, so a user can steer their own photos without GAN inversion); a soft y mixes
photos. The latent z (standard normal, `dim_z` = 16) is a vector of edit settings, one coordinate per edit, each
mapped through a fixed, smooth, bounded function (mostly ``tanh``) to a parameter a photo editor would offer:
exposure, white balance (temperature, tint), black point, contrast, midtone gamma, shadows, highlights, saturation,
hue, clarity (large-radius unsharp mask), sharpness (unsharp mask: negative values blur), vignetting, and a mild zoom
with pan. z = 0 is the photo itself, up to a 0.5 % zoom (the zoom only crops in, never pads); every z is a plausible
edit because every parameter is bounded (exposure within +-0.7 stop, hue within +-17 degrees, zoom at most 1.25x, ...).

What a "direction" means here: GANalyze (Goetschalckx et al., ICCV 2019) learns T(z, alpha) = z + alpha * d (or a
z-dependent step). On this generator d is a recipe of edit changes: "+0.4 contrast, -0.3 exposure, +0.2 clarity", the
same for every photo, each edit saturating smoothly at its bound. Because every coordinate of z is one named edit,
`factors(z)` reads a learned direction off directly as changes of the edit parameters (`FACTORS` says what each is),
and the assessor's score of an edited photo depends on z only through these few global edits, so its gradient with
respect to z can point the same way from one photo to the next (on `collage` it does not).

Everything is differentiable in z (edits are elementwise curves, fixed-kernel convolutions and one `grid_sample`),
deterministic, batch-independent (per-image statistics only) and fast on a CPU. Images are float32 RGB in [0, 1];
values that an edit pushes out of range are clipped, as an editor clips them.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import GanalyzeError
from .base import Generator

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

DATA = Path(__file__).resolve().parents[1] / "data" / "demo" / "images"
EPS = 1e-4
GAMMA = 2.2  # display <-> linear light (exposure and white balance act on light, not on encoded values)

# edit -> (how the coordinate of z maps to it, what it does). Order = the coordinates of z.
FACTORS = {
    "exposure": ("0.7 tanh(z) stops", "light multiplied by 2^value (> 0 brighter)"),
    "temperature": ("0.25 tanh(z)", "log gain of red over blue in linear light (> 0 warmer, < 0 cooler)"),
    "tint": ("0.15 tanh(z)", "log gain of magenta over green (> 0 more magenta)"),
    "black_point": ("0.08 tanh(z)", "level mapped to black (> 0 crushes shadows, < 0 lifts them to a matte look)"),
    "contrast": ("0.6 tanh(z)", "log gain of a sigmoid contrast curve around the image's mean (> 0 more contrast)"),
    "gamma": ("0.5 tanh(z)", "log midtone exponent: x ** exp(-value) (> 0 brighter midtones)"),
    "shadows": ("0.3 tanh(z)", "shadow curve x + 2 value x (1 - x)^2 (> 0 lifts the darks)"),
    "highlights": ("0.3 tanh(z)", "highlight curve x + 2 value x^2 (1 - x) (> 0 brightens the lights)"),
    "saturation": ("0.7 tanh(z)", "log gain of chroma around luminance (> 0 more saturated)"),
    "hue": ("0.3 tanh(z) rad", "rotation of chroma in YIQ space"),
    "clarity": ("0.5 tanh(z)", "large-radius unsharp mask amount: local contrast (> 0 more, < 0 softer)"),
    "sharpness": ("tanh(z)", "small-radius unsharp mask amount (> 0 sharper, -1 fully blurred)"),
    "vignette": ("0.4 tanh(z)", "corner darkening, light x (1 - value r^2) (> 0 darker corners, < 0 lighter)"),
    "zoom": ("1 + 0.25 sigmoid(2 z - 4)", "magnification about the centre, 1.005x at z = 0, 1 to 1.25x"),
    "pan_x": ("tanh(z) (1 - 1/zoom)", "horizontal shift of the crop, within the photo"),
    "pan_y": ("tanh(z) (1 - 1/zoom)", "vertical shift of the crop, within the photo"),
}
EDITS = tuple(FACTORS)
# luminance weights (Rec. 601) and the YIQ chroma basis used for saturation and hue
LUMA = (0.299, 0.587, 0.114)


@functools.lru_cache(maxsize=2048)
def _load(path: str, side: int) -> torch.Tensor:
    from ..images import load_resized

    return load_resized(path, side)


def blur_matrix(side: int, sigma: float) -> torch.Tensor:
    """side x side matrix B with (B @ row) a Gaussian blur of a row, borders reflected (the kernel's weights that fall
    outside fold back inside, so every row of B sums to 1). A blur as two matrix products is far faster on a CPU,
    backward included, than a one-channel convolution."""
    radius = max(1, int(math.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1)
    weights = torch.exp(-0.5 * (offsets.double() / sigma) ** 2)
    weights = weights / weights.sum()
    mat = torch.zeros(side, side, dtype=torch.float64)
    for i in range(side):
        for o, w in zip(offsets.tolist(), weights.tolist(), strict=True):
            j = i + o
            while not 0 <= j < side:  # reflect (without repeating the edge pixel), also for radii over the side
                j = -j if j < 0 else 2 * (side - 1) - j
            mat[i, j] += w
    return mat.float()


def _blur(x: torch.Tensor, mat: torch.Tensor) -> torch.Tensor:
    """Separable blur of N x C x H x W images (square) with a `blur_matrix`: per image, so batch-independent."""
    return mat @ x @ mat.T


def find_photos(source: str | Path | None) -> list[Path]:
    """The photos that are the classes: every image under `source` (a folder or one file), sorted; the bundled demo
    photos when `source` is None."""
    from ..images import find_images

    root = Path(source).expanduser() if source else DATA
    if not root.exists():
        raise GanalyzeError(f"photoedit: {root} does not exist; pass --generator-weights FOLDER with your photos "
                            "(or leave it out for the bundled demo photos).")
    files, problems = find_images([root])
    if problems and not files:
        raise GanalyzeError(f"photoedit: no usable photos in {root} ({problems[0]}); pass a folder of JPEG/PNG "
                            "photos with --generator-weights.")
    if not files:
        raise GanalyzeError(f"photoedit: no photos in {root}; pass a folder of JPEG/PNG photos with "
                            "--generator-weights.")
    return files


class PhotoEdit(Generator):
    """Global photographic edits of real photos; see the module docstring."""

    def __init__(self, resolution: int = 128, photos: str | Path | None = None, weights: str | None = None,
                 name: str = "photoedit", truncation: float = 1.0, limit: int | None = None):
        super().__init__()
        if not 0 < truncation <= 1:
            raise GanalyzeError(f"--truncation must be in (0, 1], got {truncation}.")
        if resolution < 16:
            raise GanalyzeError(f"photoedit resolution must be at least 16, got {resolution}.")
        if photos is not None and weights not in (None, "random") and str(photos) != str(weights):
            raise GanalyzeError("photoedit: give the photo folder once (photos= or --generator-weights), not both.")
        source = photos if photos is not None else (None if weights in (None, "random") else weights)
        files = find_photos(source)
        if limit is not None:
            files = files[: int(limit)]
        self.name, self.resolution, self.truncation = name, int(resolution), float(truncation)
        self.source = str(source) if source else None
        self.weights_source = str(Path(source).expanduser() if source else DATA)  # recorded in a run's config
        self.files = [str(f) for f in files]
        self.num_classes = len(files)
        self.dim_z = len(EDITS)
        # Cached decodes are cloned here so that building a second generator costs milliseconds.
        self.register_buffer("photos", torch.stack([_load(f, self.resolution) for f in self.files]).clone(),
                             persistent=False)
        root = Path(source).expanduser() if source else DATA
        self._class_names = [(str(Path(f).relative_to(root).with_suffix("")) if root.is_dir() else Path(f).stem)
                             .replace("\\", "/") for f in self.files]
        scale = self.resolution / 128.0  # blur radii in pixels at the bundled photos' 128 px
        self.register_buffer("b_sharp", blur_matrix(self.resolution, 1.0 * scale), persistent=False)
        self.register_buffer("b_clarity", blur_matrix(self.resolution, 6.0 * scale), persistent=False)
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, self.resolution), torch.linspace(-1, 1, self.resolution),
                                indexing="ij")
        self.register_buffer("r2", ((xx ** 2 + yy ** 2) / 2.0).view(1, 1, self.resolution, self.resolution),
                             persistent=False)
        self.freeze()

    # ---- latent layout -------------------------------------------------------------------------------------
    def index(self, part: str) -> int:
        """Position in z of a named edit (`exposure`, `contrast`, ...)."""
        if part not in FACTORS:
            raise GanalyzeError(f"photoedit has no edit '{part}'; use one of {', '.join(EDITS)}.")
        return EDITS.index(part)

    def parts(self) -> dict[str, list[int]]:
        """Named parts of z and their positions: one coordinate per edit."""
        return {e: [i] for i, e in enumerate(EDITS)}

    def params(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """The edit parameters (each N) that z encodes; all differentiable and bounded."""
        v = {e: z[:, i] for i, e in enumerate(EDITS)}
        t = {e: torch.tanh(v[e]) for e in EDITS if e != "zoom"}
        zoom = 1.0 + 0.25 * torch.sigmoid(2.0 * v["zoom"] - 4.0)
        room = 1.0 - 1.0 / zoom
        return dict(exposure=0.7 * t["exposure"], temperature=0.25 * t["temperature"], tint=0.15 * t["tint"],
                    black_point=0.08 * t["black_point"], contrast=0.6 * t["contrast"], gamma=0.5 * t["gamma"],
                    shadows=0.3 * t["shadows"], highlights=0.3 * t["highlights"], saturation=0.7 * t["saturation"],
                    hue=0.3 * t["hue"], clarity=0.5 * t["clarity"], sharpness=t["sharpness"],
                    vignette=0.4 * t["vignette"], zoom=zoom, pan_x=room * t["pan_x"], pan_y=room * t["pan_y"])

    def factors(self, z: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The edit parameters by name (each N): what a learned direction changes. `y` is accepted for symmetry."""
        out = self.params(z)
        if y is not None:
            out["photo"] = y.argmax(1).float()
        return out

    # ---- rendering -----------------------------------------------------------------------------------------
    def synthesize(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, r = z.shape[0], self.resolution
        p = {k: v.view(n, 1, 1, 1) for k, v in self.params(z.float()).items()}
        img = torch.einsum("nb,bchw->nchw", y.float(), self.photos)

        # Geometry: zoom in about a point the pan moves; the crop never leaves the photo, so nothing is padded.
        inv = 1.0 / p["zoom"].view(n)
        zero = torch.zeros_like(inv)
        theta = torch.stack([torch.stack([inv, zero, p["pan_x"].view(n)], -1),
                             torch.stack([zero, inv, p["pan_y"].view(n)], -1)], 1)
        grid = F.affine_grid(theta, [n, 3, r, r], align_corners=False)
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)

        # Detail: sharpness (small radius) and clarity (large radius) as unsharp masks.
        img = img + p["sharpness"] * (img - _blur(img, self.b_sharp))
        img = img + p["clarity"] * (img - _blur(img, self.b_clarity))

        # Light: white balance, exposure and vignetting on linear values.
        lin = img.clamp(EPS, 1.0) ** GAMMA
        gains = torch.cat([p["temperature"] + 0.5 * p["tint"], -p["tint"], -p["temperature"] + 0.5 * p["tint"]], 1)
        lin = lin * torch.exp(gains) * 2.0 ** p["exposure"] * (1.0 - p["vignette"] * self.r2).clamp_min(0.0)
        img = lin.clamp(EPS, 1.0) ** (1.0 / GAMMA)

        # Tone curves on display values.
        img = ((img - p["black_point"]) / (1.0 - p["black_point"])).clamp(EPS, 1 - EPS)
        luma = (img * img.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
        centre = torch.logit(luma.mean(dim=(2, 3), keepdim=True).clamp(0.05, 0.95))
        img = torch.sigmoid(centre + torch.exp(p["contrast"]) * (torch.logit(img) - centre))
        img = img.clamp(EPS, 1.0) ** torch.exp(-p["gamma"])
        img = img + 2 * p["shadows"] * img * (1 - img) ** 2 + 2 * p["highlights"] * img ** 2 * (1 - img)

        # Colour: saturation and hue on the YIQ chroma plane (luminance kept).
        yiq = _rgb_to_yiq(img)
        ang, gain = p["hue"].view(n, 1, 1), torch.exp(p["saturation"]).view(n, 1, 1)
        i, q = yiq[:, 1], yiq[:, 2]
        i2 = gain * (torch.cos(ang) * i - torch.sin(ang) * q)
        q2 = gain * (torch.sin(ang) * i + torch.cos(ang) * q)
        img = _yiq_to_rgb(torch.stack([yiq[:, 0], i2, q2], 1))
        return img.clamp(0.0, 1.0)

    # ---- classes = photos ----------------------------------------------------------------------------------
    def class_names(self) -> list[str]:
        return list(self._class_names)

    def class_index(self, name: str) -> int:
        key = name.strip().lower()
        exact = [i for i, c in enumerate(self._class_names) if c.lower() == key or Path(c).name.lower() == key]
        if exact:
            return exact[0]
        close = [i for i, c in enumerate(self._class_names)
                 if Path(c).name.lower().startswith(key) or Path(c).name.lower().endswith("_" + key)]
        if len(close) == 1:
            return close[0]
        hint = f" ({len(close)} photos start with it; give more of the name)" if close else ""
        raise GanalyzeError(f"photoedit has no photo '{name}'{hint}; give a photo's file name (without suffix) or "
                            f"an index 0..{self.num_classes - 1}; `ganalyze-mem sample --list-classes` lists them.")


_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
                    dtype=torch.float64)
_YIQ_INV = torch.linalg.inv(_YIQ)


def _rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YIQ.to(x), x)


def _yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", _YIQ_INV.to(x), x)


def photoedit(**kwargs) -> PhotoEdit:
    return PhotoEdit(**kwargs)
