"""End-to-end runs of the main job on a small generated dataset."""
import glob
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import tensorflow as tf
from absl import flags

from limitbatch_tf import main as main_module
from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.train import loop
from limitbatch_tf.train.plan import Plan
from fakedata import write_mnist_dir
from mllog_rules import mllog_rules, official_check

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(str(path), num_train=512, num_test=128)
    return str(path)


def _config(data_dir, model_dir, **overrides):
    values = dict(dataset="mnist", data_dir=data_dir, model_dir=str(model_dir),
                  batch_size="64", epochs=3.0, learning_rate=0.02,
                  steps_per_loop=4)
    values.update(overrides)
    return Config(**values).validate()


@pytest.mark.slow  # two training runs, one on 4 replicas
def test_one_device_and_mirrored_agree_and_learn(data_dir, tmp_path):
    one = loop.run(_config(data_dir, tmp_path / "one", strategy="one_device"))
    four = loop.run(_config(data_dir, tmp_path / "four", num_cpu_replicas=4))
    assert one["num_replicas"] == 1 and four["num_replicas"] == 4
    first_one, first_four = one["history"][0], four["history"][0]
    assert first_one["step"] == first_four["step"] == 8
    assert first_four["train_loss"] == pytest.approx(first_one["train_loss"],
                                                     rel=1e-4)
    for result in (one, four):
        assert result["status"] == "completed"
        assert result["metrics"]["eval_accuracy"] > 0.5  # chance is 0.1
        assert [h["step"] for h in result["history"]] == [8, 16, 24]
    assert glob.glob(str(tmp_path / "one" / "train" / "events.out.tfevents*"))
    assert glob.glob(str(tmp_path / "one" / "eval" / "events.out.tfevents*"))
    saved = json.load(open(tmp_path / "four" / "results.json"))
    assert saved["config"]["num_cpu_replicas"] == 4
    assert saved["versions"]["tensorflow"] == tf.__version__
    assert saved["wall_time_s"] > 0


def test_resume_continues_from_the_saved_step(data_dir, tmp_path, capsys):
    config = _config(data_dir, tmp_path / "run", epochs=2.0)
    full = loop.run(config)
    # Emulate preemption after the first checkpoint: drop the later one.
    ckpt_dir = str(tmp_path / "run" / "checkpoints")
    manager_state = tf.train.get_checkpoint_state(ckpt_dir)
    paths = list(manager_state.all_model_checkpoint_paths)
    assert [p.rsplit("-", 1)[1] for p in paths] == ["8", "16"]
    for f in glob.glob(paths[-1] + ".*"):
        os.remove(f)
    tf.compat.v1.train.update_checkpoint_state(ckpt_dir, paths[0], paths[:1])
    capsys.readouterr()
    resumed = loop.run(config)
    assert f"resuming {config.model_dir} at step 8\n" in capsys.readouterr().out
    assert [h["step"] for h in resumed["history"]] == [8, 16]
    assert resumed["metrics"]["eval_accuracy"] == pytest.approx(
        full["metrics"]["eval_accuracy"], abs=1e-6)
    assert resumed["metrics"]["eval_loss"] == pytest.approx(
        full["metrics"]["eval_loss"], rel=1e-4)


def test_checkpoints_at_their_own_cadence_and_resume(data_dir, tmp_path,
                                                     capsys):
    """--checkpoint_every_epochs replaces the checkpoint at each evaluation
    (issue 15.5); a run resumed from the one before the last ends where the
    full run did."""
    config = _config(data_dir, tmp_path / "run", epochs=4.0,
                     eval_every_epochs=1.0, checkpoint_every_epochs=2.0)
    full = loop.run(config)
    ckpt_dir = str(tmp_path / "run" / "checkpoints")
    paths = list(tf.train.get_checkpoint_state(ckpt_dir)
                 .all_model_checkpoint_paths)
    assert [p.rsplit("-", 1)[1] for p in paths] == ["16", "32"]
    assert [h["step"] for h in full["history"]] == [8, 16, 24, 32]
    for f in glob.glob(paths[-1] + ".*"):
        os.remove(f)
    tf.compat.v1.train.update_checkpoint_state(ckpt_dir, paths[0], paths[:1])
    capsys.readouterr()
    resumed = loop.run(config)
    assert "at step 16\n" in capsys.readouterr().out
    assert [h["step"] for h in resumed["history"]] == [8, 16, 24, 32]
    assert resumed["metrics"]["eval_loss"] == pytest.approx(
        full["metrics"]["eval_loss"], rel=1e-4)


def _main(argv, capsys):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["main"] + argv)
    code = main_module.main(["main"])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("args, message", [
    (["--data_dir=/nonexistent"], "--dataset=mnist: expected train-images"),
    (["--batch_size=4096"], "--batch_size=4096 exceeds the 512 training"),
    (["--batch_size=64", "--num_cpu_replicas=3"], "not divisible"),
    (["--model=lenet7"], "--model=lenet7 is not one of"),
    (["--batch_size=big"], "--batch_size=big: expected a positive integer"),
    (["--learning_rate=-1"], "--learning_rate=-1.0 must be >= 0"),
    (["--lr_decay=poly", "--step_factor=0.5"],
     "--step_factor applies to --lr_decay=step only (here --lr_decay=poly)"),
    (["--step_boundaries_epochs=3,x"], "expected comma-separated epochs"),
    (["--optimizer=lars", "--layerwise"], "--layerwise applies to"),
    (["--optimizer=adam", "--momentum=0.5"], "--momentum applies to"),
    (["--optimizer=lamb", "--trust_ratio_bounds=2,1"], "0 <= lo <= hi"),
    (["--noexclude_vectors"], "--exclude_vectors applies to"),
    (["--batch_size=64", "--telemetry=noise_scale"],
     "--telemetry=noise_scale needs two gradient sizes"),
    (["--validation_examples=999999"],
     "--validation_examples=999999: expected 0 <= N < 512"),
    (["--lars_clip"], "--lars_clip applies to"),
])
def test_bad_input_is_one_clear_line(data_dir, tmp_path, capsys, args, message):
    argv = ["--dataset=mnist", f"--data_dir={data_dir}",
            f"--model_dir={tmp_path / 'bad'}"] + args
    if "--data_dir=/nonexistent" in args:
        argv.remove(f"--data_dir={data_dir}")
    code, err = _main(argv, capsys)
    assert code == main_module.EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert message in err


def test_corrupt_cifar10_pickle_is_one_line_naming_the_file(tmp_path, capsys):
    (tmp_path / "data_batch_1").write_bytes(b"\x80\x02}q\x00(U\x04data")
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    code, err = _main(["--dataset=cifar10", f"--data_dir={tmp_path}",
                       f"--model_dir={tmp_path / 'run'}"], capsys)
    assert code == main_module.EXIT_BAD_INPUT
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {tmp_path / 'data_batch_1'}: not a "
                          f"CIFAR-10 pickle batch")


def test_model_dir_of_another_config_is_refused(data_dir, tmp_path, capsys):
    loop.run(_config(data_dir, tmp_path / "run", train_steps=2))
    code, err = _main(["--dataset=mnist", f"--data_dir={data_dir}",
                       f"--model_dir={tmp_path / 'run'}", "--batch_size=64",
                       "--train_steps=2", "--learning_rate=0.1",
                       "--steps_per_loop=4", "--epochs=3"], capsys)
    assert code == main_module.EXIT_BAD_INPUT
    assert "different config (learning_rate=0.02->0.1)" in err


@pytest.mark.slow  # a main-job subprocess
def test_command_line_splits_the_cpu(data_dir, tmp_path):
    """The real CLI builds 2 logical CPU replicas before Keras loads."""
    proc = subprocess.run(
        [sys.executable, "-m", "limitbatch_tf.main", "--dataset=mnist",
         f"--data_dir={data_dir}", "--batch_size=16", "--num_cpu_replicas=2",
         "--micro_batch_size=4", "--train_steps=2", f"--model_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MirroredStrategy with 2 replicas" in proc.stdout
    results = json.load(open(tmp_path / "results.json"))
    assert results["step_layout"]["micro_batches"] == 2


@pytest.mark.slow  # ResNet-50 trained twice (preempted, resumed)
def test_resnet_run_writes_a_compliant_mlperf_log(tmp_path, monkeypatch):
    """ResNet-50 (CIFAR) on tiny synthetic data with ghost BN, preempted
    after step 2 and resumed: the MLPerf compliance checker accepts the
    run's one mllog.txt (issue 16.5)."""
    config = Config(dataset="synthetic_cifar10", model="resnet50_cifar",
                    image_size=8, batch_size="4", train_steps=4,
                    eval_every_epochs=0.00016, steps_per_loop=1, bn="ghost",
                    ghost_batch_size=2, optimizer="lars", learning_rate=1.0,
                    warmup_steps=1, lr_decay="poly", end_lr=1e-4,
                    weight_decay=1e-4, model_dir=str(tmp_path)).validate()
    original = loop.Telemetry.train_loop_done

    def preempt_at_2(self, step, *args):
        original(self, step, *args)
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(loop.Telemetry, "train_loop_done", preempt_at_2)
    assert loop.run(config)["status"] == "preempted"
    monkeypatch.setattr(loop.Telemetry, "train_loop_done", original)
    results = loop.run(config)
    assert results["status"] == "completed"
    ok, output = official_check((tmp_path / "mllog.txt").read_text(),
                                tmp_path)
    assert ok and "SUCCESS" in output, output
    log = (tmp_path / "mllog.txt").read_text()
    assert mllog_rules(log) == [] and log.count('"key": "eval_accuracy"') == 2
    assert '"key": "model_bn_span", "value": 2' in log
    assert '"key": "opt_name", "value": "lars"' in log


@pytest.mark.slow  # a main-job subprocess
def test_resnet50_v1_5_two_steps_mirrored_on_two_cpus(tmp_path):
    """Issue 6: the real CLI trains ImageNet ResNet-50 v1.5 on synthetic data
    under MirroredStrategy over 2 logical CPUs, with sync BN (all replicas)
    and 2 micro-batches, one step per host-loop call (the second call once
    failed in Grappler: see train/loop.py)."""
    proc = subprocess.run(
        [sys.executable, "-m", "limitbatch_tf.main",
         "--dataset=synthetic_imagenet", "--model=resnet50_v1_5",
         "--image_size=32", "--batch_size=8", "--micro_batch_size=2",
         "--num_cpu_replicas=2", "--train_steps=2", "--steps_per_loop=1",
         "--eval_every_epochs=1000", "--bn=sync", f"--model_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MirroredStrategy with 2 replicas" in proc.stdout
    results = json.load(open(tmp_path / "results.json"))
    assert results["status"] == "completed" and results["steps"] == 2
    assert results["bn_span"] == 4 and results["precision"] == "float32"
    assert results["step_layout"]["micro_batches"] == 2
    assert results["config"]["model"] == "resnet50_v1_5"


@pytest.mark.slow  # a main-job subprocess (main() in-process: test_bad_input_is_one_clear_line)
def test_command_line_exit_code(tmp_path):
    """The real CLI: a bad flag exits non-zero with one line on stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "limitbatch_tf.main", "--optimizer=adamw",
         f"--model_dir={tmp_path}"], cwd=REPO, capture_output=True, text=True,
        timeout=120)
    assert proc.returncode == main_module.EXIT_BAD_INPUT
    assert "error: --optimizer=adamw is not one of" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_recipe_reaches_the_schedule(data_dir, tmp_path):
    """Linear scaling sets the peak; warmup starts at 0; cosine ends at end_lr."""
    from limitbatch_tf.train.plan import make_plan
    config = _config(data_dir, tmp_path, batch_size="128", lr_scaling="linear",
                     base_batch_size=32, learning_rate=0.1, warmup_epochs=1.0,
                     lr_decay="cosine", end_lr=0.001, epochs=3.0)
    plan = make_plan(config, 512, 1)
    assert plan.peak_lr == pytest.approx(0.4)
    lr = lambda step: float(plan.schedule(step))
    assert lr(0) == 0.0 and lr(4) == pytest.approx(0.4)   # 4 steps per epoch
    assert lr(2) == pytest.approx(0.2)
    assert lr(12) == pytest.approx(0.001)
    results = loop.run(config)
    assert results["peak_learning_rate"] == pytest.approx(0.4)


@pytest.mark.parametrize("flags", [
    dict(optimizer="lars", learning_rate=2.0, weight_decay=5e-4),
    dict(optimizer="lamb", learning_rate=0.01, trust_ratio_bounds="0.01,10"),
    dict(optimizer="adam", learning_rate=0.003, layerwise=True,
         trust_ratio_bounds="0.01,10"),
])
def test_large_batch_optimizers_train(data_dir, tmp_path, flags):
    results = loop.run(_config(data_dir, tmp_path, epochs=2.0, **flags))
    assert results["status"] == "completed"
    assert results["metrics"]["eval_accuracy"] > 0.3, results["metrics"]


# --- MLPerf-style time to train (issue 16.4) ---------------------------------
@pytest.mark.parametrize("every,offset,total", [
    (10.0, 0.0, 100), (10.0, 3.0, 100), (2.5, 1.2, 17), (8.0, 4.0, 24),
    (1.0, 0.5, 5)])
def test_next_eval_walks_the_offset_grid(every, offset, total):
    plan = Plan(None, 0, total, every, 0.0, None, eval_offset_steps=offset)
    # Reference: the grid ceil(offset + k * every), k >= 0, above step 0,
    # then the last step.
    grid = sorted({math.ceil(offset + k * every - 1e-9) for k in range(200)}
                  - {0})
    expected = [g for g in grid if g < total] + [total]
    got, step = [], 0
    while step < total:
        step = plan.next_eval(step)
        got.append(step)
    assert got == expected


def test_target_reached_stops_and_records_time_to_train(data_dir, tmp_path):
    # Chance accuracy (0.1) meets a target of 0.05 at the first evaluation,
    # half an epoch in (8 steps per epoch).
    results = loop.run(_config(data_dir, tmp_path / "hit", target_accuracy=0.05,
                               eval_offset_epochs=0.5))
    assert results["status"] == "target_reached"
    assert [h["step"] for h in results["history"]] == [4]
    row = results["history"][0]
    assert row["examples"] == 4 * 64 and row["epoch"] == 0.5
    assert 0 < row["wall_time_s"] <= results["wall_time_s"]
    assert (results["steps_to_target"], results["epochs_to_target"],
            results["examples_to_target"]) == (4, 0.5, 256)
    assert results["seconds_to_target"] == row["wall_time_s"]
    log = (tmp_path / "hit" / "mllog.txt").read_text()
    assert '"status": "success"' in log
    saved = json.load(open(tmp_path / "hit" / "results.json"))
    assert saved["status"] == "target_reached" and saved["steps_to_target"] == 4


def test_missed_target_completes_with_none_and_aborted_log(data_dir, tmp_path):
    # Learning rate 0: accuracy stays near chance, below the target.
    results = loop.run(_config(data_dir, tmp_path / "miss", target_accuracy=0.9,
                               eval_offset_epochs=0.5, validation_examples=64,
                               learning_rate=0.0))
    assert results["status"] == "completed"
    # 448 training examples: 7 steps per epoch; evaluations at 3.5 + 7k.
    assert [h["step"] for h in results["history"]] == [4, 11, 18, 21]
    assert results["steps_to_target"] is None
    assert results["seconds_to_target"] is None
    log = (tmp_path / "miss" / "mllog.txt").read_text()
    assert '"status": "aborted"' in log


def test_target_split_must_exist(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="--target_split=validation: "
                                          "--dataset=mnist has no validation"):
        loop.run(_config(data_dir, tmp_path / "bad", target_accuracy=0.5,
                         target_split="validation"))


def test_one_cpu_device_iterates_the_dataset_itself():
    """Issue 16.3: tf.distribute's iterator around a dataset runs tf.data's
    autotuning model thread (its deletion at the end of a run waited ~35 s
    after 10 epochs); on one CPU device the loop iterates the dataset
    directly, so the batches and the exit stay those of the plain pipeline."""
    import tensorflow as tf
    dataset_fn = lambda ctx: tf.data.Dataset.range(6).batch(2)  # noqa: E731
    one = loop.input_iterator(tf.distribute.OneDeviceStrategy("/cpu:0"),
                               dataset_fn)
    assert isinstance(one, tf.data.Iterator)
    assert [b.numpy().tolist() for b in one] == [[0, 1], [2, 3], [4, 5]]
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    mirrored = loop.input_iterator(
        tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()),
        dataset_fn)
    assert not isinstance(mirrored, tf.data.Iterator)
