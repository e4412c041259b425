"""The one image convention and image I/O.

Between modules, images are float32 RGB tensors of shape N x 3 x H x W with values in [0, 1]. Every module converts
at its own edge. Loading handles the odd files that real folders hold (CMYK, 16-bit, palette with transparency,
grayscale, RGBA, EXIF rotation, tiny or enormous images) and turns everything unreadable into an `ImageError`
that names the file and the reason.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFile, ImageFont, ImageOps

from .core.files import atomic_path
from .errors import GanalyzeError, ImageError
from .preprocess import (  # noqa: F401 (re-exported: the recipes live in `preprocess`)
    ALPHAS,
    ASPECT,
    FALLBACK_SIZE,
    FITS,
    OFFICIAL_MACHINEMEM,
    PRESETS,
    TOOLKIT,
    Preprocess,
    preset,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".jfif")
MAX_PIXELS = 8192 * 8192  # larger files are refused as possible decompression bombs
MIN_SIDE = 8  # smaller images carry too little to score; refused with a clear reason
# The one load-time resize of the project (`score`, validation studies, predictor training and evaluation): PIL
# bilinear, which antialiases when shrinking; it is the resize ResMem's own package uses.
RESAMPLE = Image.BILINEAR


def check_images(x: torch.Tensor, where: str = "images") -> torch.Tensor:
    """Raise `GanalyzeError` unless `x` follows the image convention; return it unchanged."""
    if not isinstance(x, torch.Tensor):
        raise GanalyzeError(f"{where}: expected a torch.Tensor, got {type(x).__name__}.")
    if x.ndim != 4 or x.shape[1] != 3:
        raise GanalyzeError(f"{where}: expected shape N x 3 x H x W (RGB), got {tuple(x.shape)}. "
                            "Add a batch dimension with x[None] or convert grayscale with x.expand(-1, 3, -1, -1).")
    if not x.is_floating_point():
        raise GanalyzeError(f"{where}: expected a float tensor in [0, 1], got {x.dtype}; divide uint8 images by 255.")
    if x.numel():
        lo, hi = float(x.detach().min()), float(x.detach().max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise GanalyzeError(f"{where}: contains NaN or infinite values.")
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise GanalyzeError(f"{where}: values must be in [0, 1], found [{lo:.3f}, {hi:.3f}]. "
                                "Map [-1, 1] images with (x + 1) / 2.")
    return x


def aspect_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the centre crop whose aspect ratio lies within `ASPECT` (torchvision's
    fallback box of RandomResizedCrop: the full width or height kept, the other side cut to the nearest bound)."""
    ratio = width / height
    w, h = width, height
    if ratio < ASPECT[0]:
        h = int(round(w / ASPECT[0]))
    elif ratio > ASPECT[1]:
        w = int(round(h * ASPECT[1]))
    top, left = (height - h) // 2, (width - w) // 2
    return left, top, left + w, top + h


def _to_rgb(img: Image.Image, alpha: str = "white") -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited on white (`alpha` "white") or dropped ("drop")."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        span = max(arr.max() - arr.min(), 1e-12)
        img = Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8), mode="L")
    if alpha == "drop" and img.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        return img.convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "PA"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")  # CMYK, YCbCr, L, 1, LAB ...


def load_image(path: str | os.PathLike, size: int | tuple[int, int] | None = None,
               recipe: Preprocess | None = None) -> torch.Tensor:
    """Read one image file as a float32 3 x H x W tensor in [0, 1] (optionally resized to `size`). With a `recipe`
    (`Preprocess`), its EXIF and alpha handling and its crop apply, and `size` defaults to its size."""
    if recipe is not None and size is None:
        size = recipe.size
    p = Path(path)
    if not p.exists():
        raise ImageError(p, "file does not exist")
    if p.is_dir():
        raise ImageError(p, "is a folder, not an image file")
    if not os.access(p, os.R_OK):
        raise ImageError(p, "permission denied")
    if p.stat().st_size == 0:
        raise ImageError(p, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ImageError(p, f"image is {w}x{h} pixels, over the {MAX_PIXELS:,}-pixel limit "
                                        "(possible decompression bomb); downscale it first")
                if min(w, h) < MIN_SIDE:
                    raise ImageError(p, f"image is only {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                im.load()
                if recipe is None or recipe.exif:
                    im = ImageOps.exif_transpose(im)
                rgb = _to_rgb(im, "white" if recipe is None else recipe.alpha)
                if recipe is not None and recipe.fit == "crop":
                    box = aspect_box(*rgb.size)
                    if box != (0, 0, *rgb.size):
                        rgb = rgb.crop(box)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(p, f"refused as a possible decompression bomb ({e})") from None
    except Image.DecompressionBombWarning as e:
        raise ImageError(p, f"refused as a possible decompression bomb ({e})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(p, "not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(p, f"corrupt or truncated image ({str(e).splitlines()[0][:120]})") from None
    if size is not None:
        wh = (size, size) if isinstance(size, int) else (size[1], size[0])
        if rgb.size != wh:
            rgb = rgb.resize(wh, RESAMPLE)
    arr = np.asarray(rgb, dtype=np.float32) / 255.0
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_resized(path: str | os.PathLike, size: int | Preprocess) -> torch.Tensor:
    """One image file as a float32 3 x size x size tensor in [0, 1]: robust decoding (`load_image`) and the project's
    one resize (`RESAMPLE`), or a model's own recipe (a `Preprocess`, from its card). Every path that feeds files to
    an assessor or a predictor loads them through this, so a file gets the same score from `score`, a validation
    study and a predictor run's own evaluation."""
    if isinstance(size, Preprocess):
        return load_image(path, int(size.size), recipe=size)
    return load_image(path, int(size))


def assessor_side(model: object, size: int | None = None) -> int:
    """The side images are loaded at for `model`: `size` when given, else its ``input_size``, else `FALLBACK_SIZE`."""
    return int(size or getattr(model, "input_size", None) or FALLBACK_SIZE)


def assessor_recipe(model: object, size: int | None = None, override: str | None = None) -> int | Preprocess:
    """How files are loaded for `model`: its card's `Preprocess` (``model.image_recipe``) at `assessor_side`, else
    just that side (the toolkit's stretch resize). `override` (a `PRESETS` name, ``score --preprocess``) replaces
    it, with a warning when it differs from what the model records."""
    side = assessor_side(model, size)
    recipe = getattr(model, "image_recipe", None)
    recipe = recipe if isinstance(recipe, Preprocess) else None
    if override is not None:
        own = replace(recipe or TOOLKIT, size=side)
        chosen = preset(override, side)
        if chosen != own:
            warnings.warn(f"--preprocess {override} ({chosen.fit}, alpha {chosen.alpha}, EXIF "
                          f"{'applied' if chosen.exif else 'ignored'}) is not how this model prepares images "
                          f"({own.fit}, alpha {own.alpha}, EXIF {'applied' if own.exif else 'ignored'}): its scores "
                          "will differ from the model's own evaluation.", stacklevel=2)
        return chosen
    return side if recipe is None else replace(recipe, size=side)


def side_of(size: int | Preprocess) -> int:
    return int(size.size if isinstance(size, Preprocess) else size)


def _special(q: str) -> str | None:
    """Why `q` is not a usable file (None when it is a regular file, or a link to one). Never opens `q`, so a FIFO
    cannot block."""
    link = f"symbolic link to {os.readlink(q)}: " if os.path.islink(q) else ""
    try:
        mode = os.stat(q).st_mode
    except FileNotFoundError:
        return f"dangling {link}its target does not exist" if link else "no such file or folder"
    except OSError as e:  # a link loop, a folder we may not enter
        return f"{link}cannot be read ({e.strerror or e})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"{link}is a folder, not an image file"
    what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")
    return f"{link}{what}, not a regular file; skipped"


def _join(folder: str, name: str) -> str:
    """`str(Path(folder) / name)` without building a Path (millions of files)."""
    if folder == ".":
        return name
    return folder + name if folder.endswith(os.sep) else folder + os.sep + name


def _walk(top: str, recursive: bool, names: list[str], aliases: list[int], problems: list[ImageError]) -> None:
    """Append the image files under `top` in `sorted(Path.glob('**/*'))` order (depth first, each folder's entries
    sorted by name); links to files go to `aliases`, special entries to `problems`. Links to folders are not
    followed (as `Path.glob`)."""

    def entries(folder: str):
        try:
            with os.scandir(folder) as it:
                return iter(sorted(it, key=lambda e: e.name))
        except OSError as e:
            problems.append(ImageError(folder, f"folder cannot be read ({e.strerror or e})"))
            return iter(())

    stack = [(top, entries(top))]
    while stack:
        folder, it = stack[-1]
        e = next(it, None)
        if e is None:
            stack.pop()
            continue
        path = _join(folder, e.name)
        try:
            is_dir, is_file = e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)
        except OSError:
            is_dir = is_file = False
        if is_dir:
            if recursive:
                stack.append((path, entries(path)))
            continue
        if os.path.splitext(e.name)[1].lower() not in IMAGE_SUFFIXES:
            continue
        if is_file:  # the common case costs no system call beyond the folder listing
            names.append(path)
            continue
        why = _special(path)
        if why is None:  # a link to a regular file
            aliases.append(len(names))
            names.append(path)
        elif not os.path.isdir(path):  # a link to a folder named like an image is not followed, as Path.glob
            problems.append(ImageError(path, why))


def scan_images(paths: Iterable[str | os.PathLike], recursive: bool = True) -> tuple[list[str], list[ImageError]]:
    """`find_images` with plain strings, for folders of millions of files (about 100 bytes per file)."""
    names: list[str] = []
    aliases: list[int] = []  # entries that may name a file listed elsewhere: links and files named as arguments
    roots: list[tuple[str, str, int, int]] = []  # (folder as given, its real path, first entry, end) per folder
    problems: list[ImageError] = []
    for raw in paths:
        p = os.fspath(Path(raw).expanduser())
        if os.path.isdir(p):
            n, m = len(names), len(problems)
            _walk(p, recursive, names, aliases, problems)
            roots.append((p, os.path.realpath(p), n, len(names)))
            if len(names) == n and len(problems) == m:
                problems.append(ImageError(p, f"folder holds no images ({', '.join(IMAGE_SUFFIXES[:4])}, ...)"))
            continue
        why = _special(p)
        if why is None:
            aliases.append(len(names))
            names.append(p)
        else:
            problems.append(ImageError(p, why))
    return _dedupe(names, aliases, roots), problems


def _dedupe(names: list[str], aliases: list[int], roots: list[tuple[str, str, int, int]]) -> list[str]:
    """Each real file once: under its own name rather than a link's, else under the first name met. The real path
    of an entry inside a scanned folder is the folder's real path plus the entry's relative part (links to folders
    are not followed), so only links, named files and folders that overlap need a look-up."""
    reals = [r.rstrip(os.sep) + os.sep for _, r, _, _ in roots]
    overlap = any(j != i and b.startswith(a) for i, a in enumerate(reals) for j, b in enumerate(reals))
    if not aliases and not overlap:
        return names
    alias_real = {i: os.path.realpath(names[i]) for i in aliases}

    def real(i: int) -> str:
        if i in alias_real:
            return alias_real[i]
        for given, root, first, end in roots:
            if first <= i < end:
                rel = names[i] if given == "." else names[i][len(given):].lstrip(os.sep)
                return os.path.join(root, rel)
        return os.path.realpath(names[i])

    targets = set(alias_real.values())
    groups: dict[str, list[int]] = {}
    for i in range(len(names)):
        if overlap or i in alias_real or real(i) in targets:
            groups.setdefault(real(i), []).append(i)
    drop: set[int] = set()
    dropped_aliases = []
    for members in groups.values():
        if len(members) < 2:
            continue
        own = [i for i in members if not os.path.islink(names[i])]
        keep = own[0] if own else members[0]
        for i in members:
            if i != keep:
                drop.add(i)
                if names[i] != names[keep]:
                    dropped_aliases.append(f"{names[i]} -> {names[keep]}")
    if dropped_aliases:
        warnings.warn(f"{len(dropped_aliases)} path(s) name a file already listed under another name; each file is "
                      f"used once: {'; '.join(dropped_aliases[:5])}{' ...' if len(dropped_aliases) > 5 else ''}",
                      stacklevel=3)
    return [n for i, n in enumerate(names) if i not in drop]


def find_images(paths: Iterable[str | os.PathLike], recursive: bool = True) -> tuple[list[Path], list[ImageError]]:
    """Expand files and folders into image files, sorted per folder; also return problems found on the way.

    A named file is always included (even with an odd suffix) so that its problem is reported; inside folders only
    entries with an image suffix are taken. Missing paths, folders with no images, unreadable folders and special
    entries (FIFOs, devices, sockets, dangling or looping links; never opened, so a FIFO cannot hang the scan) each
    give one error. A file reached under several names (a symbolic link beside its target, a folder named twice) is
    listed once, under its own name rather than a link's, and a warning names the aliases dropped: scoring the same
    image twice would count it twice in every statistic downstream.
    """
    names, problems = scan_images(paths, recursive)
    return [Path(n) for n in names], problems


def to_pil(image: torch.Tensor) -> Image.Image:
    """A 3 x H x W tensor in [0, 1] to a PIL image."""
    arr = (image.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, mode="RGB")


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one 3 x H x W image atomically; format from the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        to_pil(image).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    return path


def font(size: int = 12) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def annotate(image: Image.Image, labels: Sequence[str], cell_width: int, height: int = 18,
             font_size: int = 12) -> Image.Image:
    """Add a white band under `image` with one centred label per cell of width `cell_width`."""
    out = Image.new("RGB", (image.width, image.height + height), "white")
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    f = font(font_size)
    for i, text in enumerate(labels):
        left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
        x = i * cell_width + (cell_width - (right - left)) / 2
        draw.text((x, image.height + (height - (bottom - top)) / 2 - top), text, fill="black", font=f)
    return out
