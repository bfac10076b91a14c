"""Grid expansion, ids, config resolution and the resumable executor.

The executor runs tests/sweeps/fake_main_job.py (no TensorFlow) in
place of the main job, so resume, crash, preemption and parallelism are
checked in milliseconds per trial.
"""
import json
import os
import pathlib
import signal
import sys
import threading

import pytest

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import grid, hparams, trials
from limitbatch_tf.sweeps.grid import Axis

FAKE = str(pathlib.Path(__file__).with_name("fake_main_job.py"))


def test_axis_values_are_typed_as_the_config_field():
    assert grid.parse_axis("learning_rate=1,2.5,1e-3").values == (1.0, 2.5, 0.001)
    assert grid.parse_axis("seed=0,7").values == (0, 7)
    assert grid.parse_axis("--nesterov=true,0").values == (True, False)
    assert grid.parse_axis("batch_size=256,full").values == ("256", "full")


@pytest.mark.parametrize("spec, message", [
    ("learning_rate", "expected name=value1,value2"),
    ("=1,2", "expected name=value1,value2"),
    ("learning_rate=", "empty value"),
    ("learning_rate=1,,2", "empty value"),
    ("learning_rate=1,1.0", "repeated"),
    ("learnin_rate=1", "did you mean 'learning_rate'"),
    ("learning_rate=fast", "--learning_rate='fast': expected float"),
    ("learning_rate=nan", "finite"),
    ("seed=1.5", "expected int"),
    ("nesterov=maybe", "expected bool"),
    ("model_dir=a,b", "set by the grid/sweep tool"),
    ("batch_size=../x", "may use only letters"),
])
def test_bad_axis_is_one_clear_error(spec, message):
    with pytest.raises(ConfigError, match=None) as info:
        grid.parse_axis(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_expand_first_axis_slowest_and_readable_ids(tmp_path):
    axes = [grid.parse_axis("learning_rate=2,4.0"),
            grid.parse_axis("warmup_epochs=5,0.5,1e-05")]
    cells = grid.expand(axes)
    ids = [trials.trial_id(c) for c in cells]
    assert ids == ["learning_rate=2,warmup_epochs=5",
                   "learning_rate=2,warmup_epochs=0.5",
                   "learning_rate=2,warmup_epochs=1e-05",
                   "learning_rate=4,warmup_epochs=5",
                   "learning_rate=4,warmup_epochs=0.5",
                   "learning_rate=4,warmup_epochs=1e-05"]
    made = grid.make_trials(cells, str(tmp_path))
    assert made[1].model_dir == str(tmp_path / ids[1])
    assert made[1].overrides == {"learning_rate": 2.0, "warmup_epochs": 0.5}
    # The id text parses back to the same value (no precision lost).
    assert grid.parse_axis("learning_rate=0.1234567891").values[0] == float(
        trials.format_value(0.1234567891))


def test_names_given_twice_are_refused():
    with pytest.raises(ConfigError, match="--seed is given twice"):
        grid.check_names([Axis("seed", (0, 1))], (("seed", 2),))


def test_resolve_config_layers_yaml_sets_cell_and_extras(tmp_path):
    yaml_path = tmp_path / "base.yaml"
    yaml_path.write_text("dataset: mnist\nlearning_rate: 0.5\nepochs: 3\n")
    config = trials.resolve_config(
        str(yaml_path), (("epochs", 7.0), ("learning_rate", 2.0)),
        ["--seed=3"])
    assert (config.dataset, config.learning_rate, config.epochs,
            config.seed) == ("mnist", 2.0, 7.0, 3)
    with pytest.raises(ConfigError, match="--warmup=steep is not one of"):
        trials.resolve_config(str(yaml_path), (("warmup", "steep"),))


def test_extra_args_may_not_set_axes_or_reserved_flags():
    trials.check_extra_args(["--num_cpu_replicas=2"], ["learning_rate"])
    with pytest.raises(ConfigError, match="--learning_rate is set by the tool"):
        trials.check_extra_args(["--learning_rate=3"], ["learning_rate"])
    with pytest.raises(ConfigError, match="--model_dir is set by the tool"):
        trials.check_extra_args(["--model_dir=x"], [])
    with pytest.raises(ConfigError, match="unexpected arguments"):
        trials.check_extra_args(["stray"], [])


def test_config_mismatch_compares_identity_fields_only():
    config = trials.resolve_config(None, (("learning_rate", 0.1),))
    saved = {"config": dict(config.to_dict(), model_dir="elsewhere",
                            steps_per_loop=7)}
    assert trials.config_mismatch(saved, config) is None  # not identity
    saved["config"]["learning_rate"] = 0.2
    assert trials.config_mismatch(saved, config) == "learning_rate=0.2->0.1"
    del saved["config"]["learning_rate"]  # a field older runs did not have
    assert trials.config_mismatch(saved, config) is None


def _fake_trials(tmp_path, behaviours):
    axis = Axis("seed", tuple(range(len(behaviours))))
    made = grid.make_trials(grid.expand([axis]), str(tmp_path))
    plan = {t.trial_id: b for t, b in zip(made, behaviours)}

    def argv_of(t):
        behaviour, _, seconds = plan[t.trial_id].partition("@")
        return [sys.executable, FAKE, t.model_dir, behaviour, seconds or "0"]
    return made, plan, argv_of


def _launches(trial):
    path = os.path.join(trial.model_dir, "starts.log")
    if not os.path.exists(path):
        return []
    return [float(line.split()[1]) for line in open(path)
            if line.startswith("start")]


def test_execute_resumes_only_unfinished_trials(tmp_path):
    made, plan, argv_of = _fake_trials(
        tmp_path, ["completed:0.9", "diverged", "crash", "preempted",
                   "completed:0.7"])
    finished = []
    report = grid.execute(made, argv_of, parallel=2, log=lambda s: None,
                          on_finish=lambda t, o: finished.append(t.trial_id))
    status = {k: o.status for k, o in report.outcomes.items()}
    assert status == {"seed=0": "completed", "seed=1": "diverged",
                      "seed=2": "crashed", "seed=3": "preempted",
                      "seed=4": "completed"}
    assert (report.ran, report.skipped) == (5, 0)
    assert sorted(finished) == ["seed=0", "seed=1", "seed=4"]
    assert report.unfinished == ["seed=2", "seed=3"]
    assert report.outcomes["seed=1"].results["diverged_step"] == 2
    # Second pass: the crashed and preempted ones now finish; nothing else runs.
    plan["seed=2"] = plan["seed=3"] = "completed:0.5"
    again = grid.execute(made, argv_of, parallel=2, log=lambda s: None)
    assert (again.ran, again.skipped, again.unfinished) == (2, 3, [])
    assert [len(_launches(t)) for t in made] == [1, 1, 2, 2, 1]
    third = grid.execute(made, argv_of, parallel=2, log=lambda s: None)
    assert (third.ran, third.skipped) == (0, 5)


def test_run_one_trial_then_read_it_back(tmp_path):
    made, _, argv_of = _fake_trials(tmp_path, ["completed:0.25"])
    outcome = trials.run(made[0], argv_of(made[0]))
    assert (outcome.status, outcome.ran) == ("completed", True)
    assert outcome.metric("eval_accuracy") == 0.25
    assert outcome.metric("train_loss") is None  # absent, not invented
    again = trials.run(made[0], argv_of(made[0]))
    assert (again.status, again.ran) == ("completed", False)
    log = open(os.path.join(made[0].model_dir, trials.LOG_FILE)).read()
    assert log.startswith("$ ") and FAKE in log.splitlines()[0]


def test_execute_runs_at_most_parallel_trials_at_once(tmp_path):
    # 2 s per trial: two trials overlap even when a loaded machine (a sweep
    # beside the suite) staggers their interpreters' start-up by a second;
    # at 0.4 s they ran one after the other there and peak was 1.
    made, _, argv_of = _fake_trials(tmp_path, ["completed:0.5@2"] * 4)
    grid.execute(made, argv_of, parallel=2, log=lambda s: None, poll_s=0.02)
    spans = []
    for t in made:
        lines = open(os.path.join(t.model_dir, "starts.log")).read().split()
        spans.append((float(lines[1]), float(lines[3])))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    depth, peak = 0, 0
    for _, delta in events:
        depth += delta
        peak = max(peak, depth)
    assert peak == 2


def test_bad_input_stops_new_launches(tmp_path):
    made, _, argv_of = _fake_trials(tmp_path, ["bad", "completed:0.5",
                                               "completed:0.5"])
    report = grid.execute(made, argv_of, parallel=1, log=lambda s: None)
    assert report.outcomes["seed=0"].status == "error"
    assert report.outcomes["seed=0"].error == (
        "error: --learning_rate=-1.0 must be >= 0.0")
    assert [len(_launches(t)) for t in made] == [1, 0, 0]


def test_sigterm_is_forwarded_and_stops_launching(tmp_path):
    made, _, argv_of = _fake_trials(tmp_path, ["hang", "hang", "hang"])
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        report = grid.execute(made, argv_of, parallel=2, log=lambda s: None,
                              poll_s=0.05)
    finally:
        timer.cancel()
    assert report.interrupted == "SIGTERM"
    assert [report.outcomes[t.trial_id].status for t in made] == [
        "preempted", "preempted", "pending"]
    assert signal.getsignal(signal.SIGTERM) is not None  # handler restored


def test_best_skips_diverged_and_follows_the_goal(tmp_path):
    made, _, argv_of = _fake_trials(
        tmp_path, ["completed:0.6", "diverged", "completed:0.8",
                   "completed:0.8"])
    report = grid.execute(made, argv_of, parallel=4, log=lambda s: None)
    outcomes = report.outcomes
    assert grid.best(made, outcomes, "eval_accuracy", "max").trial_id == "seed=2"
    assert grid.best(made, outcomes, "eval_loss", "min").trial_id == "seed=2"
    assert grid.best(made, outcomes, "eval_accuracy", "min").trial_id == "seed=0"
    assert grid.best(made, outcomes, "validation_accuracy", "max") is None
    assert grid.goal_of("eval_loss") == "min"
    assert grid.goal_of("eval_accuracy") == "max"
    row = grid.row(made[1], outcomes["seed=1"], "eval_accuracy")
    assert (row["status"], row["eval_accuracy"], row["diverged_step"]) == (
        "diverged", "", 2)
    json.dumps(row)  # plain values only


def test_cpu_slots_split_the_cpus_into_disjoint_shares(monkeypatch):
    monkeypatch.setattr(grid.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4},
                        raising=False)
    slots = grid.cpu_slots(2)
    assert slots == [frozenset({0, 1, 2}), frozenset({3, 4})]
    assert grid.cpu_slots(5) == [frozenset({i}) for i in range(5)]
    assert grid.cpu_slots(6) == [None] * 6      # more trials than CPUs
    assert grid.cpu_slots(1) == [None]          # one at a time: all CPUs
    assert grid.cpu_slots(2, pin=False) == [None, None]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")
def test_parallel_trials_run_on_disjoint_cpus(tmp_path, monkeypatch):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    made = grid.make_trials(grid.expand([Axis("seed", (0, 1, 2, 3))]), str(tmp_path))
    probe = ("import json, os, sys, time; d = sys.argv[1]; "
             "os.makedirs(d, exist_ok=True); time.sleep(0.3); "
             "json.dump(sorted(os.sched_getaffinity(0)), open(d + '/cpus.json', 'w')); "
             "json.dump({'status': 'completed', 'metrics': {}}, "
             "open(d + '/results.json', 'w'))")

    def argv_of(t):
        return [sys.executable, "-c", probe, t.model_dir]

    grid.execute(made, argv_of, parallel=2, log=lambda s: None, poll_s=0.02)
    seen = [json.load(open(os.path.join(t.model_dir, "cpus.json"))) for t in made]
    shares = {tuple(s) for s in seen}
    assert shares == {tuple(sorted(s)) for s in grid.cpu_slots(2)}
    assert all(len(s) == len(cpus) // 2 for s in seen)


def test_hparams_batch_size_is_a_number_and_full_a_flag(tmp_path):
    """TensorBoard sorts string hparams as text (1024 < 16384 < 2048)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.plugins.hparams import metadata as hp_metadata
    values = (("batch_size", "full"), ("learning_rate", 0.1))
    path = hparams.write_session(str(tmp_path), "t", values, "target_reached",
                                 1.0, global_batch=60000)
    by_tag = {value.tag: value.metadata.plugin_data.content
              for event in event_file_loader.EventFileLoader(path).Load()
              for value in event.summary.value}
    end = hp_metadata.parse_session_end_info_plugin_data(
        by_tag[hp_metadata.SESSION_END_INFO_TAG])
    assert end.status == 1  # STATUS_SUCCESS
    start = hp_metadata.parse_session_start_info_plugin_data(
        by_tag[hp_metadata.SESSION_START_INFO_TAG]).hparams
    assert start["batch_size"].number_value == 60000
    assert start["full_batch"].bool_value is True
    assert start["learning_rate"].number_value == 0.1
    assert hparams._session_values((("batch_size", "256"),), 256) == {
        "batch_size": 256.0, "full_batch": False}
    assert hparams.tensorboard_metric("eval_accuracy") == ("eval", "accuracy")
    assert hparams.tensorboard_metric("train_loss") == ("train", "loss")
    assert hparams.tensorboard_metric("validation_loss") == (
        "validation", "loss")


def test_parallel_auto_is_one_trial_per_cpu_within_memory(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3},
                        raising=False)
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": (64 << 30) // 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    assert grid.resolve_parallel("auto") == 4          # 4 CPUs, 64 GiB
    pages["SC_PHYS_PAGES"] = (5 << 30) // 4096          # 5 GiB: 2 trials
    assert grid.resolve_parallel("auto") == 2
    pages["SC_PHYS_PAGES"] = (1 << 30) // 4096          # 1 GiB: still one
    assert grid.resolve_parallel("auto") == 1
    assert grid.resolve_parallel("3") == 3


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_parallel_must_be_a_count_or_auto(bad):
    with pytest.raises(ConfigError, match=f"--parallel={bad}: expected"):
        grid.resolve_parallel(bad)
