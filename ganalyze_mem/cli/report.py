"""`ganalyze-mem report`: write report.html of any run folder again, from the files in it."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--check/--no-check", default=False, show_default=True,
              help="Open each report.html in headless Chromium, save screenshot.png, and fail on page errors.")
def report_cmd(run_dirs: tuple[str, ...], check: bool) -> None:
    """Render RUN_DIR/report.html for measure, fit-predictor, train, strips and validation runs.

    The kind of run is read from its config.yaml; the page is built from config.yaml, summary.json, metrics.jsonl
    and the run's CSV and PNG files, so it can be made again at any time (e.g. while a training run goes on).

    \b
    Examples:
      ganalyze-mem report outputs/train/00000-brightness-one_direction-tiny
      ganalyze-mem report outputs/measure/* --check
    """
    from pathlib import Path

    from ..errors import GanalyzeError
    from ..reports import render_report

    for folder in run_dirs:
        path = render_report(folder)
        click.echo(f"Report: {path}")
        if check:
            from ..validation.browser import check_page

            res = check_page(path, screenshot=Path(folder) / "screenshot.png")
            if not res.loaded or res.errors or res.broken_images:
                raise GanalyzeError(f"{path} did not render cleanly: loaded={res.loaded}, broken images="
                                    f"{res.broken_images}, errors={res.errors[:5]}")
