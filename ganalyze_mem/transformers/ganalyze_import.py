"""GANalyze's own trained transformers (Goetschalckx et al., ICCV 2019) as transformer folders of this toolkit.

GANalyze's PyTorch code saves a transformer's state dict: the one-direction model holds ``w`` (1 x dim_z), the
class-dependent one a linear layer ``NN_output`` (weight dim_z x 1000, bias dim_z); ``opts.json`` beside it records the
training options. Both steps are ``z' = z + alpha * direction`` rescaled to the norm of z, so ``w`` becomes our
one-direction ``theta`` and ``NN_output`` our class-dependent ``to_direction``. (GANalyze rescales by the norm of the
whole batch, we by each sample's: a strip of one seed is the same either way.) A transformer is usable only with a
generator of its z size: GANalyze's TensorFlow BigGAN-256 transformers have dim_z 140 (the original BigGAN), which
no registered generator (BigGAN-deep: 128) takes, and importing one is refused. Strips from an imported transformer
use GANalyze's test settings (the card's ``strip_alpha`` 0.1, 3 bigger steps each way).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import GanalyzeError
from ..weights import artifact_dir, load_state_dict, sha256_file
from .store import CARD, NAME_RE, save_trained

# Imported inside functions, to keep `ganalyze-mem --help` and `import ganalyze_mem` fast: modules of ours that load
# torch or the model registries.

# GANalyze's assessor names -> ours
ASSESSORS = {"emonet": "valence", "valence": "valence", "memnet": None}


def generator_z_sizes() -> dict[str, int]:
    """The z size of every registered generator that takes ImageNet-style (z, class) latents, without building any."""
    from ..generators import GENERATORS
    from ..generators.biggan import CONFIGS

    sizes = {}
    for name in GENERATORS.names():
        if name in CONFIGS:
            sizes[name] = int(CONFIGS[name].get("z_dim", 128))  # BigGANConfig's default z is 128
    return sizes


def read_ganalyze(path: str | os.PathLike) -> tuple[str, dict[str, torch.Tensor], int, int]:
    """(our transformer name, our state dict, dim_z, num_classes) of a GANalyze transformer checkpoint."""
    path = Path(path).expanduser()
    state = load_state_dict(path)  # weights_only; truncated, empty, HTML or LFS files get a clear WeightsError
    state = {k.removeprefix("module."): v for k, v in state.items()}
    keys = set(state)
    if keys == {"w"}:
        w = state["w"]
        if w.dim() != 2 or w.shape[0] != 1:
            raise GanalyzeError(f"{path}: 'w' is {tuple(w.shape)}, but a GANalyze one-direction transformer holds one "
                                "direction of shape 1 x dim_z.")
        return "one_direction", {"theta": w.float().clone()}, int(w.shape[1]), 1000
    if keys == {"NN_output.weight", "NN_output.bias"}:
        weight, bias = state["NN_output.weight"], state["NN_output.bias"]
        if weight.dim() != 2 or bias.shape != weight.shape[:1]:
            raise GanalyzeError(f"{path}: NN_output is {tuple(weight.shape)} + {tuple(bias.shape)}, not the "
                                "dim_z x classes linear layer of a GANalyze class-dependent transformer.")
        return ("class_dependent", {"to_direction.weight": weight.float().clone(),
                                    "to_direction.bias": bias.float().clone()}, int(weight.shape[0]),
                int(weight.shape[1]))
    shown = ", ".join(sorted(keys)[:6]) + (" ..." if len(keys) > 6 else "")
    raise GanalyzeError(f"{path} is not a GANalyze transformer checkpoint: it holds {shown}; expected 'w' "
                        "(one direction) or 'NN_output.weight' + 'NN_output.bias' (class-dependent).")


def import_transformer(checkpoint: str | os.PathLike, name: str, generator: str = "biggan-deep-256",
                       assessor: str | None = None, opts: str | os.PathLike | None = None, truncation: float = 1.0,
                       out: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Make a GANalyze transformer checkpoint the transformer folder ``out/NAME`` (default ``transformers/NAME``),
    usable by name in ``strips``. `opts` is GANalyze's ``opts.json`` (default: the one beside the checkpoint, if any);
    `assessor` names the assessor it was trained with (default: from opts.json). Nothing is written unless the
    checkpoint is whole, of a known kind, and its z size is `generator`'s."""
    from . import TRANSFORMERS

    if not NAME_RE.match(name):
        raise GanalyzeError(f"Bad name '{name}': use letters, digits, '.', '_' and '-'.")
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise GanalyzeError(f"{checkpoint} does not exist; pass the transformer GANalyze saved (a .pth file).")
    dest = (Path(out).expanduser() if out else artifact_dir("transformers")) / name
    if dest.exists() and not force:
        raise GanalyzeError(f"{dest} already exists. Choose another name or pass --force to replace it.")
    kind, state, dim_z, num_classes = read_ganalyze(checkpoint)
    sizes = generator_z_sizes()
    if generator not in sizes:
        raise GanalyzeError(f"--generator {generator} is not a registered ImageNet generator; use one of "
                            f"{', '.join(sizes)}.")
    if dim_z not in sizes.values():
        known = ", ".join(f"{g}: {z}" for g, z in sizes.items())
        raise GanalyzeError(f"{checkpoint.name} is a transformer for z of size {dim_z}, and no registered generator "
                            f"takes that ({known}). GANalyze's BigGAN-256 transformers are for the original BigGAN "
                            "(z of 140), not BigGAN-deep (128); only transformers trained on BigGAN-deep import.")
    if sizes[generator] != dim_z:
        fits = [g for g, z in sizes.items() if z == dim_z]
        raise GanalyzeError(f"{checkpoint.name} is for z of size {dim_z}, but --generator {generator} takes "
                            f"{sizes[generator]}; use --generator {fits[0]}.")
    options: dict[str, Any] = {}
    opts_path = Path(opts).expanduser() if opts is not None else checkpoint.parent / "opts.json"
    if opts is not None or opts_path.is_file():
        try:
            options = json.loads(opts_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GanalyzeError(f"{opts_path}: not a readable opts.json ({str(e)[:100]}).") from None
        if not isinstance(options, dict):
            raise GanalyzeError(f"{opts_path}: expected a JSON object of GANalyze's options.")
    if assessor is None:
        given = str(options.get("assessor", "")).lower()
        assessor = ASSESSORS.get(given)
        if assessor is None:
            raise GanalyzeError(f"Name the assessor the transformer was trained with: --assessor NAME (opts.json says "
                                f"{given or 'nothing'!r}; GANalyze's MemNet is not an assessor here: pass the one to "
                                "score strips with, e.g. humanmem).")
    transformer = TRANSFORMERS.create(kind, dim_z=dim_z, num_classes=num_classes)
    transformer.load_state_dict(state, strict=True)
    tmp = dest.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_trained(transformer, tmp, {
            "name": name, "transformer": kind, "generator": generator, "assessor": assessor,
            "truncation": float(options.get("truncation", truncation)),
            "imported_from": f"{checkpoint.name} (sha256 {sha256_file(checkpoint)})", "ganalyze_opts": options,
            "renorm": "sample",  # GANalyze renormalised by the batch; a strip of one seed is the same
            "strip_alpha": 0.1})
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert (dest / CARD).is_file()
    return dest
