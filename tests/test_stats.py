"""ganalyze_mem.stats: each function against a hand- or scipy-computed value, the strip-slope rule for 1, 2 and 3+
strips, and a scan of the sources that fails when a t quantile, a Fisher interval, a rank correlation or a bootstrap
resampling is written again outside ganalyze_mem/stats."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

import ganalyze_mem.stats as S

ROOT = Path(__file__).resolve().parents[1]


# -- intervals --------------------------------------------------------------------------------------------------------
def test_t_half_width_against_the_table():
    # t_{0.975, 3} = 3.18245 (any t table); sd 2, n 4: 3.18245 * 2 / sqrt(4)
    assert S.t_half_width(2.0, 4) == pytest.approx(3.18245, abs=1e-5)
    assert S.t_half_width(1.0, 2) == pytest.approx(12.7062 / math.sqrt(2), abs=1e-4)  # t_{0.975, 1} = 12.7062
    assert S.t_half_width(1.0, 11, confidence=0.90) == pytest.approx(1.81246 / math.sqrt(11), abs=1e-5)
    assert math.isnan(S.t_half_width(1.0, 1))


def test_mean_ci_matches_scipy_and_handles_edges():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    ci = S.mean_ci(x)
    ref = sps.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert (ci.n, ci.mean, ci.std) == (4, 2.5, pytest.approx(1.2909944))
    assert (ci.low, ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert (ci.low, ci.high) == (pytest.approx(0.445740, abs=1e-6), pytest.approx(4.554260, abs=1e-6))
    assert ci.triple == (ci.mean, ci.low, ci.high)
    assert S.mean_ci([1.0, np.nan, 2.0, 3.0, 4.0]) == ci  # non-finite values are dropped
    clipped = S.mean_ci(x / 4, bounds=(0.0, 1.0))
    assert clipped.low == pytest.approx(ci.low / 4) and clipped.high == 1.0  # 4.55 / 4 clipped to the range
    assert S.mean_ci([5.0, 5.0, 5.0]).triple == (5.0, 5.0, 5.0)  # no spread: the value itself
    one = S.mean_ci([5.0])
    assert one.mean == 5.0 and math.isnan(one.low) and math.isnan(one.high)
    assert all(math.isnan(v) for v in S.mean_ci([]).triple)


def test_resample_indices_same_in_chunks():
    a = S.resample_indices(np.random.default_rng(3), 7, 50)
    rng = np.random.default_rng(3)
    b = np.concatenate([S.resample_indices(rng, 7, 20), S.resample_indices(rng, 7, 30)])
    assert a.shape == (50, 7) and (a == b).all() and a.min() >= 0 and a.max() <= 6


def test_percentile_and_basic_intervals():
    v = np.arange(101.0)  # the 2.5th and 97.5th percentiles of 0..100 are 2.5 and 97.5
    assert S.percentile_interval(v) == pytest.approx((2.5, 97.5))
    assert S.percentile_interval(np.r_[v, np.nan, np.nan]) == pytest.approx((2.5, 97.5))
    assert S.percentile_interval(v, confidence=0.5) == pytest.approx((25.0, 75.0))
    assert all(math.isnan(x) for x in S.percentile_interval(v, min_finite=200))
    assert S.basic_interval(50.0, v + 10) == pytest.approx((2 * 50 - 107.5, 2 * 50 - 12.5))


def test_row_slopes_by_hand():
    x = np.array([-1.0, 0.0, 1.0])
    values = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [2.0, 1.0, 3.0]])
    assert S.row_slopes(x, values) == pytest.approx([1.0, 0.0, 0.5])


# -- the strip rule ---------------------------------------------------------------------------------------------------
def _strip(slope, alphas=(-0.2, -0.1, 0.0, 0.1, 0.2), noise=None):
    a = np.asarray(alphas)
    return a, slope * a + (0.0 if noise is None else noise)


def test_one_strip_has_no_interval():
    s = S.strip_slope([_strip(0.68)])
    assert s.slope == pytest.approx(0.68) and s.strips == 1
    assert math.isnan(s.ci_low) and math.isnan(s.ci_high) and "no interval" in s.method


def test_two_strips_t_interval_on_one_degree_of_freedom():
    s = S.strip_slope([_strip(0.680), _strip(0.691)])
    # both strips share the alphas, so the pooled slope is the mean of the two; half-width t_{0.975,1} |a - b| / 2
    half = 12.7062047 * 0.011 / 2
    assert s.slope == pytest.approx(0.6855)
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.6855 - half), pytest.approx(0.6855 + half))
    assert s.ci_high - s.ci_low > 10 * 0.011  # wide, not the [0.680, 0.691] a bootstrap of two strips gave
    assert "1 degree of freedom" in s.method and s.strips == 2


def test_three_or_more_strips_bootstrap_over_strips():
    rng = np.random.default_rng(0)
    strips = [_strip(0.7 + 0.1 * rng.normal(), noise=0.02 * rng.normal(size=5)) for _ in range(6)]
    s = S.strip_slope(strips, resamples=500, seed=4)
    x, y = np.concatenate([a for a, _ in strips]), np.concatenate([b for _, b in strips])
    assert s.slope == pytest.approx(np.polyfit(x, y, 1)[0])
    # the same percentile bootstrap written the long way: strips resampled whole, one least-squares fit each
    picks = S.resample_indices(np.random.default_rng(4), 6, 500)
    boots = [np.polyfit(np.concatenate([strips[i][0] for i in p]), np.concatenate([strips[i][1] for i in p]), 1)[0]
             for p in picks]
    assert (s.ci_low, s.ci_high) == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))
    assert s.ci_low < s.slope < s.ci_high and "bootstrap over 6 strips" in s.method
    assert S.strip_slope(strips, picks=picks) == s  # given resamples are used as they are


def test_strips_report_and_demo_give_the_same_interval(tmp_path):
    """The strips page (reports.builders.slope_ci) and the demo (demo.stages.strips_slope_cis) once disagreed with
    two strips (no interval against a bootstrap one); both now follow the strip rule."""
    from ganalyze_mem.demo.stages import strips_slope_cis
    from ganalyze_mem.reports.builders import slope_ci

    rows = [{"class": c, "seed": "0", "alpha": f"{a:g}", "m": f"{k * a + 0.5:.6f}"}
            for c, k in (("1", 0.680), ("2", 0.691)) for a in (-0.2, -0.1, 0.0, 0.1, 0.2)]
    with open(tmp_path / "scores.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fit = slope_ci(rows, "m")
    slope, lo, hi = fit.slope, fit.ci_low, fit.ci_high
    assert strips_slope_cis(tmp_path, ["m"])["m"] == pytest.approx([lo, hi])
    assert slope == pytest.approx(0.6855, abs=1e-5) and hi - lo > 0.1
    with open(tmp_path / "scores.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[:5])
    assert strips_slope_cis(tmp_path, ["m"])["m"] == [None, None]
    one = slope_ci(rows[:5], "m")
    assert math.isnan(one.ci_low) and math.isnan(one.ci_high) and "no interval" in one.method


# -- correlation ------------------------------------------------------------------------------------------------------
def test_spearman_and_rows_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 15))
    y = x + rng.normal(size=(40, 15))
    y[:, :3] = np.round(y[:, :3])  # ties
    assert S.spearman_rows(x, y) == pytest.approx([sps.spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)])
    assert S.pearson_rows(x, y) == pytest.approx([np.corrcoef(a, b)[0, 1] for a, b in zip(x, y, strict=True)])
    x[0, 2], y[1, 5] = np.nan, np.nan  # missing pairs are left out of their row only
    r = S.spearman_rows(x, y)
    for i in (0, 1):
        ok = np.isfinite(x[i]) & np.isfinite(y[i])
        assert r[i] == pytest.approx(sps.spearmanr(x[i][ok], y[i][ok]).statistic)
    assert np.isnan(S.spearman_rows([[1.0, 2.0, np.nan]], [[1.0, 2.0, 3.0]])[0])  # 2 pairs: undefined
    assert np.isnan(S.spearman_rows([[1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0]])[0])  # no spread
    rho, p, n = S.spearman([1, 2, 3, 4, 5, np.nan], [2, 1, 4, 3, 5, 9])
    ref = sps.spearmanr([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert (rho, p, n) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), 5)
    assert rho == pytest.approx(0.8)  # 1 - 6 * 4 / (5 * 24)


def test_bootstrap_correlation_intervals_against_a_plain_loop():
    rng = np.random.default_rng(2)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    rho, lo, hi = S.bootstrap_spearman(x, y, resamples=300, seed=5)
    idx = S.resample_indices(np.random.default_rng(5), 30, 300)
    boots = [sps.spearmanr(x[i], y[i]).statistic for i in idx]
    assert rho == pytest.approx(sps.spearmanr(x, y).statistic)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))
    ci = S.correlation_cis(x, y, resamples=300, seed=5)
    assert ci["spearman_ci"] == pytest.approx([lo, hi]) and ci["pearson_ci"][0] < np.corrcoef(x, y)[0, 1]
    assert S.correlation_cis([1, 2], [1, 2]) == {"spearman_ci": None, "pearson_ci": None}
    assert all(math.isnan(v) for v in S.bootstrap_spearman([1, 1, 1], [1, 2, 3]))
    row = S.spearman_row(x, y, resamples=300, seed=5)
    assert (row["rho_ci_low"], row["rho_ci_high"]) == pytest.approx((lo, hi)) and row["n"] == 30
    assert S.rho_label(row).startswith(f"rho = {rho:+.2f} [")


def test_fisher_interval_by_hand():
    # r 0.5, n 28: z = atanh(0.5) = 0.549306, SE = 1.03 / 5 = 0.206, z_{0.975} = 1.959964
    lo, hi = S.fisher_ci(0.5, 28)
    assert lo == pytest.approx(math.tanh(0.549306 - 1.959964 * 0.206), abs=1e-6)
    assert hi == pytest.approx(math.tanh(0.549306 + 1.959964 * 0.206), abs=1e-6)
    assert all(math.isnan(v) for v in S.fisher_ci(0.5, 3)) and all(math.isnan(v) for v in S.fisher_ci(None, 50))


def test_spearman_matrix_and_its_bootstrap():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(25, 3))
    rho, p = S.spearman_matrix(m)
    assert rho[0, 1] == pytest.approx(sps.spearmanr(m[:, 0], m[:, 1]).statistic)
    assert S.spearman_matrix(m[:, :2])[0].shape == (2, 2)
    boot = S.bootstrap_spearman_matrix(m, 20, seed=1)
    i = S.resample_indices(np.random.default_rng(1), 25, 20)[7]
    assert boot.shape == (20, 3, 3) and boot[7] == pytest.approx(S.spearman_matrix(m[i])[0])


# -- reliability and corrections --------------------------------------------------------------------------------------
def test_spearman_brown_by_hand():
    assert S.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert S.spearman_brown(0.5, 3) == pytest.approx(0.75)  # 3 * 0.5 / (1 + 2 * 0.5)
    assert S.spearman_brown(np.array([0.0, 1.0])) == pytest.approx([0.0, 1.0])
    assert S.corrected(-0.2) == -0.2 and S.corrected(0.6) == pytest.approx(0.75)
    assert S.episodes_for(0.8, 0.5, 10) == 40  # 10 * 0.8 * 0.5 / (0.5 * 0.2)
    assert S.episodes_for(0.8, -0.1, 10) is None and S.episodes_for(0.8, 1.0, 10) == 1


def _holm_by_definition(p):
    """Holm (1979) as written: sort, adjusted p_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)), back in input order."""
    finite = [(v, i) for i, v in enumerate(p) if np.isfinite(v)]
    finite.sort()
    m, out, running = len(finite), [float("nan")] * len(p), 0.0
    for j, (v, i) in enumerate(finite, start=1):
        running = max(running, (m - j + 1) * v)
        out[i] = min(1.0, running)
    return out


def test_holm_against_the_definition():
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005 = 0.02, 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.04, 0.06)
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = S.holm([0.01, np.nan, 0.5])  # NaN is no test: m = 2
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.5)
    assert S.holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.2, rng.integers(1, 12))
        p[rng.random(len(p)) < 0.1] = np.nan
        assert S.holm(p) == pytest.approx(_holm_by_definition(p), nan_ok=True)
        # Holm's test: reject H_(i) when p_(j) <= alpha / (m - j + 1) for every j <= i, i.e. adjusted p <= alpha
        finite = np.sort(p[np.isfinite(p)])
        m = len(finite)
        steps = [all(finite[j] <= 0.05 / (m - j) for j in range(i + 1)) for i in range(m)]
        assert steps == [v <= 0.05 for v in np.sort(S.holm(finite))]
    assert "Holm-adjusted over the 3" in S.holm_note(3)


# -- one implementation -----------------------------------------------------------------------------------------------
PATTERNS = {
    "t quantile (use stats.t_half_width / mean_ci)": re.compile(r"\bt\.ppf\("),
    "Fisher z (use stats.fisher_ci)": re.compile(r"\b(?:np\.arctanh|math\.atanh|torch\.atanh|numpy\.arctanh)\("),
    "rank correlation by hand (use stats.spearman / spearman_rows)": re.compile(r"\brankdata\("),
    "percentile interval (use stats.percentile_interval)": re.compile(r"2\.5\s*,\s*97\.5"),
}


def _calls(text: str, name: str):
    """The argument text of every call `name(...)` in `text` (parentheses matched)."""
    for m in re.finditer(rf"(?:\.|\b){name}\(", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        yield m.start(), text[m.end():i - 1]


def _split_args(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [a for a in (*out, cur.strip()) if a]


def resampling_calls(text: str) -> list[int]:
    """Offsets of draws of n indices out of range(n) (a bootstrap resample): `.integers(0, n, (B, n))`,
    `.integers(len(x), size=len(x))`, `torch.randint(n, (n,))`..."""
    found = []
    for name in ("integers", "randint"):
        for at, args in _calls(text, name):
            parts = [a for a in _split_args(args) if not re.match(r"(dtype|generator|device|endpoint)\s*=", a)]
            positional = [a.split("=", 1)[1].strip() if a.startswith("size") else a for a in parts]
            if len(positional) < 2:
                continue
            bound, rest = (positional[1], positional[2:]) if positional[0] == "0" and len(positional) > 2 else \
                (positional[0], positional[1:])
            if bound != "0" and any(re.search(rf"(?<![\w.]){re.escape(bound)}(?![\w(])", r) for r in rest):
                found.append(at)
    return found


def test_the_scan_finds_what_it_looks_for():
    assert resampling_calls("idx = rng.integers(0, n, (resamples, n))")
    assert resampling_calls("i = rng.integers(0, len(x), len(x))")
    assert resampling_calls("idx = rng.integers(len(x), size=(cfg.bootstrap, len(x)))")
    assert resampling_calls("u[torch.randint(n, (n,), generator=rng)]")
    assert not resampling_calls("n = int(rng.integers(7, 16)); c = rng.integers(0, 256, size=(h, w, 3))")
    assert not resampling_calls("pool[torch.randint(len(pool), (n,), generator=g)]; rng.integers(total)")
    assert PATTERNS["t quantile (use stats.t_half_width / mean_ci)"].search("h = stats.t.ppf(0.975, n - 1) * s")


def test_statistics_live_only_in_ganalyze_mem_stats():
    files = [p for d in ("ganalyze_mem", "scripts", "bench") for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 50
    stats_dir = ROOT / "ganalyze_mem" / "stats"
    problems = []
    for path in files:
        if stats_dir in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        problems += [f"{rel}: {what}" for what, rx in PATTERNS.items() if rx.search(text)]
        problems += [f"{rel}:{text.count(chr(10), 0, at) + 1}: bootstrap resampling (use stats.resample_indices)"
                     for at in resampling_calls(text)]
    assert not problems, "statistics outside ganalyze_mem/stats:\n" + "\n".join(problems)
    assert not (ROOT / "ganalyze_mem" / "validation" / "stats.py").exists()
