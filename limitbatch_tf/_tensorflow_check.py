"""Fails the import of limitbatch_tf with one line when TensorFlow is missing.

TensorFlow is an extra of the package (setup.cfg): ``tensorflow`` on CPU/GPU
and ``tensorflow-tpu`` on a Cloud TPU VM are different pip distributions of
the same ``tensorflow`` module, so neither can be a plain requirement without
pulling the other onto the wrong machine. The check looks the module up
without importing it (TensorFlow's import takes seconds).
"""
import importlib.util

INSTALL_HINT = ('limitbatch_tf needs TensorFlow (2.20 or 2.21): pip install '
                '"limitbatch_tf[cpu]" on CPU/GPU, or "limitbatch_tf[tpu]" on a '
                'Cloud TPU VM (from a checkout: pip install ".[cpu]" / ".[tpu]")')


def check(find_spec=importlib.util.find_spec):
    """Raises ImportError(INSTALL_HINT) when no ``tensorflow`` module exists."""
    if find_spec("tensorflow") is None:
        raise ImportError(INSTALL_HINT)
