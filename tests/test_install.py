"""TensorFlow is an extra (setup.cfg), and its absence is one clear line.

pip treats ``tensorflow`` and ``tensorflow-tpu`` as different distributions
of the same module; a plain requirement on either would pull it onto the
machine that needs the other (issue 15, finding 1).
"""
import configparser
import pathlib
import subprocess
import sys

import pytest

from limitbatch_tf import _tensorflow_check

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _setup_cfg():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def _requirements(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_tensorflow_is_only_in_the_extras():
    cfg = _setup_cfg()
    requires = _requirements(cfg["options"]["install_requires"])
    assert not [r for r in requires if r.startswith("tensorflow") and
                not r.startswith("tensorflow-datasets")], requires
    extras = cfg["options.extras_require"]
    assert _requirements(extras["cpu"]) == ["tensorflow>=2.20,<2.22"]
    assert _requirements(extras["tpu"]) == ["tensorflow-tpu>=2.20,<2.22"]


def test_check_names_both_extras_when_tensorflow_is_missing():
    with pytest.raises(ImportError) as e:
        _tensorflow_check.check(find_spec=lambda name: None)
    assert "[cpu]" in str(e.value) and "[tpu]" in str(e.value)
    _tensorflow_check.check(find_spec=lambda name: object())  # present: silent


def test_import_without_tensorflow_fails_in_one_line():
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "import limitbatch_tf")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ImportError: {_tensorflow_check.INSTALL_HINT}")


def test_readme_and_ci_install_the_same_extras():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install ".[cpu]"' in readme and 'pip install ".[tpu]"' in readme
    assert 'pip install -e ".[cpu,test]"' in readme
    assert 'pip install -e ".[cpu,test]"' in ci
    assert '"tensorflow==2.20.*"' in ci
