"""limitbatch_tf: study the limit of the batch size in neural network training.

Reproduces and extends Y. You, Y. Wang, H. Zhang, Z. Zhang, J. Demmel and
C.-J. Hsieh, "The Limit of the Batch Size" (2020), with TensorFlow 2 / Keras 3.
"""
from limitbatch_tf import _env  # noqa: F401  (must run before TensorFlow loads)
from limitbatch_tf import _tensorflow_check

_tensorflow_check.check()

__version__ = "0.1.0"
