"""Strategy building: names, logical CPUs, TPU fast failure."""
import threading
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
        distribute.tpu_strategy("pod", probe_timeout_s=60)
    assert time.time() - tic < 65


def test_local_tpu_without_chips_fails_fast_with_one_line():
    """The real resolver: "local" finds no chips on this CPU machine, and
    initialisation says so at once (NotFoundError), not after a timeout."""
    tic = time.time()
    with pytest.raises(distribute.StrategyError, match=r"^--tpu=local: no TPU found"):
        distribute.tpu_strategy("local", probe_timeout_s=60, init_timeout_s=0)
    assert time.time() - tic < 30


class FakeTPU:
    """Stands in for TPUClusterResolver, connect, initialise and TPUStrategy,
    recording the arguments and the thread each ran in."""

    def __init__(self, monkeypatch, lookup_s=0.0, init_s=0.0):
        self.calls = []
        fake = self

        class Resolver:
            def __init__(self, tpu):
                fake.calls.append(("resolver", tpu, threading.current_thread()))

            def cluster_spec(self):
                time.sleep(lookup_s)
                fake.calls.append(("lookup", None, threading.current_thread()))

        def connect(resolver):
            fake.calls.append(("connect", None, threading.current_thread()))

        def initialize(resolver):
            time.sleep(init_s)
            fake.calls.append(("initialize", None, threading.current_thread()))

        tf = distribute.tf
        monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", Resolver)
        monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", connect)
        monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", initialize)
        monkeypatch.setattr(tf.distribute, "TPUStrategy", lambda resolver: "strategy")

    def names(self):
        return [(name, arg) for name, arg, _ in self.calls]

    def thread_of(self, name):
        return next(thread for n, _, thread in self.calls if n == name)


def test_local_is_passed_to_the_resolver_and_not_connected(monkeypatch):
    """Model Garden's tpu_initialize: TPUClusterResolver(tpu="local"), no
    connect_to_cluster for the VM's own chips."""
    fake = FakeTPU(monkeypatch)
    assert distribute.tpu_strategy("local") == "strategy"
    assert fake.names() == [("resolver", "local"), ("initialize", None)]


def test_named_tpu_connects_and_initialises_in_the_calling_thread(monkeypatch):
    """connect_to_cluster enters a thread-local device scope: it and the
    initialisation must run in the thread that trains; only the lookup may
    run in the probe's worker thread."""
    fake = FakeTPU(monkeypatch)
    assert distribute.tpu_strategy("pod") == "strategy"
    assert fake.names() == [("resolver", "pod"), ("lookup", None),
                            ("connect", None), ("initialize", None)]
    main = threading.current_thread()
    assert fake.thread_of("connect") is main
    assert fake.thread_of("initialize") is main
    assert fake.thread_of("lookup") is not main


def test_probe_is_bounded(monkeypatch):
    FakeTPU(monkeypatch, lookup_s=5.0)
    tic = time.time()
    with pytest.raises(distribute.StrategyError,
                       match=r"^--tpu=pod: no TPU answered within 0 s$"):
        distribute.tpu_strategy("pod", probe_timeout_s=0.3)
    assert time.time() - tic < 2


def test_initialisation_has_its_own_longer_bound(monkeypatch):
    """A slow initialisation (a large pod) is not cut by the probe's bound;
    past --tpu_init_timeout the watchdog fires (by default: one line, exit 2)."""
    fired = []
    FakeTPU(monkeypatch, init_s=1.0)
    assert distribute.tpu_strategy(
        "pod", probe_timeout_s=0.3, init_timeout_s=5.0,
        on_init_timeout=lambda *a: fired.append(a)) == "strategy"
    assert fired == []
    FakeTPU(monkeypatch, init_s=1.0)
    distribute.tpu_strategy("pod", init_timeout_s=0.2,
                            on_init_timeout=lambda *a: fired.append(a))
    assert fired == [("pod", 0.2)]


def test_build_strategy_passes_the_init_timeout(monkeypatch):
    seen = {}
    monkeypatch.setattr(distribute, "tpu_strategy",
                        lambda tpu, init_timeout_s: seen.update(
                            tpu=tpu, init=init_timeout_s) or FakeStrategy())
    distribute.build_strategy("auto", tpu="local", tpu_init_timeout=1800)
    assert seen == {"tpu": "local", "init": 1800}


class FakeStrategy:
    num_replicas_in_sync = 8
