"""The field's own files, each built here in its owner's published format (written from the description, never
from the owner's code), loaded by the toolkit: load, scores and errors. Bad input gets one clear line and leaves
the disk as it was."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.images import save_image

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(root) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


@pytest.fixture(scope="module")
def lamem(tmp_path_factory):
    """A LaMem-shaped folder: images/ named in order (00000001.jpg ...), splits/train_1.txt and test_1.txt with
    'name score' lines (HumanMem scores), and the MachineMem repository's machinemem_scores.txt: one number per
    line, no header, in the images' order. Scores are the images' brightness, so a predictor can learn them."""
    root = tmp_path_factory.mktemp("lamem")
    gen = torch.Generator().manual_seed(0)
    names, scores = [], []
    for i in range(1, 41):
        level = 0.15 + 0.7 * (i % 10) / 9
        image = (level + 0.1 * (torch.rand(3, 40, 40, generator=gen) - 0.5)).clamp(0, 1)
        name = f"{i:08d}.jpg"
        save_image(image, root / "images" / name)
        names.append(name)
        scores.append(round(float(image.mean()), 6))
    (root / "machinemem_scores.txt").write_text("".join(f"{s}\n" for s in scores))
    (root / "splits").mkdir()
    (root / "splits" / "train_1.txt").write_text("".join(f"{n} {0.5 + s / 2:.6f}\n" for n, s in
                                                         zip(names[:30], scores[:30], strict=True)))
    (root / "splits" / "test_1.txt").write_text("".join(f"{n} {0.5 + s / 2:.6f}\n" for n, s in
                                                        zip(names[30:], scores[30:], strict=True)))
    return root, names, scores


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_score_file_pairs_with_sorted_folder(lamem, tmp_path):
    from ganalyze_mem import import_scores

    root, names, scores = lamem
    out = import_scores(root / "machinemem_scores.txt", tmp_path / "mm.csv", images=root / "images")
    rows = _rows(out)
    assert [os.path.basename(r["path"]) for r in rows] == names
    assert [float(r["score"]) for r in rows] == scores
    assert all((tmp_path / r["path"]).is_file() for r in rows)  # relative to the CSV's folder


def test_lamem_split_files_list_the_images_and_carry_scores(lamem, tmp_path):
    from ganalyze_mem.score_import import import_scores

    root, names, scores = lamem
    splits = [root / "splits" / "train_1.txt", root / "splits" / "test_1.txt"]
    out = import_scores(root / "machinemem_scores.txt", tmp_path / "a.csv", lists=splits)  # images/ found
    assert [float(r["score"]) for r in _rows(out)] == scores
    own = import_scores(None, tmp_path / "b.csv", lists=splits)  # the split files' own (HumanMem) scores
    assert [float(r["score"]) for r in _rows(own)] == pytest.approx([0.5 + s / 2 for s in scores], abs=1e-6)
    plain = tmp_path / "names.txt"
    plain.write_text("".join(f"{n}\n" for n in reversed(names)))
    with pytest.raises(GanalyzeError, match="no score after the image name"):
        import_scores(None, tmp_path / "c.csv", lists=[plain], images=root / "images")
    rev = import_scores(root / "machinemem_scores.txt", tmp_path / "d.csv", lists=[plain], images=root / "images")
    assert [os.path.basename(r["path"]) for r in _rows(rev)] == names[::-1]


def test_imported_scores_train_a_predictor_and_feed_validate(lamem, tmp_path):
    """The paper's section-4 path on a small scale: the official score file -> import-scores -> fit-predictor."""
    root, _, scores = lamem
    out = tmp_path / "mm.csv"
    r = CliRunner().invoke(main, ["import-scores", str(root / "machinemem_scores.txt"), "--images",
                                  str(root / "images"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "40 images" in r.output and "fit-predictor --scores" in r.output
    from ganalyze_mem.predictor.data import read_scores
    from ganalyze_mem.validation.scoring import read_scores_csv

    table = read_scores(out)  # what fit-predictor reads, without --images
    assert len(table) == 40 and table.scores == scores
    assert len(read_scores_csv(out)) == 40  # what validate --scores reads
    from ganalyze_mem import fit_predictor

    run = fit_predictor(str(out), backbone="resnet18", image_size=32, epochs=1, batch_size=20, test_size=0,
                        val_fraction=0.25, device="cpu", progress=False, out=str(tmp_path / "runs"), plots=False)
    assert (run.path / "checkpoints" / "best.pt").is_file() and len(run.history) == 1
    assert run.best["val_spearman"] is not None  # scored on the 10 validation images of the imported CSV


@pytest.mark.parametrize("case, expected", [
    ("short", "holds 39 scores but the folder .* holds 40 images"),
    ("long", "holds 41 scores but the folder .* holds 40 images"),
    ("text", "line 3: 'abc' is not a number"),
    ("blank", "line 2: blank line inside the file"),
    ("nan", "line 1: score is nan"),
    ("range", "line 2: score 1.5 is outside --score-range 0,1"),
    ("csv", "several fields: a CSV with a path and a score column goes straight to --scores"),
])
def test_bad_score_files_one_clear_error_nothing_written(lamem, tmp_path, case, expected):
    root, _, scores = lamem
    lines = [str(s) for s in scores]
    if case == "short":
        lines = lines[:-1]
    elif case == "long":
        lines.append("0.5")
    elif case == "text":
        lines[2] = "abc"
    elif case == "blank":
        lines[1] = ""
    elif case == "nan":
        lines[0] = "nan"
    elif case == "range":
        lines[1] = "1.5"
    elif case == "csv":
        lines[0] = "00000001.jpg,0.7"
    bad = tmp_path / "scores.txt"
    bad.write_text("\n".join(lines) + "\n")
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(main, ["import-scores", str(bad), "-i", str(root / "images"), "-o",
                                  str(tmp_path / "out.csv")])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    import re

    assert re.search(expected, r.output), r.output
    assert _snapshot(tmp_path) == before


def test_bad_lists_and_existing_output(lamem, tmp_path):
    from ganalyze_mem.score_import import import_scores

    root, names, _ = lamem
    listed = tmp_path / "list.txt"
    listed.write_text(f"{names[0]}\n{names[1]}\nmissing.jpg\n{names[0]}\n")
    with pytest.raises(GanalyzeError) as e:
        import_scores(None, tmp_path / "x.csv", lists=[listed], images=root / "images", score_range=None)
    assert "line 3: image not found" in str(e.value) and "line 4: 00000001.jpg is listed twice (first at " \
        "list.txt line 1)" in str(e.value)
    (tmp_path / "exists.csv").write_text("keep\n")
    with pytest.raises(GanalyzeError, match="exists; pass --force"):
        import_scores(root / "machinemem_scores.txt", tmp_path / "exists.csv", images=root / "images")
    assert (tmp_path / "exists.csv").read_text() == "keep\n"
    with pytest.raises(GanalyzeError, match="--images FOLDER .* or --list FILE"):
        import_scores(root / "machinemem_scores.txt", tmp_path / "y.csv")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "y.csv").exists()


def test_score_file_given_to_scores_options_points_to_import_scores(lamem, tmp_path):
    """Once the suggestion was '--path-column 0.7' (a data value); now it names the command that reads the file."""
    root, _, _ = lamem
    score_file = str(root / "machinemem_scores.txt")
    r = CliRunner().invoke(main, ["fit-predictor", "--scores", score_file, "--out", str(tmp_path / "runs")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "no header" in r.output and "import-scores machinemem_scores.txt" in r.output
    assert "--path-column 0." not in r.output
    r = CliRunner().invoke(main, ["validate", "attributes", str(root / "images"), "--scores", score_file,
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 1 and "import-scores" in r.output and "Traceback" not in r.output, r.output
    headless = tmp_path / "headless.csv"
    headless.write_text("a.jpg,0.5\nb.jpg,0.6\n")
    with pytest.raises(GanalyzeError, match="no header.*'path,score'"):
        from ganalyze_mem.predictor.data import read_scores

        read_scores(headless, check_images=False)
    assert not (tmp_path / "runs").exists()


def test_test_last_lists_the_held_out_images_for_fit_predictor(lamem, tmp_path):
    """The MachineMem repository's training script holds out LaMem's last 1000 images; --test-last N lists them."""
    from ganalyze_mem.predictor.data import read_scores, split
    from ganalyze_mem.score_import import import_scores

    root, names, _ = lamem
    out = import_scores(root / "machinemem_scores.txt", tmp_path / "mm.csv", images=root / "images", test_last=8)
    listed = (tmp_path / "mm_test.txt").read_text().splitlines()
    assert [os.path.basename(p) for p in listed] == names[-8:]
    table = read_scores(out)
    _, _, test = split(table, 0.1, 0, test_list=tmp_path / "mm_test.txt")
    assert test == list(range(32, 40))
    with pytest.raises(GanalyzeError, match="--test-last 40 must be below the number of images"):
        import_scores(root / "machinemem_scores.txt", tmp_path / "z.csv", images=root / "images", test_last=40)
    assert not (tmp_path / "z.csv").exists() and not (tmp_path / "z_test.txt").exists()


# -- the official predictor's evaluation transform ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A MachineMem-format checkpoint (timm-style ResNet, "module."-prefixed keys under "state_dict") with random
    weights, and images of every kind: square, wide, tall, EXIF-rotated and transparent."""
    from PIL import Image

    from ganalyze_mem.backbones import build_backbone
    from ganalyze_mem.predictor.init import seeded

    root = tmp_path_factory.mktemp("official")
    with seeded(5):
        reference = build_backbone("resnet18", 1, 224).eval()
    torch.save({"epoch": 30, "arch": "resnet18", "state_dict": {f"module.{k}": v for k, v in
                                                                reference.state_dict().items()}},
               root / "predictor.pth.tar")
    gen = torch.Generator().manual_seed(1)

    def noise(w, h, channels=3):
        return (torch.rand(h, w, channels, generator=gen) * 255).to(torch.uint8).numpy()

    images = root / "images"
    images.mkdir()
    Image.fromarray(noise(300, 300)).save(images / "square.png")
    Image.fromarray(noise(128, 85)).save(images / "wide.png")
    Image.fromarray(noise(85, 128)).save(images / "tall.png")
    rotated = Image.fromarray(noise(160, 100))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    rotated.save(images / "exif.jpg", exif=exif, quality=95)
    Image.fromarray(noise(210, 150, 4)).save(images / "transparent.png")  # random alpha too
    return root, reference


def _official_eval(path, reference):
    """The MachineMem repository's evaluation, from its description: ImageFolder's loader (PIL convert("RGB")),
    RandomResizedCrop(224, scale=(1, 1)), ToTensor, ImageNet Normalize, the network."""
    from PIL import Image
    from torchvision import transforms

    torch.manual_seed(0)
    tf = transforms.Compose([transforms.RandomResizedCrop(224, scale=(1, 1)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with open(path, "rb") as f:
        img = Image.open(f).convert("RGB")
    with torch.no_grad():
        return float(reference(tf(img)[None])[0, 0])


def test_imported_predictor_scores_like_the_official_evaluation(official, tmp_path):
    from ganalyze_mem.assessors.machinemem import from_folder
    from ganalyze_mem.predictor.promote import import_checkpoint
    from ganalyze_mem.scoring import score_files

    root, reference = official
    folder = import_checkpoint(root / "predictor.pth.tar", "resnet18", "official", out=tmp_path)
    card = __import__("json").loads((folder / "card.json").read_text())
    assert card["preprocess"] == {"size": 224, "fit": "crop", "alpha": "drop", "exif": False}
    assessor = from_folder(folder)
    result = score_files([root / "images"], "official", model=assessor, workers=0, progress=False, device="cpu")
    assert not result.problems and len(result.scores) == 5
    diffs = {path.name: abs(ours - _official_eval(path, reference)) for path, ours in result.scores}
    print("official evaluation vs imported predictor:", diffs)
    assert all(d < 1e-5 for d in diffs.values()), diffs
    # the toolkit's own recipe (stretch, alpha on white, EXIF applied) differs on all but the square image
    with pytest.warns(UserWarning, match="--preprocess toolkit .* is not how this model prepares images"):
        toolkit = score_files([root / "images"], "official", model=assessor, workers=0, progress=False,
                              device="cpu", preprocess="toolkit")
    gaps = {p.name: abs(a - b) for (p, a), (_, b) in zip(result.scores, toolkit.scores, strict=True)}
    print("toolkit recipe vs official:", gaps)
    assert gaps["square.png"] < 1e-5 and all(gaps[n] > 1e-4 for n in gaps if n != "square.png"), gaps


def test_our_predictors_keep_the_toolkit_recipe_and_bad_cards_are_refused(official, tmp_path):
    import json

    from ganalyze_mem.assessors.folders import CardError, load_card
    from ganalyze_mem.predictor.promote import import_checkpoint

    root, _ = official
    folder = import_checkpoint(root / "predictor.pth.tar", "resnet18", "ours", out=tmp_path, preprocess="toolkit")
    assert load_card(folder)["preprocess"].fit == "stretch"
    card = json.loads((folder / "card.json").read_text())
    del card["preprocess"]  # a card written before recipes were recorded: the toolkit's
    (folder / "card.json").write_text(json.dumps(card))
    recipe = load_card(folder)["preprocess"]
    assert (recipe.fit, recipe.alpha, recipe.exif, recipe.size) == ("stretch", "white", True, 224)
    card["preprocess"] = {"fit": "squash"}
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(CardError, match="preprocess"):
        load_card(folder)


# -- GANalyze's trained transformers -----------------------------------------------------------------------------------

def _ganalyze_step(z, w_dir, alpha):
    """GANalyze's step from its description: z + alpha * direction, rescaled to the norm of the whole batch."""
    moved = z + alpha * w_dir
    return z.norm() * moved / moved.norm()


def test_ganalyze_transformers_import_and_step_like_ganalyze(tmp_path):
    from ganalyze_mem.transformers.ganalyze_import import import_transformer
    from ganalyze_mem.transformers.store import load_trained

    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 128, generator=g)
    torch.save({"w": w}, tmp_path / "pytorch_model_one.pth")
    (tmp_path / "opts.json").write_text('{"assessor": "emonet", "transformer": ["OneDirection", "None"]}')
    folder = import_transformer(tmp_path / "pytorch_model_one.pth", "gz-one", out=tmp_path / "t")
    transformer, card = load_trained(folder)
    assert card["transformer"] == "one_direction" and card["assessor"] == "valence"
    assert card["generator"] == "biggan-deep-256" and card["ganalyze_opts"]["assessor"] == "emonet"
    z = torch.randn(1, 128, generator=g)
    y = torch.zeros(1, 1000)
    y[0, 3] = 1
    with torch.no_grad():
        for alpha in (-0.3, 0.1, 0.2):
            assert torch.allclose(transformer(z, y, alpha), _ganalyze_step(z, w, alpha), atol=1e-6)
    weight, bias = torch.randn(128, 1000, generator=g), torch.randn(128, generator=g)
    torch.save({"NN_output.weight": weight, "NN_output.bias": bias}, tmp_path / "class.pth")
    folder = import_transformer(tmp_path / "class.pth", "gz-class", assessor="brightness", out=tmp_path / "t")
    transformer, card = load_trained(folder)
    assert card["transformer"] == "class_dependent" and card["assessor"] == "brightness"
    with torch.no_grad():
        assert torch.allclose(transformer(z, y, 0.1), _ganalyze_step(z, (y @ weight.T + bias), 0.1), atol=1e-5)


@pytest.mark.parametrize("case, expected", [
    ("z140", "z of size 140, and no registered generator takes that .*original BigGAN"),
    ("truncated", "truncated|corrupt|could not|neither"),
    ("other", "not a GANalyze transformer checkpoint: it holds"),
    ("wrong_generator", "takes 32; use --generator biggan-deep-128"),
    ("no_assessor", "--assessor NAME"),
])
def test_bad_ganalyze_transformers_one_line_nothing_written(tmp_path, case, expected):
    ckpt = tmp_path / "model.pth"
    if case == "z140":
        torch.save({"w": torch.randn(1, 140)}, ckpt)
    elif case == "other":
        from ganalyze_mem.backbones import build_backbone

        torch.save(build_backbone("resnet18", 1, 64).state_dict(), ckpt)
    else:
        torch.save({"w": torch.randn(1, 128)}, ckpt)
    if case == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:200])
    args = ["import-transformer", str(ckpt), "--name", "x", "-o", str(tmp_path / "t")]
    if case == "wrong_generator":
        args += ["-g", "tiny", "-a", "brightness"]
    elif case != "no_assessor":
        args += ["-a", "brightness"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    import re

    assert re.search(expected, r.output), r.output
    assert not (tmp_path / "t").exists()


def test_strips_from_an_imported_transformer_use_ganalyze_test_settings(tmp_path):
    from ganalyze_mem.transformers.ganalyze_import import import_transformer
    from ganalyze_mem.visualise.strips import StripsConfig, make_strips

    torch.save({"w": torch.randn(1, 32, generator=torch.Generator().manual_seed(2))}, tmp_path / "w.pth")
    folder = import_transformer(tmp_path / "w.pth", "gz-tiny", generator="tiny", assessor="brightness",
                                out=tmp_path / "t")
    cfg = StripsConfig(classes="0", seeds="0", classifier="none", device="cpu", out=str(tmp_path / "strips"),
                       save_images=False)
    card = json.loads((folder / "transformer.json").read_text())
    assert cfg.resolved(card).alphas == [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]  # GANalyze's test script: 0.1, 3 steps
    result = make_strips(folder, cfg, progress=False, echo=lambda *a: None)
    assert len(result.rows) == 7 and sorted(r["alpha"] for r in result.rows) == cfg.resolved(card).alphas


def test_renorm_batch_reproduces_ganalyze_and_round_trips(tmp_path):
    from ganalyze_mem.transformers import TRANSFORMERS
    from ganalyze_mem.transformers.store import load_trained, save_trained
    from ganalyze_mem.visualise.train import TrainConfig

    g = torch.Generator().manual_seed(4)
    t = TRANSFORMERS.create("one_direction", dim_z=16, num_classes=10)
    z, y = torch.randn(4, 16, generator=g), torch.eye(10)[:4]
    alpha = torch.tensor([-0.5, -0.1, 0.2, 0.5])
    with torch.no_grad():
        theirs = _ganalyze_step(z, t.theta, alpha[:, None])
        per_sample = t(z, y, alpha)
        t.renorm = "batch"
        batch = t(z, y, alpha)
    assert torch.allclose(batch, theirs, atol=1e-6) and not torch.allclose(per_sample, theirs, atol=1e-3)
    folder = save_trained(t, tmp_path / "t", {"transformer": "one_direction", "generator": "tiny",
                                              "assessor": "brightness", "renorm": "batch"})
    loaded, card = load_trained(folder)
    assert loaded.renorm == "batch" and card["renorm"] == "batch"
    with pytest.raises(GanalyzeError, match="--renorm must be sample or batch"):
        TrainConfig(assessor="brightness", renorm="layer").validate()
    assert TrainConfig().renorm == "sample"
