"""One Python function per CLI command: `score`, `train`, `strips`, `measure`, `fit_predictor`, `validate`.

Keyword arguments are the CLI's options in snake_case with the same defaults, read from the same config dataclasses
(`ScoreConfig`, `TrainConfig`, `StripsConfig`, `MeasureConfig` via its presets, `FitConfig`, the validation configs),
so a new option in a dataclass appears here without retyping. ``quiet=True`` on the CLI is ``progress=False`` here.
Every device option defaults to "auto" (CUDA when available). Each run ends with its report.html written
(`ganalyze_mem.reports`). Assessors and generators may be given as names or as
``nn.Module`` objects (see `models.as_assessor`).
"""

from __future__ import annotations

import csv
import inspect
import io
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..core.paths import text_to_path
from ..errors import GanalyzeError
from ..measurer import measure as run_measure
from ..measurer import preset as make_preset
from ..measurer.config import PRESETS, MeasureConfig
from ..measurer.run import resume_config
from ..predictor.config import FitConfig
from ..reports.kinds import run_kind
from ..rundir import config_options, enable_tensorboard, tensorboard_enabled
from ..score_run import SHARD_SIZE, score_to_csv
from ..scoring import ScoreConfig, score_files
from ..validation import config as vc
from ..validation.scoring import make_scorer
from ..visualise.strips import StripsConfig, make_strips
from ..visualise.train import TrainConfig
from ..visualise.train import train as run_train
from .models import as_assessor, as_generator, pick_device, session_name
from .options import check_names, config_from, option_parameters, signature_from
from .results import MeasureRun, PredictorRun, Scores, StripsRun, StudyRun, TrainRun, read_csv_rows, summary_of

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

_OUT = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None)


def _assessor_name(assessor: Any) -> Any:
    return assessor if assessor is None or isinstance(assessor, str) else session_name("assessors",
                                                                                        as_assessor(assessor))


def _generator_name(generator: Any) -> Any:
    return generator if isinstance(generator, str) else session_name("generators", as_generator(generator))


def _from_config(config: str | os.PathLike | None, options: dict[str, Any], fn, renames=None) -> dict[str, Any]:
    """Options recorded in a run's config.yaml (`config`), overridden by the ones given; only names `fn` takes."""
    if config is None:
        return options

    renames = renames or {}
    allowed = inspect.signature(fn).parameters
    saved = {renames.get(k, k): v for k, v in config_options(config).items()}
    saved = {k: v for k, v in saved.items() if k in allowed and k not in ("resume", "progress", "config")}
    return {**saved, **options}


class _tensorboard:
    """Switch on TensorBoard mirroring of `RunDir.log` for the duration of one API call."""

    def __init__(self, on: bool):
        self.on = on

    def __enter__(self):
        self.before = tensorboard_enabled()
        if self.on:
            enable_tensorboard(True)

    def __exit__(self, *exc):
        enable_tensorboard(self.before)


def _write_report(result):
    """report.html for a finished API run; a failure to render is a warning, never a lost run."""
    import warnings

    if result.path is None:
        return result
    try:
        result.report()
    except Exception as e:  # noqa: BLE001 - the run's own files are already on disk
        warnings.warn(f"The run finished but its report.html could not be written ({type(e).__name__}: {e}); "
                      f"retry with `ganalyze-mem report {result.path}`.", stacklevel=3)
    return result


def _echo(progress: bool):
    import sys

    return (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)


# -- score ------------------------------------------------------------------------------------------------------------
@signature_from(option_parameters(ScoreConfig, exclude=("assessor",)))
def score(paths: str | os.PathLike | Iterable[str | os.PathLike], assessor: Any = ScoreConfig.assessor, *,
          out: str | os.PathLike | None = None, resume: bool = False, executor: str = "local",
          shard_size: int = SHARD_SIZE, ray_address: str | None = None, progress: bool = True,
          on_problem: Callable[[Any], None] | None = None, **options: Any) -> Scores:
    """Score image files and folders (searched recursively) with an assessor, like ``ganalyze-mem score``.

    `assessor` is a name (``gm.list_assessors()``) or any ``nn.Module`` mapping images to scores. With `out`, rows
    are written to ``OUT.part`` as they are scored and the file becomes `out` when complete; `resume=True`
    continues a killed run, and ``executor="ray"`` scores shards of files as Ray tasks (same CSV). Bad files are
    collected in `.problems` (and passed to `on_problem` as they are met), never raised.

    >>> import ganalyze_mem as gm
    >>> s = gm.score("ganalyze_mem/data/demo/backgrounds", "brightness", workers=0, progress=False)
    >>> len(s.rows) > 0 and 0 <= s.rows[0][1] <= 1
    True
    """
    check_names("score", options, [f.name for f in inspect.signature(score).parameters.values()])
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    model = None
    if not isinstance(assessor, str):
        model = as_assessor(assessor)
        assessor = model.name
    opts = config_from(ScoreConfig, {**options, "assessor": assessor})
    problems: list[Any] = []

    def met(problem) -> None:
        problems.append(problem)
        if on_problem is not None:
            on_problem(problem)

    if out is None and executor == "local" and not resume:  # in memory: the same batches as the CSV path
        result = score_files(paths, opts.assessor, batch_size=opts.batch_size, workers=opts.workers,
                             device=opts.device, weights=opts.weights, size=opts.size, amp=opts.amp,
                             precision=opts.precision, preprocess=opts.preprocess, progress=progress, on_problem=met,
                             model=None if model is None else model.to(pick_device(opts.device)))
        return Scores(None, result.assessor, result.scores, result.problems)
    stream = io.StringIO() if out is None else None
    stats = score_to_csv(paths, out, opts.assessor, batch_size=opts.batch_size, workers=opts.workers,
                         device=opts.device, weights=opts.weights, size=opts.size, amp=opts.amp, resume=resume,
                         precision=opts.precision,
                         preprocess=opts.preprocess,
                         executor=executor, shard_size=shard_size, ray_address=ray_address, progress=progress,
                         on_problem=met, stream=stream, model=model)
    text = stream.getvalue() if stream is not None else Path(out).read_text(encoding="utf-8")
    rows = [(Path(text_to_path(r["path"])), float(r["score"])) for r in csv.DictReader(io.StringIO(text))]
    return Scores(None if out is None else Path(out), opts.assessor, rows, problems, stats=stats)


# -- train ------------------------------------------------------------------------------------------------------------
@signature_from(option_parameters(TrainConfig, exclude=("assessor",)))
def train(assessor: Any = None, *, resume: str | os.PathLike | None = None, max_steps: int | None = None,
          config: str | os.PathLike | None = None, tensorboard: bool = False, progress: bool = True,
          echo: Any = None, **options: Any) -> TrainRun:
    """Train a GANalyze transformer so that the assessor scores G(T(z, y, alpha)) as A(G(z, y)) + alpha, like
    ``ganalyze-mem train``. `assessor` and `generator` may be names or modules; `resume` continues a run folder
    (options you give must agree with the run's, except those a resume may change); `max_steps` stops early with a
    checkpoint, as an interruption would; `config` reruns with the options in a run's config.yaml (those given here
    win); `tensorboard` mirrors metrics.jsonl to ``<run>/tensorboard/``; `echo` receives the run's messages
    (default: stderr when `progress`, else nothing).

    >>> import ganalyze_mem as gm
    >>> run = gm.train("brightness", generator="tiny", samples=8, batch_size=4, log_every=1,
    ...                out="/tmp/gm-doctest/train", progress=False)
    >>> run.done, run.steps
    (True, 2)
    """
    check_names("train", options, inspect.signature(train).parameters)
    given = set(options)
    options = _from_config(config, options, train)
    if config is not None:  # a rerun measures the assessor's SD again (the generator or assessor may differ)
        from ..visualise.train import DERIVED

        auto = options.get("alpha_range", TrainConfig.alpha_range) == "auto"
        for k in DERIVED:
            if k not in given and (auto or k in ("assessor_sd", "keep_sd")):
                options.pop(k, None)
    if assessor is None and "assessor" in options:
        assessor = options.pop("assessor")
    options.pop("assessor", None)
    if "generator" in options:
        options["generator"] = _generator_name(options["generator"])
    echo = echo or _echo(progress)
    if resume is not None:
        from ..rundir import RunDir

        saved = RunDir.open(resume).config.get("options", {})
        given = {**options, **({"assessor": _assessor_name(assessor)} if assessor is not None else {})}
        cfg = TrainConfig.from_options({**saved, **given})
        with _tensorboard(tensorboard):
            result = run_train(cfg, resume=resume, max_steps=max_steps, progress=progress, echo=echo)
    else:
        if assessor is None:
            raise GanalyzeError("train() needs an assessor: a name (gm.list_assessors()) or an nn.Module.")
        cfg = config_from(TrainConfig, options, assessor=_assessor_name(assessor)).validate()
        with _tensorboard(tensorboard):
            result = run_train(cfg, max_steps=max_steps, progress=progress, echo=echo)
    return _write_report(TrainRun(result.run.path if result.run else None, result.step, cfg.steps,
                                  dict(result.metrics), result.transformer))


# -- strips -----------------------------------------------------------------------------------------------------------
@signature_from(option_parameters(StripsConfig))
def strips(source: Any, *, progress: bool = True, echo: Any = None, **options: Any) -> StripsRun:
    """Strips (seed image in the middle, made less to the left, more to the right) and the per-alpha report for a
    trained transformer, like ``ganalyze-mem strips``. `source` is a training run (a `TrainRun` or its folder), a
    transformer folder or a promoted name. `echo` receives the run's messages (default: stderr when `progress`).

    >>> import ganalyze_mem as gm
    >>> run = gm.train("brightness", generator="tiny", samples=8, batch_size=4, out="/tmp/gm-doctest/train",
    ...                progress=False)
    >>> s = gm.strips(run, seeds="0-1", classes="0", steps=1, out="/tmp/gm-doctest/strips", progress=False)
    >>> len(s.rows)
    6
    """
    check_names("strips", options, inspect.signature(strips).parameters)
    if isinstance(source, TrainRun):
        source = source.path
    cfg = config_from(StripsConfig, options)
    result = make_strips(source, cfg, progress=progress, echo=echo or _echo(progress))

    config = yaml.safe_load((Path(result.folder) / "config.yaml").read_text(encoding="utf-8")) or {}
    assessor = (config.get("resolved", {}).get("assessors") or [""])[0]
    return _write_report(StripsRun(Path(result.folder), result.rows, result.report.get("summary", {}), assessor))


# -- measure ----------------------------------------------------------------------------------------------------------
_MEASURE_PRESET_DEFAULTS = {f: None for f in MeasureConfig.__dataclass_fields__ if f != "device"}


@signature_from(option_parameters(MeasureConfig, defaults={**_MEASURE_PRESET_DEFAULTS, "device": "auto"}))
def measure(target: Any = (), pool: Any = (), *, preset: str = "paper", out: str | os.PathLike = "outputs/measure",
            resume: str | os.PathLike | None = None, config: str | os.PathLike | None = None,
            tensorboard: bool = False, progress: bool = True, **options: Any) -> MeasureRun:
    """Ground-truth MachineMem scores of the `target` images against draws from `pool`, like ``ganalyze-mem measure``.

    Options left at None take the value of `preset` ('paper', 'cpu' or 'test'); `resume` continues a run folder
    with its own targets, pool and options (only how it executes may change); `config` reruns with the targets,
    pool and options of a run's config.yaml (those given here win).

    >>> import ganalyze_mem as gm
    >>> demo = "ganalyze_mem/data/demo/objects"
    >>> # m = gm.measure(f"{demo}/a", pool=f"{demo}/b", preset="test")   (seconds; see examples/quickstart.ipynb)
    """
    check_names("measure", options, inspect.signature(measure).parameters)
    targets, pools, cfg = measure_setup(target, pool, preset=preset, resume=resume, config=config, **options)
    with _tensorboard(tensorboard):
        m = run_measure(targets, pools, cfg, out=out, resume=resume, progress=progress)
    return _write_report(MeasureRun(Path(m.run_dir), list(m.files), [float(s) for s in m.scores], m.summary))


def measure_setup(target: Any = (), pool: Any = (), *, preset: str = "paper", resume: str | os.PathLike | None = None,
                  config: str | os.PathLike | None = None, **options: Any) -> tuple[list, list, MeasureConfig]:
    """The targets, pool and `MeasureConfig` that `measure` would run with (also the CLI's ``--dry-run`` plan).

    A pool that is the targets themselves, or ``whole_dataset=True``, measures every target against the rest."""
    import dataclasses

    if config is not None:
        given = {"target": target, "pool": pool} if target or pool else {}
        options = _from_config(config, {**options, **given}, measure)
        target, pool = options.pop("target", ()), options.pop("pool", ())
        options.pop("out", None)
    if preset not in PRESETS:
        raise GanalyzeError(f"Unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}.")
    targets = [target] if isinstance(target, (str, os.PathLike)) else list(target)
    pools = [pool] if isinstance(pool, (str, os.PathLike)) else list(pool)
    if resume is not None:
        if targets or pools:
            raise GanalyzeError("resume= uses the run's own targets and pool; drop target and pool.")
        given = {k: v for k, v in options.items() if v is not None}
        if "device" in given:
            given["device"] = pick_device(given["device"])
        cfg, _, _ = resume_config(resume, **given)
    else:
        if not targets:
            raise GanalyzeError("measure() needs target images: gm.measure('targets/', pool='pool/').")
        if pools and sorted(Path(p).resolve() for p in pools) == sorted(Path(t).resolve() for t in targets):
            options["whole_dataset"] = True  # the pool is the targets: whole-dataset mode
        if options.get("whole_dataset"):
            pools = []
        elif not pools:
            raise GanalyzeError("measure() needs a pool of images (at least 2 x set_size) that sets B and C are "
                                "drawn from, disjoint from the targets; or whole_dataset=True to measure every "
                                "target against the rest: gm.measure('targets/', pool='pool/').")
        options["device"] = pick_device(options.get("device") or "auto")
        cfg = make_preset(preset, **options)
    if not isinstance(cfg, MeasureConfig):  # pragma: no cover - guards the resume path
        cfg = dataclasses.replace(MeasureConfig(), **cfg)
    return targets, pools, cfg


# -- fit_predictor ----------------------------------------------------------------------------------------------------
FIT_RENAMES = {"num_workers": "workers"}  # FitConfig field -> CLI option name


@signature_from(option_parameters(FitConfig, exclude=("scores", "progress"), renames=FIT_RENAMES))
def fit_predictor(scores: str | os.PathLike | None = None, *, resume: str | os.PathLike | None = None,
                  config: str | os.PathLike | None = None, tensorboard: bool = False, progress: bool = True,
                  **options: Any) -> PredictorRun:
    """Fit a memorability predictor on measured scores (a CSV with path and score columns), like
    ``ganalyze-mem fit-predictor``; choose the epoch on the held-out split. `resume` continues a run folder;
    `config` reruns with the options of a run's config.yaml (those given here win).

    >>> import ganalyze_mem as gm
    >>> # p = gm.fit_predictor("outputs/measure/00000-tiny_cnn-40img/scores.csv", backbone="resnet18",
    >>> #                      image_size=32, epochs=2, batch_size=8)       (see examples/quickstart.ipynb)
    """
    from ..predictor.fit import fit_predictor as run_fit

    check_names("fit_predictor", options, inspect.signature(fit_predictor).parameters)
    options = _from_config(config, options, fit_predictor, renames=FIT_RENAMES)
    if scores is None and "scores" in options:
        scores = options.pop("scores")
    options.pop("scores", None)
    back = {v: k for k, v in FIT_RENAMES.items()}
    opts = {back.get(k, k): v for k, v in options.items()}
    opts["progress"] = progress
    if scores is not None:
        opts["scores"] = str(scores)
    for pair in ("score_range", "crop_scale"):
        if isinstance(opts.get(pair), str):
            opts[pair] = tuple(float(v) for v in opts[pair].split(","))
    with _tensorboard(tensorboard):
        if resume is not None:
            result = run_fit(resume=resume, **opts)
        else:
            if not opts.get("scores"):
                raise GanalyzeError("fit_predictor() needs a scores CSV (columns path,score), or resume=RUN_DIR.")
            result = run_fit(FitConfig(**opts))
    return _write_report(PredictorRun(Path(result.run_dir), dict(result.best), list(result.history), result.test))


# -- validate ---------------------------------------------------------------------------------------------------------
def _scorer_parameters() -> list[inspect.Parameter]:
    skip = {"progress"}
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(make_scorer).parameters.values()
              if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name not in skip]
    params = [p.replace(default="auto") if p.name == "device" else p for p in params]
    return params + [inspect.Parameter("machine", inspect.Parameter.KEYWORD_ONLY, default=None)]


# study -> (inputs it takes positionally, its config dataclasses, extra keyword options and their defaults)
STUDIES: dict[str, tuple[tuple[str, ...], tuple[type, ...], dict[str, Any]]] = {
    "shapes": ((), (vc.ShapesConfig,), {}),
    "nerf-views": ((), (vc.NerfViewsConfig, vc.RenderConfig), {"scene": None, "render": None}),
    "food": (("folder_a", "folder_b"), (vc.FoodConfig,), {}),
    "attributes": (("images",), (vc.AttributesConfig,), {}),
    "classes": (("root",), (vc.ClassesConfig,), {"groups": None}),
    "machines": (("*csvs",), (vc.MachinesConfig,), {"names": None, "groups": None}),
}
SCORER_OWNED = ("device", "batch_size")  # study config fields that the scorer options set


def study_options(study: str) -> dict[str, Any]:
    """Name -> default of the options `study` takes besides the score options."""
    _, configs, extra = _study(study)
    out: dict[str, Any] = {}
    for cls in configs:
        for p in option_parameters(cls, exclude=SCORER_OWNED + ("render",)):
            out.setdefault(p.name, p.default)
    return {**out, **extra}


def _study(study: str):
    if study not in STUDIES:
        import difflib

        close = difflib.get_close_matches(study, list(STUDIES), n=2)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise GanalyzeError(f"Unknown study {study!r}.{hint} Studies: {', '.join(STUDIES)}.")
    return STUDIES[study]


@signature_from(_scorer_parameters())
def validate(study: str, *inputs: Any, out: str | os.PathLike = "outputs/reports", check: bool = False,
             progress: bool = True, **options: Any) -> StudyRun:
    """Run a validation study and write its report folder, like ``ganalyze-mem validate STUDY``.

    Score source: exactly one of `assessor` (a name or an nn.Module), `scores` (a CSV) or ``measure=True`` (with
    `pool`). Inputs by study: shapes (none), nerf-views (``scene=`` folder or ``render=`` object), food (two
    folders), attributes (an image folder), classes (a root of class folders), machines (score CSVs, no scorer).
    Study options are the fields of its config (e.g. ``per_set=`` for shapes); `gm.api.runs.study_options(study)`
    lists them with their defaults. With `check`, report.html is opened in headless Chromium and must render cleanly.

    >>> import ganalyze_mem as gm
    >>> r = gm.validate("shapes", assessor="brightness", per_set=2, size=64, resamples=99,
    ...                 out="/tmp/gm-doctest/reports", progress=False)
    >>> r.study, r.html.is_file()
    ('shapes', True)
    """
    names, configs, extra = _study(study)
    scorer_names = [p.name for p in _scorer_parameters()]
    allowed = scorer_names + list(study_options(study))
    check_names(f"validate('{study}')", options, allowed)
    if names and names[0] == "*csvs":
        if not inputs:
            raise GanalyzeError("validate('machines', a.csv, b.csv, ...) needs at least two score CSVs.")
    elif len(inputs) != len(names):
        raise GanalyzeError(f"validate('{study}') takes {len(names)} input(s) ({', '.join(names) or 'none'}), "
                            f"got {len(inputs)}.")
    scorer_kw = {k: options.pop(k) for k in list(options) if k in scorer_names}
    defaults = {p.name: p.default for p in _scorer_parameters()}
    sk = {**defaults, **scorer_kw}
    scorer = None
    if study != "machines":
        sk["device"] = pick_device(sk["device"])
        machine = sk.pop("machine")
        measure_over = {"machine": machine} if machine else {}
        scorer = make_scorer(assessor=_assessor_name(sk["assessor"]), scores=sk["scores"], measure=sk["measure"],
                             device=sk["device"], batch_size=sk["batch_size"], image_size=sk["image_size"],
                             pool=sk["pool"], measure_preset=sk["measure_preset"], weights=sk["weights"],
                             score_range=sk.get("score_range"), progress=progress, **measure_over)
    folder = _run_study(study, scorer, inputs, options, sk, out)
    if check:
        from ..validation.browser import check_page

        res = check_page(Path(folder) / "report.html", screenshot=Path(folder) / "screenshot.png")
        if not res.loaded or res.errors or res.broken_images:
            raise GanalyzeError(f"{folder}/report.html did not render cleanly: loaded={res.loaded}, broken images="
                                f"{res.broken_images}, errors={res.errors[:5]}")
    return StudyRun(Path(folder), study)


def _run_study(study: str, scorer, inputs: Sequence[Any], options: dict[str, Any], sk: dict[str, Any], out) -> Path:
    if study == "shapes":
        from ..validation.shapes import run_shapes

        return run_shapes(scorer, config_from(vc.ShapesConfig, options), out)
    if study == "nerf-views":
        from ..validation.nerf_views import run_nerf_views

        cfg = config_from(vc.NerfViewsConfig, options, render=config_from(vc.RenderConfig, options))
        return run_nerf_views(scorer, scene=options.get("scene"), render=options.get("render"), cfg=cfg, out=out)
    if study == "food":
        from ..validation.food import run_food

        names = options.get("names")
        if isinstance(names, str):
            options["names"] = tuple(n.strip() for n in names.split(","))
        return run_food(scorer, inputs[0], inputs[1], config_from(vc.FoodConfig, options), out)
    if study == "attributes":
        from ..validation.attributes import run_attributes

        cfg = config_from(vc.AttributesConfig, options, device=sk["device"], batch_size=sk["batch_size"])
        return run_attributes(scorer, inputs[0], cfg, out)
    if study == "classes":
        from ..validation.classes import run_classes

        return run_classes(scorer, inputs[0], config_from(vc.ClassesConfig, options), groups=options.get("groups"),
                           out=out)
    from ..validation.cross_machines import run_machines

    names = options.get("names")
    names = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
    return run_machines(list(inputs), names, options.get("groups"), config_from(vc.MachinesConfig, options), out)


def load_run(path: str | os.PathLike):
    """A result object for a run folder on disk (kind read from its files), e.g. to call `.to_pandas()`."""
    p = Path(path)
    kind = run_kind(p)
    if kind == "train":
        rows = [r for r in TrainRun(p).metrics() if "step" in r]
        return TrainRun(p, rows[-1]["step"] if rows else 0, rows[-1]["step"] if rows else 0,
                        rows[-1] if rows else {})
    if kind == "measure":
        rows = read_csv_rows(p / "scores.csv") if (p / "scores.csv").is_file() else []
        return MeasureRun(p, [str(r.get("path")) for r in rows], [float(r.get("score", "nan")) for r in rows],
                          summary_of(p))
    if kind == "predictor":
        s = summary_of(p)
        return PredictorRun(p, s.get("best", {}), PredictorRun(p).metrics(), s.get("test"))
    if kind == "strips":
        return StripsRun(p, read_csv_rows(p / "scores.csv") if (p / "scores.csv").is_file() else [])
    return StudyRun(p, kind)
