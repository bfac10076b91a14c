"""experiments/fashion_mnist/report.py on fake stores with known answers."""
import importlib.util
import os

from fake_store import write_trial

_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments",
                       "fashion_mnist", "report.py")
spec = importlib.util.spec_from_file_location("fmnist_report", _SCRIPT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def _run(root, name, batch, test, val, **kw):
    history = [dict(step=10, epoch=kw.get("epochs", 30.0), eval_accuracy=test,
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
    assert "B_simple measured in the baseline runs: 1100" in text
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
