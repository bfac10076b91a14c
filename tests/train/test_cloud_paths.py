"""A run whose --model_dir is a URL keeps every file there (issue 16).

TensorFlow's in-memory filesystem (ram://) stands in for gs://: the run,
its preemption and its resume must write config.json, results.json,
mllog.txt, checkpoints and TensorBoard events through tf.io.gfile, and
nothing on local disk (today's bug: a local folder named ``ram:``).
"""
import os
import signal

import tensorflow as tf

from limitbatch_tf import rundir
from limitbatch_tf.config import Config
from limitbatch_tf.train import loop
from fakedata import write_mnist_dir


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files + [""])


def test_train_preempt_resume_on_ram_filesystem(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_mnist_dir(str(data), num_train=256, num_test=64)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _tree(str(tmp_path))
    model_dir = "ram://lbrun/run"
    config = Config(dataset="mnist", data_dir=str(data), model_dir=model_dir,
                    batch_size="32", train_steps=16, eval_every_epochs=1.0,
                    steps_per_loop=2, learning_rate=0.01).validate()

    # SIGTERM to this process once step 4 is logged: a preemption.
    original = loop.Telemetry.train_loop_done

    def preempt_at_4(self, step, *args):
        original(self, step, *args)
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(loop.Telemetry, "train_loop_done", preempt_at_4)
    first = loop.run(config)
    assert first["status"] == rundir.PREEMPTED and first["steps"] == 4
    assert rundir.read_results(model_dir)["status"] == rundir.PREEMPTED

    monkeypatch.setattr(loop.Telemetry, "train_loop_done", original)
    final = loop.run(config)
    assert final["status"] == rundir.COMPLETED and final["steps"] == 16
    saved = rundir.read_results(model_dir)
    assert saved["status"] == "completed"
    assert [h["step"] for h in saved["history"]] == [8, 16]
    assert rundir.read_json(model_dir + "/config.json")["model_dir"] == model_dir
    assert tf.train.latest_checkpoint(model_dir + "/checkpoints").endswith("-16")
    log = rundir.read_text(model_dir + "/mllog.txt")
    assert log.count('"key": "run_start"') == 1
    assert log.count('"key": "run_stop"') == 1
    for run in ("train", "eval"):
        assert tf.io.gfile.glob(f"{model_dir}/{run}/events.out.tfevents*")
    # Nothing on local disk: the temporary tree is as it was.
    assert _tree(str(tmp_path)) == before
