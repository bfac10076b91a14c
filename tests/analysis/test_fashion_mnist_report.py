"""experiments/fashion_mnist/report.py on fake stores with known answers."""
import importlib.util
import json
import math
import os

from fake_store import write_trial

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments",
                       "fashion_mnist", "report.py")
spec = importlib.util.spec_from_file_location("fmnist_report", _SCRIPT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def _run(root, name, batch, test, val, step=10, **kw):
    history = [dict(step=step, epoch=kw.get("epochs", 30.0), eval_accuracy=test,
                    eval_loss=0.3, validation_accuracy=val)]
    write_trial(root, name, batch, test, history=history, num_train=55000, **kw)


def test_report_tables_pick_by_validation_and_name_failures(tmp_path):
    res = tmp_path / "results"
    for seed, (acc, ns) in enumerate([(0.88, 1000.0), (0.90, 1200.0)]):
        _run(res / "baseline", f"s{seed}", 256, acc, acc, seed=seed,
             lr=0.05, lr_scaling="none",
             telemetry={"noise_scale": {"b_simple": ns}})
    # LR picked by validation (0.85) although another has better test (0.87)
    _run(res / "table3" / "sgd", "lr1", 8192, 0.87, 0.80, lr=0.1, lr_scaling="none")
    _run(res / "table3" / "sgd", "lr2", 8192, 0.86, 0.85, lr=0.4, lr_scaling="none")
    (res / "table3" / "sgd" / "sweep.json").write_text(
        '{"config": "c.yaml", "axes": {"learning_rate": [0.1, 0.4]}, "set": {}}')
    # an interrupted sweep writes its sweep.json too: 1 of 3 LRs is partial
    _run(res / "table3" / "lars", "lr1", 8192, 0.8, 0.8, optimizer="lars",
         lr_scaling="none")
    (res / "table3" / "lars" / "sweep.json").write_text(
        '{"config": "c.yaml", "axes": {"batch_size": ["8192"], "seed": [0], '
        '"learning_rate": [2, 8, 32]}, "set": {}}')
    write_trial(res / "table3" / "adam", "a", 8192, 0.0, status="diverged")
    write_trial(res / "table3" / "rmsprop", "a", 8192, 0.0, status="diverged")
    write_trial(res / "table3" / "rmsprop", "b", 8192, 0.5, status="unstable")
    _run(res / "regime" / "linear", "l1k", 1024, 0.887, 0.887, lr=0.05)
    _run(res / "regime" / "linear", "l4k", 4096, 0.80, 0.80, lr=0.05)
    _run(res / "regime" / "lars", "l4k", 4096, 0.89, 0.89, optimizer="lars",
         lr_scaling="sqrt")
    for seed, acc in ((1, 0.885), (2, 0.89)):   # a boundary check's seeds
        _run(res / "regime" / "lamb_seeds", f"s{seed}", 4096, acc, acc,
             seed=seed, optimizer="lamb", lr_scaling="sqrt")
    out = tmp_path / "REPORT.md"
    out.write_text("# hand-written intro\n\n<!-- generated:begin -->\nSTALE TEXT\n"
                   "<!-- generated:end -->\n\nhand-written end\n")
    assert report.main(["--results", str(res), "--report", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# hand-written intro") and "hand-written end" in text
    assert "STALE TEXT" not in text
    assert "| mean +- std | 89.00% +- 1.41 |" in text
    assert "86.0% (lr 0.4, grid edge) / diverge" in text  # validation pick
    assert "diverge (step 5) [partial: 1 run(s)] / 99.1%" in text  # adam
    assert "unstable [partial: 2 run(s)] / 98.6%" in text          # rmsprop
    assert "80.0% (lr 0.1) [partial: 1 run(s)] / 99.4%" in text    # lars
    assert "| seeds 1, 2: 88.5%, 89.0% |" in text
    # 80% < 88.56% fails; 88.7% is within the noise of a 2-seed baseline
    assert "B_L in (256, 4096]" in text and "undecided at [1024]" in text
    # The reading the forecast study compares find_limit with is this one.
    reading = report.map_reading(str(res))
    assert (reading.b_l_bracket["lo"], reading.b_l_bracket["hi"]) == (256, 4096)
    assert report.map_reading(str(tmp_path / "absent")) is None
    assert "B_simple at the end of the baseline runs: 1100" in text
    assert (tmp_path / "figures" / "accuracy_vs_batch.png").stat().st_size > 0
    assert "`table3/sgd`: c.yaml; learning_rate=0.1,0.4" in text


def test_partial_counts_only_the_batch_sizes_of_the_last_sweep(tmp_path):
    # regime(): a second sweep extends the momentum grid at B >= 4096 only;
    # its sweep.json must not mark the smaller batch sizes partial.
    folder = tmp_path / "momentum"
    folder.mkdir()
    (folder / "sweep.json").write_text(
        '{"config": "c.yaml", "axes": {"batch_size": ["4096", "full"], '
        '"seed": [0], "learning_rate": [0.001, 0.01, 0.1, 1, 10]}, "set": {}}')
    assert report._expected_runs(str(folder), 256) == 0
    assert report._expected_runs(str(folder), 4096) == 5
    assert report._expected_runs(str(folder), 55000) == 5   # 'full'
    assert report._expected_runs(str(folder)) == 5


def test_grid_grows_past_the_edge_its_best_value_sits_on():
    spec = importlib.util.spec_from_file_location(
        "grow_grid", os.path.join(os.path.dirname(_SCRIPT), "grow_grid.py"))
    grow = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grow)
    grid = ["0.0000625", "0.00025", "0.001"]       # strings name the trials
    assert grow.grown(0.0000625, grid) == ["1.5625e-05"] + grid
    assert grow.grown(0.001, grid) == grid + ["0.004"]
    assert grow.grown(0.00025, grid) is None        # interior: done
    assert grow.grown(None, grid) is None           # nothing finished


def test_review_sections_say_not_run_yet_without_their_stores(tmp_path):
    res = tmp_path / "results"
    for seed, acc in enumerate((0.88, 0.89, 0.90)):
        _run(res / "baseline", f"s{seed}", 256, acc, acc, seed=seed, lr=0.05,
             lr_scaling="none", telemetry={"noise_scale": {"b_simple": 900.0}})
    _run(res / "regime" / "lamb", "b4k", 4096, 0.89, 0.89, optimizer="lamb")
    text = report.generate(str(res), str(tmp_path / "figures"))
    assert "### Tuned baseline, B = 256 (issue 17)\n\nnot run yet" in text
    assert "### Table 3, bounds that engage (issue 17)\n\nnot run yet" in text
    assert "### Train longer (part 4)\n\nnot run yet" in text
    assert "The tuned baseline: not run yet." in text
    assert "LAMB, warmup 5/10/15 epochs, x2 LRs" in text   # in "Not run yet"
    assert "#### Empirical critical batch (issue 19)\n\nnot available" in text


def _curve(root, name, batch, reach_step, val=0.90, **kw):
    """Validation reaches ``val`` at ``reach_step`` (evaluations every 10)."""
    history = [dict(step=s, epoch=s * batch / 55000, eval_accuracy=val,
                    eval_loss=0.3, train_loss=0.2,
                    validation_accuracy=val if s >= reach_step else 0.5,
                    noise_scale_b_simple=10.0 * s)
               for s in range(10, reach_step + 20, 10)]
    write_trial(root, name, batch, val, history=history, num_train=55000, **kw)


def test_review_stores_join_the_report(tmp_path):
    res = tmp_path / "results"
    # Paper-style baseline: A = 0.89 +- 0.01 (3 seeds); trajectories stored.
    for seed, acc in enumerate((0.88, 0.89, 0.90)):
        _curve(res / "baseline", f"s{seed}", 256, 250, val=acc, seed=seed,
               lr=0.05, lr_scaling="none")
    # Tuned baseline: A = 0.910 over 5 seeds, the LR grid beside it.
    for seed in range(5):
        _run(res / "review" / "baseline_tuned_seeds", f"s{seed}", 256,
             0.908 + seed / 1000, 0.91, seed=seed, lr=0.025,
             lr_scaling="none", config_extra=dict(warmup_epochs=2))
    _run(res / "review" / "baseline_tuned", "lr1", 256, 0.91, 0.91, lr=0.025,
         lr_scaling="none", config_extra=dict(warmup_epochs=2))
    # LAMB with long warmups at 8K (a grid over warmup) and 3 seeds of it.
    grid = res / "review" / "lamb_warmup" / "8192"
    _run(grid, "w5", 8192, 0.895, 0.89, step=60, optimizer="lamb",
         config_extra=dict(warmup_epochs=5))
    _run(grid, "w10", 8192, 0.880, 0.90, step=60, optimizer="lamb",
         config_extra=dict(warmup_epochs=10))
    (grid / "sweep.json").write_text(
        '{"config": "c.yaml", "axes": {"batch_size": ["8192"], "seed": [0], '
        '"warmup_epochs": [5, 10]}, "set": {}}')
    for seed in (1, 2):
        _run(res / "review" / "lamb_seeds" / "8192", f"s{seed}", 8192,
             0.882 + seed / 1000, 0.90, step=60, optimizer="lamb", seed=seed,
             config_extra=dict(warmup_epochs=10))
    # steps to target at two more batch sizes for the critical batch
    # S = 50 (1 + 1024 / B): 250 steps at 256 (the baseline), 100 at 1K,
    # 62.5 at 4K (evaluations every 10 steps: 70)
    _curve(res / "regime" / "lamb", "b1k", 1024, 100, optimizer="lamb")
    _curve(res / "regime" / "lamb", "b4k", 4096, 70, optimizer="lamb")
    _run(res / "review" / "table3" / "adam_layerwise_bound_tight", "a", 8192,
         0.87, 0.87, optimizer="adam")
    # three seeds each way: the bounded ones 1.0 point below (sd 0.2 each)
    for seed in range(3):
        _run(res / "review" / "table3" / "adam_layerwise_seeds", f"s{seed}",
             8192, 0.880 + seed / 500, 0.88, optimizer="adam", seed=seed)
        _run(res / "review" / "table3" / "adam_layerwise_bound_tight_seeds",
             f"s{seed}", 8192, 0.870 + seed / 500, 0.87, optimizer="adam",
             seed=seed)
    _curve(res / "review" / "longer" / "lamb_16k", "l", 16384, 60,
           val=0.80, optimizer="lamb", epochs=200.0)
    # the warmup-10 pick (validation 0.90 > 0.89), its test 88.0%, at the
    # end of its warmup axis: a lower bound, and marked so
    text = report.generate(str(res), str(tmp_path / "figures"))
    assert "88.0% (lr 3.2, warmup 10, warmup grid edge)" in text
    _run(grid, "w15", 8192, 0.870, 0.85, step=60, optimizer="lamb",
         config_extra=dict(warmup_epochs=15))
    (grid / "sweep.json").write_text(
        '{"config": "c.yaml", "axes": {"batch_size": ["8192"], "seed": [0], '
        '"warmup_epochs": [5, 10, 15]}, "set": {}}')
    text = report.generate(str(res), str(tmp_path / "figures"))
    assert "88.0% (lr 3.2, warmup 10)" in text  # interior once 15 ran
    assert "| 8192 |" in text and "seeds" in text
    assert "A = 91.00% +- 0.16 (sd; standard error 0.07 point)" in text
    assert "| paper-style | 99.5% of A: 88.56% +- 0.57 |" in text
    assert "| tuned | 99.5% of A: 90.55%" in text
    assert "| paper-style, error ratio |" in text
    assert ("| Adam | not run yet | 87.0% (lr 3.2) [partial: 1 run(s)] | "
            "seeds 0, 1, 2: 88.0%, 88.2%, 88.4% | seeds 0, 1, 2: 87.0%, "
            "87.2%, 87.4% | worse: -1.00 point +- 0.16 (p = ") in text
    assert "| RMSprop | not run yet | not run yet | not run yet | not run " \
           "yet | - |" in text
    assert "| LAMB 16K, warmup 20, 200 epochs | 16384 | 0 |" in text
    assert "| 80.0% | no |" in text              # final vs the bar
    assert "B_crit = " in text
    assert "3 of the 3 baseline runs stored B_simple at every evaluation" in text
    assert "| 1024 | 100 | 102,400 | 100 |" in text
    for name in ("accuracy_vs_batch", "accuracy_vs_batch_tuned", "train_loss",
                 "train_longer", "noise_scale", "steps_to_target"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000


def test_full_batch_rate_extrapolates_the_training_loss(tmp_path):
    """Issue 17.5: L ~ epochs^-a through the 30- and 300-epoch full-batch
    LAMB runs (0.8 -> 0.2: a = ln 4 / ln 10), extrapolated to the
    baseline's mean final training loss 0.1: 300 x 2^(1/a) epochs."""
    res = tmp_path / "results"

    def hist(epochs, loss):
        return [dict(step=10, epoch=epochs, eval_accuracy=0.8, eval_loss=0.3,
                     validation_accuracy=0.8, train_loss=loss)]
    for seed, loss in enumerate((0.08, 0.12)):
        write_trial(res / "baseline", f"s{seed}", 256, 0.9, seed=seed,
                    history=hist(30.0, loss), num_train=55000)
    write_trial(res / "regime" / "lamb", "full", 55000, 0.7, optimizer="lamb",
                history=hist(30.0, 0.8), num_train=55000)
    write_trial(res / "longer" / "lamb", "full", 55000, 0.85, optimizer="lamb",
                epochs=300.0, history=hist(300.0, 0.2), num_train=55000)
    path = res / "longer" / "lamb" / "full" / "results.json"
    data = json.loads(path.read_text())
    data["wall_time_s"] = 900.0
    path.write_text(json.dumps(data))
    baseline = report._load(str(res / "baseline"))
    text = report.full_batch_rate(str(res), baseline)
    a = math.log(4) / math.log(10)
    need = 300 * 2 ** (1 / a)
    assert f"L ~ epochs^-{a:.2f}" in text
    assert f"~{need:,.0f} epochs" in text and f"~{need * 3 / 3600:.1f} hours" in text
    assert "ends at 0.100 (mean of 2 seeds)" in text


def test_noise_run_trajectory_joins_the_noise_section(tmp_path):
    """A baseline-recipe run with the noise-scale trajectory (the forecast
    study's noise run) is drawn and read by the forecast's rule: parts
    averaged over the last third (steps > 200 of 300: tr 1500, |G|^2 3)."""
    res = tmp_path / "results"
    for seed, acc in enumerate((0.88, 0.89, 0.90)):
        _curve(res / "baseline", f"s{seed}", 256, 250, val=acc, seed=seed,
               lr=0.05, lr_scaling="none")
    _run(res / "regime" / "lamb", "b4k", 4096, 0.89, 0.89, optimizer="lamb")
    history = [dict(step=s, epoch=s / 10, eval_accuracy=0.8, eval_loss=0.3,
                    noise_scale_b_simple=s / 2.0,
                    noise_scale_grad_sq=3.0 if s > 200 else 1.0,
                    noise_scale_trace_sigma=1500.0 if s > 200 else 50.0)
               for s in range(10, 301, 10)]
    write_trial(tmp_path / "noise", ".", 256, 0.8, seed=0, history=history,
                num_train=55000)
    text = report.generate(str(res), str(tmp_path / "figures"),
                           str(tmp_path / "noise"))
    assert "B_simple 5 at epoch 1, B_simple 50 at epoch 10, B_simple 100 at " \
           "epoch 20, B_simple 150 at epoch 30" in text
    assert "reads B_crit = 500. " in text
    without = report.generate(str(res), str(tmp_path / "figures"),
                              str(tmp_path / "absent"))
    assert "reads B_crit" not in without
