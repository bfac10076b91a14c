"""Strategy building: names, logical CPUs, TPU fast failure."""
import time

import pytest

from limitbatch_tf import distribute


def test_unknown_strategy():
    with pytest.raises(distribute.StrategyError, match="--strategy=gpu is unknown"):
        distribute.build_strategy("gpu")


def test_mirrored_over_logical_cpus():
    strategy = distribute.build_strategy("auto", num_cpu_replicas=4)
    assert strategy.num_replicas_in_sync == 4


def test_too_many_cpu_replicas_after_initialisation():
    with pytest.raises(distribute.StrategyError, match="--num_cpu_replicas=64"):
        distribute.split_cpu(64)


def test_tpu_flag_needs_tpu_strategy():
    with pytest.raises(distribute.StrategyError, match="needs --strategy=tpu"):
        distribute.build_strategy("mirrored", tpu="pod")


def test_missing_tpu_fails_fast_with_one_line():
    tic = time.time()
    with pytest.raises(distribute.StrategyError, match=r"^--tpu=pod: no TPU"):
        distribute.tpu_strategy("pod", timeout_s=60)
    assert time.time() - tic < 65
