"""`score --precision bf16` (issue 25): opt-in, recorded in the CSV's run record, never mixed on --resume, refused on
a CPU known to lack bfloat16 units, and close to float32 on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.errors import GanalyzeError
from ganalyze_mem.score_config import ScoreConfig, check_precision, cpu_has_bf16

PHOTOS = Path(__file__).resolve().parent.parent / "ganalyze_mem" / "data" / "demo" / "images" / "objects"


def _cpuinfo(tmp_path, flags: str) -> str:
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 {flags}\n")
    return str(p)


def test_bf16_units_are_told_from_the_cpu_flags(tmp_path):
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 avx512f avx512_bf16")) is True
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 amx_bf16 amx_tile")) is True
    assert cpu_has_bf16(_cpuinfo(tmp_path, "avx2 avx512f avx512bw")) is False
    assert cpu_has_bf16(str(tmp_path / "no-such-file")) is None  # not Linux: cannot tell, so not refused
    with pytest.raises(GanalyzeError, match="bfloat16 units"):
        check_precision("bf16", "cpu", _cpuinfo(tmp_path, "avx2"))
    check_precision("bf16", "cuda", _cpuinfo(tmp_path, "avx2"))  # a GPU has them
    check_precision("fp32", "cpu", _cpuinfo(tmp_path, "avx2"))
    check_precision("bf16", "cpu", str(tmp_path / "no-such-file"))


def test_precision_values_are_checked():
    with pytest.raises(GanalyzeError, match="--precision must be one of fp32, bf16"):
        ScoreConfig(precision="fp16")
    with pytest.raises(GanalyzeError, match="choose one"):
        ScoreConfig(precision="bf16", amp=True)
    r = CliRunner().invoke(main, ["score", str(PHOTOS), "--precision", "half"])
    assert r.exit_code == 2 and "'half' is not one of 'fp32', 'bf16'" in r.output


@pytest.mark.skipif(cpu_has_bf16() is False, reason="this CPU has no bfloat16 units (bf16 is refused here)")
def test_bf16_is_recorded_agrees_with_float32_and_is_never_mixed_on_resume(tmp_path):
    from scipy.stats import spearmanr

    files = sorted(PHOTOS.glob("*.jpg"))[:24]
    args = ["--assessor", "machinemem-tiny", "--workers", "0", "--batch-size", "8", "--device", "cpu", "-q"]
    out32, out16 = tmp_path / "fp32.csv", tmp_path / "bf16.csv"
    r = CliRunner().invoke(main, ["score", *map(str, files), *args, "--out", str(out32)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["score", *map(str, files), *args, "--precision", "bf16", "--out", str(out16)])
    assert r.exit_code == 0, r.output

    def rows(p):
        return dict(line.rsplit(",", 1) for line in p.read_text().splitlines()[1:])

    a, b = rows(out32), rows(out16)
    assert a.keys() == b.keys() and len(a) == len(files)
    x, y = [float(a[k]) for k in a], [float(b[k]) for k in a]
    assert max(abs(u - v) for u, v in zip(x, y, strict=True)) < 0.02
    assert spearmanr(x, y).statistic > 0.9
    assert x != y  # bf16 really ran: its scores are not float32's to the last digit

    # an interrupted bf16 run: its run record names the precision, and a resume in another precision is refused
    from ganalyze_mem import score_run

    real = score_run.score_batches

    def interrupted(*a, **k):
        for n, rows in enumerate(real(*a, **k)):
            if n == 1:
                raise KeyboardInterrupt
            yield rows

    out = tmp_path / "cut.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(score_run, "score_batches", interrupted)
        r = CliRunner().invoke(main, ["score", *map(str, files), *args, "--precision", "bf16", "--out", str(out)])
    assert r.exit_code != 0
    part, meta = score_run.part_paths(out)
    assert json.loads(meta.read_text())["precision"] == "bfloat16" and part.is_file()
    r = CliRunner().invoke(main, ["score", *map(str, files), *args, "--out", str(out), "--resume"])
    assert r.exit_code == 1 and "precision: 'bfloat16' then, 'float32' now" in r.output, r.output
    r = CliRunner().invoke(main, ["score", *map(str, files), *args, "--precision", "bf16", "--out", str(out),
                                  "--resume"])
    assert r.exit_code == 0, r.output
    assert rows(out) == b  # resumed in the same precision: the same scores as the uninterrupted bf16 run


def test_bf16_runs_a_folded_copy_that_matches_float32_and_leaves_the_model_alone():
    import torchvision

    from ganalyze_mem.scoring import inference_copy

    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=3)
    with torch.no_grad():  # batch-norm statistics that are not the identity, so a wrong fold shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = inference_copy(net)
    assert folded is not net and inference_copy(net) is folded  # built once per model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 20  # the caller's model is untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    x = torch.rand(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(folded(x.contiguous(memory_format=torch.channels_last)), net(x), atol=1e-4, rtol=1e-4)
