"""MLPerf-style time to train: --target_accuracy, --eval_offset_epochs and
the when-fields of every evaluation (issue 16.4)."""
import json
import math

import pytest

from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.train import loop
from fakedata import write_mnist_dir


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


@pytest.mark.parametrize("every,offset,total", [
    (10.0, 0.0, 100), (10.0, 3.0, 100), (2.5, 1.2, 17), (8.0, 4.0, 24),
    (1.0, 0.5, 5)])
def test_next_eval_walks_the_offset_grid(every, offset, total):
    plan = loop.Plan(None, 0, total, every, 0.0, None, eval_offset_steps=offset)
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
