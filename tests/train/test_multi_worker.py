"""MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1."""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from fakedata import write_mnist_dir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
# Every test here starts two or three main-job processes: run with -m slow.
pytestmark = pytest.mark.slow


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _args(data_dir, model_dir, extra=()):
    return [sys.executable, "-u", "-m", "limitbatch_tf.main", "--dataset=mnist",
            f"--data_dir={data_dir}", f"--model_dir={model_dir}",
            "--batch_size=32", "--train_steps=6", "--steps_per_loop=2",
            "--eval_every_epochs=100", "--learning_rate=0.05", "--seed=3",
            *extra]


def _start_workers(data_dir, model_dir, extra=()):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            _args(data_dir, model_dir, ["--strategy=multi_worker", *extra]),
            cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    return procs


def _weights(model_dir):
    path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n, _ in tf.train.list_variables(path)
            if n.startswith(("model/", "optimizer/_trainable_variables/"))}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(str(path), num_train=128, num_test=32)
    return str(path)


def test_two_workers_match_one_process(data_dir, tmp_path):
    single = tmp_path / "single"
    subprocess.run(_args(data_dir, single, ["--strategy=one_device"]),
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    multi = tmp_path / "multi"
    procs = _start_workers(data_dir, multi)
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:]
    results = json.load(open(multi / "results.json"))
    assert results["strategy"] in ("MultiWorkerMirroredStrategy",
                                   "CollectiveAllReduceStrategy")
    assert results["num_replicas"] == 2 and results["status"] == "completed"
    want, got = _weights(str(single)), _weights(str(multi))
    assert want.keys() == got.keys() and want
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4,
                                   atol=1e-6, err_msg=name)


def test_lost_worker_fails_cleanly_with_a_checkpoint(data_dir, tmp_path):
    model_dir = tmp_path / "run"
    procs = _start_workers(data_dir, model_dir, [
        "--train_steps=100000", "--checkpoint_every_steps=2"])
    chief, other = procs
    for line in chief.stdout:
        if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= 4:
            break
    other.kill()
    tic = time.time()
    chief.communicate(timeout=240)
    assert chief.returncode != 0
    assert time.time() - tic < 240
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
