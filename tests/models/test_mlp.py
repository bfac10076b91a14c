"""The MLP against NumPy: two ReLU layers of 256, then the logits."""
import numpy as np

from limitbatch_tf.config import Config
from limitbatch_tf.data.base import DatasetInfo, StepLayout
from limitbatch_tf.models import registry


def test_mlp_forward_pass_matches_numpy():
    info = DatasetInfo("fake", (28, 28, 1), 10, 100)
    model = registry.build_model("mlp", info, Config(model="mlp"),
                                 StepLayout.resolve(8, 1))
    assert model.count_params() == (784 * 256 + 256) + (256 * 256 + 256) + (
        256 * 10 + 10) == 269_322
    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype(np.float32)
    w1, b1, w2, b2, w3, b3 = [v.numpy() for v in model.trainable_variables]
    h = np.maximum(x.reshape(3, -1) @ w1 + b1, 0)
    h = np.maximum(h @ w2 + b2, 0)
    np.testing.assert_allclose(model(x).numpy(), h @ w3 + b3, rtol=1e-4,
                               atol=1e-4)
