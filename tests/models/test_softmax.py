"""Softmax regression against NumPy: logits = flatten(x) W + b."""
import numpy as np

from limitbatch_tf.config import Config
from limitbatch_tf.data.base import DatasetInfo, StepLayout
from limitbatch_tf.models import registry


def test_softmax_regression_is_one_affine_map():
    info = DatasetInfo("fake", (28, 28, 1), 10, 100)
    model = registry.build_model("softmax_regression", info,
                                 Config(model="softmax_regression"),
                                 StepLayout.resolve(8, 1))
    assert model.count_params() == 28 * 28 * 10 + 10
    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype(np.float32)
    w, b = [v.numpy() for v in model.trainable_variables]
    want = x.reshape(3, -1) @ w + b
    np.testing.assert_allclose(model(x).numpy(), want, rtol=1e-5, atol=1e-5)
