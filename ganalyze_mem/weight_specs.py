"""Where each preset's weights live (`WeightSpec`s of the BigGAN generators, the MachineMem predictors, EmoNet
valence and ResMem's wheel), and `check_weights`: the check every command makes before it imports torch or builds a
model, so that missing weights are reported at once instead of after a minute of loading.

Nothing here imports torch; the models' modules take their specs from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .assessors.folders import CARD_FILE, MODEL_FILE
from .errors import WeightsError
from .weight_options import weights_option
from .weights import (
    ENV_OFFLINE,
    WeightSpec,
    check_weights_file,
    lookup,
    not_found_message,
    package_dir,
    resolve_weights,
)

BIGGAN_URL = "https://s3.amazonaws.com/models.huggingface.co/biggan/{name}-{file}"
PREDICTOR_HINT = "fit one with `ganalyze-mem fit-predictor` then `ganalyze-mem promote-predictor RUN NAME`"
OFFICIAL_PREDICTORS = ("the MachineMem repository, github.com/JunlinHan/MachineMem: predictor/README.md links the "
                       "pre-trained MachineMem and HumanMem predictors (timm ResNet-50 checkpoints, *.pth.tar)")
VALENCE_CHECKPOINT = "EmoNet_valence_moments_resnet50_5_best.pth.tar"
VALENCE_URL = "http://ganalyze.csail.mit.edu/models/" + VALENCE_CHECKPOINT
RESMEM_FACTORY = "ganalyze_mem.assessors.humanmem:humanmem"


def biggan_spec(name: str, **_: Any) -> WeightSpec:
    return WeightSpec(
        name=name,
        files=("pytorch_model.bin", "config.json"),
        folder=name,
        urls={f: BIGGAN_URL.format(name=name, file=f) for f in ("pytorch_model.bin", "config.json")},
        kind="generator",
        published=("the BigGAN release of pytorch-pretrained-BigGAN (github.com/huggingface/pytorch-pretrained-"
                   f"BigGAN): {BIGGAN_URL.format(name=name, file='pytorch_model.bin')} and {name}-config.json beside "
                   "it"),
        hint=(f"download {name}-pytorch_model.bin and {name}-config.json from that release, rename them "
              "pytorch_model.bin and config.json, and {where}"),
    )


def predictor_spec(name: str, **_: Any) -> WeightSpec:
    """Where the predictor `name` lives: a folder `name` holding model.safetensors + card.json. The official
    MachineMem predictor is a ResNet-50, so the ``resnet50`` preset names where it is published."""
    return WeightSpec(name=name, files=(MODEL_FILE, CARD_FILE), folder=name, hint=PREDICTOR_HINT,
                      published=OFFICIAL_PREDICTORS if name == "resnet50" else "",
                      importer="import an official-format checkpoint: ganalyze-mem import-predictor "
                               f"CHECKPOINT.pth.tar --name {name}")


def valence_spec(**_: Any) -> WeightSpec:
    # No sha256 is published for this file, so it is never downloaded automatically: the user fetches it.
    return WeightSpec(name="valence", files=(VALENCE_CHECKPOINT,), folder="valence",
                      published=f"the GANalyze repository, github.com/LoreGoetschalckx/GANalyze "
                                f"(pytorch/download_pretrained.sh fetches {VALENCE_URL})",
                      hint="download that checkpoint (no sha256 is published, so it is never downloaded "
                           "automatically) and {where}")


def resmem_weights() -> Path:
    """Path of ``model.pt`` inside the installed ``resmem`` wheel (found without importing it, which imports torch);
    a clear error when it is missing."""
    folder = package_dir("resmem")
    if folder is None:
        option = weights_option("assessor")
        path_hint = f", or pass {option} PATH to a ResMem model.pt" if option else ""
        raise WeightsError("The humanmem assessor needs the `resmem` package (ResMem, published by the Brain Bridge "
                           "Lab: pypi.org/project/resmem, github.com/Brain-Bridge-Lab/resmem; weights inside the "
                           "wheel, non-commercial licence). Install it with `pip install 'ganalyze-mem[humanmem]'` or "
                           f"`pip install resmem`{path_hint}.")
    path = folder / "model.pt"
    if not path.is_file():
        raise WeightsError(f"The installed resmem package has no model.pt at {path}; reinstall it with "
                           "`pip install --force-reinstall resmem`.")
    return path


def check_weights(registry, name: str, explicit: str | os.PathLike | None = None) -> None:
    """Raise now what building preset `name` of `registry` would raise later for its weights: an unknown name
    (`UnknownNameError`, with close names), or weights that are neither at `explicit` nor in any local place and will
    not be downloaded (`WeightsError`, saying where it looked and how to provide them). Weights with a public URL that
    are not on disk are downloaded here, before anything is loaded. Imports no torch."""
    entry = registry.entry(name)
    if explicit == "random":
        return
    spec = registry.weight_spec(name)
    if spec is None:
        if entry.factory == RESMEM_FACTORY:
            path = Path(explicit).expanduser() if explicit is not None else resmem_weights()
            check_weights_file(path / "model.pt" if path.is_dir() else path)
        return
    if explicit is not None and Path(explicit).expanduser().is_file():
        check_weights_file(Path(explicit).expanduser())  # the model's loader tells whether the file fits it
        return
    found = lookup(spec, explicit)
    if found.found is not None:
        check_weights_file(found.found)
        return
    if explicit is None and spec.urls and not os.environ.get(ENV_OFFLINE):
        resolve_weights(spec)  # download now, before anything is loaded (a failure says how to get them by hand)
        return
    raise WeightsError(not_found_message(found))


def preflight(assessor: str | None = None, assessor_weights: str | os.PathLike | None = None,
              generator: str | None = None, generator_weights: str | os.PathLike | None = None,
              keep: list[str] | tuple[str, ...] = (), transformer: str | None = None) -> None:
    """Every check a command can make of the models it names before importing torch: each name is registered
    (promoted predictor folders included) and each one's weights are at hand (`check_weights`). Raises the error the
    build would raise: names first, then weights."""
    from .assessors import ASSESSORS
    from .assessors.folders import register_predictor_folders
    from .generators import GENERATORS
    from .transformers import TRANSFORMERS

    if assessor is not None or keep:
        register_predictor_folders(ASSESSORS)  # promoted predictors are assessors too (as `build_assessor` does)
    if transformer is not None:
        TRANSFORMERS.entry(transformer)
    for name in ([assessor] if assessor is not None else []) + list(keep):
        ASSESSORS.entry(name)
    if generator is not None:
        GENERATORS.entry(generator)
    # in the order the models are built (`build_components`): the assessor, the kept ones, then the generator
    if assessor is not None:
        check_weights(ASSESSORS, assessor, assessor_weights)
    for name in keep:
        check_weights(ASSESSORS, name)
    if generator is not None:
        check_weights(GENERATORS, generator, generator_weights)


def preflight_trained(source: str | os.PathLike, generator_weights: str | os.PathLike | None = None,
                      assessor_weights: str | os.PathLike | None = None, also: list[str] | tuple[str, ...] = ()
                      ) -> None:
    """`preflight` for the models a trained transformer's card names (`strips`, `verify`): its generator and
    assessor, with the weights given now or those it was trained with, and the `also` assessors. An unfinished run
    (its card is inside a checkpoint, read with torch) is checked when it is loaded."""
    from .transformers.store import peek_card

    card = peek_card(source)
    if card is None:
        return
    assessor = card.get("assessor")
    preflight(assessor=assessor, assessor_weights=assessor_weights or card.get("assessor_weights"),
              generator=card.get("generator"), generator_weights=generator_weights or card.get("generator_weights"),
              keep=[n for n in dict.fromkeys(also) if n != assessor])
