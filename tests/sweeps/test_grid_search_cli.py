"""tools/grid_search.py end to end: a real 2x2 grid of tiny main-job runs.

Four main-job subprocesses (~8 s each, two at a time) on a generated
MNIST-format dataset: two learning rates (one so large that the run
diverges) x two warmups. Everything else reads the same output folder.
"""
import contextlib
import csv
import importlib.util
import io
import json
import os
import pathlib

import pytest

from fakedata import write_mnist_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]
CELLS = ["learning_rate=0.05,warmup_steps=0", "learning_rate=0.05,warmup_steps=1",
         "learning_rate=1e+30,warmup_steps=0", "learning_rate=1e+30,warmup_steps=1"]


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "grid_search_tool", ROOT / "tools" / "grid_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _argv(data_dir, out, *more):
    return ["--grid", "learning_rate=0.05,1e30", "--grid", "warmup_steps=0,1",
            "--out", str(out), "--parallel", "2",
            "--set", "dataset=mnist", "--set", f"data_dir={data_dir}",
            "--set", "batch_size=32", "--set", "train_steps=3", *more,
            "--", "--steps_per_loop=4"]


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """Runs the grid once; returns (tool main, argv, output folder, stdout)."""
    base = tmp_path_factory.mktemp("grid")
    data_dir = base / "data"
    write_mnist_dir(str(data_dir), num_train=128, num_test=64)
    main = _load_tool()
    argv = _argv(data_dir, base / "out")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, out.getvalue()
    return main, argv, base / "out", out.getvalue()


@pytest.mark.slow  # grid_run: four main-job subprocesses
def test_every_cell_ran_once_and_diverged_cells_are_recorded(grid_run):
    _, _, out, stdout = grid_run
    assert "ran 4 trial(s); 0 already finished" in stdout
    rows = list(csv.DictReader(open(out / "grid.csv")))
    assert [r["cell"] for r in rows] == CELLS
    status = {r["cell"]: r["status"] for r in rows}
    assert status[CELLS[0]] == status[CELLS[1]] == "completed"
    assert status[CELLS[2]] == status[CELLS[3]] == "diverged"
    for r in rows:
        results = json.load(open(out / "cells" / r["cell"] / "results.json"))
        assert results["config"]["learning_rate"] == float(r["learning_rate"])
        assert results["config"]["warmup_steps"] == int(r["warmup_steps"])
        assert results["config"]["steps_per_loop"] == 4  # extra main flag
        if r["status"] == "diverged":
            assert r["eval_accuracy"] == ""
            assert int(r["diverged_step"]) == results["diverged_step"] >= 1
        else:
            assert float(r["eval_accuracy"]) == results["metrics"]["eval_accuracy"]


@pytest.mark.slow  # grid_run: four main-job subprocesses
def test_best_markdown_and_heatmap(grid_run):
    _, _, out, stdout = grid_run
    rows = {r["cell"]: r for r in csv.DictReader(open(out / "grid.csv"))}
    best = json.load(open(out / "best.json"))
    expected = max(CELLS[:2], key=lambda c: float(rows[c]["eval_accuracy"]))
    assert best["cell"] == expected
    assert best["values"]["learning_rate"] == 0.05
    assert best["value"] == float(rows[expected]["eval_accuracy"])
    assert f"best: {expected}" in stdout
    table = (out / "grid.md").read_text()
    assert f"best: {expected}" in table.splitlines()[0]
    assert sum(line.startswith("| learning_rate=") for line in
               table.splitlines()) == 4
    assert "| diverged |" in table
    png = (out / "heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.slow  # grid_run: four main-job subprocesses
def test_second_invocation_starts_nothing(grid_run, capsys):
    main, argv, out, _ = grid_run
    results = sorted(out.glob("cells/*/results.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    logs = {p: p.read_text() for p in out.glob("cells/*/trial.log")}
    assert main(argv) == 0
    assert "ran 0 trial(s); 4 already finished" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert {p: p.read_text() for p in out.glob("cells/*/trial.log")} == logs
    # The same folder with another base config is refused, not mixed.
    argv_other = [a if a != "batch_size=32" else "batch_size=16" for a in argv]
    assert main(argv_other) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "holds a run with a different config (batch_size='32'->'16')" in err


@pytest.mark.slow  # grid_run: four main-job subprocesses
def test_hparams_are_browsable_in_tensorboard(grid_run):
    """TensorBoard's own HParams backend lists the four sessions."""
    _, _, out, _ = grid_run
    from tensorboard import context as tb_context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import (api_pb2, backend_context,
                                             list_session_groups)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(out))
    mux.Reload()
    ctx = backend_context.Context(base_plugin.TBContext(
        logdir=str(out), multiplexer=mux,
        data_provider=data_provider.MultiplexerDataProvider(mux, str(out))))
    request = api_pb2.ListSessionGroupsRequest(
        experiment_name="", start_index=0, slice_size=10,
        allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE])
    groups = list_session_groups.Handler(
        tb_context.RequestContext(), ctx, "", request).run().session_groups
    by_name = {g.name: g for g in groups}
    assert sorted(by_name) == sorted(CELLS)
    ok = by_name[CELLS[0]]
    assert ok.hparams["learning_rate"].number_value == 0.05
    assert ok.hparams["warmup_steps"].number_value == 0
    assert ok.sessions[0].status == api_pb2.STATUS_SUCCESS
    accuracy = {(m.name.group, m.name.tag): m.value
                for m in ok.metric_values}[("eval", "accuracy")]
    results = json.load(open(out / "cells" / CELLS[0] / "results.json"))
    assert accuracy == pytest.approx(results["metrics"]["eval_accuracy"])
    assert by_name[CELLS[2]].sessions[0].status == api_pb2.STATUS_FAILURE
    infos = [(m.name.group, m.name.tag) for m in ctx.experiment_from_metadata(
        tb_context.RequestContext(), "", include_metrics=True,
        hparams_run_to_tag_to_content=ctx.hparams_metadata(
            tb_context.RequestContext(), ""),
        data_provider_hparams=None).metric_infos]
    assert infos[0] == ("eval", "accuracy")


def test_bad_grid_spec_is_one_line(tmp_path, capsys):
    main = _load_tool()
    assert main(["--grid", "learnin_rate=1,2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: grid/sweep: unknown key 'learnin_rate'; did you "
                   "mean 'learning_rate'?")
    assert main(["--out", str(tmp_path)]) == 2
    assert "give at least one axis" in capsys.readouterr().err
    assert not os.listdir(tmp_path)  # nothing written for bad input
