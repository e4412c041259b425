"""The Python API (`import ganalyze_mem as gm`) on the tiny entries: names, defaults shared with the CLI, plain
nn.Module assessors, results, run-directory habits (umask, recorded environment, TensorBoard)."""

import dataclasses
import inspect
import os
import stat

import pytest
import torch
from click.testing import CliRunner

import ganalyze_mem as gm
from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError

pytestmark = pytest.mark.usefixtures("one_thread")

DEMO = os.path.join(os.path.dirname(gm.__file__), "data", "demo")


class MeanRed(torch.nn.Module):
    """An unregistered module mapping images to scores (N x 1), with one parameter."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return (self.w * x[:, 0].mean(dim=(1, 2)))[:, None]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from ganalyze_mem.images import save_image

    folder = tmp_path_factory.mktemp("imgs")
    for i, v in enumerate((0.1, 0.4, 0.7)):
        img = torch.full((3, 16, 16), v)
        img[0] = v / 2
        save_image(img, folder / f"{i}.png")
    return folder


def test_every_public_name_exists():
    for name in gm.__all__:
        assert getattr(gm, name) is not None, name
    assert callable(gm.train) and callable(gm.strips)  # not the submodules ganalyze_mem/train.py, strips.py


def test_list_and_create_tiny_entries():
    assert "machinemem-tiny" in gm.list_assessors() and gm.list_assessors("machinemem-t*") == ["machinemem-tiny"]
    assert "tiny" in gm.list_generators() and "tiny_cnn" in gm.list_machines("tiny*")
    assert gm.list_transformers("one*") == ["one_direction"]
    a = gm.create_assessor("machinemem-tiny", device="cpu")
    assert not any(p.requires_grad for p in a.parameters())
    g = gm.create_generator("tiny", device="auto", truncation=0.5)
    z, y = g.sample(2, seed=0)
    x = g(z, y)
    s = a(x)
    assert s.shape == (2,) and torch.isfinite(s).all()
    t = gm.create_transformer("one_direction", dim_z=g.dim_z, num_classes=g.num_classes, device="cpu")
    assert t(z, y, torch.tensor([0.1, -0.1])).shape == z.shape
    with pytest.raises(GanalyzeError, match="Did you mean 'brightness'"):
        gm.create_assessor("brightnes")


def test_plain_module_becomes_an_assessor():
    a = gm.as_assessor(MeanRed())
    assert a.name == "MeanRed" and a.score_range == (0.0, 1.0) and a.higher_is == "more"
    x = torch.rand(3, 3, 8, 8, requires_grad=True)
    s = a(x)
    assert s.shape == (3,)
    s.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable wrt the input, frozen itself
    assert not a.model.w.requires_grad
    with pytest.raises(GanalyzeError, match="image"):
        a(torch.rand(2, 3, 8, 8) * 255)  # outside [0, 1]: the image convention is checked

    class Wrong(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=1)

    with pytest.raises(GanalyzeError, match="one score per image"):
        gm.as_assessor(Wrong())(torch.rand(2, 3, 8, 8))


def test_api_defaults_are_the_config_defaults():
    from ganalyze_mem.predictor.config import FitConfig
    from ganalyze_mem.scoring import ScoreConfig
    from ganalyze_mem.visualise.strips import StripsConfig
    from ganalyze_mem.visualise.train import TrainConfig

    for fn, cls, renames in ((gm.train, TrainConfig, {}), (gm.strips, StripsConfig, {}),
                             (gm.score, ScoreConfig, {}), (gm.fit_predictor, FitConfig, {"num_workers": "workers"})):
        params = inspect.signature(fn).parameters
        for f in dataclasses.fields(cls):
            name = renames.get(f.name, f.name)
            if name in ("progress", "scores") or f.name.isupper() or (fn is gm.train and name == "assessor"):
                continue
            assert name in params, (fn.__name__, name)
            if params[name].default is not inspect.Parameter.empty:
                assert params[name].default == f.default, (fn.__name__, name)
    assert inspect.signature(gm.measure).parameters["device"].default == "auto"
    assert inspect.signature(gm.validate).parameters["device"].default == "auto"
    with pytest.raises(GanalyzeError, match="Did you mean 'samples'"):
        gm.train("brightness", sampels=4)


def test_score_cli_and_api_give_the_same_csv(images, tmp_path):
    res = CliRunner().invoke(main, ["score", str(images), "-a", "brightness", "-j", "0", "-o", str(tmp_path / "c.csv"),
                                    "-q", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    s = gm.score(images, "brightness", workers=0, out=tmp_path / "a.csv", progress=False)
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "c.csv").read_text()
    assert s.path == tmp_path / "a.csv" and len(s.rows) == 3 and not s.problems
    assert repr(s).startswith("Scores(") and len(repr(s)) < 200
    df = s.to_pandas()
    assert list(df.columns) == ["path", "score"] and len(df) == 3


def test_unregistered_module_scores_trains_and_validates(images, tmp_path):
    s = gm.score(images, MeanRed(), workers=0, progress=False, size=16)
    want = sorted(v / 2 for v in (0.1, 0.4, 0.7))
    assert [round(v, 2) for v in sorted(x for _, x in s.rows)] == [round(v, 2) for v in want]

    run = gm.train(MeanRed(), generator="tiny", samples=8, batch_size=4, log_every=1, out=tmp_path / "train",
                   progress=False)
    assert run.done and run.steps == 2 and (run.path / "transformer.safetensors").is_file()
    assert "GANalyze training: MeanRed" in (run.path / "report.html").read_text()  # every API run ends reported
    df = run.to_pandas()
    assert (df["kind"] == "train").sum() == 2 and "loss" in df.columns and (df["kind"] == "heldout").any()
    strips = gm.strips(run, seeds="0", classes="0", steps=1, out=tmp_path / "strips", progress=False)
    assert len(strips.rows) == 3 and strips.assessor.startswith("MeanRed")
    study = gm.validate("shapes", assessor=MeanRed(), per_set=2, size=32, resamples=99, out=tmp_path / "rep",
                        progress=False)
    assert study.html.is_file() and "scores" in study.tables() and len(study.to_pandas("scores")) > 0


def test_measure_and_fit_predictor_through_the_api(tmp_path):
    objs = sorted(os.path.join(DEMO, "images", "objects", f)
                  for f in os.listdir(os.path.join(DEMO, "images", "objects")))
    m = gm.measure(objs[:8], pool=objs[8:44], preset="test", episodes=2, enforce_bar=False, below_bar="keep",
                   out=tmp_path / "m", progress=False)
    assert len(m.scores) == 8 and (m.path / "scores.csv").is_file() and m.summary["episodes_done"] == 2
    assert "MeasureRun(" in repr(m) and len(m.to_pandas()) == 8
    p = gm.fit_predictor(m.path / "scores.csv", images="/", backbone="resnet18", image_size=32, epochs=1,
                         batch_size=4, val_fraction=0.25, workers=0, out=tmp_path / "p", progress=False)
    assert len(p.history) == 1 and p.best["epoch"] == 1 and (p.path / "summary.json").is_file()
    again = gm.load_run(p.path)
    assert type(again) is type(p) and again.best == p.best


def test_run_files_respect_the_umask_and_record_the_environment(tmp_path):
    import yaml

    old = os.umask(0o027)
    try:
        run = gm.train("brightness", generator="tiny", samples=4, batch_size=4, out=tmp_path, progress=False)
    finally:
        os.umask(old)
    for name in ("config.yaml", "transformer.safetensors", "transformer.json", "checkpoints/latest.pt"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == 0o640, name
    env = yaml.safe_load((run.path / "config.yaml").read_text())["environment"]
    assert env["threads"] == torch.get_num_threads() and "T" in env["timestamp"]
    assert isinstance(env.get("git_dirty"), bool) and len(env["git_commit"]) == 40


def test_tensorboard_mirror(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    run = gm.train("brightness", generator="tiny", samples=8, batch_size=4, log_every=1, out=tmp_path,
                   tensorboard=True, progress=False)
    events = list((run.path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run.path / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss")] == [1, 2]
    assert os.environ.get("GANALYZE_MEM_TENSORBOARD") is None  # switched on for that call only


def test_tensorboard_missing_is_one_clear_warning(tmp_path, monkeypatch):
    import sys

    from ganalyze_mem import rundir

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    monkeypatch.setattr(rundir, "_tb_missing_warned", False)
    monkeypatch.setattr(rundir, "_tb_writers", {})
    rundir.enable_tensorboard()
    try:
        run = rundir.RunDir.create(tmp_path, "x", {"options": {}})
        with pytest.warns(UserWarning, match="tensorboard package is not installed") as rec:
            run.log(step=1, loss=0.5)
            run.log(step=2, loss=0.4)
        assert len(rec) == 1 and len(run.metrics()) == 2
    finally:
        rundir.enable_tensorboard(False)


def test_config_rerun_from_the_api(tmp_path):
    first = gm.train("brightness", generator="tiny", samples=4, batch_size=4, lr=0.01, out=tmp_path / "a",
                     progress=False)
    second = gm.train(config=first.path / "config.yaml", out=tmp_path / "b", samples=8, progress=False)
    import yaml

    a, b = (yaml.safe_load((r.path / "config.yaml").read_text())["options"] for r in (first, second))
    assert b["lr"] == 0.01 and b["samples"] == 8 and b["assessor"] == "brightness"




def test_docstring_examples_of_the_listing_and_creating_functions(monkeypatch):
    import doctest

    import ganalyze_mem.api.models as models

    monkeypatch.chdir(os.path.dirname(os.path.dirname(gm.__file__)))
    result = doctest.testmod(models)
    assert result.failed == 0 and result.attempted >= 15


def test_cli_tensorboard_flag_after_the_command(tmp_path):
    pytest.importorskip("tensorboard")
    try:
        res = CliRunner().invoke(main, ["train", "--tensorboard", "-a", "brightness", "-g", "tiny", "--samples", "4",
                                        "-b", "4", "--log-every", "1", "--out", str(tmp_path), "-q"])
    finally:
        from ganalyze_mem.rundir import enable_tensorboard

        enable_tensorboard(False)
    assert res.exit_code == 0, res.output
    assert list(next(tmp_path.iterdir()).glob("tensorboard/events.out.tfevents.*"))


def test_score_api_writes_resumes_and_is_the_cli_path(images, tmp_path):
    out = tmp_path / "s.csv"
    first = gm.score(images, "brightness", workers=0, out=out, progress=False)
    assert first.stats.scored == 3 and first.path == out and not (tmp_path / "s.csv.part").exists()
    again = gm.score(images, "brightness", workers=0, out=out, resume=True, progress=False)
    assert again.stats.kept == 3 and again.stats.scored == 0 and again.rows == first.rows
    res = CliRunner().invoke(main, ["score", str(images), "-a", "brightness", "-j", "0", "-q", "--device", "cpu"])
    assert res.exit_code == 0 and res.stdout == first.to_csv()  # stdout mode prints what the CSV holds
