"""ImageNet input pipeline throughput: decoded examples/s, per core, vs the model.

Writes ``--num_images`` JPEG TFRecords of ImageNet-like size (500x375,
smooth colour fields plus noise, ~100-150 KB each like ImageNet's average)
unless --data_dir holds some, then pulls per-replica batches from
data/imagenet.py's training pipeline (inception crop, flip, resize,
normalise) and its evaluation pipeline (center crop), alternately, from one
warm iterator each. Prints examples/s, examples/s per CPU core and, given
--model_examples_per_s (the training step's rate, e.g. from
benchmarks/train_throughput.py or a run's telemetry), the ratio
input / model: >= 1 means the CPUs keep the model fed.

  python benchmarks/input_pipeline.py --num_images=512 --batches=16 --rounds=3
"""
import argparse
import os
import shutil
import statistics
import tempfile
import time

import limitbatch_tf  # noqa: F401  (oneDNN on before TF loads)

import numpy as np
import tensorflow as tf

from common import ratio_table
from limitbatch_tf.data import base, imagenet


def write_dataset(folder, num_images, shards, height, width, seed=0):
    """``num_images`` train and a few validation JPEG records; returns mean JPEG bytes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sizes = []

    def image():
        # Low-frequency colour fields plus pixel noise: natural-image-like
        # entropy, so JPEG sizes and decode costs are ImageNet-like.
        fx, fy = rng.uniform(0.005, 0.03, 2)
        base_ = np.stack([rng.uniform(60, 190) + 50 * np.sin(fx * x + fy * y + c)
                          for c in range(3)], -1)
        noisy = base_ + rng.normal(0, 22, base_.shape)
        data = tf.io.encode_jpeg(np.clip(noisy, 0, 255).astype(np.uint8),
                                 quality=90).numpy()
        sizes.append(len(data))
        return data

    for prefix, count, parts in (("train", num_images, shards),
                                 ("validation", max(1, num_images // 8), 1)):
        for k in range(parts):
            path = os.path.join(folder, f"{prefix}-{k:05d}-of-{parts:05d}")
            with tf.io.TFRecordWriter(path) as writer:
                for i in range(k * count // parts, (k + 1) * count // parts):
                    writer.write(imagenet.encode_example(
                        image(), 1 + i % 1000, height, width))
    return statistics.mean(sizes)


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def measure(folder, args):
    """Times the training and evaluation pipelines over the shards in ``folder``."""
    # Both pipelines read the training shards (eval's center-crop path too,
    # so that a pass is long and restarts do not dominate).
    train = imagenet.Split(imagenet.find_shards(folder, "train"))
    source = imagenet.ImageNetSource(train, {"test": train},
                                     imagenet.RecordFormat(),
                                     image_size=args.image_size)
    layout = base.StepLayout.resolve(args.batch_size, 1)
    ctx = tf.distribute.InputContext(1, 0, 1)
    datasets = {
        "train (inception crop)": source.train_dataset(ctx, layout, seed=0),
        "eval (center crop)": source.eval_dataset(ctx, layout).repeat(),
    }

    def pull(dataset):
        # A fresh iterator per round, warmed up before timing, so no
        # contender's background prefetching runs during another's round.
        def run():
            iterator = iter(dataset)
            for _ in range(args.warmup_batches):
                next(iterator)
            tic = time.perf_counter()
            for _ in range(args.batches):
                next(iterator)
            return time.perf_counter() - tic
        return run

    # Alternating rounds as common.interleaved, timing only the pulls.
    times = {name: [] for name in datasets}
    for _ in range(args.rounds):
        for name, dataset in datasets.items():
            times[name].append(pull(dataset)())
    n_cores = cores()
    work = args.batches * args.batch_size
    print(f"{args.image_size}x{args.image_size} batches of {args.batch_size}, "
          f"{args.batches} batches x {args.rounds} rounds, {n_cores} CPU cores")
    ratio_table(times, "train (inception crop)", work, "examples/s")
    print(f"\n{'contender':<28} {'examples/s/core':>16} "
          f"{'input / model':>22}")
    for name, ts in times.items():
        rate = work / statistics.median(ts)
        vs_model = ("" if args.model_examples_per_s is None
                    else f"{rate / args.model_examples_per_s:.3f}")
        print(f"{name:<28} {rate / n_cores:>16.1f} {vs_model:>22}")
    if args.model_examples_per_s is not None:
        per_core = work / statistics.median(times["train (inception crop)"]) / n_cores
        print(f"model consumes {args.model_examples_per_s:g} examples/s: input / "
              f"model >= 1 means the input keeps up; training input needs "
              f"~{args.model_examples_per_s / per_core:.2f} cores of this "
              f"machine at this rate")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None,
                        help="existing train-*/validation-* shards; default: "
                             "write --num_images to a temporary folder")
    parser.add_argument("--num_images", type=int, default=512)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=64,
                        help="per-replica batch the pipeline emits")
    parser.add_argument("--batches", type=int, default=16,
                        help="batches per timed round and contender")
    parser.add_argument("--warmup_batches", type=int, default=4,
                        help="untimed batches before each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model_examples_per_s", type=float, default=None,
                        help="the model's training rate to compare against")
    args = parser.parse_args(argv)

    folder = args.data_dir
    try:
        if folder is None:
            folder = tempfile.mkdtemp(prefix="imagenet_bench_")
            mean_bytes = write_dataset(folder, args.num_images, args.shards,
                                       args.height, args.width)
            print(f"wrote {args.num_images} JPEG records of {args.width}x"
                  f"{args.height} (mean {mean_bytes / 1024:.0f} KiB) in "
                  f"{args.shards} shards to {folder}")
        measure(folder, args)
    finally:
        if args.data_dir is None and folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
