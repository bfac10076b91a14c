"""ResNet-50 training throughput: our host-loop step vs plain Keras ``model.fit``.

Same model (ResNet-50 v1.5 or the CIFAR ResNet-50, stock Keras batch norm),
same synthetic device-resident batch (data/synthetic.py: no input cost), same
optimizer (SGD momentum 0.9), same dtype policy and XLA setting; timed
alternately, several rounds; the figure of merit is the median per-round
ratio of our examples/s to fit's (target >= 1.0). Runs on every visible GPU
(MirroredStrategy) when there are any, else on the CPU.

  # CPU (minutes): small images, small batch
  python benchmarks/resnet_throughput.py --image_size=64 --batch_size=32 --steps=8 --steps_per_loop=4 --rounds=3
  # GPU (device tool): the MLPerf shape
  python benchmarks/resnet_throughput.py --image_size=224 --batch_size=256 --steps=100 --steps_per_loop=50 --precision=mixed_float16 --jit_compile
"""
import argparse
import os
import platform

import limitbatch_tf  # noqa: F401  (oneDNN on before TF loads)

import keras
import tensorflow as tf

from common import interleaved, ratio_table
from limitbatch_tf.data import base, synthetic
from limitbatch_tf.losses import per_example_cross_entropy
from limitbatch_tf.models import resnet
from limitbatch_tf.train.steps import StepFunctions

MODELS = {"resnet50_v1_5": ("synthetic_imagenet", resnet.resnet50_v1_5),
          "resnet50_cifar": ("synthetic_cifar10", resnet.resnet50_cifar)}


def _strategy():
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def _optimizer(precision):
    opt = keras.optimizers.SGD(0.01, momentum=0.9)
    return (keras.optimizers.LossScaleOptimizer(opt)
            if precision == "mixed_float16" else opt)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet50_v1_5")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32,
                        help="global batch")
    parser.add_argument("--steps", type=int, default=8,
                        help="update steps per timed round")
    parser.add_argument("--steps_per_loop", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "mixed_bfloat16", "mixed_float16"))
    parser.add_argument("--jit_compile", action="store_true")
    args = parser.parse_args(argv)
    if args.steps % args.steps_per_loop:
        parser.error("--steps must be a multiple of --steps_per_loop")

    keras.mixed_precision.set_global_policy(args.precision)
    strategy = _strategy()
    dataset_name, builder = MODELS[args.model]
    source = synthetic.SyntheticSource(dataset_name, args.image_size)
    layout = base.StepLayout.resolve(args.batch_size,
                                     strategy.num_replicas_in_sync)
    make_data = lambda ctx: source.train_dataset(ctx, layout, seed=0)  # noqa: E731
    shape = source.info.image_shape

    # ours: StepFunctions host loop of steps_per_loop steps per call
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = builder(num_classes=source.info.num_classes, input_shape=shape)
        optimizer = _optimizer(args.precision)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout,
                        per_example_cross_entropy, jit_compile=args.jit_compile)
    iterator = iter(strategy.distribute_datasets_from_function(make_data))
    loops = args.steps // args.steps_per_loop

    def ours():
        for _ in range(loops):
            fns.train_loop(iterator, tf.constant(args.steps_per_loop))

    # plain Keras: compile + fit, same model, same data, sample weights
    with strategy.scope():
        fit_model = builder(num_classes=source.info.num_classes, input_shape=shape)
        fit_model.compile(optimizer=_optimizer(args.precision),
                          loss=keras.losses.SparseCategoricalCrossentropy(
                              from_logits=True),
                          steps_per_execution=args.steps_per_loop,
                          jit_compile=args.jit_compile)
    fit_data = strategy.distribute_datasets_from_function(make_data)

    def fit():
        fit_model.fit(fit_data, steps_per_epoch=args.steps, epochs=1,
                      verbose=0, shuffle=False)

    ours()  # trace and warm up both
    fit()
    times = interleaved({"keras model.fit": fit, "limitbatch_tf loop": ours},
                        args.rounds)
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
        f"CPU x{os.cpu_count()} ({platform.processor() or platform.machine()})"]
    print(f"{args.model} {args.image_size}x{args.image_size}, global batch "
          f"{args.batch_size} on {strategy.num_replicas_in_sync} replica(s) "
          f"{devices}, {args.precision}, jit_compile={args.jit_compile}, "
          f"{args.steps} steps per round, {args.rounds} rounds, "
          f"steps_per_loop/steps_per_execution {args.steps_per_loop}")
    ratio_table(times, "keras model.fit", args.steps * args.batch_size,
                "examples/s")


if __name__ == "__main__":
    main()
