"""tools/sweep.py: batch-size series, trial ids, store layout, best per batch.

The main job is replaced by tests/sweeps/fake_main_job.py (through
``trials.command``), whose accuracy is a known function of the trial's
values, so the best setting per batch size is known in closed form.
"""
import csv
import json
import pathlib
import sys

import pytest

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import sweep, trials

FAKE = str(pathlib.Path(__file__).with_name("fake_main_job.py"))


@pytest.mark.parametrize("text, expected", [
    ("256", ("256",)),
    ("256,512,...,4096,full", ("256", "512", "1024", "2048", "4096", "full")),
    ("100,300,...,2700", ("100", "300", "900", "2700")),
    ("128,256,...,512", ("128", "256", "512")),
    ("128,256,...,256", None),  # the end must come after the second term
    ("full,8", ("full", "8")),
])
def test_batch_size_series(text, expected):
    if expected is None:
        with pytest.raises(ConfigError):
            sweep.parse_batch_sizes(text)
    else:
        assert sweep.parse_batch_sizes(text) == expected


@pytest.mark.parametrize("text, message", [
    ("256,512,...,3000", "3000 is not 512 x 2^k"),
    ("256,...,4096", "needs two sizes before it"),
    ("256,512,...", "needs two sizes before it"),
    ("256,384,...,1296", "integer multiple"),
    ("0,256", "'0' is not a positive integer"),
    ("256,big", "'big' is not a positive integer or 'full'"),
    ("256,256", "repeated"),
])
def test_bad_batch_sizes(text, message):
    with pytest.raises(ConfigError) as info:
        sweep.parse_batch_sizes(text)
    assert message in str(info.value)


def test_trial_ids_encode_batch_seed_and_tuned_values(tmp_path):
    tune = [sweep.grid.parse_axis("learning_rate=0.1,0.2")]
    axes = sweep.sweep_axes(("256", "full"), (0, 1), tune)
    made = sweep.grid.make_trials(sweep.grid.expand(axes), str(tmp_path))
    assert [t.trial_id for t in made[:3]] == [
        "batch_size=256,seed=0,learning_rate=0.1",
        "batch_size=256,seed=0,learning_rate=0.2",
        "batch_size=256,seed=1,learning_rate=0.1"]
    assert made[-1].trial_id == "batch_size=full,seed=1,learning_rate=0.2"
    assert made[-1].model_dir == str(tmp_path / made[-1].trial_id)
    with pytest.raises(ConfigError, match="swept by --batch_sizes"):
        sweep.sweep_axes(("256",), (0,), [sweep.grid.parse_axis("seed=1,2")])
    with pytest.raises(ConfigError, match="seed is repeated"):
        sweep.parse_seeds("0,0")


def _accuracy(values):
    """A known landscape: lr 0.2 wins at 256, lr 0.1 at 1024 (seed adds 0.01);
    lr 0.4 diverges at 1024 for seed 1 only."""
    batch, lr, seed = values["batch_size"], values["learning_rate"], values["seed"]
    if batch == "1024" and lr == 0.4 and seed == 1:
        return "diverged"
    best = 0.2 if batch == "256" else 0.1
    return f"completed:{0.9 - abs(lr - best) + 0.01 * seed:.6f}"


@pytest.fixture
def fake_main(monkeypatch):
    calls = []

    def command(trial, config_path, sets=(), extra_args=(), python=sys.executable):
        calls.append((trial.trial_id, dict(sets), list(extra_args)))
        return [python, FAKE, trial.model_dir, _accuracy(trial.overrides)]
    monkeypatch.setattr(trials, "command", command)
    return calls


def test_sweep_store_best_per_batch_size_and_resume(tmp_path, fake_main, capsys):
    store = tmp_path / "store"
    argv = ["--batch_sizes=256,1024", "--seeds", "0,1", "--tune",
            "learning_rate=0.1,0.2,0.4", "--lr_scaling", "linear",
            "--store", str(store), "--parallel", "3", "--", "--epochs=2"]
    assert sweep.main(argv) == 0
    assert len(fake_main) == 12
    assert fake_main[0][1:] == ({"lr_scaling": "linear"}, ["--epochs=2"])
    ids = sorted(p.parent.name for p in store.glob("*/results.json"))
    assert len(ids) == 12 and "batch_size=1024,seed=1,learning_rate=0.4" in ids
    index = json.load(open(store / "sweep.json"))
    best = index["best"]["batch_sizes"]
    assert best["256"]["tuned"] == {"learning_rate": 0.2}
    assert best["256"]["mean"] == pytest.approx(0.905)  # (0.90 + 0.91) / 2
    assert best["256"]["trials"] == ["batch_size=256,seed=0,learning_rate=0.2",
                                     "batch_size=256,seed=1,learning_rate=0.2"]
    assert best["1024"]["tuned"] == {"learning_rate": 0.1}
    rows = list(csv.DictReader(open(store / "sweep.csv")))
    assert [r["status"] for r in rows].count("diverged") == 1
    assert index["axes"]["batch_size"] == ["256", "1024"]
    assert index["set"] == {"lr_scaling": "linear"}
    assert "| 256 |" in (store / "sweep.md").read_text()
    commands = index["commands"]
    assert sorted(commands) == ids
    one = "batch_size=256,seed=1,learning_rate=0.2"
    assert commands[one] == " ".join(
        [sys.executable, FAKE, str(store / one), "completed:0.910000"])
    capsys.readouterr()
    # Resumed: nothing is launched again.
    assert sweep.main(argv) == 0
    assert len(fake_main) == 12
    assert "ran 0 trial(s); 12 already finished" in capsys.readouterr().out
    # "commands" takes the last launch a trial.log records.
    with open(store / one / "trial.log", "a") as log:
        log.write("$ python -m limitbatch_tf.main --seed=1\n")
    assert sweep.main(argv) == 0
    assert json.load(open(store / "sweep.json"))["commands"][one] == (
        "python -m limitbatch_tf.main --seed=1")


def test_commands_of_an_older_store_are_kept(tmp_path, fake_main):
    """A store written before sweep.json held the commands (commands.txt)
    keeps them, and a later sweep into it adds its own."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "commands.txt").write_text("batch_size=64,seed=0\tpython old\n")
    assert sweep.main(["--batch_sizes=256", "--tune", "learning_rate=0.2",
                       "--store", str(store)]) == 0
    commands = json.load(open(store / "sweep.json"))["commands"]
    assert commands["batch_size=64,seed=0"] == "python old"
    assert "batch_size=256,seed=0,learning_rate=0.2" in commands


def test_a_diverged_seed_makes_the_setting_infeasible(tmp_path, fake_main):
    store = tmp_path / "store"
    assert sweep.main(["--batch_sizes=1024", "--seeds=0,1", "--tune",
                       "learning_rate=0.4", "--store", str(store)]) == 0
    assert json.load(open(store / "sweep.json"))["best"]["batch_sizes"] == {
        "1024": None}


def test_bad_sweep_input_is_one_line(tmp_path, fake_main, capsys):
    code = sweep.main(["--batch_sizes=256,x", "--store", str(tmp_path / "s")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --batch_sizes=256,x: 'x' is not a positive integer "
                   "or 'full'")
    assert sweep.main(["--batch_sizes=256", "--store", str(tmp_path / "s"),
                       "--lr_scaling", "linear", "--set",
                       "lr_scaling=sqrt"]) == 2
    assert "--lr_scaling is given twice" in capsys.readouterr().err
    assert fake_main == [] and not (tmp_path / "s").exists()
