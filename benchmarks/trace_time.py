"""First-trace seconds of the training loop, with and without AutoGraph.

StepFunctions traces its host loops without AutoGraph (explicit
tf.while_loop): AutoGraph converts every Python function a trace calls
(model, Keras layers, optimizer), which costs a run's start once per
process. This builds a fresh LeNet-5 loop per measurement and times its
first call (trace + one step) both ways, alternating (issue 18.4).

  python benchmarks/trace_time.py --rounds=3
"""
import argparse
import time

import limitbatch_tf  # noqa: F401  (oneDNN on before TF loads)

import keras
import tensorflow as tf

import train_throughput as tt
from limitbatch_tf.data import base
from limitbatch_tf.models import lenet
from limitbatch_tf.train.steps import StepFunctions


def first_call(source, autograph: bool) -> float:
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    layout = base.StepLayout.resolve(256, 1)
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, tt._ce)
    if autograph:
        fns.train_loop = tf.function(fns._train_loop, autograph=True)
    iterator = iter(source.train_dataset(tf.distribute.InputContext(1, 0, 1),
                                         layout, seed=0))
    tic = time.perf_counter()
    fns.train_loop(iterator, tf.constant(1))
    return time.perf_counter() - tic


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    source = tt._source()
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        seconds = {ag: first_call(source, ag) for ag in order}
        print(f"round {r}: without AutoGraph {seconds[False]:.2f} s, with "
              f"{seconds[True]:.2f} s (first: {'with' if order[0] else 'without'})",
              flush=True)


if __name__ == "__main__":
    main()
