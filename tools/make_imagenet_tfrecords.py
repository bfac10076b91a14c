"""Converts an ImageNet-style folder of images into TFRecords (TPU layout).

Shim for ``python tools/make_imagenet_tfrecords.py`` from a checkout; the tool is the console
script ``limitbatch-make-imagenet-tfrecords`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/make_imagenet_tfrecords.py.
"""
import sys

from limitbatch_tf.cli.make_imagenet_tfrecords import main

if __name__ == "__main__":
    sys.exit(main())
