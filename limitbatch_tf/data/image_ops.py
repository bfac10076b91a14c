"""ImageNet preprocessing: fused JPEG decode-and-crop, flip, resize, normalise.

Follows the ResNet preprocessing of the TPU reference
(tensorflow/tpu, models/official/resnet/resnet_preprocessing.py) and the
MLPerf ResNet-50 reference (mlcommons/training, image_classification /
resnet-tf2, imagenet_preprocessing.py):

- Training ("inception crop"): sample a crop window with
  ``sample_distorted_bounding_box`` (area fraction in ``area_range``, aspect
  ratio in ``aspect_ratio_range``, covering at least 10% of one of the
  record's object boxes, or of the whole image when it has none), decode only
  that window (``decode_and_crop_jpeg``: the JPEG is never decoded in full),
  flip left-right at random, resize to ``image_size``. When no window is
  found within ``max_attempts`` the sampler returns the whole image; like the
  TPU reference we then fall back to the evaluation center crop.
- Evaluation: decode the central square of side
  ``image_size / (image_size + crop_padding) * min(height, width)``
  (crop_padding 32: 224 out of 256 at ImageNet scale), resize it to
  ``image_size``.
- Both: subtract the ImageNet mean and divide by its standard deviation, per
  RGB channel in 0..255 units, then cast to the compute dtype.

Randomness is stateless: every call takes a ``[2]`` int seed, so a given
(seed, example) pair always gets the same crop and flip, and a resumed run
draws what an uninterrupted one would have drawn.

Deviations from the references: the TPU reference resizes with bicubic
interpolation, MLPerf with bilinear; ``method`` selects (bicubic default).
Its training crop also ignores the records' boxes; we honour them, as MLPerf
does (records without boxes behave identically).
"""
from __future__ import annotations

import tensorflow as tf

# ImageNet channel statistics in 0..255 units (TPU resnet_main.py MEAN_RGB /
# STDDEV_RGB; the same numbers as torchvision's 0..1 ones times 255).
MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)
CROP_PADDING = 32


def distorted_crop_window(image_shape, bbox, seed, area_range=(0.08, 1.0),
                          aspect_ratio_range=(0.75, 1.33),
                          min_object_covered=0.1, max_attempts=10):
    """A random crop window ``[y, x, height, width]`` and whether it failed.

    Args:
      image_shape: int32 ``[height, width, channels]`` of the image.
      bbox: float32 ``[1, num_boxes, 4]`` object boxes as ``[ymin, xmin,
        ymax, xmax]`` in [0, 1]; ``num_boxes`` may be 0 (whole image).
      seed: int ``[2]`` stateless seed.
      area_range: (min, max) fraction of the image area the crop covers.
        Defaults to (0.08, 1.0), the TPU reference.
      aspect_ratio_range: (min, max) width / height of the crop. Defaults to
        (0.75, 1.33).
      min_object_covered: fraction of some box the crop must cover. Defaults
        to 0.1.
      max_attempts: samples tried before giving up. Defaults to 10 (TPU
        reference; MLPerf uses 100).
    Returns:
      (window int32 [4], fell_back bool): ``fell_back`` is true when the
      sampler returned the whole image, i.e. found no window.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_shape, bounding_boxes=bbox, seed=seed,
        min_object_covered=min_object_covered,
        aspect_ratio_range=list(aspect_ratio_range),
        area_range=list(area_range), max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True)
    window = tf.stack([begin[0], begin[1], size[0], size[1]])
    fell_back = tf.reduce_all(tf.equal(size[:2], image_shape[:2]))
    return window, fell_back


def center_crop_window(image_shape, image_size: int,
                       crop_padding: int = CROP_PADDING):
    """The central square ``[y, x, side, side]`` the evaluation crop decodes.

    side = image_size / (image_size + crop_padding) * min(height, width),
    truncated; the offsets round the leftover margin up, as the TPU
    reference does.
    """
    height, width = image_shape[0], image_shape[1]
    side = tf.cast(image_size / (image_size + crop_padding) * tf.cast(
        tf.minimum(height, width), tf.float32), tf.int32)
    return tf.stack([(height - side + 1) // 2, (width - side + 1) // 2,
                     side, side])


def _resize(image, image_size, method):
    return tf.image.resize(image, [image_size, image_size], method=method)


def decode_and_random_crop(image_bytes, bbox, seed, image_size: int,
                           area_range=(0.08, 1.0),
                           aspect_ratio_range=(0.75, 1.33),
                           max_attempts: int = 10, method: str = "bicubic"):
    """Decodes a random crop of a JPEG and resizes it: float32 [S, S, 3].

    Falls back to the center crop of :func:`decode_and_center_crop` when the
    sampler finds no window in ``max_attempts`` (see
    :func:`distorted_crop_window` for the other arguments).
    """
    shape = tf.image.extract_jpeg_shape(image_bytes)
    window, fell_back = distorted_crop_window(
        shape, bbox, seed, area_range, aspect_ratio_range,
        max_attempts=max_attempts)
    window = tf.where(fell_back, center_crop_window(shape, image_size), window)
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    return _resize(image, image_size, method)


def decode_and_center_crop(image_bytes, image_size: int,
                           crop_padding: int = CROP_PADDING,
                           method: str = "bicubic"):
    """Decodes the central crop of a JPEG and resizes it: float32 [S, S, 3]."""
    shape = tf.image.extract_jpeg_shape(image_bytes)
    window = center_crop_window(shape, image_size, crop_padding)
    image = tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3)
    return _resize(image, image_size, method)


def normalize(image, dtype=tf.float32, mean=MEAN_RGB, std=STDDEV_RGB):
    """(image - mean) / std per channel (0..255 units), cast to ``dtype``."""
    image = tf.cast(image, tf.float32)
    image = (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
    return tf.cast(image, dtype)


def preprocess_train(image_bytes, bbox, seed, image_size: int,
                     area_range=(0.08, 1.0), aspect_ratio_range=(0.75, 1.33),
                     dtype=tf.float32, method: str = "bicubic"):
    """Inception crop, random flip, resize, normalise: ``dtype`` [S, S, 3]."""
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 2))
    image = decode_and_random_crop(image_bytes, bbox, crop_seed, image_size,
                                   area_range, aspect_ratio_range,
                                   method=method)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    return normalize(image, dtype)


def preprocess_eval(image_bytes, image_size: int, dtype=tf.float32,
                    method: str = "bicubic"):
    """Center crop, resize, normalise: ``dtype`` [S, S, 3]."""
    return normalize(decode_and_center_crop(image_bytes, image_size,
                                            method=method), dtype)
