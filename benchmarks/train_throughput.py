"""Training throughput: our host-loop step vs plain Keras ``model.fit`` and
a minimal hand-written TensorFlow loop.

Same LeNet-5 shape, same batch size and optimizer (SGD momentum 0.9), one
device; the three are timed alternately in one process:
- ours: StepFunctions' host loop over our InMemorySource pipeline;
- ``model.fit``: the same pipeline, ``steps_per_execution`` = our loop;
- minimal loop: no package code at all. The images sit in one uint8 tensor;
  each step gathers a random batch (``tf.random.uniform`` indices), and N
  steps run in one ``tf.function`` (a ``tf.range`` loop of GradientTape +
  ``apply_gradients``). It is the ceiling our loop is held to (issue 18:
  ours / minimal >= 0.97), since it pays for nothing but the maths.

  python benchmarks/train_throughput.py --batch_size=256 --steps=200 --rounds=5
"""
import argparse
import os

import limitbatch_tf  # noqa: F401  (oneDNN on before TF loads)

import keras
import numpy as np
import tensorflow as tf

from common import interleaved, ratio_table
from limitbatch_tf.data import base
from limitbatch_tf.data.in_memory import InMemorySource
from limitbatch_tf.models import lenet
from limitbatch_tf.train import loop
from limitbatch_tf.train.steps import StepFunctions


def _raw(num=60000):
    """The benchmark's images (uint8, 28x28x1) and labels, seeded."""
    rng = np.random.default_rng(0)
    return (rng.integers(0, 255, (num, 28, 28, 1), dtype=np.uint8),
            rng.integers(0, 10, num))


def _source(num=60000):
    x, y = _raw(num)
    info = base.DatasetInfo("bench", (28, 28, 1), 10, num)
    return InMemorySource(info, (x, y), {"test": (x[:1000], y[:1000])})


def _ce(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def host_loop(source, global_batch, micro, steps):
    """Our StepFunctions host loop of ``steps`` update steps, traced and warm."""
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    layout = base.StepLayout.resolve(global_batch, 1, micro)
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce)
    # the main job's iterator (one CPU device iterates the dataset itself)
    iterator = loop.input_iterator(
        strategy, lambda c: source.train_dataset(c, layout, seed=0))
    run = lambda: fns.train_loop(iterator, tf.constant(steps))  # noqa: E731
    run()
    return run


def _plain_lenet5():
    """LeNet-5 written out with Keras layers only (the shape of
    limitbatch_tf.models.lenet.lenet5, rebuilt here so the minimal loop
    uses no package code)."""
    from keras import layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(10),
    ])


def minimal_loop(images, labels, global_batch, steps):
    """A hand-written TF loop: ``steps`` random-gather SGD steps per call."""
    model = _plain_lenet5()
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    x = tf.constant(images)
    y = tf.constant(labels, tf.int32)
    n = int(images.shape[0])

    @tf.function
    def train(num_steps):
        total = tf.constant(0.0)
        for _ in tf.range(num_steps):
            idx = tf.random.uniform([global_batch], 0, n, tf.int32)
            xb = tf.cast(tf.gather(x, idx), tf.float32) / 255.0
            yb = tf.gather(y, idx)
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            total += loss
        return total

    run = lambda: train(tf.constant(steps))  # noqa: E731
    run()
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200,
                        help="update steps per timed round")
    parser.add_argument("--steps_per_loop", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    source = _source()
    layout = base.StepLayout.resolve(args.batch_size, 1)
    ctx = tf.distribute.InputContext(1, 0, 1)

    # ours: StepFunctions host loop
    loops = args.steps // args.steps_per_loop
    ours_loop = host_loop(source, args.batch_size, None, args.steps_per_loop)

    def ours():
        for _ in range(loops):
            ours_loop()

    # plain Keras: compile + fit on the same pipeline (weights as sample_weight)
    fit_model = lenet.lenet5((28, 28, 1), 10)
    fit_model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True),
                      steps_per_execution=args.steps_per_loop)
    fit_data = source.train_dataset(ctx, layout, seed=0)

    def fit():
        fit_model.fit(fit_data, steps_per_epoch=loops * args.steps_per_loop,
                      epochs=1, verbose=0, shuffle=False)

    fit()  # trace and warm up (ours is warm already)

    # minimal: a hand-written loop, steps_per_loop steps per tf.function call
    images, labels = _raw()  # the same arrays _source() holds
    minimal_call = minimal_loop(images, labels, args.batch_size,
                                args.steps_per_loop)

    def minimal():
        for _ in range(loops):
            minimal_call()

    times = interleaved({"minimal TF loop": minimal, "keras model.fit": fit,
                         "limitbatch_tf loop": ours}, args.rounds)
    print(f"LeNet-5, batch {args.batch_size}, {loops * args.steps_per_loop} "
          f"steps per round, {args.rounds} rounds, steps_per_loop/"
          f"steps_per_execution {args.steps_per_loop}, oneDNN "
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    ratio_table(times, "minimal TF loop",
                loops * args.steps_per_loop * args.batch_size, "examples/s")


if __name__ == "__main__":
    main()
