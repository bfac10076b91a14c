"""Large-batch optimizers as Keras 3 optimizers.

- `LARS`: MLPerf-form LARS (coupled L2, lr inside momentum; options for the
  Model Garden denominator and the lr-after-momentum form).
- `LAMB`: LAMB with coupled L2, weight-norm clamp and ratio bounds.
- `LayerwiseTrustRatio`: the trust ratio around SGD/Adam/Adagrad/RMSprop/...
- `CoupledWeightDecay`: the same coupled L2 and masks without adaptation.
- `build_optimizer`: flags -> optimizer, for the training job.

All are registered Keras serializables (package "limitbatch_tf").
"""
from limitbatch_tf.optimizers.masked import MaskedOptimizer
from limitbatch_tf.optimizers.coupled_decay import CoupledWeightDecay
from limitbatch_tf.optimizers.factory import NAMES as OPTIMIZER_NAMES
from limitbatch_tf.optimizers.factory import build_optimizer
from limitbatch_tf.optimizers.lamb import LAMB
from limitbatch_tf.optimizers.lars import LARS
from limitbatch_tf.optimizers.layerwise import LayerwiseTrustRatio
from limitbatch_tf.optimizers.masks import format_report

__all__ = [
    "CoupledWeightDecay", "LAMB", "LARS", "MaskedOptimizer",
    "LayerwiseTrustRatio", "OPTIMIZER_NAMES", "build_optimizer",
    "format_report",
]
