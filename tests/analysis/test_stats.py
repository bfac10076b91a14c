"""limitbatch_tf.analysis.stats against known answers and scipy.stats."""
import math

import numpy as np
import pytest
from scipy import stats as sp

from limitbatch_tf.analysis import stats

BASE = [0.8875, 0.8921, 0.8967, 0.8899, 0.8943]   # 5 baseline seeds


def test_target_is_a_distribution():
    t = stats.Target.from_baseline(BASE)
    a = np.mean(BASE)
    assert t.mean == pytest.approx(0.995 * a)
    assert t.stderr == pytest.approx(0.995 * np.std(BASE, ddof=1) / math.sqrt(5))
    assert t.n == 5 and t.higher_is_better


def test_error_ratio_matches_the_papers_mnist_bar():
    # You et al. 2020, Table 3: MNIST baseline 99.2%; 99.5% of it is 98.70%,
    # an error of 1.30% against 0.80%: a ratio of 1.3 / 0.8 = 1.625.
    paper = stats.Target.from_baseline([0.992])
    ratio = stats.Target.error_ratio([0.992], 1.3 / 0.8)
    assert paper.mean == pytest.approx(0.98704)
    assert ratio.mean == pytest.approx(0.987)
    assert (1 - paper.mean) / (1 - 0.992) == pytest.approx(1.62, abs=0.005)


def test_margin_inside_the_targets_standard_error_is_undecided():
    # The case: a cell 0.10 point above a bar whose standard error
    # (3 baseline seeds, sd 0.44 point) is 0.25 point.
    base = [0.8877, 0.8921, 0.8965]
    target = stats.Target.from_baseline(base)
    assert target.stderr == pytest.approx(0.0025, abs=2e-4)
    cell = [target.mean + 0.0010 + d for d in (-0.0006, 0.0, 0.0006)]
    v = stats.judge(cell, target)
    assert v.verdict == "undecided"
    assert v.margin == pytest.approx(0.0010)
    assert v.interval[0] < 0 < v.interval[1]


@pytest.mark.parametrize("sign,expected", [(10, "passes"), (-10, "fails")])
def test_ten_standard_errors_clear_decide(sign, expected):
    target = stats.Target.from_baseline(BASE)
    spread = (-0.001, 0.0, 0.001)
    se = math.sqrt(np.var(spread, ddof=1) / 3 + target.stderr ** 2)
    cell = [target.mean + sign * se + d for d in spread]
    v = stats.judge(cell, target)
    assert v.verdict == expected
    assert abs(v.margin) / v.stderr == pytest.approx(10)


def test_welch_agrees_with_scipy_ttest_ind():
    """Bar 0.995 * A: the margin is mean(x) - mean(0.995 a), Welch's t test
    of x against the scaled baseline seeds."""
    target = stats.Target.from_baseline(BASE)
    cell = [0.8901, 0.8855, 0.8930]
    v = stats.judge(cell, target)
    ref = sp.ttest_ind(cell, [0.995 * a for a in BASE], equal_var=False,
                       alternative="less" if v.margin < 0 else "greater")
    assert v.margin / v.stderr == pytest.approx(abs(ref.statistic) * np.sign(v.margin))
    assert v.p_value == pytest.approx(ref.pvalue)
    assert v.df == pytest.approx(ref.df)
    q = sp.t.ppf(0.90, ref.df)
    assert v.interval == pytest.approx((v.margin - q * v.stderr,
                                        v.margin + q * v.stderr))


def test_welch_by_hand():
    """Independent arithmetic: x = (1, 2, 3) vs bar from (0, 1, 2, 3, 4)
    with scale 1: d = 0, then shift by 1.5."""
    target = stats.Target((0.0, 1.0, 2.0, 3.0, 4.0))
    # s_x^2/m = 1/3; se_T^2 = 2.5/5 = 0.5; SE^2 = 5/6
    # df = (5/6)^2 / ((1/3)^2/2 + 0.5^2/4) = 0.69444 / 0.118056 = 5.882
    v = stats.judge([2.5, 3.5, 4.5], target, confidence=0.95)
    assert v.margin == pytest.approx(1.5)
    assert v.stderr == pytest.approx(math.sqrt(5 / 6))
    assert v.df == pytest.approx((25 / 36) / (1 / 18 + 1 / 16))
    # t = 1.643 < t_0.95(5.88) = 1.95: undecided; at 80% (q = 0.906) passes
    assert v.verdict == "undecided"
    assert stats.judge([2.5, 3.5, 4.5], target, confidence=0.80).verdict == "passes"


def test_one_seed_borrows_the_baselines_spread():
    target = stats.Target.from_baseline(BASE)
    sd = np.std(BASE, ddof=1)
    se = sd * math.sqrt(1 + 0.995 ** 2 / 5)
    q = sp.t.ppf(0.90, 4)
    just_above = target.mean + 1.01 * q * se
    just_below = target.mean + 0.99 * q * se
    v = stats.judge([just_above], target)
    assert v.verdict == "passes" and v.df == pytest.approx(4)
    assert v.stderr == pytest.approx(se)
    assert "one seed" in v.test
    assert stats.judge([just_below], target).verdict == "undecided"
    assert stats.judge([target.mean - 1.01 * q * se], target).verdict == "fails"


def test_one_seed_with_an_assumed_spread_is_a_z_test_when_the_bar_is_exact():
    target = stats.Target.from_baseline([0.90])        # one baseline seed
    q = sp.norm.ppf(0.9)
    assert stats.judge([0.8955 + 1.01 * q * 0.002], target,
                       seed_sd=0.002).verdict == "passes"
    assert stats.judge([0.8955 + 0.99 * q * 0.002], target,
                       seed_sd=0.002).verdict == "undecided"
    # Nothing estimates the noise: undecided whatever the margin.
    v = stats.judge([0.99], target)
    assert v.verdict == "undecided" and v.test == "none"


def test_a_failed_seed_fails_the_cell():
    target = stats.Target.from_baseline(BASE)
    v = stats.judge([0.95, None, 0.95], target)
    assert v.verdict == "fails" and v.test == "failed seeds"
    assert stats.judge([float("nan")], target).verdict == "fails"


def test_loss_bound_is_lower_is_better():
    target = stats.Target.loss_bound([0.30, 0.31, 0.29])   # bar 0.36
    assert target.mean == pytest.approx(0.36)
    assert stats.judge([0.30, 0.301, 0.299], target).verdict == "passes"
    v = stats.judge([0.45, 0.451, 0.449], target)
    assert v.verdict == "fails" and v.margin == pytest.approx(-0.09)


def test_bootstrap_decides_clear_cases_and_refuses_one_seed():
    target = stats.Target.from_baseline(BASE)
    hi = [target.mean + 0.02 + d for d in (-0.001, 0.0, 0.001)]
    lo = [target.mean - 0.02 + d for d in (-0.001, 0.0, 0.001)]
    assert stats.judge(hi, target, test="bootstrap").verdict == "passes"
    assert stats.judge(lo, target, test="bootstrap").verdict == "fails"
    near = [target.mean + 0.0005 + d for d in (-0.001, 0.0, 0.001)]
    assert stats.judge(near, target, test="bootstrap").verdict == "undecided"
    assert stats.judge([0.99], target, test="bootstrap").verdict == "undecided"
    with pytest.raises(ValueError, match="welch' or 'bootstrap"):
        stats.judge(hi, target, test="z")


def test_combine():
    t = stats.Target.from_baseline(BASE)
    yes = stats.judge([0.99, 0.991], t)
    no = stats.judge([0.5, 0.51], t)
    maybe = stats.judge([t.mean, t.mean + 1e-4], t)
    assert stats.combine(yes, yes) == "passes"
    assert stats.combine(yes, maybe) == "undecided"
    assert stats.combine(maybe, no) == "fails"


def test_brackets_first_fail():
    v = {256: "passes", 512: "passes", 1024: "undecided", 2048: "fails",
         4096: "fails", 8192: "passes"}
    b = stats.brackets(v)
    assert (b["lo"], b["hi"]) == (512, 2048)
    assert b["undecided"] == [1024]
    assert b["non_monotone"] == [8192]


def test_brackets_last_pass():
    v = {256: "passes", 1024: "fails", 4096: "passes", 8192: "undecided",
         16384: "fails", 32768: "undecided"}
    b = stats.brackets(v, rule="last_pass")
    assert (b["lo"], b["hi"]) == (4096, 16384)
    assert b["undecided"] == [8192, 32768]
    assert b["non_monotone"] == [1024]


def test_brackets_edges():
    assert stats.brackets({256: "passes", 512: "passes"}) == dict(
        lo=512, hi=None, undecided=[], non_monotone=[])
    assert stats.brackets({256: "fails"}, rule="last_pass")["lo"] is None
    with pytest.raises(ValueError, match="batch 256"):
        stats.brackets({256: "maybe"})


def test_a_one_seed_baseline_borrows_the_cells_spread():
    target = stats.Target.from_baseline([0.90])
    cell = [0.91, 0.912, 0.914]
    v = stats.judge(cell, target)
    s2 = np.var(cell, ddof=1)
    assert v.stderr == pytest.approx(math.sqrt(s2 / 3 + 0.995 ** 2 * s2))
    assert v.df == pytest.approx(2)
    assert "one-seed baseline" in v.test
    q = sp.t.ppf(0.9, 2)
    assert v.verdict == ("passes" if v.margin > q * v.stderr else "undecided")
    # margin 0.0002 < t_0.9(2) x 0.0002 x sqrt(1/3 + 0.995^2) = 0.00043
    assert stats.judge([0.8957, 0.8959, 0.8955], target).verdict == "undecided"
