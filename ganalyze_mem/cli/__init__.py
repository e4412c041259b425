"""The ``ganalyze-mem`` command line. Every command is a thin layer over the Python API.

Commands live one per module in this package and are imported only when used: ``ganalyze-mem --help`` lists them
from `SHORT_HELP` without importing any (and so without torch), and stays well under a second.

Options every command takes (given before or after the command's name): ``--tensorboard`` (mirror metrics.jsonl
to TensorBoard), and ``--config FILE`` (rerun with the options recorded in a run's config.yaml; options given on
the command line win).
Warnings print as one line each (``warning: ...``), without Python source lines.
"""

from __future__ import annotations

import importlib
import warnings

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
    "import-scores": "ganalyze_mem.cli.import_scores:import_scores_cmd",
    "import-transformer": "ganalyze_mem.cli.import_transformer:import_transformer_cmd",
    "validate": "ganalyze_mem.cli.validate:validate_group",
    "report": "ganalyze_mem.cli.report:report_cmd",
    "game": "ganalyze_mem.cli.game:game_group",
    "verify": "ganalyze_mem.cli.verify:verify_cmd",
}

# one line per command for the top-level --help (kept here so that listing commands imports none of them)
SHORT_HELP: dict[str, str] = {
    "demo": "Run every part of the toolkit on the bundled demo photos; write OUT/index.html.",
    "list": "List registered assessors, generators, transformers or machines.",
    "measure": "Measure ground-truth MachineMem scores of images (the MachineMem measurer).",
    "train": "Learn a latent direction that changes an assessor's score (GANalyze).",
    "strips": "Images made less / more to the assessor, with scores and a per-alpha report.",
    "promote": "Keep a trained transformer under transformers/NAME/ for use by name.",
    "sample": "Images from a generator for given classes and seeds, plus a CSV.",
    "weights": "Where each preset's weights were looked for, found or not, sha256.",
    "score": "Score image files and folders with an assessor; write a CSV of path,score.",
    "fit-predictor": "Fit a memorability predictor on measured scores (MachineMem paper, section 4).",
    "promote-predictor": "Make a fit-predictor run the assessor --assessor NAME.",
    "import-predictor": "Make an official MachineMem/HumanMem predictor checkpoint an assessor.",
    "import-scores": "Pair a header-less score file (machinemem_scores.txt) with its images; write a scores CSV.",
    "import-transformer": "Make a transformer trained by GANalyze's own code usable by `strips`.",
    "validate": "Validation studies with reports (shapes, nerf-views, food, attributes, classes, machines).",
    "report": "(Re)write report.html of any run folder from its files.",
    "game": "The human visual memory game: build an experiment, serve it, export and analyze the trials.",
    "verify": "Measure a GANalyze run's held-out strips with the measurer: measured MachineMem vs alpha.",
}

# the option that takes weights, per kind of model, in each command that loads models (named in every missing-weights
# message; `ganalyze_mem.weight_options`)
WEIGHTS_OPTIONS: dict[str, dict[str, str]] = {
    "train": {"assessor": "--assessor-weights", "generator": "--generator-weights"},
    "strips": {"assessor": "--assessor-weights", "generator": "--generator-weights"},
    "sample": {"generator": "--generator-weights"},
    "score": {"assessor": "--weights"},
    "validate": {"assessor": "--weights"},
}

EPILOG = """\b
Typical session:
  ganalyze-mem list assessors                      what can score images
  ganalyze-mem score photos/ --assessor humanmem   HumanMem (ResMem) scores to a CSV
  ganalyze-mem train --assessor resnet50           learn a memorability direction (GANalyze)
  ganalyze-mem strips RUN_DIR --seeds 0-9          images made less / more memorable
  ganalyze-mem measure TARGET --pool POOL          ground-truth MachineMem scores
  ganalyze-mem verify RUN_DIR --preset cpu -j 2    do the edits change measured MachineMem?
  ganalyze-mem validate shapes --assessor resnet50 trend studies with reports
  ganalyze-mem report RUN_DIR                      report.html of any run
  ganalyze-mem train --config RUN_DIR/config.yaml  rerun with a run's options (any given option wins)

\b
Python: import ganalyze_mem as gm; gm.train(...), gm.score(...), ... take the same options.

\b
Environment: GANALYZE_MEM_WEIGHTS (weights folder), GANALYZE_MEM_CACHE (cache folder),
GANALYZE_MEM_OFFLINE=1 (never download), GANALYZE_MEM_TENSORBOARD=1 (as --tensorboard, which any
command also takes after its name, e.g. `ganalyze-mem fit-predictor --tensorboard -s scores.csv`).
"""

CONFIG_HELP = "--config FILE: rerun with the options in a run's config.yaml (or its folder); given options win."


def one_line_warning(message, category, filename, lineno, line=None) -> str:
    """`warnings.formatwarning` for the CLI: ``warning: message`` on one line, no file name or source line."""
    text = " ".join(str(message).split())
    kind = "" if category in (UserWarning, RuntimeWarning) else f" ({category.__name__})"
    return f"warning{kind}: {text}\n"


def install_warning_format() -> None:
    warnings.formatwarning = one_line_warning


def split_config(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--config FILE`` / ``--config=FILE`` out of a command's arguments."""
    rest, config = [], None
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a == "--config":
            if i + 1 >= len(args):
                raise click.UsageError("--config needs a FILE (a run's config.yaml or its folder).")
            config = args[i + 1]
            next(it, None)
        elif a.startswith("--config="):
            config = a.split("=", 1)[1]
        else:
            rest.append(a)
    return config, rest


def config_defaults(command: click.Command, path: str) -> dict:
    """Defaults for `command`'s parameters from a run's recorded options (names and value shapes adapted)."""
    from ..rundir import config_options

    options = config_options(path)
    renames = {"num_workers": "workers", "save_images": "no_images"}
    params = {p.name: p for p in command.params}
    out = {}
    for key, value in options.items():
        name = renames.get(key, key)
        if name not in params or name in ("resume", "config") or value is None:
            continue
        if name == "no_images":
            value = not value
        param = params[name]
        if isinstance(value, list) and not (param.multiple or param.nargs == -1):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        out[name] = value
    return out


def with_config_option(command: click.Command) -> click.Command:
    """List ``--config FILE`` in the --help of `command` and of its subcommands (the group takes the option out of
    the arguments before the command parses them, see `LazyGroup.resolve_command`); added once."""
    if not any(p.name == "config" for p in command.params):
        command.params.append(click.Option(["--config"], metavar="FILE", expose_value=False,
                                           help="Rerun with the options recorded in a run's config.yaml (or its "
                                                "folder); options given on the command line win."))
    for sub in getattr(command, "commands", {}).values():
        with_config_option(sub)
    return command


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is run or described."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return with_config_option(getattr(importlib.import_module(module), attr))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name in COMMANDS:
            from ..weight_options import set_weights_options

            set_weights_options(WEIGHTS_OPTIONS.get(name, {}))
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=2)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} See `ganalyze-mem --help`.")
        if name in COMMANDS and "--tensorboard" in args[1:]:  # also accepted after the command's name
            from ..rundir import enable_tensorboard

            enable_tensorboard()
            args = [args[0]] + [a for a in args[1:] if a != "--tensorboard"]
        if name in COMMANDS and any(a == "--config" or a.startswith("--config=") for a in args[1:]):
            config, rest = split_config(list(args[1:]))
            cmd_name, cmd, _ = super().resolve_command(ctx, [name])
            try:
                defaults = config_defaults(cmd, config)
            except GanalyzeError as e:
                raise click.UsageError(str(e)) from None
            ctx.default_map = {**(ctx.default_map or {}), cmd_name: defaults}
            return cmd_name, cmd, rest
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        from ..errors import cli_words

        try:
            with cli_words():  # messages name options as typed here (--set-size), not as in the API (set_size=)
                return super().invoke(ctx)
        except GanalyzeError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # a full disk, a read-only folder, a permission: one line naming the path and the fix
            from ..errors import os_error_line

            raise click.ClickException(os_error_line(e, ctx.invoked_subcommand)) from None
        finally:
            from ..weight_options import set_weights_options

            set_weights_options(None)  # the command's options name nothing once it has run (tests run many)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                                              "show_default": True})
@click.version_option(package_name="ganalyze-mem")
@click.option("--tensorboard", is_flag=True, help="Also log every run's metrics to <run>/tensorboard/ "
              "(needs the tensorboard package; view with `tensorboard --logdir outputs`).")
def main(tensorboard: bool) -> None:
    """ganalyze-mem: what makes an image memorable, to machines and to people.

    Measure machine memorability (MachineMem measurer), learn to predict it, and visualise it with GANalyze:
    a latent direction in a generator that makes images more or less memorable to an assessor.
    """
    install_warning_format()
    if tensorboard:
        from ..rundir import enable_tensorboard

        enable_tensorboard()


if __name__ == "__main__":  # pragma: no cover
    main()
