#!/usr/bin/env python
"""Regenerate the bundled demo image set `ganalyze_mem/data/demo/` from installed Debian packages and scikit-image.

Sources (all redistributable; licences per file in `sources.csv`):
- `tuxpaint-stamps-default` (GPL-2): photographic stamps with transparency, told apart from drawings by how smooth
  their colours are (drawings have large flat regions: many neighbouring pixels with identical colours).
- `lomiri-wallpapers-16.04` (CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0 per file) and `mate-backgrounds` (GPL-2+): photos.
- scikit-image's bundled sample photos (public domain or CC0, per the docstrings of `skimage.data`).

Outputs:
- `images/objects/*.jpg`: object photos (stamps composited on a plain light background), 128 px on the long side.
- `images/scenes/*.jpg`: crops of wallpaper photos and scikit-image samples, 128 px on the long side.
- `cutouts/*.png`: RGBA object cutouts (stamps not used in `images/`), 96 px on the long side, for `collage`.
- `backgrounds/*.jpg`: square 128 px centre crops of wallpaper photos, for `collage`.
- `sources.csv`: file, source package, original path, licence, copyright.

Deterministic: sorted inputs, fixed selection rules, crop positions from a seeded NumPy generator.
Install the packages first: `apt-get install tuxpaint-stamps-default lomiri-wallpapers-16.04 mate-backgrounds`.
Usage: `python scripts/make_demo_data.py [--out ganalyze_mem/data/demo]`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

STAMPS = Path("/usr/share/tuxpaint/stamps")
LOMIRI = Path("/usr/share/backgrounds")
MATE = Path("/usr/share/backgrounds/mate/nature")
OBJECT_SIDE, SCENE_SIDE, CUTOUT_SIDE, BACKGROUND_SIDE = 128, 128, 96, 128
N_CUTOUTS, N_BACKGROUNDS, CROPS_PER_WALLPAPER = 48, 16, 4
JPEG_QUALITY = 85

# Lomiri wallpapers that are photographs (the others are abstract art), with their licences from
# /usr/share/doc/lomiri-wallpapers-16.04/copyright.
LOMIRI_PHOTOS = {
    "Bridge_by_Sander_Klootwijk.jpg": ("CC-BY-SA-4.0", "2018 Sander Klootwijk"),
    "Dragonfly_by_Bolly.jpg": ("CC-BY-SA-4.0", "2018 \"Bolly\""),
    "Picture_0B_by_freespace.jpg": ("CC-BY-4.0", "2018 Trevor \"Freespace\""),
    "Picture_1A_by_freespace.jpg": ("CC-BY-4.0", "2018 Trevor \"Freespace\""),
    "Wine_by_Jakkub_Mede.jpg": ("CC-BY-4.0", "2018 Jakub Mede"),
    "aitzgorri_by_Aitzol_Berasategi.jpg": ("CC-BY-4.0", "2018 Aitzol Berasategi"),
    "free_by_Peter_Nerlich.jpg": ("CC-BY-SA-4.0", "2018 Peter Nerlich"),
    "friends_by_Aitzol_Berasategi.jpg": ("CC-BY-4.0", "2018 Aitzol Berasategi"),
    "greentock_by_Peter_Nerlich.jpg": ("CC-BY-SA-4.0", "2018 Peter Nerlich"),
    "life_by_Aitzol_Berasategi.jpg": ("CC-BY-4.0", "2018 Aitzol Berasategi"),
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": ("CC-BY-4.0", "2018 Aitzol Berasategi"),
    "seeding_by_Clements_Engelhardt.jpg": ("CC0-1.0", "2018 Clemens Engelhardt"),
    "sunset_by_Aitzol_Berasategi.jpg": ("CC-BY-4.0", "2018 Aitzol Berasategi"),
}
# MATE nature photos, GPL-2+ (/usr/share/doc/mate-backgrounds/copyright).
MATE_PHOTOS = {
    "Aqua.jpg": "2008 Charles Barbin", "Blinds.jpg": "2008 Lennart Poettering, Andrea Cimitan",
    "Dune.jpg": "2007 Marco Cogoni, 2008 Hylke Bons", "FreshFlower.jpg": "2005 Jens Ansorg",
    "Garden.jpg": "2008 Charles Barbin", "GreenMeadow.jpg": "2005 Timothy Schellhase, 2008 Lapo Calamandrei",
    "LadyBird.jpg": "2008 Charles Barbin", "RainDrops.jpg": "2008 \"blackcombwhistler07\"",
    "Storm.jpg": "2008 Sergey Nazarov", "TwoWings.jpg": "2008 Charles Barbin, Hylke Bons",
    "Wood.jpg": "2008 Jean-Francois Fortin Tam", "YellowFlower.jpg": "2008 Charles Barbin",
}
# scikit-image sample photos whose docstrings state public domain or CC0 (skimage/data/_fetchers.py).
SKIMAGE_PHOTOS = {
    "astronaut.png": ("public domain", "NASA"),
    "camera.png": ("CC0-1.0", "Lav Varshney"),
    "chelsea.png": ("CC0-1.0", "Stefan van der Walt"),
    "coffee.png": ("CC0-1.0", "Rachel Michetti"),
    "rocket.jpg": ("public domain", "SpaceX"),
    "hubble_deep_field.jpg": ("public domain", "NASA"),
    "brick.png": ("CC0-1.0", "CC0Textures"),
    "grass.png": ("CC0-1.0", "linolafett (DeviantArt)"),
    "gravel.png": ("CC0-1.0", "CC0Textures"),
    "coins.png": ("no known copyright restrictions", "Brooklyn Museum"),
    "clock_motion.png": ("public domain", "Stefan van der Walt"),
    "retina.jpg": ("CC0-1.0", "Mikael Haggstrom"),
}
# Plain light backgrounds for object photos, like product shots.
PLAIN = [(255, 255, 255), (240, 240, 236), (226, 230, 234), (245, 238, 225)]


def flatness(rgba: np.ndarray) -> float:
    """Fraction of horizontally adjacent opaque pixel pairs with identical colour: high for drawings, ~0 for photos."""
    op = rgba[..., 3] > 200
    diff = np.abs(np.diff(rgba[..., :3].astype(np.int16), axis=1)).sum(-1)
    pairs = op[:, 1:] & op[:, :-1]
    return float((diff[pairs] == 0).mean()) if pairs.any() else 1.0


def photo_stamps() -> list[dict]:
    """Photographic stamps (PNG with alpha) from tuxpaint-stamps-default, sorted by path."""
    out, seen = [], set()
    for f in sorted(STAMPS.rglob("*.png")):
        rel = f.relative_to(STAMPS)
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        # Mirrored copies and identical files would be near-duplicates in a memorability set: skip them.
        if rel.parts[0] == "cartoon" or f.stem.lower().endswith("mirror") or digest in seen:
            continue
        seen.add(digest)
        im = Image.open(f).convert("RGBA")
        if max(im.size) < 64:
            continue
        a = np.asarray(im)
        opaque = a[..., 3] > 200
        if opaque.sum() < 400 or flatness(a) >= 0.04:
            continue
        out.append(dict(path=f, rel=rel, category=rel.parts[0], transparent=float((a[..., 3] < 20).mean())))
    return out


def fit_long_side(im: Image.Image, side: int) -> Image.Image:
    s = side / max(im.size)
    return im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.LANCZOS)


def crop_box(w: int, h: int, rng: np.random.Generator, aspect: float) -> tuple[int, int, int, int]:
    """A random crop covering 45-100% of the largest box of the given aspect ratio that fits."""
    bw, bh = (w, w / aspect) if w / aspect <= h else (h * aspect, h)
    s = rng.uniform(0.45, 1.0)
    cw, ch = int(bw * s), int(bh * s)
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return x, y, x + cw, y + ch


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "ganalyze_mem/data/demo"))
    args = ap.parse_args()
    out = Path(args.out)
    for sub in ("images", "cutouts", "backgrounds"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for sub in ("images/objects", "images/scenes", "cutouts", "backgrounds"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def record(file: Path, package: str, original: Path | str, licence: str, copyright: str) -> None:
        rows.append(dict(file=file.relative_to(out).as_posix(), source_package=package, original_path=str(original),
                         licence=licence, copyright=copyright))

    # Object cutouts: round-robin over categories among stamps with a clear alpha background.
    stamps = photo_stamps()
    by_cat = defaultdict(list)
    for s in stamps:
        if s["transparent"] >= 0.25 and max(Image.open(s["path"]).size) >= 96:
            by_cat[s["category"]].append(s)
    rng = np.random.default_rng(0)
    for c in by_cat:
        by_cat[c] = [by_cat[c][i] for i in rng.permutation(len(by_cat[c]))]
    cutouts, kinds, cats = [], set(), sorted(by_cat)
    while len(cutouts) < N_CUTOUTS and any(by_cat.values()):
        for c in cats:
            while by_cat[c] and len(cutouts) < N_CUTOUTS:
                s = by_cat[c].pop(0)
                kind = re.sub(r"[^a-z]+|photo", "", s["path"].stem.lower())  # one frog, one candy cane, ...
                if kind not in kinds:
                    kinds.add(kind)
                    cutouts.append(s)
                    break
    used = {s["path"] for s in cutouts}
    for i, s in enumerate(cutouts):
        im = Image.open(s["path"]).convert("RGBA")
        im = im.crop(im.getchannel("A").getbbox())
        dst = out / "cutouts" / f"{i:02d}_{slug(s['path'].stem)}.png"
        fit_long_side(im, CUTOUT_SIDE).save(dst, optimize=True)
        record(dst, "tuxpaint-stamps-default", s["path"], "GPL-2", "2002-2022 Bill Kendrick and Tux Paint contributors")

    # Object photos: the remaining photographic stamps on plain light backgrounds.
    for s in (s for s in stamps if s["path"] not in used):
        im = fit_long_side(Image.open(s["path"]).convert("RGBA"), int(OBJECT_SIDE * rng.uniform(0.7, 0.95)))
        canvas = Image.new("RGBA", (OBJECT_SIDE, OBJECT_SIDE), PLAIN[int(rng.integers(len(PLAIN)))] + (255,))
        canvas.alpha_composite(im, ((OBJECT_SIDE - im.width) // 2, (OBJECT_SIDE - im.height) // 2))
        dst = out / "images/objects" / f"{slug('_'.join(s['rel'].with_suffix('').parts))}.jpg"
        canvas.convert("RGB").save(dst, quality=JPEG_QUALITY)
        record(dst, "tuxpaint-stamps-default", s["path"], "GPL-2", "2002-2022 Bill Kendrick and Tux Paint contributors")

    # Scenes: random crops of the wallpaper photos; backgrounds: square centre crops of the first 16.
    walls = [(LOMIRI / n, "lomiri-wallpapers-16.04", *LOMIRI_PHOTOS[n]) for n in sorted(LOMIRI_PHOTOS)]
    walls += [(MATE / n, "mate-backgrounds", "GPL-2+", c) for n, c in sorted(MATE_PHOTOS.items())]
    for k, (path, pkg, lic, cop) in enumerate(walls):
        im = Image.open(path)
        im.draft("RGB", (im.width // 4, im.height // 4))  # JPEG DCT scaling: fast, and plenty for 128 px
        im = im.convert("RGB")
        for j in range(CROPS_PER_WALLPAPER):
            crop = im.crop(crop_box(im.width, im.height, rng, aspect=[1.0, 4 / 3, 3 / 4, 3 / 2][j]))
            dst = out / "images/scenes" / f"{slug(path.stem)}_{j}.jpg"
            fit_long_side(crop, SCENE_SIDE).save(dst, quality=JPEG_QUALITY)
            record(dst, pkg, path, lic, cop)
        if k < N_BACKGROUNDS:
            side = min(im.size)
            sq = im.crop(((im.width - side) // 2, (im.height - side) // 2, (im.width + side) // 2,
                          (im.height + side) // 2))
            dst = out / "backgrounds" / f"{k:02d}_{slug(path.stem)}.jpg"
            sq.resize((BACKGROUND_SIDE, BACKGROUND_SIDE), Image.LANCZOS).save(dst, quality=JPEG_QUALITY)
            record(dst, pkg, path, lic, cop)

    import skimage

    skdir = Path(skimage.__file__).parent / "data"
    for name, (lic, cop) in sorted(SKIMAGE_PHOTOS.items()):
        im = Image.open(skdir / name).convert("RGB")
        dst = out / "images/scenes" / f"skimage_{slug(Path(name).stem)}.jpg"
        fit_long_side(im, SCENE_SIDE).save(dst, quality=JPEG_QUALITY)
        record(dst, f"scikit-image {skimage.__version__}", f"skimage/data/{name}", lic, cop)

    with open(out / "sources.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: r["file"]))
    n_img = sum(r["file"].startswith("images/") for r in rows)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{n_img} images, {len(cutouts)} cutouts, {min(N_BACKGROUNDS, len(walls))} backgrounds, "
          f"{size / 1e6:.1f} MB in {out}")


if __name__ == "__main__":
    main()
