"""`ganalyze-mem game`: the human visual memory game (Isola et al. 2011; LaMem): build an experiment, serve it to
participants, export their responses and analyze them beside machine scores."""

from __future__ import annotations

import click

from ..game.config import HUMAN_SCORES, AnalyzeConfig, StudyConfig
from ..game.design import BOUNDS as GAME_BOUNDS
from ..game.design import GameConfig
from ..game.pagetext import LANGUAGES

D, A, S = GameConfig(), AnalyzeConfig(), StudyConfig()
TEXT_FILE = click.Path(exists=True, dir_okay=False, path_type=str)
GB = {name: bound.click_type() for name, bound in GAME_BOUNDS.items()}  # from the one declaration


@click.group("game")
def game_group() -> None:
    """The visual memory game on people: build, serve, export, analyze.

    \b
    Typical session:
      ganalyze-mem game build photos/ --fillers more_photos/ --participants 40 --out outputs/game/photos
      ganalyze-mem game serve outputs/game/photos --port 8000
      ganalyze-mem game export outputs/game/photos
      ganalyze-mem game analyze outputs/game/photos --out outputs/game/photos-report --scores humanmem.csv
    """


@game_group.command("build")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=str),
              help="New experiment folder (must not hold an experiment already).")
@click.option("--participants", default=D.participants, show_default=True, type=GB["participants"],
              help="Sequences to design, one per participant.")
@click.option("--seed", default=D.seed, show_default=True, type=GB["seed"], help="Seed of every random choice.")
@click.option("--fillers", default=None, type=click.Path(exists=True, file_okay=False, path_type=str),
              help="Folder of filler images (shown but never scored). Without it, the source's own items take "
                   "turns as targets and fillers across participants.")
@click.option("--targets", default=None, type=GB["targets"],
              help="Targets per participant  [default: as many as the fillers can surround]")
@click.option("--fillers-per-target", default=D.fillers_per_target, show_default=True, type=GB["fillers_per_target"],
              help="At least this many fillers per target (more when the lag needs them).")
@click.option("--vigilance-every", default=D.vigilance_every, show_default=True, type=GB["vigilance_every"],
              help="About one vigilance repeat per this many presentations.")
@click.option("--target-lag-min", default=D.target_lag_min, show_default=True, type=GB["target_lag_min"],
              help="Shortest target lag, in presentations (LaMem: about 90-110).")
@click.option("--target-lag-max", default=D.target_lag_max, show_default=True, type=GB["target_lag_max"],
              help="Longest target lag.")
@click.option("--vigilance-lag-min", default=D.vigilance_lag_min, show_default=True, type=GB["vigilance_lag_min"],
              help="Shortest vigilance lag (1: the very next image).")
@click.option("--vigilance-lag-max", default=D.vigilance_lag_max, show_default=True, type=GB["vigilance_lag_max"],
              help="Longest vigilance lag.")
@click.option("--display-ms", default=D.display_ms, show_default=True, type=GB["display_ms"],
              help="How long each image is shown (Isola et al.: 1.0 s).")
@click.option("--blank-ms", default=D.blank_ms, show_default=True, type=GB["blank_ms"],
              help="Blank after each image (Isola et al.: 1.4 s); a press then still counts for the image.")
@click.option("--practice", default=D.practice, show_default=True, type=GB["practice"],
              help="Practice presentations with feedback (generated shapes); 0 for none.")
@click.option("--key", default=D.key, show_default=True, help="KeyboardEvent.code to press on a repeat ('Space', "
              "'KeyJ', ...); a tap on the picture always counts.")
@click.option("--display-px", default=D.display_px, show_default=True, type=GB["display_px"],
              help="Side of the square the image is shown in (CSS pixels).")
@click.option("--language", default=S.language, show_default=True, type=click.Choice(LANGUAGES),
              help="Language of every word on the page (built-in text files, ganalyze_mem/game/lang/).")
@click.option("--instructions", default=None, type=TEXT_FILE,
              help="Markdown (.md) or HTML (.html) file replacing the built-in instructions.")
@click.option("--consent", default=None, type=TEXT_FILE,
              help="Consent form (Markdown or HTML) shown first, with agree / do not agree; declining ends the "
                   "session and is stored.")
@click.option("--debrief", default=None, type=TEXT_FILE, help="Debrief (Markdown or HTML) shown after the last image.")
@click.option("--completion-url", default=None,
              help="Send participants here after the debrief, e.g. "
                   "'https://app.prolific.com/submissions/complete?cc={code}' ({code}, {participant}, "
                   "{PROLIFIC_PID}, {STUDY_ID}, {SESSION_ID}, {workerId} are filled in; without {code}, cc=CODE is "
                   "appended).")
@click.option("--lists", default=S.lists, show_default=True, type=click.IntRange(1),
              help="Counterbalancing lists: sequence p is in list p mod K; arrivals are balanced over lists "
                   "(--participants must be a multiple of K).")
@click.option("--seat-timeout-min", default=S.seat_timeout_min, show_default=True, type=click.FloatRange(0.1),
              help="An unfinished session with no request for this long gives its sequence to the next arrival.")
@click.option("--starts-per-client", default=S.starts_per_client, show_default=True, type=click.IntRange(0),
              help="New sessions allowed per client address per --start-window-min (0: no limit).")
@click.option("--start-window-min", default=S.start_window_min, show_default=True, type=click.FloatRange(0.1))
@click.option("--preload", default=S.preload, show_default=True, type=click.IntRange(1, 64),
              help="Pictures fetched ahead of the one shown.")
@click.option("--timing-tolerance-ms", default=S.timing_tolerance_ms, show_default=True, type=click.FloatRange(1),
              help="Recorded for analysis: a trial shown this much longer or shorter than --display-ms is off.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build_cmd(source: str, out: str, fillers: str | None, quiet: bool, **options) -> None:
    """Build an experiment folder for SOURCE: a folder of images, or a strips run folder (`ganalyze-mem strips`
    output), where each participant sees each seed at one alpha only, alphas rotating in a Latin square.

    Writes experiment.json (every design option, the image manifest), sequences/ (one validated sequence per
    participant), index.html (self-contained: no CDN scripts or fonts), images/ and practice/.

    \b
    Examples:
      ganalyze-mem game build photos/ --fillers others/ --participants 40 --out outputs/game/photos
      ganalyze-mem game build outputs/strips/00000-resnet50-bigger_step --out outputs/game/strips
    """
    from ..game.build import build_experiment

    study = StudyConfig(**{k: options.pop(k) for k in StudyConfig.__dataclass_fields__})
    build_experiment(source, out, GameConfig(**options), fillers=fillers, progress=not quiet, echo=click.echo,
                     study=study)


@game_group.command("serve")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 to accept other machines (put it behind HTTPS for the public).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1), help="WSGI worker threads.")
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="Host name participants use (repeat for several); requests for any other Host are refused "
                   "(DNS rebinding). Default: localhost, 127.0.0.1, ::1 and --host.")
@click.option("--behind-proxy", is_flag=True,
              help="Trust one reverse proxy's X-Forwarded-For/-Proto/-Host (listen on 127.0.0.1 behind it).")
def serve_cmd(folder: str, host: str, port: int, threads: int, allowed_hosts: tuple[str, ...],
              behind_proxy: bool) -> None:
    """Serve the experiment in FOLDER; every response is stored in FOLDER/game.sqlite as it arrives.

    Participants open http://HOST:PORT/?participant=ID (PROLIFIC_PID and workerId are read too; without any, the
    browser makes and keeps an id). The first start issues a secret session token that every later request
    needs; a reload in the same browser resumes the sequence; the last image shows a completion code (or redirects
    to --completion-url). For the internet, run it behind a reverse proxy with TLS (README).
    """
    from ..game.server import serve

    serve(folder, host, port, threads, allowed_hosts=allowed_hosts, behind_proxy=behind_proxy, echo=click.echo)


@game_group.command("export")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--out", "-o", default=None, type=click.Path(path_type=str),
              help="Trials CSV to write  [default: FOLDER/trials.csv]; with --format psychds, the dataset folder "
                   "[default: FOLDER/psychds]")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "psychds"]),
              help="csv: trials.csv, participants.csv, lists.csv, declines.csv; psychds: a Psych-DS style folder "
                   "(dataset_description.json, data/*_data.csv, data_dictionary.csv).")
def export_cmd(folder: str, out: str | None, fmt: str) -> None:
    """Write the trials CSV (participant, trial, image, role, repeat, responded, rt_ms, list, onset_ms,
    duration_ms, waited_ms), participants.csv (list, status, completion codes, platform IDs), lists.csv (balance over
    lists) and declines.csv from FOLDER's database. Safe while the server runs. Text cells a spreadsheet would run
    as formulas get a leading '."""
    if fmt == "psychds":
        from ..game.psychds import export_psychds

        path = export_psychds(folder, out)
        click.echo(f"Wrote the Psych-DS style dataset {path} (dataset_description.json, data/, data_dictionary.csv).")
        return
    from ..game.store import export

    trials, people, n = export(folder, out)
    click.echo(f"Wrote {n} rows to {trials}, the participants to {people}, and lists.csv, declines.csv.")


@game_group.command("analyze")
@click.argument("source", type=click.Path(exists=True, path_type=str))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Report folder (report.md, report.html, per_image.csv, ...).")
@click.option("--scores", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="Assessor scores to set beside people: a CSV with path,score from `score` or `measure`; repeat "
                   "for several (p-values Holm-corrected across them).")
@click.option("--names", "names", multiple=True,
              help="Assessor names for the report, one per --scores in the same order (comma-separated or repeated); "
                   "default: the CSV file names.")
@click.option("--min-vigilance", default=A.min_vigilance, show_default=True, type=click.FloatRange(0, 1),
              help="Exclude participants whose vigilance hit rate is below this.")
@click.option("--max-false-alarm", default=A.max_false_alarm, show_default=True, type=click.FloatRange(0, 1),
              help="Exclude participants whose false-alarm rate on first presentations is above this.")
@click.option("--timing-tolerance-ms", default=None, type=click.FloatRange(0, min_open=True),
              help="A trial is off when its image was shown this much longer or shorter than intended  [default: the "
                   "experiment's --timing-tolerance-ms, else 50]")
@click.option("--max-off-timing", default=A.max_off_timing, show_default=True, type=click.FloatRange(0, 1),
              help="Exclude participants with more than this fraction of trials off in display timing.")
@click.option("--human-score", default=A.human_score, show_default=True, type=click.Choice(HUMAN_SCORES),
              help="Human score that assessors are compared with.")
@click.option("--splits", default=A.splits, show_default=True, type=click.IntRange(1),
              help="Random participant splits for human consistency.")
@click.option("--bootstrap", default=A.bootstrap, show_default=True, type=click.IntRange(10),
              help="Bootstrap resamples for every interval.")
@click.option("--confidence", default=A.confidence, show_default=True, type=click.FloatRange(0.5, 0.999))
@click.option("--seed", default=A.seed, show_default=True, type=int)
def analyze_cmd(source: str, out: str, scores: tuple[str, ...], names: tuple[str, ...], **options) -> None:
    """Analyze SOURCE: a trials CSV or an experiment folder (exported fresh from its database).

    Per image: hit rate, false-alarm rate, corrected score, d' (log-linear correction) and n; per participant:
    vigilance and the exclusion rule; human consistency (25 random splits, Spearman-Brown, bootstrap interval);
    for strips, hit rate against alpha (slope with a cluster-bootstrap interval); with --scores, each assessor's
    Spearman agreement with people.

    \b
    Example:
      ganalyze-mem game analyze outputs/game/photos --out outputs/game/photos-report --scores humanmem.csv
    """
    from ..game.report import analyze

    labels = [n.strip() for chunk in names for n in chunk.split(",") if n.strip()]
    analyze(source, out, AnalyzeConfig(**options), scores=scores, echo=click.echo, names=labels)
