"""Every committed experiment config loads and validates against Config."""
import glob
import os

import pytest

from limitbatch_tf.config import from_mapping, load_yaml

REPO = os.path.dirname(os.path.dirname(__file__))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "experiments", "**", "*.yaml"),
                           recursive=True))


def test_there_are_configs():
    assert len(CONFIGS) >= 21


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: os.path.relpath(p, REPO))
def test_config_validates(path):
    values = load_yaml(path)
    from_mapping(values, path).validate()
