"""Per-image attributes of the paper's section 5.1 that need no learned weights, on H x W x 3 arrays in [0, 1]:

- hue, saturation, value: means of the HSV channels (skimage.color.rgb2hsv; hue as a plain mean, as in the paper),
- colourfulness: Hasler & Suesstrunk (2003), on 0-255 RGB,
- contrast: the global contrast factor of Matkovic, Neumann, Neumann, Psik & Purgathofer (2005),
- entropy: Shannon entropy (bits) of the 8-bit grey-level histogram (skimage.measure.shannon_entropy),
- BRISQUE: Mittal, Moorthy & Bovik (2012) via OpenCV's quality module with the LIVE model files of Debian's
  ``opencv-data`` (``/usr/share/opencv4/quality``),
- NIQE: see `niqe`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import rgb2gray, rgb2hsv
from skimage.measure import shannon_entropy

# Imported inside functions, optional dependencies, needed only there: `cv2`.

BRISQUE_DIRS = (os.environ.get("GANALYZE_MEM_BRISQUE_DIR", ""), "/usr/share/opencv4/quality",
                "/usr/share/opencv/quality", "/usr/local/share/opencv4/quality")
BRISQUE_FILES = ("brisque_model_live.yml", "brisque_range_live.yml")


def hsv_means(rgb: np.ndarray) -> tuple[float, float, float]:
    hsv = rgb2hsv(rgb)
    return float(hsv[..., 0].mean()), float(hsv[..., 1].mean()), float(hsv[..., 2].mean())


def colourfulness(rgb: np.ndarray) -> float:
    x = rgb.astype(np.float64) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def global_contrast_factor(rgb: np.ndarray, levels: int = 9) -> float:
    """GCF: perceptual luminance L = 100 sqrt(l) with l = (grey)^2.2; at each of up to 9 resolutions (halved each
    time by 2 x 2 averaging of l), the mean over pixels of the average |L - L_neighbour| over the 4-neighbourhood;
    summed with the paper's weights w_i = (-0.406385 x + 0.334573) x + 0.0877526, x = i / 9."""
    grey = rgb2gray(rgb) if rgb.ndim == 3 else np.asarray(rgb, dtype=np.float64)
    lin = grey.astype(np.float64) ** 2.2
    total = 0.0
    for i in range(1, levels + 1):
        lum = 100.0 * np.sqrt(lin)
        diff_sum = np.zeros_like(lum)
        count = np.zeros_like(lum)
        dx = np.abs(np.diff(lum, axis=1))
        dy = np.abs(np.diff(lum, axis=0))
        diff_sum[:, :-1] += dx
        diff_sum[:, 1:] += dx
        diff_sum[:-1, :] += dy
        diff_sum[1:, :] += dy
        count[:, :-1] += 1
        count[:, 1:] += 1
        count[:-1, :] += 1
        count[1:, :] += 1
        local = diff_sum / np.maximum(count, 1)
        x = i / levels
        total += ((-0.406385 * x + 0.334573) * x + 0.0877526) * float(local.mean())
        h, w = lin.shape
        if min(h, w) < 4:
            break
        lin = lin[: h - h % 2, : w - w % 2]
        lin = 0.25 * (lin[0::2, 0::2] + lin[1::2, 0::2] + lin[0::2, 1::2] + lin[1::2, 1::2])
    return total


def entropy(rgb: np.ndarray) -> float:
    grey = np.clip(rgb2gray(rgb) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return float(shannon_entropy(grey, base=2))


def brisque_files() -> tuple[Path, Path] | None:
    for d in BRISQUE_DIRS:
        if d and all((Path(d) / f).is_file() for f in BRISQUE_FILES):
            return Path(d) / BRISQUE_FILES[0], Path(d) / BRISQUE_FILES[1]
    return None


def brisque_unavailable_reason() -> str | None:
    try:
        import cv2

        if not hasattr(cv2, "quality"):
            return "OpenCV lacks the contrib quality module; install opencv-contrib-python-headless"
    except ImportError:
        return "OpenCV is not installed; install opencv-contrib-python-headless"
    if brisque_files() is None:
        return ("BRISQUE model files (brisque_model_live.yml, brisque_range_live.yml) not found in "
                f"{', '.join(d for d in BRISQUE_DIRS if d)}; install Debian's opencv-data or set "
                "GANALYZE_MEM_BRISQUE_DIR")
    return None


@lru_cache(maxsize=1)
def _brisque_model():
    import cv2

    model, rng = brisque_files()
    return cv2.quality.QualityBRISQUE_create(str(model), str(rng))


def brisque(rgb: np.ndarray) -> float:
    """BRISQUE score (lower = better quality; roughly 0-100)."""
    bgr = np.ascontiguousarray((np.clip(rgb, 0, 1)[..., ::-1] * 255.0 + 0.5).astype(np.uint8))
    return float(_brisque_model().compute(bgr)[0])


def limit_size(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (keeping aspect) so the longer side is at most `max_side`; 0 = never."""
    h, w = rgb.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return rgb
    s = max_side / max(h, w)
    im = Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8))
    return np.asarray(im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC), np.float64) / 255.0
