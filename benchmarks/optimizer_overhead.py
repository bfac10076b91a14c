"""Step-time overhead of the layer-wise optimizers versus SGD momentum.

    python benchmarks/optimizer_overhead.py                     # both models
    python benchmarks/optimizer_overhead.py --models lenet --repeats 7

For each model (LeNet-5 at batch 1024; ResNet-50 for 32x32 inputs at batch
32) one copy per optimizer is trained with an identical tf.function step on
in-memory random data. After a warm-up, the optimizers are timed
interleaved (the order rotates every repeat) so that load from other
processes hits all of them alike; each repeat yields paired ratios
``t_opt / t_sgd_momentum``, and the median over repeats is reported. With
``--apply-only`` the same is done for ``optimizer.apply`` alone on fixed
gradients, which isolates the per-variable optimizer path.

Figures on a shared CPU are noisy: compare ratios measured in one run,
never absolute times across runs.
"""
import argparse
import os
import statistics
import time

import limitbatch_tf  # noqa: F401  (sets TF env vars first)
import keras
import numpy as np
import tensorflow as tf

from limitbatch_tf.optimizers import LAMB, LARS, LayerwiseTrustRatio

OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    "lars": lambda: LARS(0.1, momentum=0.9, weight_decay=1e-4),
    "lamb": lambda: LAMB(1e-4, weight_decay=1e-2),
    "layerwise(sgd_momentum)": lambda: LayerwiseTrustRatio(
        keras.optimizers.SGD(0.1, momentum=0.9), eeta=1e-3,
        weight_decay=1e-4),
    "keras_lamb": lambda: keras.optimizers.Lamb(1e-4),
}
BASELINE = "sgd_momentum"


def lenet5():
    """Classic LeNet-5 (6/16 filters, 120/84 dense) on 28x28x1, logits."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="relu"),
        keras.layers.Dense(84, activation="relu"),
        keras.layers.Dense(10),
    ])


def resnet50_small():
    """keras.applications.ResNet50 for 32x32x3 inputs, 10 classes, logits."""
    return keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10,
        classifier_activation=None)


MODELS = {"lenet": (lenet5, (28, 28, 1), 1024),
          "resnet50": (resnet50_small, (32, 32, 3), 32)}


def make_runner(build_model, optimizer, x, y, apply_only):
    keras.utils.set_random_seed(0)
    model = build_model()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables
    optimizer.build(variables)

    def grads_of_batch():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, variables), loss

    if apply_only:
        fixed, _ = grads_of_batch()

        @tf.function
        def step():
            optimizer.apply(fixed, variables)
            return optimizer.iterations
    else:
        @tf.function
        def step():
            grads, loss = grads_of_batch()
            optimizer.apply(grads, variables)
            return loss

    def run(steps):
        out = None
        for _ in range(steps):
            out = step()
        return float(out)  # waits for the last step

    return run


def benchmark(model_name, names, repeats, steps, apply_only):
    build_model, shape, batch = MODELS[model_name]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch,) + shape).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, size=(batch,)).astype(np.int32))
    runners = {}
    for name in names:
        t0 = time.perf_counter()
        runners[name] = make_runner(build_model, OPTIMIZERS[name](), x, y,
                                    apply_only)
        runners[name](2)  # trace + warm up
        print(f"  {model_name}/{name}: built and traced in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    times = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            runners[name](steps)
            times[name].append((time.perf_counter() - t0) / steps)
    return times


def report(model_name, times, apply_only):
    what = "optimizer.apply" if apply_only else "train step"
    print(f"\n{model_name}: {what} time, median over {len(times[BASELINE])} "
          f"interleaved repeats; ratio = median of paired ratios to "
          f"{BASELINE}")
    print(f"  {'optimizer':<26}{'ms/step':>10}{'ratio':>8}{'min':>7}"
          f"{'max':>7}")
    base = times[BASELINE]
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, base)]
        print(f"  {name:<26}{1e3 * statistics.median(values):>10.2f}"
              f"{statistics.median(ratios):>8.3f}{min(ratios):>7.3f}"
              f"{max(ratios):>7.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lenet,resnet50")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lenet-steps", type=int, default=10)
    parser.add_argument("--resnet-steps", type=int, default=3)
    parser.add_argument("--apply-only", action="store_true",
                        help="time optimizer.apply on fixed gradients")
    args = parser.parse_args(argv)
    names = args.optimizers.split(",")
    if BASELINE not in names:
        names.insert(0, BASELINE)
    print(f"TF {tf.__version__}, Keras {keras.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"{os.cpu_count()} CPUs", flush=True)
    for model_name in args.models.split(","):
        steps = args.lenet_steps if model_name == "lenet" else args.resnet_steps
        times = benchmark(model_name, names, args.repeats, steps,
                          args.apply_only)
        report(model_name, times, args.apply_only)


if __name__ == "__main__":
    main()
