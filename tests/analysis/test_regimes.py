"""Regime classification on synthetic stores with known answers.

Stores with one seed per cell test the definitions under the paper's
literal (point-estimate) reading; the statistical reading has its own
cases below.
"""
import pytest

from limitbatch_tf.analysis import regime_text, regimes, store
from fake_store import write_trial
import importlib.util
import json
import os

_TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "regimes.py")
spec = importlib.util.spec_from_file_location("regimes_tool", _TOOL)
regimes_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(regimes_tool)


def _sweep(root):
    # Baseline A = 0.90 (five seeds, sd 0.0008), xi = 0.30; target 0.8955,
    # loss <= 0.36. One seed decides at 90% when its margin clears
    # t_0.9(4) x 0.0008 x sqrt(1 + 0.995^2 / 5) = 0.0013.
    for seed, acc in enumerate((0.901, 0.899, 0.900, 0.9005, 0.8995)):
        write_trial(root, f"b256s{seed}", 256, acc, seed=seed)
    write_trial(root, "b1k", 1024, 0.899)
    write_trial(root, "b2k", 2048, 0.897)
    write_trial(root, "b4k_lin", 4096, 0.880)                 # linear fails
    write_trial(root, "b4k_lars", 4096, 0.898, optimizer="lars", tag="lars")
    write_trial(root, "b8k_lin", 8192, 0.0, status="diverged")
    write_trial(root, "b8k_lars", 8192, 0.8956, optimizer="lars", tag="lars")
    write_trial(root, "b16k_lars", 16384, 0.85, optimizer="lars", tag="lars")
    write_trial(root, "b60k_lars", 60000, 0.80, optimizer="lars", tag="lars")


def test_boundaries_and_evidence(tmp_path):
    _sweep(tmp_path)
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.baseline.batch_size == 256
    assert report.baseline.accuracy == pytest.approx(0.90)
    assert report.target_accuracy == pytest.approx(0.8955)
    assert (report.b_l, report.b_h, report.b_f) == (4096, 8192, 60000)
    rows = {r.batch_size: r for r in report.rows}
    assert rows[2048].linear_ok and not rows[4096].linear_ok
    assert rows[8192].linear_ok is False            # diverged counts as failure
    assert rows[16384].linear_ok is None            # not tried
    assert rows[8192].pick.trials[0].optimizer == "lars"
    assert rows[16384].any_ok is False
    # B_H's bracket [8192, 16384) is a 2x gap: no finer grid asked for.
    assert report.b_h_bracket == dict(lo=8192, hi=16384, undecided=[],
                                      non_monotone=[])
    assert not any("finer grid" in f for f in report.flags)
    # 0.8956 vs the bar 0.8955, one seed: the statistical reading cannot
    # tell (the bar's standard error is 0.001), and says where to add seeds.
    stat = regimes.classify(store.load_store(str(tmp_path)))
    rows = {r.batch_size: r for r in stat.rows}
    assert rows[8192].verdict.verdict == "undecided"
    assert stat.b_h_bracket["lo"] == 4096 and stat.b_h_bracket["undecided"] == [8192]
    assert any(m.startswith("B=8192 lars") for m in stat.more_seeds)


def test_loss_criterion_can_fail_linear_scaling(tmp_path):
    write_trial(tmp_path, "base", 256, 0.90, loss=0.30)
    write_trial(tmp_path, "big", 1024, 0.90, loss=0.40)   # > 1.2 xi
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.b_l == 1024 and report.b_h == 1024


def test_non_monotone_is_flagged(tmp_path):
    write_trial(tmp_path, "base", 256, 0.90)
    write_trial(tmp_path, "b512", 512, 0.85)
    write_trial(tmp_path, "b1k", 1024, 0.90)
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.b_l == 512 and report.b_h == 1024
    assert any("non-monotone" in f for f in report.flags)


def test_an_unstable_run_is_a_failure_not_its_accuracy_at_the_stop(tmp_path):
    # Stopped a few steps in with the target accuracy on its last evaluation
    # (the stop rule fired on the loss): neither a success nor a best accuracy.
    write_trial(tmp_path, "base", 256, 0.90)
    write_trial(tmp_path, "stopped", 1024, 0.90, status="unstable")
    write_trial(tmp_path, "dead", 1024, 0.10, lr=0.2)
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    row = report.rows[1]
    assert row.linear_ok is False and not row.any_ok
    assert row.best_accuracy == pytest.approx(0.10)
    assert report.b_l == 1024 and report.b_h == 256


def test_ties_at_the_target_count_as_reached(tmp_path):
    write_trial(tmp_path, "base", 256, 0.80)
    write_trial(tmp_path, "tie", 512, 0.796)   # exactly 0.995 * 0.80
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.rows[1].any_ok and report.b_h == 512


def test_runs_longer_than_rho_are_judged_at_rho(tmp_path):
    write_trial(tmp_path, "base", 256, 0.90, epochs=30)
    write_trial(tmp_path, "long", 4096, 0.95, epochs=300, optimizer="lars",
                history=[dict(step=5, epoch=30, eval_accuracy=0.70, eval_loss=1),
                         dict(step=50, epoch=300, eval_accuracy=0.95, eval_loss=.2)])
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.b_h == 256 and report.rows[1].best_accuracy == pytest.approx(0.70)


def test_finer_grid_flag_only_when_nothing_ran_inside_the_bracket(tmp_path):
    write_trial(tmp_path, "base", 256, 0.90)
    write_trial(tmp_path, "b1k", 1024, 0.90, optimizer="lars")
    write_trial(tmp_path, "b8k", 8192, 0.50, optimizer="lars")
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert "B_H: finer grid needed between 1024 and 8192" in report.flags
    write_trial(tmp_path, "b4k", 4096, 0.50, optimizer="lars")
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert "B_H: finer grid needed between 1024 and 4096" in report.flags


def test_missing_baseline_is_a_clear_error(tmp_path):
    write_trial(tmp_path, "lars", 4096, 0.9, optimizer="lars")
    with pytest.raises(regimes.RegimeError, match="no finished baseline run"):
        regimes.classify(store.load_store(str(tmp_path)), reading="literal")


def test_tool(tmp_path, capsys):
    _sweep(tmp_path / "store")
    assert regimes_tool.main([str(tmp_path / "store"), "--literal"]) == 0
    out = capsys.readouterr().out
    assert "B_L = 4096" in out and "B_H = 8192" in out and "B_F = 60000" in out
    assert "B_H in [4096, 16384)" in out          # the statistical reading
    assert "undecided at [8192]: more seeds would decide" in out
    assert regimes_tool.main([str(tmp_path / "store"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["B_H"]["bracket"] == [4096, 16384]
    assert data["B_L"]["bracket"] == [2048, 4096]
    assert data["B_F"] == 60000 and data["confidence"] == 0.9
    assert data["B_L"]["deciding"]["hi"][0].endswith("b4k_lin/results.json")
    assert regimes_tool.main([str(tmp_path / "nothing")]) == 2
    assert "no such results store" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{")
    assert regimes_tool.main([str(tmp_path / "bad")]) == 2
    assert "malformed JSON" in capsys.readouterr().err
    assert regimes_tool.main([str(tmp_path / "store"), "--confidence", "1.5"]) == 2
    assert "--confidence must lie in (0.5, 1)" in capsys.readouterr().err


def test_named_baseline_store_wins_over_better_recipes_at_b0(tmp_path):
    """A tuned recipe at B0 in the sweep must not replace the baseline:
    --baseline_store names it (its seeds), and targets follow from it."""
    write_trial(tmp_path / "base", "s0", 256, 0.880, lr=0.05, lr_scaling="none")
    write_trial(tmp_path / "base", "s1", 256, 0.882, lr=0.05, seed=1,
                lr_scaling="none")
    write_trial(tmp_path / "sweep", "tuned256", 256, 0.910, lr=0.4,
                lr_scaling="sqrt")
    write_trial(tmp_path / "sweep", "lin1k", 1024, 0.878, lr=0.05)
    baseline = store.load_store(str(tmp_path / "base"))
    report = regimes.classify(store.load_store(str(tmp_path / "sweep")),
                              baseline_trials=baseline, reading="literal")
    assert report.baseline.accuracy == pytest.approx(0.881)
    assert report.baseline.num_seeds == 2
    assert {r.batch_size: r.linear_ok for r in report.rows}[1024] is True
    # without naming it, the better tuned recipe at 256 becomes the baseline
    merged = store.load_store(str(tmp_path))
    assert regimes.classify(merged).baseline.accuracy == pytest.approx(0.910)
    assert regimes_tool.main([str(tmp_path / "sweep"), "--baseline_store",
                              str(tmp_path / "base")]) == 0


def test_a_flag_added_later_at_its_default_is_the_same_recipe(tmp_path):
    """Seeds run before and after a new flag existed group as one recipe."""
    write_trial(tmp_path, "s0", 256, 0.88)
    write_trial(tmp_path, "s1", 256, 0.90, seed=1,
                config_extra={"precision": "auto", "jit_compile": False})
    write_trial(tmp_path, "s2", 256, 0.70, seed=2,
                config_extra={"precision": "mixed_float16"})  # a real change
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.baseline.num_seeds == 2
    assert report.baseline.accuracy == pytest.approx(0.89)


def test_step_rounding_past_rho_is_not_a_longer_run(tmp_path):
    """--epochs=30 at B=8192 on 55K runs 202 steps = 30.09 epochs: judged by
    its final accuracy, like the baseline's 30.003 epochs, not at epoch 29."""
    write_trial(tmp_path, "base", 256, 0.90, epochs=30.0032, num_train=55000,
                config_extra={"epochs": 30})
    write_trial(tmp_path, "b8k", 8192, 0.90, epochs=30.09, num_train=55000,
                optimizer="lars", config_extra={"epochs": 30},
                history=[dict(step=195, epoch=29.05, eval_accuracy=0.5,
                              eval_loss=1.0),
                         dict(step=202, epoch=30.09, eval_accuracy=0.90,
                              eval_loss=0.3)])
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.baseline.epochs == 30
    assert report.rows[1].best_accuracy == pytest.approx(0.90)


# ---- the statistical reading (issue 17) ---------------------------------

def _val_run(root, name, batch, test, val, **kw):
    """A run whose evaluations carry validation accuracy too."""
    history = [dict(step=10, epoch=kw.get("epochs", 30.0), eval_accuracy=test,
                    eval_loss=0.3, validation_accuracy=val)]
    write_trial(root, name, batch, test, history=history, **kw)


BASE5 = (0.8877, 0.8921, 0.8965, 0.8899, 0.8943)   # sd 0.0034, se 0.0015


def _baseline(root, accs=BASE5):
    for seed, acc in enumerate(accs):
        _val_run(root, f"base{seed}", 256, acc, acc, seed=seed, lr=0.05,
                 lr_scaling="none")


def test_a_marginal_cell_is_undecided_but_passes_literally(tmp_path):
    """Margin below the bar's standard error: 3 tight seeds 0.0010 above."""
    _baseline(tmp_path)
    bar = 0.995 * sum(BASE5) / 5
    for seed, d in enumerate((-0.0003, 0.0, 0.0003)):
        _val_run(tmp_path, f"lamb{seed}", 8192, bar + 0.0010 + d, 0.9,
                 seed=seed, optimizer="lamb")
    trials = store.load_store(str(tmp_path))
    stat = regimes.classify(trials)
    assert stat.target.stderr > 0.0010
    row = stat.rows[-1]
    assert row.batch_size == 8192 and row.pick.n == 3
    assert row.verdict.verdict == "undecided"
    assert stat.b_h_bracket["undecided"] == [8192]
    literal = regimes.classify(trials, reading="literal")
    assert literal.rows[-1].verdict.verdict == "passes" and literal.b_h == 8192
    # ten standard errors clear: decided
    for seed, d in enumerate((-0.0003, 0.0, 0.0003)):
        _val_run(tmp_path, f"lamb{seed}", 8192, bar + 0.02 + d, 0.9,
                 seed=seed, optimizer="lamb")
    assert regimes.classify(store.load_store(str(tmp_path))).b_h == 8192


def test_warmup_and_decay_at_2x_is_not_linear_scaling_evidence(tmp_path):
    """The baseline's peak LR x 2 at 2 x B0, but with warmup and poly
    decay: a different recipe, so Definition 2.1 is untested there."""
    _baseline(tmp_path)
    _val_run(tmp_path, "warm512", 512, 0.91, 0.91, lr=0.05,
             config_extra=dict(warmup_epochs=2, lr_decay="poly"))
    _val_run(tmp_path, "lin1k", 1024, 0.80, 0.80, lr=0.05)
    # micro-batching is not a recipe change (gradient accumulation)
    _val_run(tmp_path, "micro2k", 2048, 0.70, 0.70, lr=0.05,
             config_extra=dict(micro_batch_size=128))
    # nor is a different number of epochs... it is: not evidence
    _val_run(tmp_path, "long4k", 4096, 0.91, 0.91, lr=0.05, epochs=60.0,
             config_extra=dict(epochs=60.0))
    report = regimes.classify(store.load_store(str(tmp_path)))
    rows = {r.batch_size: r for r in report.rows}
    assert rows[512].linear is None and rows[512].linear_verdict is None
    assert rows[512].verdict.verdict == "passes"     # any technique, though
    assert rows[1024].linear_verdict == "fails"
    assert rows[2048].linear_verdict == "fails"
    assert rows[4096].linear is None
    assert report.b_l_bracket["lo"] == 256 and report.b_l_bracket["hi"] == 1024
    assert not report.flags or not any("non-monotone" in f for f in report.flags)


def test_picks_are_made_on_validation_never_on_test(tmp_path):
    # Two baseline recipes at B0: the better *validation* one is the
    # baseline, although the other has the better test accuracy.
    for seed in (0, 1):
        _val_run(tmp_path / "b", f"lr05_{seed}", 256, 0.880 + seed / 1000,
                 0.90, lr=0.05, lr_scaling="none", seed=seed)
        _val_run(tmp_path / "b", f"lr2_{seed}", 256, 0.920 + seed / 1000,
                 0.85, lr=0.2, lr_scaling="none", seed=seed)
    # At 4096: the validation pick has test 0.80; another cell 0.95.
    _val_run(tmp_path / "s", "val_pick", 4096, 0.80, 0.93, optimizer="lars",
             lr=1.0)
    _val_run(tmp_path / "s", "test_best", 4096, 0.95, 0.70, optimizer="lars",
             lr=4.0)
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    assert report.baseline.accuracy == pytest.approx(0.8805)
    assert report.baseline.picked_on == "validation"
    row = report.rows[-1]
    assert row.picked_on == "validation"
    assert row.best_accuracy == pytest.approx(0.80)
    assert row.verdict.verdict == "fails" and report.b_h == 256


def test_a_store_without_validation_picks_on_test_and_says_so(tmp_path):
    write_trial(tmp_path, "base", 256, 0.90)
    write_trial(tmp_path, "a", 1024, 0.85, optimizer="adam", lr=0.1)
    write_trial(tmp_path, "b", 1024, 0.89, optimizer="adam", lr=0.2)
    report = regimes.classify(store.load_store(str(tmp_path)), reading="literal")
    row = report.rows[-1]
    assert row.picked_on == "test" and row.best_accuracy == pytest.approx(0.89)
    assert "picked on test accuracy: no validation split" in row.flags
    assert "picked on test accuracy" in regime_text.format_report(report)


def test_error_ratio_reading_loosens_the_bar(tmp_path):
    _baseline(tmp_path)
    a = sum(BASE5) / 5
    _val_run(tmp_path, "b4k", 4096, a - 0.05, 0.8, optimizer="lamb")
    trials = store.load_store(str(tmp_path))
    paper = regimes.classify(trials)
    ratio = regimes.classify(trials, bar="error_ratio", ratio=1.625)
    assert ratio.target.mean == pytest.approx(1 - 1.625 * (1 - a))
    # a - 0.05 misses 99.5% of A but is within 1.625 x the error
    assert paper.rows[-1].verdict.verdict == "fails"
    assert ratio.rows[-1].verdict.verdict == "passes"
    assert regimes.MNIST_ERROR_RATIO == pytest.approx(1.625)


def test_tool_two_baselines_and_readings(tmp_path, capsys):
    _baseline(tmp_path / "paper")
    for seed in range(5):
        _val_run(tmp_path / "tuned", f"t{seed}", 256, 0.908 + seed / 2000,
                 0.91, seed=seed, lr=0.025, lr_scaling="sqrt",
                 config_extra=dict(warmup_epochs=2, lr_decay="poly"))
    _val_run(tmp_path / "sweep", "b4k", 4096, 0.8960, 0.9, optimizer="lamb")
    _val_run(tmp_path / "sweep", "b8k", 8192, 0.60, 0.6, optimizer="lamb")
    argv = [str(tmp_path / "sweep"), "--baseline_store",
            f"paper={tmp_path / 'paper'}", "--baseline_store",
            f"tuned={tmp_path / 'tuned'}", "--literal", "--error_ratio",
            "1.625", "--json"]
    assert regimes_tool.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["readings"]) == {
        "paper", "paper, literal", "paper, error ratio 1.625",
        "tuned", "tuned, literal", "tuned, error ratio 1.625"}
    assert data["B_H"]["bracket"] == [4096, 8192]      # the first reading
    # under the tuned baseline (A ~ 0.909) 0.896 misses 99.5% of A
    assert data["readings"]["tuned"]["B_H"]["bracket"] == [256, 4096]
    assert data["readings"]["tuned, literal"]["confidence"] is None
    assert regimes_tool.main(argv[:-1]) == 0
    out = capsys.readouterr().out
    assert "baseline 'tuned, literal'" in out and "B_H in [256, 4096)" in out


def test_a_seed_run_twice_counts_once(tmp_path):
    _baseline(tmp_path)
    _val_run(tmp_path / "grid", "s0", 4096, 0.89, 0.9, optimizer="lamb")
    for seed in (0, 1, 2):
        _val_run(tmp_path / "seeds", f"s{seed}", 4096, 0.89 + seed / 1000,
                 0.9, optimizer="lamb", seed=seed)
    report = regimes.classify(store.load_store(str(tmp_path)))
    assert report.rows[-1].pick.n == 3
    assert [t.seed for t in report.rows[-1].pick.trials] == [0, 1, 2]


def test_tool_bootstrap_test(tmp_path, capsys):
    _baseline(tmp_path)
    for seed, d in enumerate((-0.001, 0.0, 0.001)):
        _val_run(tmp_path, f"far{seed}", 4096, 0.95 + d, 0.9, seed=seed,
                 optimizer="lamb")
        _val_run(tmp_path, f"low{seed}", 8192, 0.70 + d, 0.9, seed=seed,
                 optimizer="lamb")
    assert regimes_tool.main([str(tmp_path), "--test", "bootstrap",
                              "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["B_H"]["bracket"] == [4096, 8192]
    rows = {r["batch_size"]: r for r in data["readings"]["baseline"]["rows"]}
    assert rows[4096]["verdict"]["test"].startswith("bootstrap")
