"""tools/find_limit.py end to end with the main job replaced by
fake_train_job.py: the store it writes is a sweep-layout store that
analysis/regimes.py reads, a rerun launches nothing, bad flags exit 2."""
import importlib.util
import json
import os
import pathlib

import pytest

from limitbatch_tf.analysis import regimes, store
from limitbatch_tf.forecast import find_limit, main_job, search

HERE = pathlib.Path(__file__).parent
FAKE = str(HERE / "fake_train_job.py")
_TOOL = HERE.parent.parent / "tools" / "find_limit.py"


def _recipe(tmp_path, **extra):
    lines = {"dataset": "fashion_mnist", "model": "lenet5", "batch_size": 256,
             "epochs": 8, "optimizer": "momentum", "momentum": 0.9,
             "learning_rate": 0.1, "validation_examples": 5000}
    lines.update(extra)
    path = tmp_path / "recipe.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return str(path)


def _trainer(recipe, root):
    return main_job.MainJobTrainer(recipe, root, python=FAKE)


def test_store_is_read_by_regimes_and_rerun_launches_nothing(tmp_path, capsys):
    recipe, root = _recipe(tmp_path), str(tmp_path / "store")
    argv = [f"--config={recipe}", f"--store={root}", "--budget_hours=10",
            "--start_batch=2048"]
    assert find_limit.main(argv, trainer=_trainer(recipe, root)) == 0
    out = capsys.readouterr().out
    assert "B_L in (512, 1024]" in out and "B_H in [8192, 16384)" in out
    launches = (tmp_path / "store" / "launches.log").read_text().split()
    assert len(launches) == len(set(launches))
    folders = [p.name for p in (tmp_path / "store").iterdir() if p.is_dir()]
    assert "batch_size=1024,learning_rate=0.4,epochs=8,seed=0" in folders
    # The regime tool's reading of the same store: B_L from linear scaling.
    report = regimes.classify(store.load_store(root), 256, "momentum")
    assert report.b_l == 1024 and report.b_h == 8192
    # A rerun replays the ledger: no launch, same answer.
    assert find_limit.main(argv, trainer=_trainer(recipe, root)) == 0
    again = capsys.readouterr().out
    assert "B_L in (512, 1024]" in again and "0 trials run" in again
    assert (tmp_path / "store" / "launches.log").read_text().split() == launches
    ledger = json.loads((tmp_path / "store" / "find_limit.json").read_text())
    assert ledger["summary"]["b_h"]["lo"] == 8192


def test_killed_search_resumes_from_the_trial_folders(tmp_path, capsys):
    """The ledger lost (killed before it was written): finished trial folders
    are still read, not rerun."""
    recipe, root = _recipe(tmp_path), str(tmp_path / "store")
    argv = [f"--config={recipe}", f"--store={root}", "--budget_hours=10"]
    assert find_limit.main(argv, trainer=_trainer(recipe, root)) == 0
    first = (tmp_path / "store" / "launches.log").read_text().split()
    os.remove(tmp_path / "store" / "find_limit.json")
    assert find_limit.main(argv, trainer=_trainer(recipe, root)) == 0
    assert (tmp_path / "store" / "launches.log").read_text().split() == first


@pytest.mark.parametrize("flags, message", [
    (["--budget_hours=0"], "--budget_hours=0"),
    (["--budget_hours=1", "--max_batch=300"], "--max_batch=300"),
    (["--budget_hours=1", "--lr_factors=1,x"], "--lr_factors=1,x"),
    (["--budget_hours=1", "--forecast_run=/nonexistent"], "results.json: cannot read"),
    (["--budget_hours=1", "--", "--learning_rate=3"], "--learning_rate"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flags, message):
    recipe = _recipe(tmp_path)
    code = find_limit.main([f"--config={recipe}", f"--store={tmp_path / 's'}"]
                           + flags)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err
    assert "\n" not in err


def test_train_steps_in_the_recipe_is_refused(tmp_path, capsys):
    recipe = _recipe(tmp_path, train_steps=100)
    assert find_limit.main([f"--config={recipe}", f"--store={tmp_path / 's'}",
                            "--budget_hours=1"]) == 2
    assert "train_steps is set" in capsys.readouterr().err


def test_tool_script_loads():
    spec = importlib.util.spec_from_file_location("find_limit_tool", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main is find_limit.main


def test_a_store_of_another_recipe_is_refused(tmp_path, capsys):
    """The ledger would replay the first recipe's results as the second's."""
    root = str(tmp_path / "store")
    recipe = _recipe(tmp_path)
    argv = [f"--store={root}", "--budget_hours=10", "--max_batch=1024"]
    assert find_limit.main([f"--config={recipe}"] + argv,
                           trainer=_trainer(recipe, root)) == 0
    other = tmp_path / "other"
    other.mkdir()
    changed = _recipe(other, momentum=0.8)
    capsys.readouterr()
    assert find_limit.main([f"--config={changed}"] + argv,
                           trainer=_trainer(changed, root)) == 2
    err = capsys.readouterr().err
    assert "different recipe (momentum=0.9->0.8)" in err


def test_a_resumed_trial_counts_its_earlier_segments(tmp_path):
    """A trial preempted after 50 s of wall time and resumed: the CPU of the
    segment before the kill (another process) is counted by its wall time."""
    recipe, root = _recipe(tmp_path), str(tmp_path / "store")
    trainer = _trainer(recipe, root)
    spec = search.TrialSpec(512, 0.2, 0, 8.0)
    fresh = trainer(spec)
    path = os.path.join(trainer.trial(spec).model_dir, "results.json")
    with open(path) as f:
        partial = json.load(f)
    partial.update(status="preempted", wall_time_s=50.0)
    with open(path, "w") as f:
        json.dump(partial, f)
    resumed = trainer(spec)
    assert resumed.status == "completed"
    assert resumed.cpu_s >= 50.0 > fresh.cpu_s
