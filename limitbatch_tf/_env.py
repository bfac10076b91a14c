"""Process environment that must be set before TensorFlow is imported.

oneDNN kernels are 3-5x faster for LeNet on this project's reference CPU
(AMD Zen3, no AVX-512), where TensorFlow leaves them off by default; see
docs/references.md, R1. ``setdefault`` keeps a user's explicit choice.
"""
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
