"""tools/forecast.py: B_crit from a run's trajectory, calibration factors
against a hand computation, and its one-line errors."""
import importlib.util
import json
import math
import os
import statistics

import pytest

_TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "forecast.py")
spec = importlib.util.spec_from_file_location("forecast_tool", _TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _run(tmp_path, history, name="run"):
    run = tmp_path / name
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "status": "completed", "global_batch_size": 64,
        "config": {"optimizer": "momentum"}, "history": history}))
    return str(run)


def _history():
    """Steps 10..90; in the last third (steps > 60: 70, 80, 90) the parts
    average to tr = 600, |G|^2 = 2, so B_crit = 300; earlier B_simple = 10."""
    rows = []
    for step in range(10, 100, 10):
        late = step > 60
        grad = {70: 1.0, 80: 2.0, 90: 3.0}.get(step, 5.0)
        trace = {70: 500.0, 80: 600.0, 90: 700.0}.get(step, 50.0)
        rows.append({"step": step, "noise_scale_grad_sq": grad,
                     "noise_scale_trace_sigma": trace,
                     "noise_scale_b_simple": trace / grad if late else 10.0})
    return rows


def _calibration(tmp_path, rows):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


def test_without_calibration_rows_prints_b_crit_and_says_so(tmp_path, capsys):
    run = _run(tmp_path, _history())
    assert tool.main([run, "--calibration", _calibration(tmp_path, [])]) == 0
    out = capsys.readouterr().out
    assert "B_crit forecast: 300 " in out and "steps 70-90" in out
    assert "need the calibration study" in out


def test_per_variable_forecasts_use_the_same_window(tmp_path, capsys):
    """--telemetry=noise_scale_layers runs: each variable's parts averaged
    over the last third apart, then divided (kernel: tr 400-800 over |G|^2
    1-3 -> 600 / 2 = 300 only in the window; bias: |G|^2 <= 0 there)."""
    history = _history()
    for h in history:
        late = h["step"] > 60
        h["noise_scale_layers"] = {
            "m/kernel": {"grad_sq": h["noise_scale_grad_sq"] / 2,
                         "trace_sigma": h["noise_scale_trace_sigma"] / 2
                         * (1 if late else 9)},
            "m/bias": {"grad_sq": -1.0 if late else 1.0, "trace_sigma": 1.0}}
    run = _run(tmp_path, history)
    assert tool.main([run, "--calibration", _calibration(tmp_path, [])]) == 0
    out = capsys.readouterr().out
    assert "B_crit forecast: 300 " in out
    assert "Per variable (the same rule on its own |G|^2 and tr(Sigma)): " \
           "m/kernel 300, m/bias -" in out


def test_factors_and_intervals_against_hand_computation(tmp_path, capsys):
    rows = [{"workload": w, "family": "momentum", "b_crit_forecast": f,
             "b_crit_measured": None, "b_l": bl, "b_h": bh}
            for w, f, bl, bh in (("a", 100, 50, 400), ("b", 200, 200, 1600),
                                 ("c", 400, 200, 1600))]
    rows.append({"workload": "d", "family": "lamb", "b_crit_forecast": 100,
                 "b_crit_measured": None, "b_l": None, "b_h": 800})
    run = _run(tmp_path, _history())
    assert tool.main([run, "--calibration", _calibration(tmp_path, rows),
                      "--confidence", "0.9"]) == 0
    out = capsys.readouterr().out
    logs = [math.log(0.5), math.log(1.0), math.log(0.5)]
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    half = 2.919985580355516 * sd * math.sqrt(1 + 1 / 3)  # t(0.95, 2 df)
    low, high = 300 * math.exp(mean - half), 300 * math.exp(mean + half)
    assert (f"momentum: B_L/B_crit = {math.exp(mean):.3g} (n=3, log-sd "
            f"{sd:.3f}; a 0.5, b 1, c 0.5) -> B_L in [{low:.0f}, {high:.0f}]"
            in out)
    assert ("lamb: B_H/B_crit = 8 (n=1, no spread (1 row); d 8) -> B_H ~ 2400"
            " [calibrated on lamb runs; this run used momentum]") in out
    assert "B_L in [" + f"{low:.0f}, {high:.0f}]\n" in out  # its own: no flag
    assert "lamb: B_L" not in out


@pytest.mark.parametrize("history, message", [
    ([{"step": 10, "eval_accuracy": 0.5}], "no noise-scale trajectory"),
    ([{"step": 10, "noise_scale_grad_sq": -1.0,
       "noise_scale_trace_sigma": 5.0}], "<= 0"),
])
def test_bad_runs_exit_2_with_one_line(tmp_path, capsys, history, message):
    run = _run(tmp_path, history)
    assert tool.main([run, "--calibration", _calibration(tmp_path, [])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_bad_calibration_and_missing_run(tmp_path, capsys):
    run = _run(tmp_path, _history())
    bad = _calibration(tmp_path, [{"workload": "a", "family": "m",
                                   "b_crit_forecast": -3, "b_l": 1, "b_h": 2}])
    assert tool.main([run, "--calibration", bad]) == 2
    assert "row 0 b_crit_forecast=-3" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "nope")]) == 2
    assert "results.json: cannot read" in capsys.readouterr().err
    assert tool.main([run, "--confidence", "1.5"]) == 2
    assert "--confidence=1.5" in capsys.readouterr().err


def test_repository_calibration_table_loads():
    """The default table (relative to the repository root) parses."""
    from limitbatch_tf.cli import forecast as cli
    from limitbatch_tf.forecast import predict
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    rows = predict.load_calibration(os.path.join(root, cli.DEFAULT_CALIBRATION))
    assert isinstance(rows, list)
