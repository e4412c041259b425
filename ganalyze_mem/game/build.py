"""``ganalyze-mem game build``: an experiment folder for the visual memory game (Isola et al. 2011; LaMem).

The folder holds everything the server needs and nothing from the network::

    experiment.json       design options, the image manifest (id -> file, item, alpha), counts, environment
    sequences/NNNNN.json  one validated sequence per participant slot
    index.html            the page, with its script and style inlined (no CDN scripts or fonts)
    images/               the images, copied (formats browsers cannot show are converted to PNG)
    practice/             generated shapes for the practice block (never the experiment's own images)

Sources are a folder of images (each image is an item) or a GANalyze strips run folder (``ganalyze-mem strips``
output: ``scores.csv`` plus ``images/<class>-<name>/seed<S>_alpha<A>.png``), where an item is one (class, seed)
strip and its variants are the alphas (see `design` for the Latin square).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..core.files import atomic_path, atomic_write_text
from ..errors import GanalyzeError, ImageError
from ..rundir import environment_info
from .config import StudyConfig
from .design import GameConfig, design_sequence, latin_square_variant, plan_counts, target_items, validate_sequence
from .pagetext import strings, text_file
from .store import EXPERIMENT

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: `PIL`, `tqdm` and modules
# of ours that load them.

WEB_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")  # shown by browsers as they are
STRIP_IMAGE = re.compile(r"(?:^|/)(\d+)-[^/]*/seed(\d+)_alpha([+-]?\d+(?:\.\d+)?)\.png$")
FILLER_PREFIX = "fillers/"


@dataclass
class Items:
    """What a source offers: items, each with one or more variants (image ids), and where each id comes from."""

    variants: dict[str, list[str]]  # item -> image ids (one per alpha for strips, one for a plain image)
    files: dict[str, Path]  # image id -> source file
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # image id -> class / seed / alpha (strips)
    strips: bool = False
    alphas: list[float] = field(default_factory=list)


def strip_info(image_id: str) -> dict[str, Any] | None:
    """class, seed and alpha of a strips image path (the names `ganalyze-mem strips` writes), else None."""
    m = STRIP_IMAGE.search(image_id.replace("\\", "/"))
    if not m:
        return None
    return {"class": int(m.group(1)), "seed": int(m.group(2)), "alpha": float(m.group(3))}


def is_strips_run(path: Path) -> bool:
    return (path / "scores.csv").is_file() and (path / "images").is_dir() and (path / "strips").is_dir()


def collect_items(source: str | Path) -> Items:
    """Items of a plain image folder or a strips run folder; a clear error for anything else."""
    from ..images import find_images  # torch comes with it: imported only when building

    source = Path(source)
    if not source.is_dir():
        raise GanalyzeError(f"{source}: not a folder. Pass a folder of images or a strips run folder "
                            "(the folder `ganalyze-mem strips` printed).")
    if is_strips_run(source):
        files, _ = find_images([source / "images"])
        if not files:
            raise GanalyzeError(f"{source} is a strips run that saved no images (made with --no-images?); run "
                                "`ganalyze-mem strips` again without --no-images.")
        variants: dict[str, list[str]] = {}
        paths, meta = {}, {}
        for f in files:
            image_id = f.relative_to(source).as_posix()
            info = strip_info(image_id)
            if info is None:
                continue
            item = f"class{info['class']}/seed{info['seed']}"
            variants.setdefault(item, []).append(image_id)
            paths[image_id], meta[image_id] = f, {**info, "item": item}
        if not variants:
            raise GanalyzeError(f"{source}/images holds no strips images named seed<S>_alpha<A>.png.")
        for item in variants:
            variants[item].sort(key=lambda i: meta[i]["alpha"])
        alphas = sorted({m["alpha"] for m in meta.values()})
        ragged = [i for i, v in variants.items() if len(v) != len(alphas)]
        if ragged:
            raise GanalyzeError(f"{source}: strips {ragged[:3]} lack some of the alphas {alphas}; the Latin square "
                                "needs every strip at every alpha.")
        return Items(variants, paths, meta, strips=True, alphas=alphas)
    files, problems = find_images([source])
    if problems:
        raise GanalyzeError("; ".join(str(p) for p in problems))
    paths = {f.relative_to(source).as_posix(): f for f in files}
    return Items({i: [i] for i in paths}, paths, {})


def _copy_image(src: Path, image_id: str, images_dir: Path) -> str:
    """Check the image with the project's loader and copy it under images/; returns its file path there."""
    from ..images import load_image, save_image

    picture = load_image(src)  # raises ImageError naming the file and the reason
    if src.suffix.lower() in WEB_SUFFIXES:
        rel = image_id
        with atomic_path(images_dir / rel) as tmp:
            shutil.copyfile(src, tmp)
    else:
        rel = image_id + ".png"
        save_image(picture, images_dir / rel)
    return rel


def practice_images(folder: Path, count: int) -> list[str]:
    """Simple coloured shapes for the practice block, so practice never shows an experiment image early."""
    from PIL import Image, ImageDraw

    colours = [(220, 50, 47), (38, 139, 210), (133, 153, 0), (211, 54, 130), (181, 137, 0), (42, 161, 152),
               (108, 113, 196), (203, 75, 22)]
    names = []
    for i in range(count):
        img = Image.new("RGB", (256, 256), (245, 245, 245))
        d = ImageDraw.Draw(img)
        c = colours[i % len(colours)]
        shape = i % 3
        if shape == 0:
            d.ellipse((48, 48, 208, 208), fill=c)
        elif shape == 1:
            d.rectangle((56, 56, 200, 200), fill=c)
        else:
            d.polygon([(128, 40), (216, 216), (40, 216)], fill=c)
        name = f"practice{i:02d}.png"
        with atomic_path(folder / name) as tmp:
            img.save(tmp, format="PNG")
        names.append(name)
    return names


def practice_sequence(n: int) -> tuple[list[dict[str, Any]], int]:
    """n presentations with two easy repeats (lags 1 and 2); returns the sequence and the number of images."""
    n_images = n - 2
    order = list(range(n_images))
    seq = [{"image": i, "repeat": 0} for i in order]
    seq.insert(3, {"image": 2, "repeat": 1})  # image 2 again right away
    seq.insert(len(seq) - 1, {"image": n_images - 3, "repeat": 1})
    return seq, n_images


def render_page(config: dict[str, Any], language: str = "en") -> str:
    """The page: template with its CSS, JS and the public part of the config (with the page's words) inlined."""
    import html as html_mod

    pkg = resources.files("ganalyze_mem.game") / "static"
    html = (pkg / "game.html").read_text(encoding="utf-8")
    text = config["text"]
    blob = json.dumps(config).replace("</", "<\\/").replace("<!--", "<\\!--")
    return (html.replace("{{TITLE}}", html_mod.escape(text["title"])).replace("{{LANG}}", language)
            .replace("{{LOADING}}", html_mod.escape(text["loading"]))
            .replace("/*{{CSS}}*/", (pkg / "game.css").read_text(encoding="utf-8"))
            .replace("/*{{JS}}*/", (pkg / "game.js").read_text(encoding="utf-8"))
            .replace("{{CONFIG}}", blob))


def default_targets(n_items: int, n_extra: int, cfg: GameConfig) -> int:
    """The most targets per participant that the available non-target images can surround."""
    for t in range(n_items, 0, -1):
        fill, vig = plan_counts(t, cfg)
        if fill + vig <= n_items - t + n_extra:
            return t
    fill, vig = plan_counts(1, cfg)
    raise GanalyzeError(f"Too few images: {n_items} items and {n_extra} fillers, but even one target at lags "
                        f"{cfg.target_lag_min}-{cfg.target_lag_max} needs {fill + vig} other images. Add --fillers "
                        "DIR or shorten the lags (--target-lag-min/--target-lag-max).")


def page_config(cfg: GameConfig, study: StudyConfig, practice: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page needs: display options, the words in the study's language, the experimenter's texts."""
    text = dict(strings(study.language))
    if study.instructions:
        text["instructions"] = text_file(study.instructions, "--instructions")
    public = {k: cfg.to_dict()[k] for k in ("display_ms", "blank_ms", "key", "display_px")}
    return {**public, "practice": practice, "text": text, "preload": study.preload,
            "consent": text_file(study.consent, "--consent") if study.consent else None,
            "debrief": text_file(study.debrief, "--debrief") if study.debrief else None,
            "completion_url": study.completion_url}


def study_record(study: StudyConfig) -> dict[str, Any]:
    """The study options for experiment.json, with a checksum of each text file read."""
    record = study.to_dict()
    for name in ("instructions", "consent", "debrief"):
        path = getattr(study, name)
        if path is not None:
            record[name] = str(Path(path).resolve())
            record[name + "_sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    record["list_rule"] = (f"sequence p belongs to list p mod {study.lists}; each new participant gets a free sequence "
                           "of the list with the fewest active or finished participants (ties: the lowest list); a "
                           f"seat with no request for {study.seat_timeout_min:g} min is released (status 'expired', "
                           "its responses kept) and its list is filled by the next arrival")
    return record


def build_experiment(source: str | Path, out: str | Path, cfg: GameConfig | None = None,
                     fillers: str | Path | None = None, progress: bool = True, echo=print,
                     study: StudyConfig | None = None) -> Path:
    """Write an experiment folder for `source` (an image folder or a strips run) into `out`; returns `out`.

    One build per folder at a time: a second build into the same `out` is refused (`ganalyze_mem.locks`)."""
    from ..locks import OutputLock

    with OutputLock(Path(out).absolute(), folder=False):  # OUT.lock beside the folder: no folder made by a refusal
        return _build_experiment(source, out, cfg, fillers, progress, echo, study)


def _build_experiment(source: str | Path, out: str | Path, cfg: GameConfig | None, fillers: str | Path | None,
                      progress: bool, echo, study: StudyConfig | None) -> Path:
    from ..images import find_images
    from ..progress import bar

    cfg = (cfg or GameConfig()).validate()
    study = (study or StudyConfig()).validate(cfg.participants)
    page_config(cfg, study, [])  # read the text files now: a bad one fails before any image is copied
    out = Path(out)
    if (out / EXPERIMENT).exists() or (out / "game.sqlite").exists():
        raise GanalyzeError(f"{out} already holds an experiment; pass a new --out folder (never overwrite one "
                            "that may have responses).")
    items = collect_items(source)
    extra: dict[str, Path] = {}
    if fillers is not None:
        if not Path(fillers).is_dir():
            raise GanalyzeError(f"--fillers {fillers}: not a folder of images.")
        files, problems = find_images([fillers])
        if problems:
            raise GanalyzeError("--fillers: " + "; ".join(str(p) for p in problems))
        extra = {FILLER_PREFIX + f.relative_to(fillers).as_posix(): f for f in files}
        clash = set(extra) & set(items.files)
        if clash:
            raise GanalyzeError(f"Filler ids clash with images of the source: {sorted(clash)[:3]}.")
    names = sorted(items.variants)
    n_targets = cfg.targets or default_targets(len(names), len(extra), cfg)
    if n_targets > len(names):
        raise GanalyzeError(f"--targets {n_targets} is more than the {len(names)} items in {source}.")

    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, Any]] = {}
    all_files = {**items.files, **extra}
    bad: list[str] = []
    for image_id in bar(sorted(all_files), desc="images", unit="img", show=progress):
        try:
            rel = _copy_image(all_files[image_id], image_id, out / "images")
        except ImageError as e:
            bad.append(str(e))
            continue
        entry = {"file": rel, "source": str(all_files[image_id].resolve())}
        if image_id in extra:
            entry["role"] = "filler-only"
        else:
            entry["item"] = items.meta.get(image_id, {}).get("item", image_id)
            entry.update({k: items.meta[image_id][k] for k in ("class", "seed", "alpha") if image_id in items.meta})
        manifest[image_id] = entry
    if bad:
        raise GanalyzeError(f"{len(bad)} image(s) cannot be used; fix or remove them and build again:\n  "
                            + "\n  ".join(bad[:10]))

    rng = np.random.default_rng(cfg.seed)
    order = [int(i) for i in rng.permutation(len(names))]
    item_of = {i: m.get("item", i) for i, m in manifest.items()}
    counts: dict[str, int] = {}
    for p in range(cfg.participants):
        chosen = [items.variants[name][latin_square_variant(k, p, len(items.variants[name]))]
                  for k, name in enumerate(names)]
        # Strips: the target window moves once per block of K participants, so within a block every target strip
        # is a target at every alpha once (the Latin square holds for targets, not only for what is shown).
        block = p // max(len(v) for v in items.variants.values())
        tset = set(target_items(block, len(names), n_targets, order))
        targets = [chosen[k] for k in range(len(names)) if k in tset]
        pool = [chosen[k] for k in range(len(names)) if k not in tset] + sorted(extra)
        seq = design_sequence(targets, pool, cfg, np.random.default_rng([cfg.seed, p]))
        validate_sequence(seq, cfg, item_of, where=f"sequence {p}")
        for s in seq:
            if s["role"] == "target" and s["repeat"] == 1:
                counts[s["image"]] = counts.get(s["image"], 0) + 1
        atomic_write_text(out / "sequences" / f"{p:05d}.json",
                          json.dumps({"sequence": p, "trials": seq}, indent=0))
    practice = []
    if cfg.practice:
        pseq, n_img = practice_sequence(cfg.practice)
        pnames = practice_images(out / "practice", n_img)
        practice = [{"url": f"practice/{pnames[s['image']]}", "repeat": s["repeat"]} for s in pseq]
    lengths = [len(json.loads((out / "sequences" / f"{p:05d}.json").read_text())["trials"])
               for p in range(cfg.participants)]
    experiment = {
        "kind": "ganalyze-mem game", "format": 1, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": str(Path(source).resolve()), "fillers": str(Path(fillers).resolve()) if fillers else None,
        "strips": items.strips, "alphas": items.alphas, "design": cfg.to_dict(),
        "targets_per_participant": n_targets, "sequence_lengths": lengths, "target_counts": counts,
        "practice": practice, "study": study_record(study), "images": manifest, "environment": environment_info(),
    }
    atomic_write_text(out / EXPERIMENT, json.dumps(experiment, indent=1))
    atomic_write_text(out / "index.html", render_page(page_config(cfg, study, practice), study.language))
    minutes = max(lengths) * (cfg.display_ms + cfg.blank_ms) / 60000
    echo(f"Built {out}: {cfg.participants} sequences of {min(lengths)}-{max(lengths)} images "
         f"({n_targets} targets each, about {minutes:.1f} min), {len(manifest)} images"
         + (f", strips at alphas {items.alphas}" if items.strips else "")
         + f"; page in {study.language}" + (f", {study.lists} lists" if study.lists > 1 else "")
         + (", consent form" if study.consent else "") + (", debrief" if study.debrief else "")
         + (", completion URL" if study.completion_url else "") + ".")
    echo(f"Serve it with: ganalyze-mem game serve {out}")
    return out
