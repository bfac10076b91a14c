"""Builds the tf.distribute strategy named by --strategy.

tpu (--tpu=NAME, or --tpu=local on a Cloud TPU VM) | multi_worker
(TF_CONFIG) | mirrored (all GPUs, or --num_cpu_replicas logical CPUs) |
one_device; "auto" picks in that order.
Splitting the CPU into logical devices is how every distributed path is
tested on a machine without accelerators.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import threading

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
TPU_PROBE_TIMEOUT_S = 60
TPU_INIT_TIMEOUT_S = 900  # --tpu_init_timeout's default
LOCAL_TPU = ("", "local")  # this VM's own chips: nothing to connect to
COLLECTIVE_TIMEOUT_S = 120


class StrategyError(RuntimeError):
    """The requested strategy cannot be built on this machine."""


def split_cpu(num_replicas: int):
    """Makes ``num_replicas`` logical CPU devices and returns their names.

    Must run before TensorFlow initialises its devices; if it already has,
    the existing logical CPUs are reused when there are enough of them.
    """
    cpus = tf.config.list_physical_devices("CPU")
    if num_replicas > 1:
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_replicas)
        except RuntimeError:
            pass  # devices already initialised; check what exists below
    logical = tf.config.list_logical_devices("CPU")
    if len(logical) < num_replicas:
        raise StrategyError(
            f"--num_cpu_replicas={num_replicas}: TensorFlow was initialised "
            f"with {len(logical)} logical CPUs before the split could happen")
    return [d.name for d in logical[:num_replicas]]


def cpu_mirrored_strategy(devices):
    """MirroredStrategy over logical CPU devices.

    Reduction through one device instead of the default collective ops: the
    collectives key their groups by device count, so two mirrored strategies
    of different sizes in one process (tests, sweeps) abort each other.
    """
    return tf.distribute.MirroredStrategy(
        devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


def _resolve_tpu(tpu: str):
    """The resolver for ``--tpu`` and the cluster it names (network calls).

    "local" is passed through: ``TPUClusterResolver(tpu="local")`` is how a
    Cloud TPU VM finds its own chips (Model Garden,
    official/common/distribute_utils.py ``tpu_initialize``); a name or
    grpc:// address is looked up through the Cloud TPU API.
    """
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    if tpu not in LOCAL_TPU:
        resolver.cluster_spec()  # the lookup that hangs when no TPU answers
    return resolver


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _exit_init_timeout(tpu: str, timeout_s: float):
    """Default watchdog action: one line, then exit 2 from any thread."""
    print(f"error: --tpu={tpu}: TPU initialisation did not finish within "
          f"{timeout_s:.0f} s; raise --tpu_init_timeout for a large pod",
          file=sys.stderr, flush=True)
    os._exit(2)  # the main thread is inside a blocking TPU call


def tpu_strategy(tpu: str, probe_timeout_s: float = TPU_PROBE_TIMEOUT_S,
                 init_timeout_s: float = TPU_INIT_TIMEOUT_S,
                 on_init_timeout=_exit_init_timeout):
    """TPUStrategy for ``--tpu`` (a name, grpc:// address, "pod" or "local").

    Two bounds, one per phase (Model Garden's ``tpu_initialize`` has none):

    - the probe (resolving the name) runs in a worker thread and fails
      within ``probe_timeout_s`` with one line when no TPU answers, instead
      of hanging on a metadata server that is not there;
    - connecting and ``initialize_tpu_system`` run in the calling thread:
      ``experimental_connect_to_cluster`` enters the TPU master's device
      scope for the thread it runs in, so it must be the thread that trains.
      Initialisation takes minutes on a large pod; a watchdog calls
      ``on_init_timeout(tpu, init_timeout_s)`` after ``init_timeout_s``
      (--tpu_init_timeout; 0: no limit), which by default prints one line
      and exits with status 2.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_resolve_tpu, tpu)
    try:
        resolver = future.result(timeout=probe_timeout_s)
    except concurrent.futures.TimeoutError:
        raise StrategyError(
            f"--tpu={tpu}: no TPU answered within {probe_timeout_s:.0f} s") from None
    except Exception as e:  # noqa: BLE001  resolver errors vary by version
        raise StrategyError(f"--tpu={tpu}: no TPU found ({_first_line(e)})") from None
    finally:
        pool.shutdown(wait=False)
    watchdog = None
    if init_timeout_s:
        watchdog = threading.Timer(init_timeout_s, on_init_timeout,
                                   (tpu, init_timeout_s))
        watchdog.daemon = True
        watchdog.start()
    try:
        if tpu not in LOCAL_TPU:
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except Exception as e:  # noqa: BLE001  NotFoundError when no TPU is here
        raise StrategyError(f"--tpu={tpu}: no TPU found ({_first_line(e)})") from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
    return tf.distribute.TPUStrategy(resolver)


def build_strategy(name: str = "auto", tpu=None, num_cpu_replicas: int = 1,
                   tpu_init_timeout: float = TPU_INIT_TIMEOUT_S):
    """Builds the strategy; see the module docstring for what "auto" picks.

    ``tpu_init_timeout`` bounds TPU initialisation (see ``tpu_strategy``).
    """
    if name not in STRATEGIES:
        raise StrategyError(f"--strategy={name} is unknown; expected one of "
                            f"{', '.join(STRATEGIES)}")
    if name == "auto":
        if tpu:
            name = "tpu"
        elif "TF_CONFIG" in os.environ and json.loads(
                os.environ["TF_CONFIG"]).get("cluster"):
            name = "multi_worker"
        elif (len(tf.config.list_physical_devices("GPU")) > 1
              or num_cpu_replicas > 1):
            name = "mirrored"
        else:
            name = "one_device"
    if name != "tpu" and tpu:
        raise StrategyError(f"--tpu={tpu} needs --strategy=tpu or auto, "
                            f"got --strategy={name}")
    if name == "tpu":
        if not tpu:
            raise StrategyError("--strategy=tpu needs --tpu=NAME")
        strategy = tpu_strategy(tpu, init_timeout_s=tpu_init_timeout)
    elif name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise StrategyError("--strategy=multi_worker needs the TF_CONFIG "
                                "environment variable (cluster and task)")
        # A bounded collective timeout turns a lost worker into an error the
        # survivors report, instead of a hang; they resume from checkpoints.
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                timeout_seconds=COLLECTIVE_TIMEOUT_S))
    elif name == "mirrored":
        # Physical devices can be listed without initialising TensorFlow;
        # logical ones cannot, and the CPU split must come first.
        if tf.config.list_physical_devices("GPU") and num_cpu_replicas == 1:
            strategy = tf.distribute.MirroredStrategy()
        else:
            strategy = cpu_mirrored_strategy(split_cpu(num_cpu_replicas))
    else:
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy(
            gpus[0].name if gpus else "/cpu:0")
    print(f"strategy {type(strategy).__name__} with "
          f"{strategy.num_replicas_in_sync} replicas", flush=True)
    return strategy


def task_id(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver else 0


def is_chief(strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type in (None, "worker") and task_id(strategy) == 0
