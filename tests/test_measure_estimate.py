"""`measure --dry-run`'s time estimate (issue 25): fixed costs and the per-worker warm-up are counted once, not scaled
by the number of epochs; units run in waves of workers; the printed plan says what it assumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ganalyze_mem.cli import main
from ganalyze_mem.measurer.plan import LONG, Probe, estimate_seconds

OBJS = sorted(str(p) for p in (Path(__file__).resolve().parent.parent / "ganalyze_mem" / "data" / "demo" / "images"
                               / "objects").glob("*.jpg"))


def test_probe_splits_warmup_fixed_and_per_epoch_costs():
    p = Probe(cold=5.0, short=2.0, long=4.0, long_epochs=3)  # 2 s more for 2 + 2 more epochs: 0.5 s an epoch
    assert p.per_epoch == pytest.approx(0.5)
    assert p.fixed == pytest.approx(1.0)  # the warm 1 + 1 episode less its two epochs
    assert p.warmup == pytest.approx(3.0)  # what the first episode of a process pays on top
    assert p.episode(30) == pytest.approx(16.0)
    # 10 units on 2 workers: 5 waves, the warm-up once (workers warm up side by side), reading the images once
    assert estimate_seconds(p, 30, 10, 2, load_seconds=1.0) == pytest.approx(1.0 + 3.0 + 5 * 16.0)
    assert estimate_seconds(p, 30, 3, 2) == pytest.approx(3.0 + 2 * 16.0)  # a partial wave counts whole
    # only the epochs scale with the epochs: doubling them adds waves x per-epoch x the added epochs
    assert estimate_seconds(p, 60, 10, 2) - estimate_seconds(p, 30, 10, 2) == pytest.approx(5 * 0.5 * 30)
    # the old way, cold probe x (P + S) / 2 per unit, scaled the warm-up and the fixed cost by 15 here
    assert 10 * 5.0 * 30 / 2 / 2 > 4 * estimate_seconds(p, 30, 10, 2)


def test_noisy_probes_never_give_negative_costs():
    p = Probe(cold=1.0, short=2.0, long=1.5, long_epochs=LONG)  # a loaded machine: the long probe ran faster
    assert p.per_epoch == 0.0 and p.fixed == 2.0 and p.warmup == 0.0
    assert estimate_seconds(p, 30, 4, 1) == pytest.approx(8.0)


def test_dry_run_says_what_it_assumed(tmp_path):
    pools = sum((["--pool", p] for p in OBJS[8:44]), [])
    res = CliRunner().invoke(main, ["measure", *OBJS[:8], *pools, "--preset", "test", "--episodes", "3",
                                    "--workers", "2", "-o", str(tmp_path), "--dry-run", "-q"])
    assert res.exit_code == 0, res.output
    assert not any(tmp_path.iterdir())  # a plan only
    text = " ".join(res.output.split())
    assert "warm" in text and f"({LONG} + {LONG})" in text and "per epoch" in text and "per episode outside" in text
    assert "Assumed: 2 worker process(es) of one torch thread" in text and "load average" in text
    assert "Where the probe may be off:" in text and "Estimate:" in text
