"""Runs that survive: SIGKILL/SIGTERM and resume, divergence, bad checkpoints."""
import glob
import json
import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf import main as main_module
from limitbatch_tf.config import Config
from limitbatch_tf.train import loop
from limitbatch_tf.rundir import EXIT_PREEMPTED
from fakedata import write_mnist_dir
from mllog_rules import events, mllog_rules

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(str(path), num_train=256, num_test=64)
    return str(path)


def _cli(data_dir, model_dir):
    return [sys.executable, "-u", "-m", "limitbatch_tf.main", "--dataset=mnist",
            f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            "--model=lenet_tpu", "--batch_size=32", "--train_steps=60",
            "--eval_every_epochs=2", "--steps_per_loop=1",
            "--checkpoint_every_steps=3", "--learning_rate=0.01",
            "--deterministic", "--seed=7"]


def _run_until(cmd, min_step, sig):
    """Starts the CLI and sends ``sig`` once it reports step >= min_step."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= min_step:
            proc.send_signal(sig)
            break
    proc.stdout.read()
    return proc.wait(timeout=120)


def _final_weights(model_dir):
    path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    names = sorted(n for n, _ in tf.train.list_variables(path)
                   if n.startswith(("model/", "optimizer/", "rng/")))
    return path, {n: reader.get_tensor(n) for n in names}


@pytest.mark.slow  # four main-job subprocesses, one killed, one preempted
def test_killed_and_preempted_run_resumes_to_identical_weights(data_dir, tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(_cli(data_dir, reference), cwd=REPO, check=True,
                   capture_output=True, timeout=300)
    interrupted = tmp_path / "interrupted"
    cmd = _cli(data_dir, interrupted)
    kill_at = random.Random().randint(4, 20)
    assert _run_until(cmd, kill_at, signal.SIGKILL) == -signal.SIGKILL
    # Preempted politely on the way: distinct exit code, status recorded.
    assert _run_until(cmd, kill_at + 12, signal.SIGTERM) == EXIT_PREEMPTED
    status = json.load(open(interrupted / "results.json"))["status"]
    assert status == "preempted"
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, timeout=300)

    ref_path, ref = _final_weights(str(reference))
    got_path, got = _final_weights(str(interrupted))
    assert ref_path.endswith("-60") and got_path.endswith("-60")
    assert ref.keys() == got.keys() and any(k.startswith("rng/") for k in ref)
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    ref_results = json.load(open(reference / "results.json"))
    got_results = json.load(open(interrupted / "results.json"))
    assert got_results["status"] == "completed"
    assert got_results["metrics"] == ref_results["metrics"]
    assert ([h["step"] for h in got_results["history"]]
            == [h["step"] for h in ref_results["history"]])
    # One MLPerf log for the run (killed, preempted, resumed) that the
    # compliance rules accept, with the uninterrupted run's evaluations
    # (LeNet's name and its 100% accuracy on this data are outside the
    # official checker's ResNet rules).
    assert [p.name for p in interrupted.glob("mllog*.txt")] == ["mllog.txt"]
    text = (interrupted / "mllog.txt").read_text()
    assert mllog_rules(text) == []  # the official checker: test_main.py
    evals = [m["epoch_num"] for k, m in events(text) if k == "eval_accuracy"]
    ref_evals = [m["epoch_num"] for k, m in events(
        (reference / "mllog.txt").read_text()) if k == "eval_accuracy"]
    assert evals == ref_evals
    assert '"status": "success"' in text


def _config(data_dir, model_dir, **overrides):
    values = dict(dataset="mnist", data_dir=data_dir, model_dir=str(model_dir),
                  batch_size="32", train_steps=8, steps_per_loop=2,
                  learning_rate=0.01)
    values.update(overrides)
    return Config(**values).validate()


def test_divergence_is_a_result(data_dir, tmp_path):
    results = loop.run(_config(data_dir, tmp_path, learning_rate=1e7))
    assert results["status"] == "diverged"
    assert 1 <= results["diverged_step"] <= 8
    saved = json.load(open(tmp_path / "results.json"))
    assert saved["status"] == "diverged"
    assert saved["diverged_step"] == results["diverged_step"]
    assert main_module.exit_code("diverged", "record") == 0
    assert main_module.exit_code("diverged", "fail") == main_module.EXIT_DIVERGED
    assert main_module.exit_code("unstable", "fail") == main_module.EXIT_DIVERGED
    assert main_module.exit_code("completed", "fail") == 0


def test_unstable_label(data_dir, tmp_path):
    # A large LR makes the loss jump above 1.01 x its best within 8 steps
    # without reaching NaN; factor 1.0 would flag any increase at all.
    results = loop.run(_config(data_dir, tmp_path, learning_rate=2.0,
                               unstable_factor=1.01, train_steps=40))
    assert results["status"] in ("unstable", "diverged")
    assert results["diverged_step"] is not None


def test_truncated_checkpoint_falls_back_to_previous(data_dir, tmp_path):
    config = _config(data_dir, tmp_path, checkpoint_every_steps=2,
                     train_steps=6)
    loop.run(config)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("-6")
    for f in glob.glob(latest + ".data-*"):
        with open(f, "r+b") as fh:
            fh.truncate(16)
    with pytest.warns(UserWarning, match="failed to load"):
        results = loop.run(config)
    assert results["status"] == "completed" and results["steps"] == 6
    assert [h["step"] for h in results["history"]] == [6]
