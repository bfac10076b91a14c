"""What our training step adds to a minimal TF loop, one piece at a time.

Variants of benchmarks/train_throughput.py's minimal loop (LeNet-5, SGD
momentum, N steps per tf.function, one CPU device), timed alternately in
one process with our host loop:
- minimal: a random gather from one in-graph uint8 tensor per step;
- +tfdata: the batches come from our in-memory tf.data pipeline
  (InMemorySource, an index permutation and one gather per batch) instead;
- +weights+sums: the per-example weighted loss sum / B, the correct count
  and replica-local running sums, as train/steps.py computes them;
- both of the above;
- ours: StepFunctions' host loop with the main job's iterator.
Ratios are to the minimal loop (issue 18 item 2: pay only for what is used).

  python benchmarks/step_breakdown.py --batch_size=256 --rounds=5
"""
import argparse

import limitbatch_tf  # noqa: F401  (oneDNN on before TF loads)

import keras
import tensorflow as tf

import train_throughput as tt
from common import interleaved, ratio_table
from limitbatch_tf.data import base


def variant(source, images, labels, batch, steps, tfdata, extras):
    """A minimal loop of ``steps`` steps per call with the chosen pieces."""
    model = tt._plain_lenet5()
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    x, y, n = tf.constant(images), tf.constant(labels, tf.int32), images.shape[0]
    layout = base.StepLayout.resolve(batch, 1)
    iterator = (iter(source.train_dataset(tf.distribute.InputContext(1, 0, 1),
                                          layout, seed=0)) if tfdata else None)
    sums = tf.Variable(tf.zeros([4]))

    @tf.function
    def train(k):
        for _ in tf.range(k):
            if tfdata:
                xb, yb, wb = next(iterator)
            else:
                idx = tf.random.uniform([batch], 0, n, tf.int32)
                xb = tf.cast(tf.gather(x, idx), tf.float32) / 255.0
                yb, wb = tf.gather(y, idx), tf.ones([batch])
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    yb, logits)
                loss = (tf.reduce_sum(per_example * wb) / batch if extras
                        else tf.reduce_mean(per_example))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            if extras:
                hit = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), yb)
                correct = tf.reduce_sum(tf.cast(hit, tf.float32) * wb)
                sums.assign_add(tf.stack([loss, 0.0, 0.0, correct]))
        return sums

    train(tf.constant(steps))  # trace and warm up
    return lambda: train(tf.constant(steps))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--steps_per_loop", type=int, default=10)
    p.add_argument("--loops", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    images, labels = tt._raw()
    source = tt._source()
    b, n = args.batch_size, args.steps_per_loop
    calls = {
        "minimal": variant(source, images, labels, b, n, False, False),
        "+tfdata": variant(source, images, labels, b, n, True, False),
        "+weights+sums": variant(source, images, labels, b, n, False, True),
        "+tfdata+weights+sums": variant(source, images, labels, b, n, True, True),
        "ours": tt.host_loop(source, b, None, n),
    }
    contenders = {name: (lambda f: lambda: [f() for _ in range(args.loops)])(f)
                  for name, f in calls.items()}
    times = interleaved(contenders, args.rounds)
    print(f"LeNet-5, batch {b}, {args.loops} x {n} steps per round, "
          f"{args.rounds} rounds")
    ratio_table(times, "minimal", args.loops * n * b, "examples/s")


if __name__ == "__main__":
    main()
