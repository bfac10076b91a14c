"""ImageNet preprocessing against PIL decoding and hand-computed windows."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from limitbatch_tf.data import image_ops
from fake_records import jpeg, smooth_image

# ImageNet RGB mean / std in 0..255 units, typed out independently.
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def pil_decode(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def full_decode(data):
    """The whole image, by TensorFlow's decoder with its default (fast) DCT."""
    return tf.io.decode_jpeg(data, channels=3).numpy().astype(np.float32)


def test_center_crop_window_by_hand():
    # side = int(32 / (32 + 32) * min(100, 80)) = 40; margins rounded up.
    window = image_ops.center_crop_window(tf.constant([100, 80, 3]), 32)
    assert window.numpy().tolist() == [30, 20, 40, 40]
    window = image_ops.center_crop_window(tf.constant([375, 500, 3]), 224)
    assert window.numpy().tolist() == [24, 86, 328, 328]


@pytest.mark.parametrize("height, width", [(64, 91), (90, 64)])
def test_center_crop_matches_pil_decode(height, width):
    """min side 64 and image_size 32 give a 32-pixel crop: no resize."""
    data = jpeg(smooth_image(height, width, seed=height))
    got = image_ops.decode_and_center_crop(data, 32).numpy()
    y, x = (height - 32 + 1) // 2, (width - 32 + 1) // 2
    full = full_decode(data)
    # Decoding only the window may round chroma at its edges differently.
    assert np.abs(got - full[y:y + 32, x:x + 32]).mean() < 0.2
    assert np.abs(got - full[y:y + 32, x:x + 32]).max() <= 6
    assert np.abs(got - full[y + 1:y + 33, x:x + 32]).mean() > 1.0
    assert np.abs(got - full[y:y + 32, x + 1:x + 33]).mean() > 1.0
    # PIL's accurate integer DCT differs from the fast one by ~1 level.
    assert np.abs(got - pil_decode(data)[y:y + 32, x:x + 32]).mean() < 1.5


def test_eval_preprocessing_resizes_and_normalises():
    data = jpeg(smooth_image(150, 200, seed=3))
    got = image_ops.preprocess_eval(data, 32).numpy()
    # side int(0.5 * 150) = 75 at (38, 63), then bicubic to 32 x 32.
    crop = full_decode(data)[38:38 + 75, 63:63 + 75]
    resized = tf.image.resize(crop, [32, 32], method="bicubic").numpy()
    np.testing.assert_allclose(got, (resized - MEAN) / STD, atol=0.05)
    assert got.shape == (32, 32, 3) and got.dtype == np.float32


def test_normalize_casts():
    image = tf.fill([2, 2, 3], 128.0)
    out = image_ops.normalize(image, tf.bfloat16)
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(out.numpy().astype(np.float32),
                               np.broadcast_to((128.0 - MEAN) / STD, (2, 2, 3)),
                               rtol=1e-2)


def _windows(shape, boxes, seeds, **kwargs):
    bbox = tf.constant(boxes, tf.float32, shape=[1, len(boxes), 4])
    out = []
    for s in seeds:
        window, fell_back = image_ops.distorted_crop_window(
            tf.constant(shape), bbox, tf.constant([s, 7]), **kwargs)
        out.append((window.numpy(), bool(fell_back)))
    return out


def test_random_crop_windows_lie_inside_the_image_and_follow_the_ranges():
    height, width = 375, 500
    windows = _windows([height, width, 3], [], range(200))
    found = [w for w, fell_back in windows if not fell_back]
    assert len(found) > 150  # most seeds find a window in 10 attempts
    for y, x, h, w in found:
        assert 0 <= y and 0 <= x and y + h <= height and x + w <= width
        assert 0.08 * 0.9 <= h * w / (height * width) <= 1.0
        assert 0.75 * 0.9 <= w / h <= 1.33 * 1.1
    assert len({tuple(w) for w in found}) > 100  # they vary with the seed
    again = _windows([height, width, 3], [], range(5))
    assert all((a[0] == b[0]).all() for a, b in zip(windows, again))


def test_random_crop_honours_object_boxes():
    height, width = 300, 400
    box = (0.7, 0.6, 1.0, 1.0)  # ymin, xmin, ymax, xmax: bottom-right corner
    box_px = (box[0] * height, box[1] * width, box[2] * height, box[3] * width)
    box_area = (box_px[2] - box_px[0]) * (box_px[3] - box_px[1])
    for (y, x, h, w), fell_back in _windows([height, width, 3], [box], range(100)):
        if fell_back:
            continue
        overlap = (max(0, min(y + h, box_px[2]) - max(y, box_px[0]))
                   * max(0, min(x + w, box_px[3]) - max(x, box_px[1])))
        assert overlap >= 0.1 * box_area * 0.95, (y, x, h, w)


def test_no_window_falls_back_to_the_center_crop_then_flips():
    """Area 1 at aspect 1/2 is impossible on a square image."""
    data = jpeg(smooth_image(64, 64, seed=5))
    center = image_ops.decode_and_center_crop(data, 32).numpy()
    crop = image_ops.decode_and_random_crop(
        data, tf.zeros([1, 0, 4]), tf.constant([1, 2]), 32,
        area_range=(1.0, 1.0), aspect_ratio_range=(0.5, 0.5))
    np.testing.assert_array_equal(crop.numpy(), center)
    flips = []
    for s in range(12):
        out = image_ops.preprocess_train(
            data, tf.zeros([1, 0, 4]), tf.constant([s, 0]), 32,
            area_range=(1.0, 1.0), aspect_ratio_range=(0.5, 0.5)).numpy()
        plain, mirrored = (center - MEAN) / STD, ((center - MEAN) / STD)[:, ::-1]
        if np.allclose(out, plain, atol=1e-4):
            flips.append(False)
        else:
            np.testing.assert_allclose(out, mirrored, atol=1e-4)
            flips.append(True)
    assert 0 < sum(flips) < len(flips)
