"""Every plot renders from a small store and writes a non-empty file."""
import importlib.util
import os
import shutil

import pytest

from limitbatch_tf.analysis import plots, store
from fake_store import write_trial

_TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "plot.py")
spec = importlib.util.spec_from_file_location("plot_tool", _TOOL)
plot_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_tool)


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    history = [dict(step=s, epoch=e, eval_accuracy=a, eval_loss=1 - a,
                    train_loss=1.1 - a, noise_scale_b_simple=50.0 * e)
               for s, e, a in ((10, 10, 0.7), (20, 20, 0.85), (30, 30, 0.9))]
    telemetry = dict(
        weight_distance=[dict(step=s, **{"global": s ** 0.5},
                              per_layer={"a": 1.0}) for s in (1, 10, 100)],
        trust_ratios=[dict(step=s, per_layer={"conv": 0.01 * s, "fc": 0.1})
                      for s in (1, 2, 3)],
        noise_scale=dict(b_simple=900.0))
    write_trial(root, "b256", 256, 0.90, history=history, telemetry=telemetry)
    for i, (lr, warm, acc) in enumerate([(1, 1, .8), (2, 1, .85), (1, 5, .82),
                                         (2, 5, 0.0)]):
        write_trial(root, f"grid{i}", 8192, acc, optimizer="lars", lr=lr,
                    status="diverged" if acc == 0 else "completed", tag="lars")
        cfg_path = os.path.join(root, f"grid{i}", "results.json")
        text = open(cfg_path).read().replace('"tag"', f'"warmup_epochs": {warm}, "tag"')
        open(cfg_path, "w").write(text)
    write_trial(root, "b60k", 60000, 0.7, optimizer="lars", tag="lars")
    write_trial(root, "b1k", 1024, 0.9, optimizer="lars", tag="lars",
                history=[dict(step=s, epoch=s / 2, eval_accuracy=a,
                              train_loss=0.3) for s, a in ((5, 0.5), (12, 0.9))])
    return store.load_store(str(root)), str(root)


@pytest.mark.parametrize("kind", sorted(plots.KINDS))
@pytest.mark.parametrize("ext", ["png", "pdf"])
def test_every_plot_writes_a_file(trials, tmp_path, kind, ext):
    path = tmp_path / f"{kind}.{ext}"
    plots.KINDS[kind](trials[0], str(path))
    assert path.stat().st_size > 1000


def test_tool(trials, tmp_path, capsys):
    out = tmp_path / "h.png"
    assert plot_tool.main([trials[1], "--kind", "heatmap", "--output", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert plot_tool.main([str(tmp_path / "none"), "--kind", "curves",
                           "--output", str(out)]) == 2
    assert "error: " in capsys.readouterr().err
    for kind in ("accuracy_vs_batch", "steps_to_target", "train_longer"):
        assert plot_tool.main([trials[1], "--kind", kind, "--baseline_store",
                               trials[1], "--output", str(out)]) == 0
    assert plot_tool.main([trials[1], "--kind", "steps_to_target",
                           "--baseline_store", str(tmp_path / "none"),
                           "--output", str(out)]) == 2


def test_failed_runs_are_kept_as_failed_picks(trials, tmp_path):
    """A batch size where every run of a recipe diverged is drawn (an x on
    the bottom edge), not dropped: its pick is None."""
    picks = plots._picks_by_label(trials[0], 30.0)
    assert picks["lars"][8192].mean == pytest.approx(0.85)
    assert picks["lars"][60000].mean == pytest.approx(0.7)
    root = str(tmp_path / "store")
    shutil.copytree(trials[1], root)
    write_trial(root + "/extra", "dead", 16384, 0.0, status="diverged",
                optimizer="lars", tag="lars")
    picks = plots._picks_by_label(store.load_store(root), 30.0)
    assert picks["lars"][16384] is None


def test_noise_scale_needs_a_recorded_noise_scale(tmp_path):
    write_trial(tmp_path, "b", 256, 0.9)
    with pytest.raises(plots.PlotError, match="noise scale"):
        plots.noise_scale(store.load_store(str(tmp_path)),
                          str(tmp_path / "n.png"))
