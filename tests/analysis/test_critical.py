"""The empirical critical batch: steps to target and McCandlish et al.'s fit."""
import importlib.util
import json
import math
import os

import numpy as np
import pytest

from limitbatch_tf.analysis import critical, store
from fake_store import write_trial

_TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools",
                     "critical_batch.py")
spec = importlib.util.spec_from_file_location("critical_tool", _TOOL)
critical_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(critical_tool)

SIZES = [256, 512, 1024, 2048, 4096, 8192, 16384]


def test_fit_recovers_a_known_critical_batch():
    s_min, b_crit = 120.0, 1500.0
    steps = [s_min * (1 + b_crit / b) for b in SIZES]
    f = critical.fit(SIZES, steps)
    assert f.b_crit == pytest.approx(b_crit, rel=1e-9)
    assert f.s_min == pytest.approx(s_min, rel=1e-9)
    # McCandlish et al. Eq. 2.11: (S/S_min - 1)(E/E_min - 1) = 1
    for b, s in zip(SIZES, steps):
        assert (s / f.s_min - 1) * (b * s / f.e_min - 1) == pytest.approx(1)


def test_fit_recovers_b_crit_within_5_percent_from_noisy_steps():
    rng = np.random.default_rng(1)
    s_min, b_crit = 120.0, 1500.0
    steps = [s_min * (1 + b_crit / b) * (1 + 0.03 * rng.standard_normal())
             for b in SIZES]
    assert critical.fit(SIZES, steps).b_crit == pytest.approx(b_crit, rel=0.05)


def test_fit_refuses_what_is_not_a_trade_off():
    with pytest.raises(critical.CriticalError, match="two batch sizes"):
        critical.fit([256, 256], [10, 12])
    with pytest.raises(critical.CriticalError, match="do not trade off"):
        critical.fit([256, 512, 1024], [100, 200, 400])


def _curve_run(root, name, batch, steps_needed, seed=0, lr=0.1, reach=True,
               optimizer="lamb", final=None, epochs=30.0):
    """Evaluations every 10 steps; validation accuracy reaches 0.9 at the
    first evaluation at or after ``steps_needed``, and ends at ``final``
    when given (the recipe pick reads it); the test accuracy is 0.9 from
    the start (the curve must not be read from it)."""
    history = []
    for step in range(10, 10 * (steps_needed // 10 + 3), 10):
        val = 0.9 if reach and step >= steps_needed else 0.5
        history.append(dict(step=step, epoch=step * batch / 60000,
                            eval_accuracy=0.95, eval_loss=0.3,
                            validation_accuracy=val))
    if final is not None:
        history[-1]["validation_accuracy"] = final
    write_trial(root, name, batch, 0.95, history=history, seed=seed, lr=lr,
                optimizer=optimizer, epochs=epochs)


def test_steps_to_target_reads_the_validation_picked_recipe(tmp_path):
    """S(B) is the validation pick's, not the fastest cell's (a minimum over
    noisy cells is biased low), among full-length schedules only."""
    _curve_run(tmp_path, "a", 1024, 200, lr=0.1, final=0.93)  # the pick
    _curve_run(tmp_path, "b", 1024, 100, lr=0.2, final=0.91)  # faster
    _curve_run(tmp_path, "c0", 1024, 50, lr=0.4, final=0.95)  # fastest, but
    _curve_run(tmp_path, "c1", 1024, 50, lr=0.4, seed=1, reach=False)  # a seed never reaches
    _curve_run(tmp_path, "r", 1024, 20, lr=0.3, final=0.97, epochs=10.0)  # a rung
    _curve_run(tmp_path, "d0", 4096, 40, lr=0.4)
    _curve_run(tmp_path, "d1", 4096, 60, lr=0.4, seed=1)
    _curve_run(tmp_path, "e", 8192, 30, lr=0.8, reach=False, final=0.89)  # pick
    _curve_run(tmp_path, "f", 8192, 30, lr=1.6, final=0.88)  # never picked
    trials = store.load_store(str(tmp_path))
    points = critical.steps_to_target(trials, 0.9)
    assert [(p.batch_size, p.steps) for p in points] == [(1024, [200]),
                                                         (4096, [40, 60])]
    assert points[0].paths[0].endswith(os.path.join("a", "results.json"))
    assert points[1].examples == 50 * 4096
    assert critical.first_step(trials[0], 0.99) is None
    # the test accuracy is 0.95 at step 10 everywhere
    assert critical.steps_to_target(trials, 0.9, "eval_accuracy")[0].steps == [10]


def test_bootstrap_keeps_draws_without_a_floor_as_unbounded():
    """Steps that fall as 1/B in some resamples (S_min <= 0) are B_crit =
    inf draws: the upper end is unbounded, not the largest finite draw."""
    points = [critical.Point(256, [400, 400], "a", []),
              critical.Point(512, [100, 300], "b", []),
              critical.Point(1024, [90, 110], "c", [])]
    (lo, hi), _, draws = critical.bootstrap(points, resamples=400)
    assert draws > 300 and math.isinf(hi) and lo < 1e4
    assert critical.bound(hi) == "unbounded" and critical.bound(2048.4) == "2,048"


def test_critical_batch_and_bootstrap_interval(tmp_path):
    s_min, b_crit = 40, 2000
    rng = np.random.default_rng(0)
    for b in SIZES:
        for seed in range(3):
            need = int(s_min * (1 + b_crit / b) * (1 + 0.05 * rng.standard_normal()))
            _curve_run(tmp_path, f"b{b}s{seed}", b, need, seed=seed)
    result = critical.critical_batch(store.load_store(str(tmp_path)), 0.9,
                                     resamples=500)
    assert result.metric == "validation_accuracy"
    lo, hi = result.b_crit_interval
    assert lo < result.fit.b_crit < hi
    assert lo < b_crit < hi
    # evaluations every 10 steps round S up: still within ~10% here
    assert result.fit.b_crit == pytest.approx(b_crit, rel=0.15)
    assert result.draws > 400


def test_tool(tmp_path, capsys):
    for seed, acc in enumerate((0.89, 0.90)):   # baseline: val 0.895 mean
        write_trial(tmp_path / "base", f"s{seed}", 256, acc, seed=seed,
                    lr=0.05, lr_scaling="none",
                    history=[dict(step=100, epoch=30, eval_accuracy=acc,
                                  validation_accuracy=acc)])
    for b, need in ((256, 900), (1024, 300), (4096, 150)):
        _curve_run(tmp_path / "sweep", f"b{b}", b, need)
    args = [str(tmp_path / "sweep"), "--baseline_store", str(tmp_path / "base")]
    assert critical_tool.main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["target"] == pytest.approx(0.995 * 0.895)
    assert [p["mean_steps"] for p in data["points"]] == [900, 300, 150]
    assert data["b_crit"] > 0 and len(data["b_crit_interval"]) == 2
    assert critical_tool.main(args) == 0
    assert "B_crit = " in capsys.readouterr().out
    assert critical_tool.main(args + ["--target", "0.99"]) == 2
    assert "the fit needs two or more" in capsys.readouterr().err


@pytest.mark.parametrize("flag, message", [
    (["--confidence", "1"], "--confidence must lie in (0, 1)"),
    (["--fraction", "0"], "--fraction must lie in (0, 1]"),
    (["--resamples", "0"], "--resamples must be >= 1")])
def test_tool_bad_flags(tmp_path, capsys, flag, message):
    assert critical_tool.main([str(tmp_path)] + flag) == 2
    assert message in capsys.readouterr().err
