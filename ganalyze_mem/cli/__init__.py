"""The ``ganalyze-mem`` command line. Every command is a thin layer over the Python API.

Commands live one per module in this package and are imported only when used, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

from ..errors import GanalyzeError

# command name -> "module:attribute" of its click command
COMMANDS: dict[str, str] = {
    "demo": "ganalyze_mem.cli.demo:demo_cmd",
    "list": "ganalyze_mem.cli.listing:list_cmd",
    "measure": "ganalyze_mem.cli.measure:measure_cmd",
    "train": "ganalyze_mem.cli.train:train_cmd",
    "strips": "ganalyze_mem.cli.strips:strips_cmd",
    "promote": "ganalyze_mem.cli.promote:promote_cmd",
    "sample": "ganalyze_mem.cli.sample:sample_cmd",
    "weights": "ganalyze_mem.cli.weights:weights_group",
    "score": "ganalyze_mem.cli.score:score_cmd",
    "fit-predictor": "ganalyze_mem.cli.fit_predictor:fit_predictor_cmd",
    "promote-predictor": "ganalyze_mem.cli.promote_predictor:promote_predictor_cmd",
    "import-predictor": "ganalyze_mem.cli.import_predictor:import_predictor_cmd",
    "validate": "ganalyze_mem.cli.validate:validate_group",
    "game": "ganalyze_mem.cli.game:game_group",
}

EPILOG = """\b
Typical session:
  ganalyze-mem list assessors                      what can score images
  ganalyze-mem score photos/ --assessor humanmem   HumanMem (ResMem) scores to a CSV
  ganalyze-mem train --assessor resnet50           learn a memorability direction (GANalyze)
  ganalyze-mem strips RUN_DIR --seeds 0-9          images made less / more memorable
  ganalyze-mem measure TARGET --pool POOL          ground-truth MachineMem scores
  ganalyze-mem validate shapes --assessor resnet50 trend studies with reports

Environment: GANALYZE_MEM_WEIGHTS (weights folder), GANALYZE_MEM_CACHE (cache folder),
GANALYZE_MEM_OFFLINE=1 (never download).
"""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is run or described."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} See `ganalyze-mem --help`.")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GanalyzeError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                                              "show_default": True})
@click.version_option(package_name="ganalyze-mem")
def main() -> None:
    """ganalyze-mem: what makes an image memorable, to machines and to people.

    Measure machine memorability (MachineMem measurer), learn to predict it, and visualise it with GANalyze:
    a latent direction in a generator that makes images more or less memorable to an assessor.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
